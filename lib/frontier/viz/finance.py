"""Figures and widgets for section 8: the SQL playground, latency budgets, market scenarios, deployment sizing.

Controllers (registered for the benchmark and the browser tests):

* ``finance_sql_playground``   a question -> its SQL (the lesson's model, or the gold query) -> the safety verdict
  -> the result table
* ``finance_latency_budget``   a news stream (items/s, tokens/item) against a deployment's capacity
* ``finance_scenario_explorer`` GBM, GARCH(1,1) or bootstrap paths, a volatility shock, the horizon -> paths and tails
* ``finance_sizing_calculator`` model, precision, context, users, device -> memory, GPUs, speed

Builders are pure and cheap; the computation lives in :mod:`frontier.finance`.
"""
from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Callable, Dict, Optional

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..finance import deployment as dep
from ..finance import scenarios as sc
from .controller import InteractiveFigure, dropdown, log_slider, register, slider
from .theme import COLORS, apply_theme

__all__ = ["PLAYGROUND_QUERIES", "make_sql_playground_figure", "sql_playground", "make_latency_budget_figure",
           "latency_budget", "make_scenario_figure", "scenario_explorer", "make_sizing_figure",
           "sizing_calculator", "make_t2s_scores_figure"]


@lru_cache(maxsize=1)
def _default_db() -> str:
    from ..finance.database import build
    return str(build(Path(tempfile.mkdtemp(prefix="frontier-finance-")) / "finance.db", 0))


def _playground_queries() -> Dict[str, str]:
    from ..finance.sql import ATTACKS
    from ..finance.text_to_sql import TEMPLATES
    from ..finance.database import corpus_for
    c = corpus_for(0, 0)
    name, period = c.companies[0].name, c.periods[-1].label
    slots = {"company": name, "metric": "revenue", "period": period, "sector": c.companies[0].sector,
             "year": str(c.periods[-1].year)}
    out = {}
    for t in TEMPLATES.values():
        s = {k: slots[k] for k in t.slots}
        out[t.phrasings[0].format(**s)] = t.sql(s)
    for k in ("drop table", "multi-statement injection", "runaway recursive CTE"):
        out[f"(attack) {k}"] = ATTACKS[k]
    return out


#: Question -> gold SQL (or an attack) offered by the playground.
PLAYGROUND_QUERIES: Dict[str, str] = {}


def make_sql_playground_figure(question: Optional[str] = None, db: Optional[str] = None,
                               translate: Optional[Callable[[str], str]] = None) -> go.Figure:
    """A table: the question, the SQL (``translate(question)``, else the gold query or attack), the safety verdict
    of :func:`frontier.finance.sql.execute_safely`, and up to 8 result rows."""
    from ..finance.sql import execute_safely
    if not PLAYGROUND_QUERIES:
        PLAYGROUND_QUERIES.update(_playground_queries())
    question = question or next(iter(PLAYGROUND_QUERIES))
    if question not in PLAYGROUND_QUERIES:
        raise ValueError(f"question must be one of {list(PLAYGROUND_QUERIES)}, got {question!r}")
    is_attack = question.startswith("(attack)")
    sql = PLAYGROUND_QUERIES[question] if (translate is None or is_attack) else translate(question)
    source = "attack" if is_attack else ("model" if translate is not None else "gold")
    r = execute_safely(db or _default_db(), sql, max_rows=8, max_steps=200_000)
    verdict = "accepted, ran" if r.ok else f"refused: {r.error}"
    rows = [", ".join(map(str, row)) for row in r.rows] or ["(no rows)"]
    fig = go.Figure(go.Table(
        columnwidth=[1, 4],
        header=dict(values=["", "value"], fill_color=COLORS[0], font=dict(color="white")),
        cells=dict(values=[["question", f"SQL ({source})", "safety layer", "columns"] + ["row"] * len(rows),
                           [question, sql, verdict, ", ".join(r.columns)] + rows], align="left", height=26)))
    meta = {"question": question, "sql": sql, "ok": r.ok, "error": r.error, "rows": [list(x) for x in r.rows],
            "source": source}
    return apply_theme(fig, "SQL playground: question -> SQL -> safety verdict -> result", meta=meta)


@register("finance_sql_playground")
def sql_playground(**fixed) -> InteractiveFigure:
    """Pick a question (or an attack); pass ``translate=`` (question -> SQL) to show a model's query."""
    if not PLAYGROUND_QUERIES:
        PLAYGROUND_QUERIES.update(_playground_queries())
    fixed.setdefault("db", _default_db())
    controls = {"question": dropdown(list(PLAYGROUND_QUERIES), description="question")}
    return InteractiveFigure(make_sql_playground_figure, controls, fixed=fixed, name="finance_sql_playground")


def make_latency_budget_figure(items_per_second: float = 20.0, tokens_per_item: int = 400,
                               model: str = "Mistral 7B", precision: str = "bf16", device: str = "H100-SXM",
                               n_gpus: int = 1, batch: int = 32) -> go.Figure:
    """Demand against capacity for a news stream (items/s), and the time per batch split into prefill and decode."""
    b = dep.streaming_budget(items_per_second, int(tokens_per_item), model=model, precision=precision,
                             device=device, n_gpus=int(n_gpus), batch=int(batch))
    fig = make_subplots(rows=1, cols=2, subplot_titles=("items per second", "seconds per batch"))
    fig.add_bar(x=["demand", "capacity"], y=[items_per_second, b["items_per_second_capacity"]],
                marker_color=[COLORS[3] if b["utilisation"] > 1 else COLORS[2], COLORS[0]], row=1, col=1,
                showlegend=False)
    decode = b["seconds_per_batch"] - b["ttft"]
    fig.add_bar(x=["batch"], y=[b["ttft"]], name="prefill (time to first token)", marker_color=COLORS[1], row=1, col=2)
    fig.add_bar(x=["batch"], y=[decode], name="decode", marker_color=COLORS[4], row=1, col=2)
    fig.update_layout(barmode="stack")
    verdict = "keeps up" if b["utilisation"] <= 1 else "falls behind"
    title = (f"{model} {precision} on {n_gpus} x {device}: utilisation {b['utilisation']:.0%} ({verdict}); "
             f"per-token decode {1e3 * b['per_token']:.1f} ms (lower bound)")
    return apply_theme(fig, title, meta=dict(b, model=model, precision=precision, device=device, n_gpus=n_gpus))


@register("finance_latency_budget")
def latency_budget(**fixed) -> InteractiveFigure:
    """A news stream against a deployment: rate, tokens per item, model, precision, device, GPUs, batch."""
    controls = {"items_per_second": log_slider(20.0, -1, 4, 0.1, "news items / s"),
                "tokens_per_item": slider(400, 50, 4000, 50, "tokens / item"),
                "model": dropdown(list(dep.OPEN_MODELS), value="Mistral 7B", description="model"),
                "precision": dropdown(["bf16", "int8", "q4_0"], description="weights"),
                "device": dropdown(["H100-SXM", "A100-80GB", "L4", "H200"], description="device"),
                "n_gpus": dropdown([1, 2, 4, 8], description="GPUs"),
                "batch": dropdown([1, 8, 32, 128], value=32, description="batch")}
    return InteractiveFigure(make_latency_budget_figure, controls, fixed=fixed, name="finance_latency_budget")


@lru_cache(maxsize=1)
def _fit() -> sc.GarchFit:
    return sc.fit_garch(sc.sp500_returns())


def make_scenario_figure(generator: str = "garch", vol_shock: float = 1.0, horizon: int = 20, n_paths: int = 400,
                         level: float = 0.99, seed: int = 0) -> go.Figure:
    """Left: 30 cumulative-return paths; right: the distribution of horizon returns with VaR and ES marked."""
    if generator == "learned":
        raise ValueError("the explorer shows 'gbm', 'garch' and 'bootstrap' (the learned generator needs training)")
    paths = sc.scenario_paths(generator, int(n_paths), int(horizon), seed=seed, vol_shock=vol_shock,
                              fit=_fit() if generator == "garch" else None)
    h = sc.horizon_returns(paths)
    var, es = sc.value_at_risk(h, level), sc.expected_shortfall(h, level)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("cumulative log return (%)", f"{horizon}-day return (%)"))
    cum = np.cumsum(paths[:30], axis=1)
    x = np.tile(np.append(np.arange(1, horizon + 1), np.nan), len(cum))      # 30 paths as one trace
    y = np.concatenate([np.append(row, np.nan) for row in cum])
    fig.add_scatter(x=x, y=y, mode="lines", line=dict(width=1, color=COLORS[0]), opacity=0.5, showlegend=False,
                    row=1, col=1)
    fig.add_histogram(x=h, nbinsx=40, marker_color=COLORS[2], showlegend=False, row=1, col=2)
    fig.add_vline(x=-var, line_dash="dash", line_color=COLORS[3], row=1, col=2)
    fig.add_vline(x=-es, line_dash="dot", line_color=COLORS[1], row=1, col=2)
    title = (f"{generator}, volatility x{vol_shock:g}: {level:.0%} VaR {var:.1f}%, ES {es:.1f}% over {horizon} days "
             f"(dashed: -VaR, dotted: -ES)")
    meta = {"generator": generator, "vol_shock": vol_shock, "horizon": horizon, "var": var, "es": es,
            "n_paths": int(n_paths)}
    return apply_theme(fig, title, meta=meta)


@register("finance_scenario_explorer")
def scenario_explorer(**fixed) -> InteractiveFigure:
    """Generator, volatility shock and horizon -> paths and the tail of the horizon return."""
    controls = {"generator": dropdown(["gbm", "garch", "bootstrap"], value="garch", description="model"),
                "vol_shock": slider(1.0, 0.5, 4.0, 0.25, "volatility shock"),
                "horizon": dropdown([1, 5, 10, 20, 60], value=20, description="horizon (days)")}
    return InteractiveFigure(make_scenario_figure, controls, fixed=fixed, name="finance_scenario_explorer")


def make_sizing_figure(model: str = "LLaMA-2 70B", precision: str = "q4_0", context: int = 8192, users: int = 8,
                       device: str = "A100-80GB") -> go.Figure:
    """Weights + KV cache against the usable memory of the devices needed, with speed in the title."""
    r = dep.size_deployment(model, precision, context=int(context), users=int(users), device=device)
    usable = r.device_bytes * 0.9 / 1e9
    fig = go.Figure()
    fig.add_bar(x=["memory"], y=[r.weights_bytes / 1e9], name="weights", marker_color=COLORS[0])
    fig.add_bar(x=["memory"], y=[r.kv_bytes / 1e9], name=f"KV cache ({users} x {context:,} tokens)",
                marker_color=COLORS[1])
    for g in sorted({1, r.gpus_needed}):                 # one device, and the number needed
        fig.add_hline(y=usable * g, line_dash="dot", annotation_text=f"{g} x {device} (90%)")
    fig.update_layout(barmode="stack", yaxis_title="GB")
    title = (f"{model} {precision}: {r.total_bytes / 1e9:.1f} GB -> {r.gpus_needed} x {device}; "
             f"{r.user_tokens_per_s:.0f} tokens/s per user, {r.total_tokens_per_s:.0f} in all (bounds)")
    return apply_theme(fig, title, meta=r.as_dict())


@register("finance_sizing_calculator")
def sizing_calculator(**fixed) -> InteractiveFigure:
    """Model, precision, context, concurrent users and device -> memory, GPUs, speed."""
    controls = {"model": dropdown(list(dep.OPEN_MODELS), value="LLaMA-2 70B", description="model"),
                "precision": dropdown(["bf16", "int8", "q4_0", "nf4"], value="q4_0", description="weights"),
                "context": dropdown([2048, 4096, 8192, 32768, 131072], value=8192, description="context"),
                "users": dropdown([1, 4, 8, 32, 128], value=8, description="users"),
                "device": dropdown(["A100-80GB", "H100-SXM", "H200", "L4", "RTX 4090"], description="device")}
    return InteractiveFigure(make_sizing_figure, controls, fixed=fixed, name="finance_sizing_calculator")


def make_t2s_scores_figure(summary) -> go.Figure:
    """Grouped bars: exact match, execution and test-suite accuracy per test group.

    ``summary`` is a mapping (or DataFrame) ``group -> {"exact", "execution", "test_suite"}`` of accuracies.
    """
    table = summary.to_dict(orient="index") if hasattr(summary, "to_dict") else dict(summary)
    groups = list(table)
    fig = go.Figure()
    for color, (key, label) in zip(COLORS, (("exact", "exact match"), ("execution", "execution (1 database)"),
                                            ("test_suite", "execution (test suite)"))):
        fig.add_bar(x=groups, y=[float(table[g][key]) for g in groups], name=label, marker_color=color)
    fig.update_layout(barmode="group", yaxis=dict(range=[0, 1.05], title="accuracy"))
    return apply_theme(fig, "Text-to-SQL accuracy by test group and by scoring rule",
                       meta={g: {k: float(v) for k, v in table[g].items()} for g in groups})


def make_reasoning_accuracy_figure(accuracy) -> go.Figure:
    """Accuracy against the number of calculation steps, one line per way of answering, Wilson 95% error bars.

    ``accuracy`` is :func:`frontier.finance.reasoning.accuracy_by_steps`'s ``{way: {steps: {"accuracy", "low",
    "high", "n"}}}``.
    """
    fig = go.Figure()
    labels = {"direct": "tiny model, direct answer", "cot": "tiny model, chain of thought",
              "tool": "tiny model writes calculator calls"}
    for color, (way, per) in zip(COLORS, accuracy.items()):
        steps = sorted(per)
        acc = [float(per[s]["accuracy"]) for s in steps]
        fig.add_scatter(x=steps, y=acc, mode="lines+markers", name=labels.get(way, way), marker_color=color,
                        error_y=dict(type="data", symmetric=False,
                                     array=[float(per[s]["high"]) - a for s, a in zip(steps, acc)],
                                     arrayminus=[a - float(per[s]["low"]) for s, a in zip(steps, acc)]))
    fig.update_layout(xaxis=dict(title="calculation steps", dtick=1), yaxis=dict(range=[-0.05, 1.05], title="accuracy"))
    return apply_theme(fig, "Multi-step financial questions: accuracy against the number of steps",
                       meta={w: {int(s): float(v["accuracy"]) for s, v in per.items()} for w, per in accuracy.items()})
