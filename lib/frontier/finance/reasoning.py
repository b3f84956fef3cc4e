"""Multi-step financial reasoning by a tiny model: answering directly, with a chain of thought, or with tools.

* :func:`make_questions` questions over the database with 1 to 4 calculation steps, figures fetched with the
  ``sql`` tool of :func:`~frontier.finance.agents.financial_tools`:

  ====  ====================================  ==========================================
  steps kind                                  program (``x`` figures, ``r`` results)
  ====  ====================================  ==========================================
  1     ``margin`` net margin (%)              ``r1 = pct x1 x2``
  2     ``growth`` revenue growth (%)          ``r1 = sub x1 x2 ; r2 = pct r1 x2``
  3     ``margin_change`` (percentage points)  ``pct, pct, sub``
  4     ``portfolio`` revenue growth (%) of a  ``add, add, sub, pct`` (revenue-weighted)
        two-company portfolio
  ====  ====================================  ==========================================

* :class:`DigitVocab` digit-level tokens (``1 2 . 5``), so a tiny model can learn column-wise arithmetic
* :func:`train_reasoner` one :class:`~frontier.models.TinyLM` per way, trained through the model cache on
  freshly drawn synthetic statements of the same shape (the database's questions are only used for testing):
  ``direct`` writes ``ans = 8.9``; ``cot`` writes each step and its value, ``r1 = sub x1 x2 = 75 ; ...``;
  ``tool`` writes the calls only, ``r1 = sub x1 x2 ; ...``, and :func:`run_program` executes them with the
  calculator tools (the ``ratio`` tool of :func:`financial_tools` plus ``add``/``sub``)
* :func:`accuracy_by_steps` accuracy per step count with Wilson 95% intervals

An answer counts as correct within :data:`TOLERANCE` (percent or percentage points) of the exact value: the chain
of thought rounds each percentage to one decimal.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..agents import Tool, ToolRegistry
from ..validation import choice, positive_int
from .agents import _lookup_sql, financial_tools

__all__ = ["KINDS", "STEPS", "WAYS", "TOLERANCE", "Question", "make_questions", "synthetic_questions", "program",
           "target_text", "DigitVocab", "calculator_tools", "run_program", "parse_answer", "ReasonerSpec",
           "train_reasoner", "answer", "accuracy_by_steps"]

KINDS = ("margin", "growth", "margin_change", "portfolio")
STEPS: Dict[str, int] = {"margin": 1, "growth": 2, "margin_change": 3, "portfolio": 4}
WAYS = ("direct", "cot", "tool")
TOLERANCE = 0.15
_PROGRAMS: Dict[str, Tuple[Tuple[str, str, str], ...]] = {
    "margin": (("pct", "x1", "x2"),),
    "growth": (("sub", "x1", "x2"), ("pct", "r1", "x2")),
    "margin_change": (("pct", "x1", "x2"), ("pct", "x3", "x4"), ("sub", "r1", "r2")),
    "portfolio": (("add", "x1", "x2"), ("add", "x3", "x4"), ("sub", "r1", "r2"), ("pct", "r3", "r2")),
}


@dataclass(frozen=True)
class Question:
    """``kind``, English ``text``, ``figures`` (x1..xk, integers in $ millions), exact ``answer``, ``steps``."""

    kind: str
    text: str
    figures: Tuple[int, ...]
    answer: float

    @property
    def steps(self) -> int:
        return STEPS[self.kind]


def _exact(kind: str, x: Sequence[float]) -> float:
    vals: Dict[str, float] = {f"x{i + 1}": float(v) for i, v in enumerate(x)}
    for k, (op, a, b) in enumerate(_PROGRAMS[kind]):
        vals[f"r{k + 1}"] = _OPS[op](vals[a], vals[b])
    return vals[f"r{len(_PROGRAMS[kind])}"]


def _pct(a: float, b: float) -> float:
    if b == 0:
        raise ValueError("division by zero")
    return 100.0 * a / b


_OPS: Dict[str, Callable[[float, float], float]] = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "pct": _pct}


def program(kind: str) -> Tuple[Tuple[str, str, str], ...]:
    """The calculation of ``kind`` as ``(op, left, right)`` triples (``op`` in add/sub/pct)."""
    return _PROGRAMS[choice("kind", kind, KINDS)]


def make_questions(db_path: Union[str, os.PathLike], corpus) -> List[Question]:
    """Every question of every kind over the database at ``db_path`` (written from ``corpus``), figures fetched
    through the ``sql`` tool: margins for each company and quarter, growth and margin change for each company and
    consecutive quarters, portfolio growth for each pair of companies and consecutive quarters."""
    tools = financial_tools(db_path)

    def fig(metric: str, company: str, period: str) -> int:
        obs = tools.call("sql", {"query": _lookup_sql(metric, company, period)})
        if not obs.ok or not obs.content["ok"] or not obs.content["rows"]:
            raise ValueError(f"no {metric} for {company} in {period}")
        return int(obs.content["rows"][0][0])

    names = [c.name for c in corpus.companies]
    periods = [p.label for p in corpus.periods]
    out: List[Question] = []
    for c in names:
        for i, p in enumerate(periods):
            ni, rev = fig("net income", c, p), fig("revenue", c, p)
            out.append(Question("margin", f"What was {c}'s net margin in {p}?", (ni, rev), _exact("margin", (ni, rev))))
            if i == 0:
                continue
            q = periods[i - 1]
            ni0, rev0 = fig("net income", c, q), fig("revenue", c, q)
            out.append(Question("growth", f"By what percent did {c}'s revenue grow from {q} to {p}?", (rev, rev0),
                                _exact("growth", (rev, rev0))))
            x = (ni, rev, ni0, rev0)
            out.append(Question("margin_change", f"By how many points did {c}'s net margin change from {q} to {p}?",
                                x, _exact("margin_change", x)))
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            for k in range(1, len(periods)):
                p, q = periods[k], periods[k - 1]
                x = (fig("revenue", a, p), fig("revenue", b, p), fig("revenue", a, q), fig("revenue", b, q))
                out.append(Question("portfolio", f"A portfolio holds {a} and {b} weighted by revenue: by what percent "
                                    f"did its revenue grow from {q} to {p}?", x, _exact("portfolio", x)))
    return out


def synthetic_questions(n: int, rng: np.random.Generator) -> List[Question]:
    """``n`` questions (kinds drawn uniformly) over random statements shaped like the database's: revenue
    200-3000, net margin 2-20%, quarter-on-quarter change within +-15% (training data)."""
    n = positive_int("n", n)
    out = []
    for _ in range(n):
        kind = KINDS[int(rng.integers(len(KINDS)))]
        r = [int(rng.integers(200, 3000)) for _ in range(2)]
        r0 = [max(1, int(round(v * (1 + rng.uniform(-0.15, 0.15))))) for v in r]
        ni = [int(round(v * rng.uniform(0.02, 0.2))) for v in (r[0], r0[0])]
        x = {"margin": (ni[0], r[0]), "growth": (r[0], r0[0]), "margin_change": (ni[0], r[0], ni[1], r0[0]),
             "portfolio": (r[0], r[1], r0[0], r0[1])}[kind]
        out.append(Question(kind, kind, x, _exact(kind, x)))
    return out


# ----------------------------------------------------------------------------- text and tokens
def _fmt(v: float) -> str:
    v = round(v, 1)
    return str(int(v)) if v == int(v) else f"{v:.1f}"


def _prompt_text(q: Question) -> str:
    return q.kind + " " + " ".join(f"x{i + 1} = {v}" for i, v in enumerate(q.figures))


def target_text(q: Question, way: str) -> str:
    """The gold output for ``way``: ``direct`` the answer, ``cot`` every step with its (rounded) value, ``tool`` the
    calls without values.  Chain-of-thought values are rounded to one decimal and reused rounded."""
    way = choice("way", way, WAYS)
    vals: Dict[str, float] = {f"x{i + 1}": float(v) for i, v in enumerate(q.figures)}
    parts = []
    for k, (op, a, b) in enumerate(_PROGRAMS[q.kind]):
        name = f"r{k + 1}"
        vals[name] = round(_OPS[op](vals[a], vals[b]), 1)
        parts.append(f"{name} = {op} {a} {b}" + (f" = {_fmt(vals[name])}" if way == "cot" else "") + " ;")
    last = f"r{len(parts)}"
    if way == "direct":
        return f"ans = {_fmt(q.answer)}"
    return " ".join(parts) + (f" ans = {_fmt(vals[last])}" if way == "cot" else f" ans = {last}")


class DigitVocab:
    """Word tokens for names and operators, one token per digit, ``.`` and ``-`` (ids 0-4: the course's specials)."""

    WORDS = KINDS + ("=", ";", "ans", "add", "sub", "pct") + tuple(f"x{i}" for i in range(1, 5)) + \
        tuple(f"r{i}" for i in range(1, 5)) + tuple("0123456789.-")

    def __init__(self):
        from ..models.tokenizer import SPECIAL_TOKENS
        self.tokens = list(SPECIAL_TOKENS) + list(self.WORDS)
        self.ids = {w: i for i, w in enumerate(self.tokens)}

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> List[int]:
        out = []
        for w in text.split():
            if w in self.ids:
                out.append(self.ids[w])
            elif re.fullmatch(r"-?[0-9.]+", w):
                out += [self.ids[ch] for ch in w]
            else:
                raise ValueError(f"text has a word outside the vocabulary: {w!r}")
        return out

    def decode(self, ids: Sequence[int]) -> str:
        from ..models.tokenizer import UNK
        text = " ".join(self.tokens[i] for i in ids if UNK < i < len(self.tokens))
        return re.sub(r"(?<=[0-9.\-]) (?=[0-9.])", "", text)


# ----------------------------------------------------------------------------- tools and parsing
def calculator_tools(db_path: Union[str, os.PathLike]) -> ToolRegistry:
    """:func:`financial_tools` (``ratio``, ``growth``, ``weights``, ``sql``) plus ``add`` and ``sub``."""
    reg = financial_tools(db_path)
    two = {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
           "required": ["a", "b"], "additionalProperties": False}
    reg.register(Tool("add", "a + b", two, lambda a, b: a + b))
    reg.register(Tool("sub", "a - b", two, lambda a, b: a - b))
    return reg


_CALL = re.compile(r"^(r\d) = (add|sub|pct) (\w+) (\w+)$")


def run_program(text: str, figures: Sequence[int], tools: ToolRegistry) -> Optional[float]:
    """Execute a ``tool``-way output (``r1 = op a b ; ... ans = rK``) with ``tools``; ``pct`` is the ``ratio`` tool
    times 100.  None when a call is malformed, names an unknown value, or a tool fails."""
    vals: Dict[str, float] = {f"x{i + 1}": float(v) for i, v in enumerate(figures)}
    *calls, last = [s.strip() for s in text.split(";")]
    for c in calls:
        m = _CALL.match(c)
        if m is None or m.group(3) not in vals or m.group(4) not in vals:
            return None
        a, b = vals[m.group(3)], vals[m.group(4)]
        if m.group(2) == "pct":
            obs = tools.call("ratio", {"numerator": a, "denominator": b})
            res = 100.0 * obs.content if obs.ok else None
        else:
            obs = tools.call(m.group(2), {"a": a, "b": b})
            res = obs.content if obs.ok else None
        if res is None:
            return None
        vals[m.group(1)] = float(res)
    m = re.fullmatch(r"ans = (\w+)", last)
    return vals.get(m.group(1)) if m else None


def parse_answer(text: str) -> Optional[float]:
    """The number after the last ``ans =`` in a ``direct``/``cot`` output (None if absent or malformed)."""
    m = re.search(r"ans = (-?[0-9]+(?:\.[0-9]+)?)\s*$", text.strip())
    return float(m.group(1)) if m else None


# ----------------------------------------------------------------------------- the models
@dataclass(frozen=True)
class ReasonerSpec:
    """Size and budget of each way's model (``steps`` optimiser steps on fresh synthetic questions)."""

    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 256
    steps: int = 600
    batch: int = 64
    lr: float = 3e-3
    seed: int = 0
    max_seq_len: int = 112


def _rows(vocab: DigitVocab, qs: Sequence[Question], way: str):
    from ..models.tokenizer import BOS, EOS, SEP
    return [([BOS] + vocab.encode(_prompt_text(q)) + [SEP], vocab.encode(target_text(q, way)) + [EOS]) for q in qs]


def train_reasoner(way: str, spec: ReasonerSpec = ReasonerSpec(), *, progress: bool = True, use_cache: bool = True):
    """Train (or load from the cache) the :class:`~frontier.models.TinyLM` for ``way``; returns ``(model, vocab)``.
    Rows are ``<bos> kind x1 = 1 2 3 ... <sep> target <eos>``, the loss on the target only."""
    from ..models import Batch, TinyLM, TinyLMConfig, cached, next_token_loss_fn, train

    way = choice("way", way, WAYS)
    if not isinstance(spec, ReasonerSpec):
        raise TypeError(f"spec must be a ReasonerSpec, got {type(spec).__name__}")
    vocab = DigitVocab()
    cfg = TinyLMConfig(vocab_size=vocab.vocab_size, d_model=spec.d_model, n_layers=spec.n_layers,
                       n_heads=spec.n_heads, d_ff=spec.d_ff, max_seq_len=spec.max_seq_len)

    def batch_fn(rng: np.random.Generator) -> Batch:
        return Batch.from_pairs(_rows(vocab, synthetic_questions(spec.batch, rng), way))

    def build():
        return TinyLM(cfg, seed=spec.seed)

    def fit(model):
        return train(model, next_token_loss_fn(), batch_fn, spec.steps, lr=spec.lr, warmup=spec.steps // 10,
                     schedule="cosine", seed=spec.seed, progress=progress, desc=f"reasoning ({way})")

    if not use_cache:
        m = build()
        fit(m)
        return m.eval(), vocab
    key = {"spec": spec, "way": way, "words": DigitVocab.WORDS}
    return cached(f"finance-reasoning-{way}", build, fit, key=key), vocab


def answer(model, vocab: DigitVocab, questions: Sequence[Question], way: str, tools: Optional[ToolRegistry] = None,
           *, max_new_tokens: int = 80) -> List[Optional[float]]:
    """Greedy outputs of ``model`` for ``questions`` turned into numbers: parsed (``direct``, ``cot``) or executed
    with ``tools`` (``tool``, required).  None where the output has no usable answer."""
    import torch

    from ..models import generate
    from ..models.tokenizer import EOS

    way = choice("way", way, WAYS)
    if way == "tool" and tools is None:
        raise ValueError("tools is required for the tool way")
    prompts = [h for h, _ in _rows(vocab, questions, "direct")]
    by_len: Dict[int, List[int]] = {}
    for j, p in enumerate(prompts):
        by_len.setdefault(len(p), []).append(j)
    texts = [""] * len(prompts)
    for L, idx in by_len.items():
        toks = generate(model, torch.tensor([prompts[j] for j in idx]), min(max_new_tokens, model.max_seq_len - L),
                        temperature=0.0, stop_token=EOS)[:, L:]
        for j, row in zip(idx, toks.tolist()):
            texts[j] = vocab.decode(row[:row.index(EOS)] if EOS in row else row)
    if way == "tool":
        return [run_program(t, q.figures, tools) for t, q in zip(texts, questions)]
    return [parse_answer(t) for t in texts]


def accuracy_by_steps(questions: Sequence[Question], predictions: Dict[str, Sequence[Optional[float]]],
                      *, tolerance: float = TOLERANCE) -> Dict[str, Dict[int, Dict[str, float]]]:
    """``{way: {steps: {"accuracy", "low", "high", "n"}}}``: the share of ``predictions[way]`` within
    ``tolerance`` of each question's exact answer, with a Wilson 95% interval."""
    from ..knowledge.evaluation import wilson_interval
    if not questions:
        raise ValueError("questions must not be empty")
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    out: Dict[str, Dict[int, Dict[str, float]]] = {}
    for way, preds in predictions.items():
        if len(preds) != len(questions):
            raise ValueError(f"predictions[{way!r}] has {len(preds)} entries for {len(questions)} questions")
        per: Dict[int, List[bool]] = {}
        for q, p in zip(questions, preds):
            per.setdefault(q.steps, []).append(p is not None and abs(p - q.answer) <= tolerance + 1e-9)
        out[way] = {}
        for s in sorted(per):
            k, n = int(sum(per[s])), len(per[s])
            lo, hi = wilson_interval(k, n)
            out[way][s] = {"accuracy": k / n, "low": lo, "high": hi, "n": float(n)}
    return out
