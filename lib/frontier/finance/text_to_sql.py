"""Text-to-SQL over the finance database: templates, a split with unseen phrasings and combinations, a tiny model,
and scoring by exact match, by execution, and by execution on a test suite of regenerated databases.

* :data:`TEMPLATES` six question templates, each with four paraphrases, a gold SQL query and a *documented
  answer* computed in Python from the corpus (not by SQL), so the gold SQL itself is tested
* :func:`make_split` training examples use three paraphrases and most (template, metric) pairs; the test set has
  ``seen`` (known phrasing, new slot values), ``unseen_phrasing`` (the fourth paraphrase) and
  ``unseen_combination`` (pairs never trained on) groups
* :class:`SQLVocab`, :func:`train_text_to_sql`, :func:`generate_sql` a word-level :class:`~frontier.models.TinyLM`
  that reads ``schema <sep> question <sep>`` and writes the SQL (trained through the model cache)
* :func:`results_match`, :func:`score` exact match (after ``sqlglot`` normalisation) against execution accuracy on
  one database and on a *test suite* (Zhong, Yu and Klein 2020): the same query run on several regenerated
  instances must agree with the gold query on every one of them

SQL is written with spaces between tokens (``c . name = 'Snow Holdings'``), which SQLite accepts; a quoted literal
is one token.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..validation import positive_int
from .database import COLUMNS, SCHEMA_PROMPT, corpus_for

__all__ = ["Template", "TEMPLATES", "Example", "make_split", "gold_answer", "SQLVocab", "T2SSpec", "build_vocab",
           "train_text_to_sql", "generate_sql", "normalise_sql", "results_match", "execution_result", "score",
           "test_suite", "HELD_OUT", "accidental_matches", "equivalent_rewrites"]

_JOIN = ("JOIN companies c ON s . company_id = c . company_id "
         "JOIN periods p ON s . period_id = p . period_id")


@dataclass(frozen=True)
class Template:
    """A question template: ``slots`` it takes, ``phrasings`` (``str.format`` with the slots), ``sql`` (a function
    of the slots) and ``answer`` (a function ``(corpus, slots) -> value`` from the corpus objects)."""

    name: str
    slots: Tuple[str, ...]
    phrasings: Tuple[str, ...]
    sql: Callable[[Dict[str, str]], str] = field(repr=False)
    answer: Callable[[object, Dict[str, str]], object] = field(repr=False)


def _tab(metric: str) -> Tuple[str, str]:
    return COLUMNS[metric]


def _row(corpus, metric: str, company: str, period: str):
    c = corpus.company(company)
    p = corpus.period(period)
    table, col = _tab(metric)
    rows = corpus.income if table == "income_statements" else corpus.balance
    for r in rows:
        if r.company_id == c.company_id and r.period_id == p.period_id:
            return getattr(r, col)
    return None


def _ans_metric_of(corpus, s):
    return _row(corpus, s["metric"], s["company"], s["period"])


def _ans_top(corpus, s):
    vals = [(_row(corpus, s["metric"], c.name, s["period"]), c.name) for c in corpus.companies]
    return max(vals)[1]


def _ans_count(corpus, s):
    return sum(c.sector == s["sector"] for c in corpus.companies)


def _ans_total(corpus, s):
    periods = [p.label for p in corpus.periods if p.year == int(s["year"])]
    return sum(_row(corpus, s["metric"], s["company"], p) for p in periods) if periods else None


def _ans_avg(corpus, s):
    vals = [_row(corpus, s["metric"], c.name, s["period"]) for c in corpus.companies if c.sector == s["sector"]]
    return sum(vals) / len(vals) if vals else None


def _ans_max_close(corpus, s):
    cid = corpus.company(s["company"]).company_id
    vals = [p.close for p in corpus.prices if p.company_id == cid and p.date.startswith(s["year"])]
    return max(vals) if vals else None


def _metric_sql(s, head: str, where: str, tail: str = "") -> str:
    table, col = _tab(s["metric"])
    return f"SELECT {head.format(col=col)} FROM {table} s {_JOIN} WHERE {where}{tail}"


TEMPLATES: Dict[str, Template] = {t.name: t for t in (
    Template("metric_of", ("company", "metric", "period"), (
        "What was {company}'s {metric} in {period}?",
        "How much {metric} did {company} report for {period}?",
        "Give the {metric} of {company} for {period}.",
        "Tell me {company} {metric} in {period}.",
    ), lambda s: _metric_sql(s, "s . {col}", f"c . name = '{s['company']}' AND p . label = '{s['period']}'"),
        _ans_metric_of),
    Template("top_company", ("metric", "period"), (
        "Which company had the highest {metric} in {period}?",
        "Name the company with the largest {metric} in {period}.",
        "Who reported the most {metric} in {period}?",
        "In {period}, which firm led on {metric}?",
    ), lambda s: _metric_sql(s, "c . name", f"p . label = '{s['period']}'", " ORDER BY s . {col} DESC LIMIT 1"
                             .format(col=_tab(s["metric"])[1])),
        _ans_top),
    Template("sector_count", ("sector",), (
        "How many companies are in the {sector} sector?",
        "Count the {sector} companies.",
        "Number of companies in {sector}?",
        "How many firms operate in {sector}?",
    ), lambda s: f"SELECT COUNT ( * ) FROM companies WHERE sector = '{s['sector']}'", _ans_count),
    Template("annual_total", ("company", "metric", "year"), (
        "What was {company}'s total {metric} in {year}?",
        "Sum {company}'s {metric} over {year}.",
        "How much {metric} did {company} make in {year} in total?",
        "Over all of {year}, what {metric} did {company} add up to?",
    ), lambda s: _metric_sql(s, "SUM ( s . {col} )", f"c . name = '{s['company']}' AND p . fiscal_year = {s['year']}"),
        _ans_total),
    Template("sector_average", ("metric", "sector", "period"), (
        "What was the average {metric} of {sector} companies in {period}?",
        "Average {metric} across the {sector} sector in {period}?",
        "Mean {metric} for {sector} firms in {period}.",
        "For {sector} companies in {period}, what is the typical {metric} on average?",
    ), lambda s: _metric_sql(s, "AVG ( s . {col} )", f"c . sector = '{s['sector']}' AND p . label = '{s['period']}'"),
        _ans_avg),
    Template("max_close", ("company", "year"), (
        "What was the highest closing price of {company} in {year}?",
        "Maximum close of {company} during {year}?",
        "Peak closing price for {company} in {year}.",
        "How high did {company} shares close at most in {year}?",
    ), lambda s: (f"SELECT MAX ( pr . close ) FROM prices pr JOIN companies c ON pr . company_id = c . company_id "
                  f"WHERE c . name = '{s['company']}' AND substr ( pr . date , 1 , 4 ) = '{s['year']}'"),
        _ans_max_close),
)}

#: (template, metric) pairs never seen in training: the ``unseen_combination`` test group.
HELD_OUT = (("metric_of", "total equity"), ("top_company", "net income"), ("sector_average", "revenue"),
            ("annual_total", "gross profit"))
_INCOME_ONLY = {"annual_total"}
_TRAIN_PHRASINGS = (0, 1, 2)


@dataclass(frozen=True)
class Example:
    """One question: ``template``, ``slots``, ``phrasing`` (index), ``question``, gold ``sql``, ``group``."""

    template: str
    slots: Tuple[Tuple[str, str], ...]
    phrasing: int
    question: str
    sql: str
    group: str = "train"

    @property
    def slot_dict(self) -> Dict[str, str]:
        return dict(self.slots)


def _slot_values(corpus) -> Dict[str, List[str]]:
    return {"company": [c.name for c in corpus.companies], "metric": list(COLUMNS),
            "period": [p.label for p in corpus.periods], "sector": sorted({c.sector for c in corpus.companies}),
            "year": sorted({str(p.year) for p in corpus.periods})}


def _all_slots(t: Template, values) -> List[Dict[str, str]]:
    out = [{}]
    for s in t.slots:
        vals = values[s]
        if s == "metric" and t.name in _INCOME_ONLY:
            vals = [m for m in vals if COLUMNS[m][0] == "income_statements"]
        out = [dict(d, **{s: v}) for d in out for v in vals]
    return out


def _example(t: Template, slots: Dict[str, str], k: int, group: str) -> Example:
    return Example(t.name, tuple(sorted(slots.items())), k, t.phrasings[k].format(**slots), t.sql(slots), group)


def make_split(seed: int = 0, *, test_per_group: int = 60, names_seed: int = 0) -> Tuple[List[Example], Dict[str, List[Example]]]:
    """``(train, test)``: every slot assignment of every template, 80% for training (phrasings 0-2, held-out
    pairs excluded), the rest for the ``seen`` group; ``unseen_phrasing`` uses phrasing 3 on test slots;
    ``unseen_combination`` the :data:`HELD_OUT` pairs.  Each test group is capped at ``test_per_group``."""
    positive_int("test_per_group", test_per_group)
    rng = np.random.default_rng(seed)
    values = _slot_values(corpus_for(names_seed, names_seed))
    train, seen, unseen_p, unseen_c = [], [], [], []
    for t in TEMPLATES.values():
        for slots in _all_slots(t, values):
            held = (t.name, slots.get("metric")) in HELD_OUT
            if held:
                unseen_c.append(_example(t, slots, int(rng.integers(0, 4)), "unseen_combination"))
                continue
            if rng.random() < 0.8:
                for k in _TRAIN_PHRASINGS:
                    train.append(_example(t, slots, k, "train"))
            else:
                seen.append(_example(t, slots, int(rng.choice(_TRAIN_PHRASINGS)), "seen"))
                unseen_p.append(_example(t, slots, 3, "unseen_phrasing"))

    def cap(xs):
        idx = rng.permutation(len(xs))[:test_per_group]
        return [xs[i] for i in sorted(idx)]
    return train, {"seen": cap(seen), "unseen_phrasing": cap(unseen_p), "unseen_combination": cap(unseen_c)}


def gold_answer(example: Example, corpus) -> object:
    """The documented answer of ``example`` on ``corpus``, computed from the corpus objects (not by SQL)."""
    return TEMPLATES[example.template].answer(corpus, example.slot_dict)


# ----------------------------------------------------------------------------- the model
_TOKEN = re.compile(r"'[^']*'|\w+|[^\w\s]")


class SQLVocab:
    """Word-level vocabulary for questions, schema and SQL: quoted literals are single tokens.

    Ids 0-4 are the course's special tokens (``PAD, BOS, EOS, SEP, UNK`` of :mod:`frontier.models.tokenizer`).
    """

    def __init__(self, texts: Sequence[str]):
        from ..models.tokenizer import SPECIAL_TOKENS
        words = sorted({w for t in texts for w in _TOKEN.findall(t)})
        self.tokens = list(SPECIAL_TOKENS) + words
        self.ids = {w: i for i, w in enumerate(self.tokens)}

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> List[int]:
        from ..models.tokenizer import UNK
        return [self.ids.get(w, UNK) for w in _TOKEN.findall(text)]

    def decode(self, ids: Sequence[int]) -> str:
        from ..models.tokenizer import UNK
        return " ".join(self.tokens[i] for i in ids if i >= UNK)


def build_vocab(names_seed: int = 0) -> SQLVocab:
    """The vocabulary of every question, gold query and the schema prompt (all splits: no unknown words)."""
    train, test = make_split(names_seed=names_seed, test_per_group=10 ** 9)
    exs = train + [e for g in test.values() for e in g]
    texts = [SCHEMA_PROMPT] + [e.question for e in exs] + [e.sql for e in exs]
    for t in TEMPLATES.values():
        texts += [p for p in t.phrasings]
    return SQLVocab(texts)


def _prompt(vocab: SQLVocab, question: str) -> List[int]:
    from ..models.tokenizer import BOS, SEP
    return [BOS] + vocab.encode(SCHEMA_PROMPT) + [SEP] + vocab.encode(question) + [SEP]


@dataclass(frozen=True)
class T2SSpec:
    """Size and budget of the text-to-SQL model."""

    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 128
    steps: int = 400
    batch: int = 32
    lr: float = 3e-3
    seed: int = 0
    max_seq_len: int = 160


def train_text_to_sql(spec: T2SSpec = T2SSpec(), *, progress: bool = True, use_cache: bool = True):
    """Train (or load from the cache) the text-to-SQL :class:`~frontier.models.TinyLM`; returns ``(model, vocab)``.

    Rows are ``<bos> schema <sep> question <sep> sql <eos>``; the loss covers the SQL and ``<eos>`` only.
    """
    from ..models import Batch, TinyLM, TinyLMConfig, cached, next_token_loss_fn, train
    from ..models.tokenizer import EOS

    if not isinstance(spec, T2SSpec):
        raise TypeError(f"spec must be a T2SSpec, got {type(spec).__name__}")
    vocab = build_vocab()
    train_set, _ = make_split()
    rows = [(_prompt(vocab, e.question), vocab.encode(e.sql) + [EOS]) for e in train_set]
    longest = max(len(h) + len(b) for h, b in rows)
    if longest > spec.max_seq_len:
        raise ValueError(f"max_seq_len {spec.max_seq_len} is shorter than the longest example ({longest} tokens)")
    cfg = TinyLMConfig(vocab_size=vocab.vocab_size, d_model=spec.d_model, n_layers=spec.n_layers,
                       n_heads=spec.n_heads, d_ff=spec.d_ff, max_seq_len=spec.max_seq_len)

    def build():
        return TinyLM(cfg, seed=spec.seed)

    def batch_fn(rng: np.random.Generator) -> Batch:
        return Batch.from_pairs([rows[int(i)] for i in rng.integers(0, len(rows), size=spec.batch)])

    def fit(model):
        return train(model, next_token_loss_fn(), batch_fn, spec.steps, lr=spec.lr, warmup=spec.steps // 10,
                     schedule="cosine", seed=spec.seed, progress=progress, desc="text-to-SQL")

    if not use_cache:
        m = build()
        fit(m)
        return m.eval(), vocab
    key = {"spec": spec, "n_train": len(rows), "vocab": vocab.vocab_size, "schema": SCHEMA_PROMPT}
    return cached("finance-text-to-sql", build, fit, key=key), vocab


def generate_sql(model, vocab: SQLVocab, questions: Sequence[str], *, max_new_tokens: int = 70,
                 batch: int = 64) -> List[str]:
    """Greedy SQL for each question (:func:`frontier.models.generate`, stopping at ``<eos>``)."""
    import torch

    from ..models import generate
    from ..models.tokenizer import EOS, PAD

    out: List[str] = []
    qs = list(questions)
    for i in range(0, len(qs), positive_int("batch", batch)):
        group = [_prompt(vocab, q) for q in qs[i:i + batch]]
        by_len: Dict[int, List[int]] = {}              # generate needs equal lengths: group by prompt length
        for j, p in enumerate(group):
            by_len.setdefault(len(p), []).append(j)
        texts = [""] * len(group)
        for L, idx in by_len.items():
            prompt = torch.tensor([group[j] for j in idx], dtype=torch.int64)
            n = min(max_new_tokens, model.max_seq_len - L)
            toks = generate(model, prompt, n, temperature=0.0, stop_token=EOS)[:, L:]
            for j, row in zip(idx, toks.tolist()):
                cut = row.index(EOS) if EOS in row else len(row)
                texts[j] = vocab.decode([t for t in row[:cut] if t != PAD])
        out += texts
    return out


# ----------------------------------------------------------------------------- scoring
def normalise_sql(sql: str) -> Optional[str]:
    """``sqlglot``'s canonical form of ``sql`` (None if it does not parse): exact match compares these."""
    import sqlglot
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except Exception:
        return None
    return tree.sql(dialect="sqlite", normalize=True) if tree is not None else None


def _canon(v):
    if isinstance(v, float):
        return round(v, 6)
    return v


def execution_result(db, sql: str):
    """``(ok, rows)`` of ``sql`` on ``db`` through :func:`frontier.finance.sql.execute_safely`: rows as a sorted
    list of tuples with floats rounded to 6 decimals (order-insensitive comparison)."""
    from .sql import execute_safely
    r = execute_safely(db, sql, max_rows=1000, max_steps=2_000_000)
    if not r.ok:
        return False, r.error
    return True, sorted((tuple(_canon(x) for x in row) for row in r.rows), key=repr)


def results_match(db, predicted: str, gold: str) -> bool:
    """Whether ``predicted`` returns what ``gold`` returns on ``db`` (a failed prediction never matches)."""
    ok_p, rows_p = execution_result(db, predicted)
    ok_g, rows_g = execution_result(db, gold)
    if not ok_g:
        raise ValueError(f"the gold query failed: {rows_g}")
    return ok_p and rows_p == rows_g


@lru_cache(maxsize=4)
def _suite(folder: str, n: int, names_seed: int) -> Tuple[str, ...]:
    from .database import build, build_instance
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    paths = [build(root / f"instance-{names_seed}.db", names_seed)]
    paths += [build_instance(root / f"instance-{names_seed}-{s}.db", names_seed + 1000 + s, names_seed=names_seed)
              for s in range(1, n)]
    return tuple(str(p) for p in paths)


def test_suite(folder, n: int = 5, names_seed: int = 0) -> List[str]:
    """``n`` database files in ``folder``: the base database and ``n - 1`` regenerated instances (same names)."""
    return list(_suite(str(folder), positive_int("n", n), names_seed))


test_suite.__test__ = False          # not a pytest test


def score(examples: Sequence[Example], predictions: Sequence[str], suite: Sequence[str]) -> List[Dict[str, object]]:
    """One row per example: ``group``, ``template``, ``question``, ``gold``, ``predicted``, ``exact`` (normalised
    SQL equal), ``execution`` (same result on ``suite[0]``), ``test_suite`` (same result on every database of
    ``suite``)."""
    if len(examples) != len(predictions):
        raise ValueError(f"got {len(examples)} examples and {len(predictions)} predictions")
    if not suite:
        raise ValueError("suite must list at least one database")
    rows = []
    for e, p in zip(examples, predictions):
        exact = normalise_sql(p) is not None and normalise_sql(p) == normalise_sql(e.sql)
        per_db = [results_match(db, p, e.sql) for db in suite]
        rows.append({"group": e.group, "template": e.template, "question": e.question, "gold": e.sql,
                     "predicted": p, "exact": exact, "execution": per_db[0], "test_suite": all(per_db)})
    return rows


# ----------------------------------------------------------------------------- where the scores disagree
def accidental_matches(examples: Sequence[Example], suite: Sequence[str], *, limit: int = 10) -> List[Dict[str, str]]:
    """Wrong queries that return the gold answer on ``suite[0]`` by accident, and whether the test suite catches
    them.  Candidates, in this order: the gold query with another sector, period or company literal; a constant
    ``SELECT <the answer on suite[0]>``.  Rows: ``question``, ``gold``, ``wrong``, ``execution`` (True: fooled on
    one database), ``test_suite`` (False: caught)."""
    positive_int("limit", limit)
    if not suite:
        raise ValueError("suite must list at least one database")
    values = _slot_values(corpus_for(0, 0))
    out = []
    for e in examples:
        if len(out) >= limit:
            break
        ok, gold_rows = execution_result(suite[0], e.sql)
        cands = []
        slots = e.slot_dict
        for name in ("sector", "period", "company"):
            if name in slots:
                for v in values[name]:
                    if v != slots[name]:
                        cands.append(TEMPLATES[e.template].sql(dict(slots, **{name: v})))
        if ok and len(gold_rows) == 1 and len(gold_rows[0]) == 1 and isinstance(gold_rows[0][0], (int, float)):
            cands.append(f"SELECT {gold_rows[0][0]!r}")
        for wrong in cands:
            if results_match(suite[0], wrong, e.sql):
                caught = not all(results_match(db, wrong, e.sql) for db in suite)
                out.append({"question": e.question, "gold": e.sql, "wrong": wrong, "execution": True,
                            "test_suite": not caught})
                break
    return out


def equivalent_rewrites(example: Example) -> List[str]:
    """Queries that differ from the gold text but return the same rows on every database (exact match calls them
    wrong; execution calls them right): the WHERE conditions swapped, and for ``max_close`` an ORDER BY ... LIMIT 1."""
    sql = example.sql
    out = []
    m = re.search(r"WHERE (.+?) AND (.+?)( ORDER BY .*)?$", sql)
    if m:
        out.append(sql[:m.start()] + f"WHERE {m.group(2)} AND {m.group(1)}" + (m.group(3) or ""))
    if example.template == "max_close":
        s = example.slot_dict
        out.append(f"SELECT pr . close FROM prices pr JOIN companies c ON pr . company_id = c . company_id WHERE "
                   f"c . name = '{s['company']}' AND pr . date LIKE '{s['year']}-%' ORDER BY pr . close DESC LIMIT 1")
    return out
