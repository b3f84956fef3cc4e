"""Figures and widgets for section 2, reasoning and planning.

* :func:`make_difficulty_figure`       how hard the 1,362 puzzles are (a random proposer's solve rate)
* :func:`make_accuracy_compute_figure` accuracy against compute per strategy (controller: strategy, budget)
* :func:`make_verifier_noise_figure`   best-of-N against N with a noisy verifier, closed form (+ measured)
* :func:`make_compute_split_figure`    one sample of a larger model against N of a smaller one, per difficulty
* :func:`make_reliability_figure`      agent success against steps: measured against the independence model p^n
* :func:`make_trace_figure`            one agent episode, step by step, as a table

Computation stays in :mod:`frontier.reasoning` and :mod:`frontier.agents`; this module only draws.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Mapping, Optional, Sequence

import numpy as np
import plotly.graph_objects as go

from ..reasoning.theory import best_of_n_accuracy, pass_at_n
from ..validation import fraction, nonnegative_float, positive_float, positive_int
from .controller import InteractiveFigure, dropdown, log_slider, register, slider
from .theme import COLORS, apply_theme

__all__ = ["make_difficulty_figure", "make_accuracy_compute_figure", "accuracy_compute_explorer",
           "make_verifier_noise_figure", "verifier_noise_explorer", "make_compute_split_figure",
           "make_reliability_figure", "reliability_explorer", "make_trace_figure", "trace_explorer",
           "STRATEGY_COLORS", "make_tool_accuracy_figure"]

STRATEGY_COLORS = {"single": COLORS[7 % len(COLORS)], "self_consistency": COLORS[0], "best_of_n": COLORS[1],
                   "weighted_best_of_n": COLORS[4], "tree_search": COLORS[2], "revision": COLORS[3]}
_NICE = {"single": "single sample", "self_consistency": "self-consistency", "best_of_n": "best-of-N (ORM)",
         "weighted_best_of_n": "weighted best-of-N", "tree_search": "tree search (PRM)",
         "revision": "revision (PRM)"}


def make_difficulty_figure(solve_rates: Sequence[float], edges: Sequence[float] = (0.0, 0.0017, 0.0033, 0.0074, 1.0),
                           names: Sequence[str] = ("hard", "medium", "easy", "very easy")) -> go.Figure:
    """Histogram of log10(solve rate) over puzzles with the difficulty-bin edges marked."""
    r = np.asarray(solve_rates, dtype=float)
    if r.size == 0 or np.any(r <= 0):
        raise ValueError("solve_rates must be non-empty and positive (solvable puzzles only)")
    fig = go.Figure(go.Histogram(x=np.log10(r), nbinsx=40, marker_color=COLORS[0], name="puzzles"))
    for e in edges[1:-1]:
        fig.add_vline(x=float(np.log10(e)), line_dash="dash", line_color="gray")
    mids = [np.sqrt(max(lo, r.min()) * min(hi, r.max())) for lo, hi in zip(edges[:-1], edges[1:])]
    for m, name in zip(mids, names):
        fig.add_annotation(x=float(np.log10(m)), y=1.02, yref="paper", text=name, showarrow=False)
    fig.update_xaxes(title="log10 (probability that random legal steps solve the puzzle)")
    fig.update_yaxes(title="puzzles")
    return apply_theme(fig, f"Difficulty of the {r.size:,} solvable puzzles", meta={"n": int(r.size)}, height=380)


def make_accuracy_compute_figure(summary: Sequence[Mapping[str, object]], strategy: str = "all",
                                 budget: Optional[float] = None, x: str = "tokens") -> go.Figure:
    """Accuracy (with 95% intervals) against mean compute per puzzle, one line per strategy, log x-axis.

    Args:
        summary: rows of :func:`frontier.reasoning.experiments.summarize` grouped by
            ``("strategy", "knob_value")`` (keys ``accuracy``, ``lo``, ``hi`` and ``x``).
        strategy: ``"all"`` or one strategy to highlight (the others are greyed).
        budget: draw a vertical line at this compute and name the best strategy within it.
        x: ``"tokens"`` (proposer tokens) or ``"flops"``.

    ``layout.meta`` has ``best`` (strategy, knob and accuracy of the best point within the budget).
    """
    rows = list(summary)
    if not rows:
        raise ValueError("summary must not be empty")
    if any(x not in r for r in rows):
        raise ValueError(f"every summary row needs {x!r}")
    names = list(dict.fromkeys(str(r["strategy"]) for r in rows))
    if strategy != "all" and strategy not in names:
        raise ValueError(f"strategy must be 'all' or one of {names}, got {strategy!r}")
    fig = go.Figure()
    for name in names:
        rs = sorted((r for r in rows if r["strategy"] == name), key=lambda r: r[x])
        on = strategy in ("all", name)
        color = STRATEGY_COLORS.get(name, COLORS[5]) if on else "lightgray"
        acc = np.array([r["accuracy"] for r in rs])
        fig.add_trace(go.Scatter(
            x=[r[x] for r in rs], y=acc, mode="lines+markers", name=_NICE.get(name, name),
            line=dict(color=color, width=3 if on else 1), marker=dict(color=color, size=8 if on else 5),
            error_y=dict(type="data", symmetric=False, array=np.array([r["hi"] for r in rs]) - acc,
                         arrayminus=acc - np.array([r["lo"] for r in rs]), visible=on, color=color),
            text=[f"{r.get('knob_value', '')}" for r in rs],
            hovertemplate="%{fullData.name}<br>knob %{text}<br>compute %{x:.3g}<br>accuracy %{y:.2f}<extra></extra>"))
    best = None
    if budget is not None:
        budget = positive_float("budget", budget)
        within = [r for r in rows if r[x] <= budget]
        if within:
            b = max(within, key=lambda r: (r["accuracy"], -r[x]))
            best = {"strategy": b["strategy"], "knob_value": b.get("knob_value"), "accuracy": b["accuracy"]}
        fig.add_vline(x=budget, line_dash="dot", line_color="black")
    title = "Accuracy against test-time compute (held-out puzzles, 95% intervals)"
    if best:
        title += f"<br><sub>best within {budget:,.0f} {x}: {_NICE.get(best['strategy'], best['strategy'])} " \
                 f"(knob {best['knob_value']}), accuracy {best['accuracy']:.2f}</sub>"
    elif budget is not None:
        title += f"<br><sub>nothing fits within {budget:,.0f} {x}</sub>"
    fig.update_xaxes(type="log", title="proposer tokens per puzzle" if x == "tokens" else "proposer FLOPs per puzzle")
    fig.update_yaxes(title="accuracy", range=[0, 1.02])
    return apply_theme(fig, title, meta={"strategy": strategy, "budget": budget, "x": x, "best": best}, height=480,
                       legend_below=-0.22)


@lru_cache(maxsize=1)
def _demo_summary() -> tuple:
    """A small sweep with the random-step proposer and exact verifiers (fast), for the default widget."""
    from ..reasoning.experiments import summarize, sweep
    from ..reasoning.proposer import RandomStepProposer
    from ..reasoning.solver import split_puzzles
    from ..reasoning.verifiers import NoisyOutcomeVerifier, NoisyProcessVerifier

    test = split_puzzles()[1][::34]
    orm, prm = NoisyOutcomeVerifier(0.0, 0.0), NoisyProcessVerifier(0.0, 0.0)
    plan = [("single", {})] + [("best_of_n", {"n": n, "verifier": orm}) for n in (2, 8)] + \
           [("self_consistency", {"n": n}) for n in (2, 8)] + \
           [("tree_search", {"breadth": b, "proposals": 3, "prm": prm}) for b in (1, 3)]
    rows = sweep(RandomStepProposer(error_rate=0.1), test, plan, seed=0)
    return tuple(summarize(rows))


@register("reasoning_accuracy_compute")
def accuracy_compute_explorer(summary: Optional[Sequence[Mapping[str, object]]] = None, x: str = "tokens",
                              **fixed) -> InteractiveFigure:
    """Strategy and compute-budget controls on the accuracy-compute plot (default: a random-proposer demo)."""
    rows = list(summary) if summary is not None else list(_demo_summary())
    names = list(dict.fromkeys(str(r["strategy"]) for r in rows))
    xs = [float(r[x]) for r in rows]
    lo, hi = np.log10(min(xs)), np.log10(max(xs) * 1.5)
    controls = {"strategy": dropdown(["all"] + names, "all", "highlight"),
                "budget": log_slider(float(10 ** ((lo + hi) / 2)), float(lo), float(hi), 0.05,
                                     f"budget ({x})", fmt=",.0f")}
    return InteractiveFigure(make_accuracy_compute_figure, controls, fixed={"summary": rows, "x": x, **fixed},
                             name="reasoning_accuracy_compute")


def make_verifier_noise_figure(p: float = 0.2, false_positive: float = 0.05, false_negative: float = 0.1,
                               overconfidence: float = 0.0, n_max: int = 128,
                               measured: Optional[Mapping[str, Sequence[float]]] = None) -> go.Figure:
    """Best-of-N accuracy against N (log) for a proposer with per-sample accuracy ``p``.

    Curves (closed forms of :mod:`frontier.reasoning.theory`): a perfect
    verifier (pass@N), the noisy verifier with the given rates, and its limit
    ``P(correct | accepted)`` for large N when ``overconfidence = 0``.
    ``measured``: optional ``{"n": [...], "accuracy": [...], "lo": [...], "hi": [...]}`` points.
    ``layout.meta`` has ``peak_n`` (the N with the highest noisy accuracy) and ``limit``.
    """
    p = fraction("p", p)
    fp, fn = fraction("false_positive", false_positive), fraction("false_negative", false_negative)
    h = nonnegative_float("overconfidence", overconfidence)
    n_max = positive_int("n_max", n_max)
    ns = np.unique(np.round(np.logspace(0, np.log10(n_max), 28)).astype(int))
    perfect = [pass_at_n(p, int(n)) for n in ns]
    noisy = [best_of_n_accuracy(p, int(n), fp, fn, h) for n in ns]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=ns, y=perfect, name="perfect verifier (pass@N)", line=dict(color=COLORS[2], width=3)))
    fig.add_trace(go.Scatter(x=ns, y=noisy, name=f"noisy verifier (FP {fp:.2f}, FN {fn:.2f}, over-confidence {h:g})",
                             line=dict(color=COLORS[3], width=3)))
    limit = None
    if h == 0 and (p * (1 - fn) + (1 - p) * fp) > 0:
        limit = p * (1 - fn) / (p * (1 - fn) + (1 - p) * fp)
        fig.add_hline(y=limit, line_dash="dot", line_color=COLORS[3],
                      annotation_text=f"limit P(correct | accepted) = {limit:.2f}")
    fig.add_hline(y=p, line_dash="dash", line_color="gray", annotation_text=f"one sample: {p:.2f}",
                  annotation_position="bottom right")
    if measured:
        m_acc = np.asarray(measured["accuracy"], dtype=float)
        fig.add_trace(go.Scatter(x=list(measured["n"]), y=m_acc, mode="markers", name="measured",
                                 marker=dict(color="black", size=9),
                                 error_y=dict(type="data", symmetric=False,
                                              array=np.asarray(measured["hi"]) - m_acc,
                                              arrayminus=m_acc - np.asarray(measured["lo"]))))
    peak = int(ns[int(np.argmax(noisy))])
    fig.update_xaxes(type="log", title="N (samples per puzzle)")
    fig.update_yaxes(title="accuracy", range=[0, 1.02])
    title = f"Best-of-N with a noisy outcome verifier: best at N = {peak}"
    return apply_theme(fig, title, meta={"p": p, "false_positive": fp, "false_negative": fn, "overconfidence": h,
                                         "peak_n": peak, "limit": limit}, height=460, legend_below=-0.22)


@register("reasoning_verifier_noise")
def verifier_noise_explorer(p: float = 0.2, false_positive: float = 0.05, false_negative: float = 0.1,
                            overconfidence: float = 0.0, **fixed) -> InteractiveFigure:
    """Sliders for the verifier's false-positive and false-negative rates, over-confidence and ``p``.

    ``fixed`` may carry ``measured`` points (see :func:`make_verifier_noise_figure`) and ``n_max``.
    """
    controls = {"false_positive": slider(round(float(false_positive), 2), 0.0, 0.5, 0.01, "false-positive rate"),
                "false_negative": slider(round(float(false_negative), 2), 0.0, 0.5, 0.01, "false-negative rate"),
                "overconfidence": slider(float(overconfidence), 0.0, 1.5, 0.25, "over-confidence of false positives"),
                "p": slider(round(float(p), 2), 0.01, 0.9, 0.01, "one-sample accuracy p")}
    return InteractiveFigure(make_verifier_noise_figure, controls, fixed=fixed, name="reasoning_verifier_noise")


def make_compute_split_figure(rows: Sequence[Mapping[str, object]]) -> go.Figure:
    """Grouped bars: accuracy per difficulty bin for each ``setting`` (with 95% intervals).

    ``rows``: dicts with ``difficulty``, ``setting`` (e.g. "large x 1",
    "small x 8"), ``accuracy``, ``lo``, ``hi`` and ``flops``.
    """
    rows = list(rows)
    if not rows:
        raise ValueError("rows must not be empty")
    settings = list(dict.fromkeys(str(r["setting"]) for r in rows))
    bins = list(dict.fromkeys(str(r["difficulty"]) for r in rows))
    fig = go.Figure()
    for i, s in enumerate(settings):
        rs = {str(r["difficulty"]): r for r in rows if r["setting"] == s}
        acc = np.array([rs[b]["accuracy"] if b in rs else np.nan for b in bins])
        flops = np.mean([r["flops"] for r in rs.values()])
        fig.add_trace(go.Bar(x=bins, y=acc, name=f"{s} ({flops:.2g} FLOPs/puzzle)", marker_color=COLORS[i % 8],
                             error_y=dict(type="data", symmetric=False,
                                          array=np.array([rs[b]["hi"] for b in bins]) - acc,
                                          arrayminus=acc - np.array([rs[b]["lo"] for b in bins]))))
    fig.update_layout(barmode="group")
    fig.update_xaxes(title="puzzle difficulty (from the solver)")
    fig.update_yaxes(title="accuracy", range=[0, 1.02])
    return apply_theme(fig, "One sample from the larger model or several from the smaller one?",
                       meta={"settings": settings}, height=440, legend_below=-0.25)


def make_reliability_figure(step_success: float = 0.9, max_steps: int = 10,
                            measured: Optional[Mapping[str, Sequence[float]]] = None,
                            per_step: Optional[Sequence[float]] = None) -> go.Figure:
    """Task success against the number of steps: the independence model ``p^n`` and measurements.

    Args:
        step_success: ``p``, the chance that one step is right.
        max_steps: the x-axis range.
        measured: optional ``{"steps": [...], "success": [...], "lo": [...], "hi": [...]}``.
        per_step: optional measured per-step success rates ``p_1, p_2, ...``; their
            running product is drawn as the independence prediction from measured rates.
    """
    p = fraction("step_success", step_success)
    n = positive_int("max_steps", max_steps)
    xs = np.arange(1, n + 1)
    fig = go.Figure(go.Scatter(x=xs, y=p ** xs, name=f"independent steps: {p:.2f}^n", line=dict(color=COLORS[0],
                                                                                                  width=3)))
    if per_step is not None and len(per_step):
        prod = np.cumprod(np.asarray(per_step, dtype=float))
        fig.add_trace(go.Scatter(x=np.arange(1, len(prod) + 1), y=prod, name="product of measured per-step rates",
                                 line=dict(color=COLORS[1], dash="dash", width=3)))
    if measured:
        acc = np.asarray(measured["success"], dtype=float)
        fig.add_trace(go.Scatter(x=list(measured["steps"]), y=acc, mode="markers", name="measured task success",
                                 marker=dict(color="black", size=9),
                                 error_y=dict(type="data", symmetric=False, array=np.asarray(measured["hi"]) - acc,
                                              arrayminus=acc - np.asarray(measured["lo"]))))
    half = np.log(0.5) / np.log(p) if 0 < p < 1 else float("inf")
    fig.update_xaxes(title="steps in the task", dtick=1)
    fig.update_yaxes(title="task success", range=[0, 1.02])
    sub = f"half the tasks fail after {half:.1f} steps" if np.isfinite(half) else "no step ever fails"
    return apply_theme(fig, f"Errors compound: success = p^n if steps fail independently<br><sub>{sub}</sub>",
                       meta={"step_success": p, "half_life_steps": half if np.isfinite(half) else None},
                       height=440, legend_below=-0.22)


@register("reasoning_reliability")
def reliability_explorer(**fixed) -> InteractiveFigure:
    """Sliders for the per-step success rate and the number of steps."""
    controls = {"step_success": slider(0.9, 0.5, 1.0, 0.01, "per-step success p"),
                "max_steps": slider(10, 2, 40, 1, "steps shown")}
    return InteractiveFigure(make_reliability_figure, controls, fixed=fixed, name="reasoning_reliability")


def make_trace_figure(episodes: Sequence[Mapping[str, object]], episode: int = 0, step: int = 99) -> go.Figure:
    """One agent episode as a table, up to ``step`` (the current row highlighted).

    ``episodes``: dicts with ``task``, ``trace`` (rows of
    :class:`frontier.agents.Episode`), and optionally ``answer``, ``expected``, ``success``.
    """
    if not episodes:
        raise ValueError("episodes must not be empty")
    i = int(episode)
    if not 0 <= i < len(episodes):
        raise ValueError(f"episode must lie in [0, {len(episodes) - 1}], got {episode}")
    ep = episodes[i]
    trace = list(ep["trace"])[: max(1, int(step))]
    cols = ["step", "thought", "action", "arguments", "observation", "ok"]
    values = [[str(r.get(c, "")) for r in trace] for c in cols]
    fill = [["#fff3cd" if k == len(trace) - 1 else ("#fde2e1" if not r.get("ok", True) else "white")
             for k, r in enumerate(trace)]] * len(cols)
    fig = go.Figure(go.Table(columnwidth=[30, 140, 60, 150, 150, 30],
                             header=dict(values=cols, fill_color="#e8eef7", align="left"),
                             cells=dict(values=values, fill_color=fill, align="left", height=24)))
    status = ""
    if "success" in ep:
        status = " - success" if ep["success"] else f" - failed (expected {ep.get('expected')}, got {ep.get('answer')})"
    fig.update_layout(margin=dict(l=10, r=10, t=70, b=10))
    return apply_theme(fig, f"Episode {i}: {ep['task']}{status}",
                       meta={"episode": i, "rows": len(trace), "total_rows": len(ep["trace"])},
                       height=120 + 28 * max(3, len(trace)))


@lru_cache(maxsize=1)
def _demo_episodes() -> tuple:
    """Two scripted episodes over a price table and a calculator: one clean, one with a recovered error."""
    from ..agents import Action, Finish, Tool, ToolRegistry, run_episode

    prices = {"apple": 7, "pear": 4, "fig": 3}
    reg = ToolRegistry([
        Tool("lookup", "Price of an item.", {"type": "object", "properties": {"key": {"type": "string"}},
                                              "required": ["key"], "additionalProperties": False},
             lambda key: prices[key]),
        Tool("calc", "Evaluate + - * on integers.", {"type": "object", "properties": {"expr": {"type": "string"}},
                                                     "required": ["expr"], "additionalProperties": False},
             lambda expr: int(eval(expr, {"__builtins__": {}}, {})) if set(expr) <= set("0123456789+-* ()") else 1 / 0),
    ])
    scripts = [
        [Action("lookup", {"key": "apple"}, "price of apples"), Action("lookup", {"key": "pear"}, "price of pears"),
         Action("calc", {"expr": "3*7+2*4"}, "3 apples and 2 pears"), Finish(29, "done")],
        [Action("lookup", {"item": "fig"}, "price of figs"), Action("lookup", {"key": "fig"}, "fix the argument"),
         Action("calc", {"expr": "5*3"}, "5 figs"), Finish(15, "done")],
    ]
    out = []
    for task, script, expected in zip(["3 apples and 2 pears", "5 figs"], scripts, [29, 15]):
        it = iter(script)
        ep = run_episode(lambda t, h: next(it), reg, task, max_steps=6)
        out.append({"task": task, "trace": ep.trace, "answer": ep.answer, "expected": expected,
                    "success": ep.answer == expected})
    return tuple(out)


@register("reasoning_agent_trace")
def trace_explorer(episodes: Optional[Sequence[Mapping[str, object]]] = None, **fixed) -> InteractiveFigure:
    """Step through agent episodes: an episode dropdown and a step slider."""
    eps = list(episodes) if episodes is not None else list(_demo_episodes())
    longest = max(len(e["trace"]) for e in eps)
    controls = {"episode": dropdown([(f"{i}: {e['task'][:40]}", i) for i, e in enumerate(eps)], 0, "episode"),
                "step": slider(longest, 1, max(2, longest), 1, "show steps up to")}
    return InteractiveFigure(make_trace_figure, controls, fixed={"episodes": eps, **fixed},
                             name="reasoning_agent_trace")




def make_tool_accuracy_figure(results: Mapping[str, Sequence[Mapping[str, float]]], train_max: Optional[int] = None
                              ) -> go.Figure:
    """Accuracy against operand length, one line per setting (e.g. ``{"model alone": rows, "with calculator": rows}``).

    Each row has ``digits`` and ``accuracy`` (as :func:`frontier.reasoning.tools.arithmetic_accuracy`
    returns); ``train_max`` shades the lengths beyond those seen in training.
    """
    if not results:
        raise ValueError("results must not be empty")
    fig = go.Figure()
    for i, (name, rows) in enumerate(results.items()):
        fig.add_trace(go.Scatter(x=[r["digits"] for r in rows], y=[r["accuracy"] for r in rows], name=name,
                                 mode="lines+markers", line=dict(color=COLORS[i % 8], width=3), marker=dict(size=9)))
    if train_max is not None:
        fig.add_vrect(x0=train_max + 0.5, x1=max(r["digits"] for rows in results.values() for r in rows) + 0.5,
                      fillcolor="lightgray", opacity=0.3, line_width=0, annotation_text="longer than in training")
    fig.update_xaxes(title="digits of the longer operand", dtick=1)
    fig.update_yaxes(title="exact-match accuracy", range=[0, 1.02])
    return apply_theme(fig, "Multi-digit arithmetic: the model alone against the model with a calculator",
                       meta={"settings": list(results)}, height=420, legend_below=-0.22)
