"""A small deterministic world for agents: a price list, a calculator and a stock database.

Tasks ask for the cost of a basket, e.g. "3 apple, 2 pear".  The correct
episode looks up each price, computes the total, and answers::

    lookup {"key": "apple"}          -> 7
    lookup {"key": "pear"}           -> 4
    calc   {"expression": "3*7+2*4"} -> 29
    finish {"answer": 29}

so a basket of ``k`` items takes ``k + 2`` steps: the knob for "errors compound
over steps".  The tools are :class:`frontier.agents.Tool` objects validated
against JSON schemas; the same registry has a read-only ``sql`` tool over a
SQLite database holding the prices and the stock (:func:`frontier.agents.execute_safely`),
which a verifier step uses to recompute the total independently.

Policies (``policy(task_text, trace) -> Action | Finish | str``):

* :func:`oracle_action` is the correct next action given the trace so far
  (it reads the observations, as a policy would, so after a wrong observation
  it is "correct" to use the wrong number: that is how one bad observation
  poisons the rest of an episode);
* :class:`StochasticPolicy` follows the oracle but errs at each step with a fixed
  probability, independently: the textbook p^n model;
* :class:`LMPolicy` is a :class:`~frontier.models.TinyLM` trained on oracle transcripts.

Compact text of a transcript, what the tiny model reads and writes (one action
per line, ``>`` then the observation)::

    Q:3 apple,2 pear
    lookup apple>7
    lookup pear>4
    calc 3*7+2*4>29
    finish 29>
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..agents import Action, Finish, Invalid, Tool, ToolRegistry, execute_safely, parse_action, run_episode
from ..validation import fraction, nonnegative_int, positive_int
from .steps import expression_value

__all__ = ["PRICES", "Task", "make_task", "make_tasks", "make_database", "make_tools", "oracle_action",
           "StochasticPolicy", "transcript", "parse_compact", "LMPolicy", "train_policy", "run_tasks",
           "step_error_rates", "success_by_steps", "verify_with_sql", "run_with_retries", "AGENT_ALPHABET",
           "run_planner_executor", "acceptable"]

#: The price list (whole currency units).
PRICES: Dict[str, int] = {"apple": 7, "pear": 4, "fig": 3, "kiwi": 9, "lime": 2, "plum": 5, "date": 8,
                          "melon": 12, "grape": 6, "peach": 11}
AGENT_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789 ,:*+>\nQ"


@dataclass(frozen=True)
class Task:
    """A basket: ``items`` is a tuple of ``(quantity, item)``; ``answer`` the exact total."""

    items: Tuple[Tuple[int, str], ...]

    @property
    def text(self) -> str:
        return ",".join(f"{q} {name}" for q, name in self.items)

    @property
    def answer(self) -> int:
        return sum(q * PRICES[name] for q, name in self.items)

    @property
    def n_steps(self) -> int:
        """Steps of the correct episode: one lookup per item, one calculation, one answer."""
        return len(self.items) + 2


def make_task(k: int, rng: np.random.Generator) -> Task:
    """A basket of ``k`` distinct items with quantities 1-9."""
    k = positive_int("k", k)
    if k > len(PRICES):
        raise ValueError(f"k must be at most {len(PRICES)}, got {k}")
    names = rng.choice(sorted(PRICES), size=k, replace=False)
    return Task(tuple((int(rng.integers(1, 10)), str(n)) for n in names))


def make_tasks(ks: Sequence[int], per_k: int, seed: int = 0) -> List[Task]:
    """``per_k`` tasks for every basket size in ``ks`` (seeded)."""
    rng = np.random.default_rng(nonnegative_int("seed", seed))
    return [make_task(k, rng) for k in ks for _ in range(positive_int("per_k", per_k))]


def make_database() -> sqlite3.Connection:
    """An in-memory SQLite database with ``prices(item, price)`` and ``stock(item, qty)``."""
    con = sqlite3.connect(":memory:", check_same_thread=False)
    con.execute("CREATE TABLE prices (item TEXT PRIMARY KEY, price INTEGER NOT NULL)")
    con.execute("CREATE TABLE stock (item TEXT PRIMARY KEY, qty INTEGER NOT NULL)")
    con.executemany("INSERT INTO prices VALUES (?, ?)", sorted(PRICES.items()))
    con.executemany("INSERT INTO stock VALUES (?, ?)", [(n, 10 + 3 * i) for i, n in enumerate(sorted(PRICES))])
    con.commit()
    return con


def make_tools(flaky: float = 0.0, seed: int = 0, db: Optional[sqlite3.Connection] = None) -> ToolRegistry:
    """The registry: ``lookup`` (price of an item), ``calc`` (``+ - * ( )`` on integers, exact), ``sql`` (read-only).

    ``flaky``: the probability that ``lookup`` returns a wrong price (off by
    1-3), a seeded fault in the environment for the "one wrong observation
    poisons the rest" experiment.
    """
    flaky = fraction("flaky", flaky)
    rng = np.random.default_rng(nonnegative_int("seed", seed))
    con = db if db is not None else make_database()

    def lookup(key: str) -> int:
        price = PRICES[key]
        if flaky and rng.random() < flaky:
            price += int(rng.choice([-3, -2, -1, 1, 2, 3]))
        return price

    def calc(expression: str) -> int:
        value = expression_value(expression)
        if value.denominator != 1:
            raise ValueError("the calculator works on whole numbers")
        return int(value)

    def sql(query: str) -> dict:
        return execute_safely(con, query, tables=["prices", "stock"], max_rows=20).as_dict()

    return ToolRegistry([
        Tool("lookup", "The price of one item.", {
            "type": "object", "properties": {"key": {"type": "string", "enum": sorted(PRICES)}},
            "required": ["key"], "additionalProperties": False}, lookup),
        Tool("calc", "Evaluate an arithmetic expression over whole numbers (+, -, *, brackets).", {
            "type": "object", "properties": {"expression": {"type": "string", "pattern": r"^[0-9+\-*() ]{1,80}$"}},
            "required": ["expression"], "additionalProperties": False}, calc),
        Tool("sql", "Run one read-only SELECT on the tables prices(item, price) and stock(item, qty).", {
            "type": "object", "properties": {"query": {"type": "string", "maxLength": 400}},
            "required": ["query"], "additionalProperties": False}, sql),
    ])


def _task_from_text(text: str) -> Task:
    items = []
    for part in text.split(","):
        q, name = part.strip().split(" ", 1)
        items.append((int(q), name.strip()))
    return Task(tuple(items))


def oracle_action(task_text: str, trace: Sequence[Dict[str, Any]]):
    """The correct next move given the trace so far (reads observations as a policy would).

    Lookups in basket order; then ``calc`` with the *observed* prices; then
    ``finish`` with the *observed* total.  A failed step is simply retried.
    """
    task = _task_from_text(task_text)
    observed, total = _observed(trace)
    for q, name in task.items:
        if name not in observed:
            return Action("lookup", {"key": name}, f"price of {name}")
    if total is None:
        expr = "+".join(f"{q}*{observed[name]}" for q, name in task.items)
        return Action("calc", {"expression": expr}, "total")
    return Finish(total, "answer")


class StochasticPolicy:
    """The oracle with an independent, seeded error at each step (probability ``step_error``).

    ``fatal=True`` (the textbook model): an error ends the episode with a
    wrong answer, so a task of ``n`` steps succeeds with probability
    ``(1 - step_error)^n`` exactly.  ``fatal=False``: an error is a plausible
    slip (the wrong item looked up, a wrong multiplier, an answer off by a
    few), some of which a later step repairs.
    """

    def __init__(self, step_error: float, seed: int = 0, fatal: bool = True):
        self.step_error = fraction("step_error", step_error)
        self.rng = np.random.default_rng(nonnegative_int("seed", seed))
        self.fatal = bool(fatal)

    def __call__(self, task_text, trace):
        move = oracle_action(task_text, trace)
        if self.rng.random() >= self.step_error:
            return move
        if self.fatal or isinstance(move, Finish):
            truth = _task_from_text(task_text).answer
            return Finish(truth + int(self.rng.choice([-2, -1, 1, 2])), "slip")
        if move.name == "lookup":
            others = [n for n in sorted(PRICES) if n != move.arguments["key"]]
            return Action("lookup", {"key": str(self.rng.choice(others))}, "slip")
        expr = move.arguments["expression"]
        return Action("calc", {"expression": expr.replace("*", "*1+", 1)}, "slip")


def _compact(row: Dict[str, Any]) -> str:
    args = json.loads(row["arguments"]) if row["action"] != "?" else {}
    name = row["action"]
    if name == "lookup":
        arg = args.get("key", "")
    elif name == "calc":
        arg = args.get("expression", "")
    elif name == "finish":
        arg = args.get("answer", "")
    else:
        arg = ""
    return f"{name} {arg}".strip()


def transcript(task_text: str, trace: Sequence[Dict[str, Any]]) -> str:
    """The compact text of an episode so far (see the module docstring)."""
    lines = [f"Q:{task_text}"]
    for r in trace:
        obs = r["observation"] if r["ok"] else "error"
        lines.append(f"{_compact(r)}>{obs}")
    return "\n".join(lines) + "\n"


def parse_compact(text: str):
    """``"lookup apple"`` -> Action; ``"finish 29"`` -> Finish; anything else -> Invalid."""
    text = text.strip()
    name, _, arg = text.partition(" ")
    if name == "lookup" and arg:
        return Action("lookup", {"key": arg.strip()})
    if name == "calc" and arg:
        return Action("calc", {"expression": arg.strip()})
    if name == "finish" and arg:
        try:
            return Finish(int(arg.strip()))
        except ValueError:
            return Invalid(text, "finish needs a whole number")
    return Invalid(text, "expected 'lookup ITEM', 'calc EXPRESSION' or 'finish NUMBER'")


@lru_cache(maxsize=1)
def _tokenizer():
    from ..models import Tokenizer

    return Tokenizer.char_level(AGENT_ALPHABET)


def _oracle_text(task: Task) -> Tuple[str, List[Tuple[int, int]]]:
    """Transcript of the correct episode and the (start, end) character spans of the actions."""
    lines = [f"lookup {name}>{PRICES[name]}" for _, name in task.items]
    lines.append("calc " + "+".join(f"{q}*{PRICES[name]}" for q, name in task.items) + f">{task.answer}")
    lines.append(f"finish {task.answer}>")
    text = f"Q:{task.text}\n"
    spans = []
    for line in lines:
        head = line.split(">")[0]
        spans.append((len(text), len(text) + len(head) + 1))            # the action and its '>'
        text += line + "\n"
    return text, spans


class _PolicyTask:
    """Oracle transcripts as a :class:`frontier.models.Task` (targets: the action characters and '>')."""

    def __init__(self, ks: Sequence[int]):
        self.ks = list(ks)
        self.tok = _tokenizer()

    @property
    def vocab_size(self) -> int:
        return self.tok.vocab_size

    @property
    def seq_len(self) -> int:
        return 192

    def sample(self, batch: int, rng: np.random.Generator):
        from ..models import Batch

        rows = []
        for _ in range(batch):
            text, spans = _oracle_text(make_task(int(rng.choice(self.ks)), rng))
            ids = self.tok.encode(text, bos=True)
            mask = [False] * len(ids)
            for a, b in spans:
                for i in range(a + 1, b + 1):                             # +1: the BOS shifts positions
                    mask[i] = True
            rows.append((ids, mask))
        return Batch.from_rows([ids for ids, _ in rows], [mask for _, mask in rows])


def train_policy(ks: Sequence[int] = (1, 2, 3, 4), *, steps: int = 1500, seed: int = 0, progress: bool = True):
    """A TinyLM policy trained on oracle transcripts of baskets of ``ks`` items, through the model cache.

    Returns ``(model, log)``.
    """
    from ..models import TinyLM, TinyLMConfig, cached, next_token_loss_fn, train

    steps = positive_int("steps", steps)
    ks = [positive_int("k", k) for k in ks]
    cfg = TinyLMConfig(vocab_size=_tokenizer().vocab_size, d_model=64, n_layers=2, n_heads=4, d_ff=192,
                       max_seq_len=192)
    task = _PolicyTask(ks)

    def build():
        return TinyLM(cfg, seed=seed)

    def fit(model):
        return train(model, next_token_loss_fn(True), lambda rng: task.sample(32, rng), steps, lr=3e-3,
                     warmup=min(100, steps // 10), schedule="cosine", seed=seed, progress=progress,
                     desc="agent policy")

    key = {"config": asdict(cfg), "ks": ks, "steps": steps, "seed": seed, "prices": PRICES,
           "alphabet": AGENT_ALPHABET, "task": "basket-transcripts/1"}
    return cached("agent-policy", build, fit, key=key, return_result=True, verbose=progress)


class LMPolicy:
    """A trained TinyLM as a ReAct policy: reads the compact transcript, writes the next action line.

    Greedy decoding by default (``temperature=0``); ``seed`` feeds sampling
    otherwise.  Counts the model's token positions in ``tokens_processed``.
    """

    def __init__(self, model, temperature: float = 0.0, seed: int = 0):
        self.model = model
        self.temperature = float(temperature)
        self.tok = _tokenizer()
        self.stop = self.tok.token_to_id(">")
        self.seed = int(seed)
        self.calls = 0
        self.tokens_processed = 0

    def __call__(self, task_text, trace):
        from ..models import generate

        ids = self.tok.encode(transcript(task_text, trace), bos=True)
        room = min(40, self.model.max_seq_len - len(ids))
        if room <= 0:
            return Invalid("", "context full")
        self.calls += 1
        out = generate(self.model, torch.tensor([ids]), room, temperature=self.temperature, stop_token=self.stop,
                       seed=self.seed + self.calls)
        new = out[0, len(ids):].tolist()
        self.tokens_processed += len(ids) + max(len(new) - 1, 0)
        if self.stop in new:
            new = new[:new.index(self.stop)]
        return parse_compact(self.tok.decode(new).split("\n")[-1])


def run_tasks(policy, tasks: Sequence[Task], tools: Optional[ToolRegistry] = None, *, max_steps_extra: int = 3
              ) -> List[Dict[str, Any]]:
    """Run one episode per task; one row per episode.

    Each row: ``task``, ``k`` (items), ``n_steps`` (of the correct episode),
    ``answer``, ``expected``, ``success``, ``steps_taken``, ``trace``, and
    ``step_ok``: for each step, whether the action was a right next step given
    the trace so far (:func:`acceptable`), and ``observation_ok``: whether each
    lookup's observation was the true price.
    The budget is ``n_steps + max_steps_extra``.
    """
    tools = tools if tools is not None else make_tools()
    rows = []
    for t in tasks:
        checks: List[bool] = []

        def watched(task_text, trace, _checks=checks):
            move = policy(task_text, trace)
            if isinstance(move, str):
                move = parse_action(move)
            _checks.append(acceptable(move, task_text, trace))
            return move

        ep = run_episode(watched, tools, t.text, max_steps=t.n_steps + nonnegative_int("max_steps_extra",
                                                                                        max_steps_extra))
        truthful = [_truthful(r) for r in ep.trace]
        rows.append({"task": t.text, "k": len(t.items), "n_steps": t.n_steps, "answer": ep.answer,
                     "expected": t.answer, "success": ep.answer == t.answer, "steps_taken": ep.steps,
                     "trace": ep.trace, "step_ok": checks, "observation_ok": truthful})
    return rows


def _observed(trace: Sequence[Dict[str, Any]]) -> Tuple[Dict[str, int], Optional[int]]:
    observed: Dict[str, int] = {}
    total = None
    for r in trace:
        if not r["ok"]:
            continue
        args = json.loads(r["arguments"]) if r["arguments"] else {}
        if r["action"] == "lookup" and "key" in args:
            observed[args["key"]] = int(r["observation"])
        elif r["action"] == "calc":
            total = int(r["observation"])
    return observed, total


def acceptable(move, task_text: str, trace: Sequence[Dict[str, Any]]) -> bool:
    """Whether ``move`` is a right next step given the trace (any order of lookups is right).

    Right: looking up a basket item not looked up yet; once all are known, a
    ``calc`` whose value is the total of the *observed* prices; after that,
    finishing with the observed total.
    """
    task = _task_from_text(task_text)
    observed, total = _observed(trace)
    missing = [name for _, name in task.items if name not in observed]
    if missing:
        return isinstance(move, Action) and move.name == "lookup" and move.arguments.get("key") in missing
    if total is None:
        if not (isinstance(move, Action) and move.name == "calc"):
            return False
        try:
            value = expression_value(str(move.arguments.get("expression", "")))
        except (ValueError, ZeroDivisionError):
            return False
        return value == sum(q * observed[name] for q, name in task.items)
    return isinstance(move, Finish) and move.answer == total


def _truthful(row: Dict[str, Any]) -> bool:
    """Whether a lookup observation is the true price (other steps: True)."""
    if row["action"] != "lookup" or not row["ok"]:
        return True
    key = json.loads(row["arguments"]).get("key")
    return key in PRICES and int(row["observation"]) == PRICES[key]


def step_error_rates(rows: Sequence[Dict[str, Any]], max_steps: int) -> List[Dict[str, float]]:
    """Per step index ``i`` (1-based): the share of episodes whose step ``i`` was wrong, among those
    whose steps ``1..i-1`` were all right (the conditional error rate the independence model multiplies)."""
    out = []
    for i in range(positive_int("max_steps", max_steps)):
        reach = [r for r in rows if len(r["step_ok"]) > i and all(r["step_ok"][:i])]
        if not reach:
            break
        wrong = sum(not r["step_ok"][i] for r in reach)
        out.append({"step": i + 1, "episodes": len(reach), "error_rate": wrong / len(reach)})
    return out


def success_by_steps(rows: Sequence[Dict[str, Any]]) -> List[Dict[str, float]]:
    """Task success per ``n_steps`` with 95% Wilson intervals: ``steps``, ``n``, ``success``, ``lo``, ``hi``."""
    from .theory import wilson_interval

    out = []
    for n in sorted({r["n_steps"] for r in rows}):
        rs = [r for r in rows if r["n_steps"] == n]
        k = sum(r["success"] for r in rs)
        lo, hi = wilson_interval(k, len(rs))
        out.append({"steps": n, "n": len(rs), "success": k / len(rs), "lo": lo, "hi": hi})
    return out


def verify_with_sql(tools: ToolRegistry, task: Task, answer: Any) -> bool:
    """A verifier step: recompute the basket's total with one SQL query and compare with ``answer``."""
    cases = " + ".join(f"{q} * (SELECT price FROM prices WHERE item = '{name}')" for q, name in task.items)
    obs = tools.call("sql", {"query": f"SELECT {cases} AS total"})
    return bool(obs.ok and obs.content["ok"] and obs.content["rows"] and obs.content["rows"][0][0] == answer)


def run_with_retries(policy, tasks: Sequence[Task], tools: ToolRegistry, retries: int,
                     verify: bool = True) -> List[Dict[str, Any]]:
    """Run each task; if the SQL verifier rejects the answer (or the episode did not finish), rerun it,
    up to ``retries`` extra attempts.  Rows as :func:`run_tasks` plus ``attempts``."""
    retries = nonnegative_int("retries", retries)
    out = []
    for t in tasks:
        for attempt in range(retries + 1):
            row = run_tasks(policy, [t], tools)[0]
            ok = row["answer"] is not None and (not verify or verify_with_sql(tools, t, row["answer"]))
            if ok:
                break
        row["attempts"] = attempt + 1
        out.append(row)
    return out


def run_planner_executor(tasks: Sequence[Task], executor_step_error: float, planner_error: float,
                         seed: int = 0) -> List[Dict[str, Any]]:
    """Multi-agent decomposition: a planner splits the basket, one executor per item, the planner adds up.

    Each executor runs a one-item episode (lookup, calc, finish: 3 steps) with
    :class:`StochasticPolicy` (fatal errors, rate ``executor_step_error``); the
    planner errs with probability ``planner_error`` when it splits (drops an
    item) and again when it combines (adds a wrong subtotal).  Rows: ``task``,
    ``k``, ``success``, ``agent_steps`` (all steps of all agents), and where it
    failed (``"plan"``, ``"executor"``, ``"combine"`` or ``None``).
    """
    e = fraction("executor_step_error", executor_step_error)
    pe = fraction("planner_error", planner_error)
    rng = np.random.default_rng(nonnegative_int("seed", seed))
    tools = make_tools()
    out = []
    for t in tasks:
        failed = None
        plan = list(t.items)
        if rng.random() < pe:
            plan = plan[:-1] if len(plan) > 1 else [(plan[0][0] + 1, plan[0][1])]
            failed = "plan"
        subtotals, steps = [], 2
        for q, name in plan:
            sub = Task(((q, name),))
            row = run_tasks(StochasticPolicy(e, seed=int(rng.integers(2**31 - 1))), [sub], tools, max_steps_extra=0)[0]
            steps += row["steps_taken"]
            subtotals.append(row["answer"] if row["answer"] is not None else 0)
            if not row["success"] and failed is None:
                failed = "executor"
        total = sum(subtotals)
        if rng.random() < pe:
            total += 1
            failed = failed or "combine"
        out.append({"task": t.text, "k": len(t.items), "success": total == t.answer and failed is None,
                    "agent_steps": steps, "failed_at": failed})
    return out
