"""Tools for what a small language model computes badly: a calculator, code, algebra, constraint solving.

Three experiments, each with a tiny :class:`~frontier.models.TinyLM` trained
through the model cache on text pairs ``prompt -> target`` (:func:`train_translator`):

* **Arithmetic** (:func:`arithmetic_pair`): ``"Q:123*45="``.  The *direct* model
  writes the answer digits itself; the *tool* model writes a call,
  ``calc(123*45)``, which the calculator evaluates exactly.  Accuracy against
  the number of digits (:func:`arithmetic_accuracy`).
* **Word problems** (:func:`word_problem`): short statements about unknowns
  ``a, b, c``.  The *formaliser* model translates each statement into a
  constraint (``a==b+3``); :func:`solve_z3` (an SMT solver) and
  :func:`solve_sympy` (a computer-algebra system) find the values.  A *direct*
  model that writes the values itself is the baseline.
* **Code**: :func:`frontier.agents.run_python_expression` runs an expression in a sandbox.

The text is character level over :data:`TOOL_ALPHABET`; prompts end with ``=``
or ``:`` and targets with a newline.
"""
from __future__ import annotations

from dataclasses import asdict
from functools import lru_cache
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..validation import choice, nonnegative_int, positive_int
from .steps import expression_value

__all__ = ["TOOL_ALPHABET", "arithmetic_pair", "word_problem", "word_pair", "train_translator", "translate",
           "answer_arithmetic", "arithmetic_accuracy", "parse_constraints", "solve_z3", "z3_status", "solve_sympy",
           "word_problem_accuracy", "ARITH_MODES", "WORD_MODES"]

TOOL_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz+-*=()<>,;:?. \nQ"
ARITH_MODES = ("direct", "tool")
WORD_MODES = ("direct", "formalise")
MAX_LEN = 96


@lru_cache(maxsize=1)
def _tok():
    from ..models import Tokenizer

    return Tokenizer.char_level(TOOL_ALPHABET)


# ----------------------------------------------------------------------------- arithmetic
def arithmetic_pair(rng: np.random.Generator, digits: Tuple[int, int] = (1, 5), mode: str = "direct",
                    op: Optional[str] = None) -> Tuple[str, str, int]:
    """``(prompt, target, answer)`` for one sum or product of two numbers with ``digits`` digits each.

    ``digits = (lo, hi)``: each operand has between ``lo`` and ``hi`` digits
    (the longer one decides the problem's length).  ``mode="direct"``:
    the target is the answer; ``"tool"``: the target is ``calc(a*b)``.
    """
    choice("mode", mode, ARITH_MODES)
    lo, hi = digits
    n = int(rng.integers(lo, hi + 1))
    a = int(rng.integers(10 ** (n - 1) if n > 1 else 0, 10 ** n))
    m = int(rng.integers(1, n + 1))
    b = int(rng.integers(10 ** (m - 1) if m > 1 else 0, 10 ** m))
    if rng.random() < 0.5:
        a, b = b, a
    op = op or ("+" if rng.random() < 0.5 else "*")
    ans = a + b if op == "+" else a * b
    prompt = f"Q:{a}{op}{b}="
    target = (str(ans) if mode == "direct" else f"calc({a}{op}{b})") + "\n"
    return prompt, target, ans


def answer_arithmetic(model, prompt: str, mode: str) -> Tuple[Optional[int], str]:
    """The model's answer to an arithmetic prompt: ``(answer or None, what the model wrote)``.

    ``"tool"`` mode parses ``calc(EXPR)`` and evaluates ``EXPR`` exactly with
    the calculator (``+ - *`` on integers); anything else is no answer.
    """
    text = translate(model, prompt)
    if mode == "direct":
        return (int(text) if text.isdigit() else None), text
    if text.startswith("calc(") and text.endswith(")"):
        try:
            v = expression_value(text[5:-1])
        except (ValueError, ZeroDivisionError):
            return None, text
        return (int(v) if v.denominator == 1 else None), text
    return None, text


def arithmetic_accuracy(model, mode: str, digits: Sequence[int], n: int = 50, seed: int = 0,
                        op: Optional[str] = None) -> List[Dict[str, float]]:
    """Exact-match accuracy per operand length (both operands up to ``d`` digits, the longer exactly ``d``)."""
    choice("mode", mode, ARITH_MODES)
    rng = np.random.default_rng(nonnegative_int("seed", seed))
    out = []
    for d in digits:
        hits = 0
        for _ in range(positive_int("n", n)):
            prompt, _, ans = arithmetic_pair(rng, (d, d), mode, op)
            got, _ = answer_arithmetic(model, prompt, mode)
            hits += got == ans
        out.append({"digits": int(d), "n": n, "accuracy": hits / n})
    return out


# ----------------------------------------------------------------------------- word problems
# (statement, constraint, k from the values, coefficients (of x, of y) of the linear form given k)
_TEMPLATES = [
    ("{x} is {k} more than {y}", "{x}=={y}+{k}", lambda v, x, y: v[x] - v[y], lambda k: (1, -1)),
    ("{x} is {k} less than {y}", "{x}=={y}-{k}", lambda v, x, y: v[y] - v[x], lambda k: (1, -1)),
    ("{x} is {k} times {y}", "{x}=={k}*{y}", lambda v, x, y: v[x] // v[y] if v[y] and v[x] % v[y] == 0 else None,
     lambda k: (1, -k)),
    ("{x} plus {y} is {k}", "{x}+{y}=={k}", lambda v, x, y: v[x] + v[y], lambda k: (1, 1)),
]


def word_problem(rng: np.random.Generator, n_vars: int = 2) -> Tuple[List[str], List[str], Dict[str, int]]:
    """A consistent problem with a unique solution: ``(statements, constraints, solution)``.

    Values of ``a, b[, c]`` are drawn from 1-30; each statement links two
    unknowns with one template (more than, less than, times, plus); one
    statement per unknown, and the system must have a unique solution (its
    coefficient matrix is non-singular; the values satisfy it by construction).
    """
    n_vars = positive_int("n_vars", n_vars)
    if n_vars not in (2, 3):
        raise ValueError(f"n_vars must be 2 or 3, got {n_vars}")
    names = "abc"[:n_vars]
    while True:
        vals = {x: int(rng.integers(1, 31)) for x in names}
        pairs = [(names[i], names[i + 1]) for i in range(n_vars - 1)] + [(names[0], names[-1])]
        stmts, cons = [], []
        matrix = np.zeros((len(pairs), n_vars))
        for row, (x, y) in enumerate(pairs):
            for _ in range(10):
                t = _TEMPLATES[int(rng.integers(len(_TEMPLATES)))]
                k = t[2](vals, x, y)
                if k is not None and k > 0:
                    break
            else:
                break
            stmts.append(t[0].format(x=x, y=y, k=k))
            cons.append(t[1].format(x=x, y=y, k=k))
            cx, cy = t[3](k)
            matrix[row, names.index(x)] += cx
            matrix[row, names.index(y)] += cy
        if len(cons) == len(pairs) and abs(np.linalg.det(matrix)) > 1e-9:
            return stmts, cons, vals


def word_pair(rng: np.random.Generator, mode: str = "formalise", n_vars: Tuple[int, ...] = (2, 3)
              ) -> Tuple[str, str, Dict[str, int]]:
    """``(prompt, target, solution)``: prompt ``"Q:a is 3 more than b. ...:"``; target the constraints
    joined by ``;`` (``formalise``) or the values ``a=..,b=..`` (``direct``)."""
    choice("mode", mode, WORD_MODES)
    stmts, cons, vals = word_problem(rng, int(rng.choice(n_vars)))
    prompt = "Q:" + ". ".join(stmts) + ":"
    target = ";".join(cons) if mode == "formalise" else ",".join(f"{k}={v}" for k, v in sorted(vals.items()))
    return prompt, target + "\n", vals


def parse_constraints(text: str) -> List[str]:
    """Split ``"a==b+3;a+b==17"`` into constraints; ValueError if one is not ``lhs==rhs`` over a, b, c and integers."""
    import re

    cons = [c.strip() for c in text.split(";") if c.strip()]
    if not cons:
        raise ValueError("no constraints")
    for c in cons:
        if c.count("==") != 1 or not re.fullmatch(r"[abc0-9+\-*= ]+", c):
            raise ValueError(f"not a constraint over a, b, c: {c!r}")
    return cons


def _sides(c: str):
    lhs, rhs = c.split("==")
    return lhs, rhs


def solve_sympy(constraints: Sequence[str]) -> Optional[Dict[str, int]]:
    """Solve the linear constraints exactly with sympy; ``None`` unless there is exactly one integer solution."""
    import sympy

    syms = {x: sympy.Symbol(x) for x in "abc"}
    try:
        eqs = [sympy.Eq(sympy.sympify(l, locals=syms), sympy.sympify(r, locals=syms))
               for l, r in map(_sides, constraints)]
    except (sympy.SympifyError, SyntaxError, TypeError):
        return None
    used = sorted({str(s) for e in eqs for s in e.free_symbols})
    sol = sympy.solve(eqs, [syms[x] for x in used], dict=True)
    if len(sol) != 1 or len(sol[0]) != len(used):
        return None
    out = {}
    for k, v in sol[0].items():
        if not v.is_integer:
            return None
        out[str(k)] = int(v)
    return out


def solve_z3(constraints: Sequence[str], *, positive: bool = True) -> Optional[Dict[str, int]]:
    """Solve with the z3 SMT solver over the integers (``positive``: each unknown >= 1).

    Returns the model if it is the *only* solution (z3 is asked again with the
    first model excluded), else ``None`` (no solution, or several: see :func:`z3_status`).
    """
    status, sol = z3_status(constraints, positive=positive)
    return sol if status == "unique" else None


def z3_status(constraints: Sequence[str], *, positive: bool = True) -> Tuple[str, Optional[Dict[str, int]]]:
    """``("unique", solution)``, ``("none", None)``, ``("many", one solution)`` or ``("invalid", None)``."""
    import z3

    syms = {x: z3.Int(x) for x in "abc"}
    s = z3.Solver()
    used = set()
    for c in constraints:
        lhs, rhs = _sides(c)
        used |= {ch for ch in c if ch in "abc"}
        try:
            s.add(eval(lhs, {"__builtins__": {}}, syms) == eval(rhs, {"__builtins__": {}}, syms))
        except Exception:
            return "invalid", None
    if positive:
        for x in used:
            s.add(syms[x] >= 1)
    if s.check() != z3.sat:
        return "none", None
    m = s.model()
    sol = {x: m[syms[x]].as_long() for x in sorted(used)}
    s.add(z3.Or([syms[x] != v for x, v in sol.items()]))
    return ("unique" if s.check() == z3.unsat else "many"), sol


def word_problem_accuracy(model, mode: str, n: int = 50, seed: int = 0, n_vars: Tuple[int, ...] = (2, 3),
                          solver: str = "z3") -> Dict[str, float]:
    """Share of word problems solved exactly: ``direct`` (the model's values) or ``formalise`` (+ solver).

    Returns ``accuracy`` and, for ``formalise``, ``well_formed`` (the
    constraints parsed) and ``faithful`` (they equal the reference constraints).
    """
    choice("mode", mode, WORD_MODES)
    choice("solver", solver, ("z3", "sympy"))
    rng = np.random.default_rng(nonnegative_int("seed", seed))
    hits = parsed = faithful = 0
    n = positive_int("n", n)
    for _ in range(n):
        prompt, target, vals = word_pair(rng, mode, n_vars)
        text = translate(model, prompt)
        if mode == "direct":
            try:
                got = {k: int(v) for k, v in (p.split("=") for p in text.split(","))}
            except ValueError:
                got = None
            hits += got == vals
            continue
        faithful += text == target.strip()
        try:
            cons = parse_constraints(text)
        except ValueError:
            continue
        parsed += 1
        got = solve_z3(cons) if solver == "z3" else solve_sympy(cons)
        hits += got == vals
    out = {"accuracy": hits / n}
    if mode == "formalise":
        out.update(well_formed=parsed / n, faithful=faithful / n)
    return out


# ----------------------------------------------------------------------------- training and decoding
class _PairTask:
    """``prompt -> target`` pairs as a :class:`frontier.models.Task`; the loss covers the target only."""

    def __init__(self, pair_fn: Callable[[np.random.Generator], Tuple[str, str, object]]):
        self.pair_fn = pair_fn
        self.tok = _tok()

    @property
    def vocab_size(self) -> int:
        return self.tok.vocab_size

    @property
    def seq_len(self) -> int:
        return MAX_LEN

    def sample(self, batch: int, rng: np.random.Generator):
        from ..models import Batch

        rows = []
        while len(rows) < batch:
            prompt, target, _ = self.pair_fn(rng)
            head, body = self.tok.encode(prompt, bos=True), self.tok.encode(target)
            if len(head) + len(body) <= MAX_LEN:
                rows.append((head, body))
        return Batch.from_pairs(rows)


def _pair_fn(task: str, mode: str, digits: Tuple[int, int]):
    if task == "arithmetic":
        return lambda rng: arithmetic_pair(rng, digits, mode)
    return lambda rng: word_pair(rng, mode)


def train_translator(task: str, mode: str, *, steps: int = 800, digits: Tuple[int, int] = (1, 5), seed: int = 0,
                     d_model: int = 64, n_layers: int = 2, progress: bool = True):
    """A TinyLM trained on ``task`` (``"arithmetic"`` or ``"word"``) pairs in ``mode``, from the model cache.

    Returns ``(model, log)``.
    """
    from ..models import TinyLM, TinyLMConfig, cached, next_token_loss_fn, train

    choice("task", task, ("arithmetic", "word"))
    choice("mode", mode, ARITH_MODES if task == "arithmetic" else WORD_MODES)
    steps = positive_int("steps", steps)
    cfg = TinyLMConfig(vocab_size=_tok().vocab_size, d_model=d_model, n_layers=n_layers, n_heads=4,
                       d_ff=3 * d_model, max_seq_len=MAX_LEN)
    data = _PairTask(_pair_fn(task, mode, tuple(digits)))

    def build():
        return TinyLM(cfg, seed=seed)

    def fit(model):
        return train(model, next_token_loss_fn(True), lambda rng: data.sample(64, rng), steps, lr=3e-3,
                     warmup=min(100, steps // 10), schedule="cosine", seed=seed, progress=progress,
                     desc=f"{task} ({mode})")

    key = {"config": asdict(cfg), "task": task, "mode": mode, "digits": list(digits), "steps": steps, "seed": seed,
           "alphabet": TOOL_ALPHABET, "format": "tool-pairs/1"}
    return cached(f"tools-{task}-{mode}", build, fit, key=key, return_result=True, verbose=progress)


def translate(model, prompt: str, max_new_tokens: int = 48) -> str:
    """Greedy continuation of ``prompt`` up to the first newline (without it)."""
    from ..models import generate

    tok = _tok()
    ids = tok.encode(prompt, bos=True)
    room = min(max_new_tokens, model.max_seq_len - len(ids))
    if room <= 0:
        return ""
    out = generate(model, torch.tensor([ids]), room, temperature=0.0, stop_token=tok.token_to_id("\n"))
    return tok.decode(out[0, len(ids):].tolist()).split("\n")[0]
