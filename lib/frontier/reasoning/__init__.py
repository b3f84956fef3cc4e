"""Section 2, reasoning and planning: test-time compute, search, tools and agents.

The Game of 24 (lesson 2.1)
* :mod:`frontier.reasoning.steps`        steps, their text form and exact checks
* :mod:`frontier.reasoning.solver`       the exact rational solver (1,820 multisets, 1,362 solvable), difficulty
* :mod:`frontier.reasoning.proposer`     the proposer interface with counted compute; synthetic proposers
* :mod:`frontier.reasoning.lm`           TinyLM proposers trained on solver-verified traces (model cache)
* :mod:`frontier.reasoning.verifiers`    outcome and process verifiers: exact, noisy with known rates, learned
* :mod:`frontier.reasoning.strategies`   single sample, self-consistency, best-of-N, weighted best-of-N,
  tree search, revision
* :mod:`frontier.reasoning.theory`       closed forms: pass@N, majority vote, best-of-N with a noisy verifier
* :mod:`frontier.reasoning.experiments`  sweeps and summaries with confidence intervals

Tools (lesson 2.2) and agents (lesson 2.3)
* :mod:`frontier.reasoning.tools`        calculator calls, word problems formalised for z3 and sympy
* :mod:`frontier.reasoning.agent_tasks`  the shop world, oracle, stochastic and trained policies, reliability
  measurements (the loop, schemas, sandbox and safe SQL live in the shared :mod:`frontier.agents`)
"""
