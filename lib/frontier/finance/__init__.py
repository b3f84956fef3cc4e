"""Section 8, finance: text-to-SQL, safe tools, latency budgets, synthetic scenarios, deployment sizing, Exercise 2.

* :mod:`frontier.finance.database`     :func:`~frontier.finance.database.build` (the SQLite database, a thin entry
  over :mod:`frontier.data`), regenerated instances for test-suite evaluation, :func:`checksum`
* :mod:`frontier.finance.sql`          :func:`execute_safely` (re-exported from :mod:`frontier.agents.sql`), the
  attacks the lesson shows it refusing
* :mod:`frontier.finance.text_to_sql`  templates with paraphrases, a split with unseen phrasings and combinations, a
  word-level TinyLM, exact match vs execution vs test-suite accuracy
* :mod:`frontier.finance.agents`       financial tools (ratio, growth, weights, SQL) for the agent loop, multi-step
  questions, compounding errors in a research -> analysis -> execution chain
* :mod:`frontier.finance.compliance`   compliance checking as retrieval over a small rule book
* :mod:`frontier.finance.scenarios`    GBM, GARCH(1,1) (``arch``), bootstrap and a learned generator; stylised
  facts; VaR and expected shortfall; stress
* :mod:`frontier.finance.deployment`   on-premises sizing and latency from :mod:`frontier.hardware`; streaming budgets
* :mod:`frontier.finance.filing`       Exercise 2's 80,000-token 10-K (course BPE tokens) and its questions
* :mod:`frontier.finance.context_cost` Exercise 2's reference cost model (whole document, RAG, map-reduce)

Imports shared modules and earlier sections only (``tests/test_layering.py``); submodules are imported on demand.
"""
