"""Figures and controllers for lesson 03, state-space models against attention.

* :func:`make_discretization_figure` / :func:`discretization_explorer`: a
  one-state system ``h' = a h + u`` stepped with zero-order hold, Euler and
  Mamba's mix, against the exact solution; ``|Abar|`` against the step size;
* :func:`make_scan_figure` / :func:`scan_explorer`: which positions combine
  at each level of a parallel scan (Blelloch or Hillis-Steele);
* :func:`make_timing_figure` / :func:`timing_explorer`: the SSM scan against
  attention on this machine, log-log, with fitted slopes, the crossover and
  the scan's achieved bandwidth;
* :func:`make_accuracy_figure`: answer accuracy during training, one line per model;
* :func:`make_recall_figure`: recall accuracy against state size.

Computation lives in :mod:`frontier.architecture.ssm` and
:mod:`frontier.architecture.mixer_timing`; timings are cached there, so a
control that revisits a setting only redraws.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence, Tuple

import numpy as np
import plotly.graph_objects as go

from ..architecture import ssm
from ..architecture.mixer_timing import scaling_summary, time_mixers
from .controller import InteractiveFigure, dropdown, log_slider, range_slider, register, slider
from .theme import COLORS, METHOD_COLORS, themed_figure

__all__ = ["make_discretization_figure", "discretization_explorer", "make_scan_figure", "scan_explorer",
           "make_timing_figure", "timing_explorer", "make_accuracy_figure", "make_recall_figure",
           "DISCRETIZATION_COLORS"]

DISCRETIZATION_COLORS = {"zoh": COLORS[0], "euler": COLORS[3], "mamba": COLORS[2]}
_MIXER_COLORS = {"ssm": METHOD_COLORS["mamba"], "attention": METHOD_COLORS["dense"]}


def _axes(i: int) -> dict:
    ax = "" if i == 0 else str(i + 1)
    return dict(xaxis=f"x{ax}", yaxis=f"y{ax}")


# --------------------------------------------------------------------------- discretisation
def make_discretization_figure(delta: float = 0.5, a: float = -2.0, signal: str = "step",
                               t_end: float = 6.0) -> go.Figure:
    """Step ``h' = a h + u(t)`` (``h(0) = 0``) with each discretisation and compare with the exact path.

    Left: ``h`` against time; the exact solution is a line, each method's
    samples at ``t = k * delta`` are markers (``u_k = u(k * delta)``).
    Right: ``|Abar|`` against ``delta``; above 1 the discrete system blows up.
    ``layout.meta`` holds the parameters and each method's largest error.
    """
    sim = ssm.simulate_discretizations(delta, a, signal, t_end)
    t_fine, h, t_k, errors = sim["t_fine"], sim["h_exact"], sim["t_k"], sim["errors"]
    data = [dict(type="scatter", x=t_fine, y=h, mode="lines", name="exact", line=dict(color="#000000", width=2),
                 **_axes(0))]
    for method, color in DISCRETIZATION_COLORS.items():
        shown = np.clip(sim["h"][method], -50, 50)
        data.append(dict(type="scatter", x=t_k, y=shown, mode="markers+lines", name=f"{method}",
                         marker=dict(color=color, size=7), line=dict(color=color, width=1, dash="dot"),
                         **_axes(0)))
    deltas = np.logspace(-2, 1, 120)
    for method, label in (("euler", "Euler: |1 + delta a|"), ("zoh", "ZOH and Mamba: exp(delta a)")):
        Abar, _ = ssm.discretize(a, 1.0, deltas, method)
        data.append(dict(type="scatter", x=deltas, y=np.abs(Abar), mode="lines", name=label,
                         line=dict(color=DISCRETIZATION_COLORS[method]), **_axes(1)))
    data.append(dict(type="scatter", x=[deltas[0], deltas[-1]], y=[1, 1], mode="lines", showlegend=False,
                     line=dict(color="#7F7F7F", dash="dash"), hoverinfo="skip", **_axes(1)))
    data.append(dict(type="scatter", x=[delta], y=[abs(1 + delta * a)], mode="markers", name="this delta",
                     marker=dict(color="#000000", size=10, symbol="x"), **_axes(1)))
    layout = {
        "xaxis": dict(domain=[0, 0.58], title="time t"),
        "yaxis": dict(title="h(t)", range=[min(-0.2, float(h.min()) * 1.4), float(max(h.max(), 0.1)) * 1.5]),
        "xaxis2": dict(domain=[0.7, 1.0], type="log", title="step size delta", anchor="y2"),
        "yaxis2": dict(anchor="x2", title="|Abar|", range=[0, 3]),
        "legend": dict(orientation="h", y=-0.2),
    }
    title = (f"Discretising h' = {a:g} h + u with delta = {delta:.3g}: largest error  "
             + "  ".join(f"{m} {e:.2g}" for m, e in errors.items()))
    meta = {"delta": delta, "a": a, "signal": signal, "errors": errors, "euler_stable": abs(1 + delta * a) < 1}
    return themed_figure(data, layout, title, meta, height=430)


@register("ssm_discretization")
def discretization_explorer(delta: float = 0.5, a: float = -2.0) -> InteractiveFigure:
    """Step size, pole and input of :func:`make_discretization_figure`."""
    return InteractiveFigure(make_discretization_figure, {
        "delta": log_slider(delta, -2, 0.5, 0.05, description="step delta"),
        "a": slider(a, -8.0, -0.25, 0.25, description="pole a"),
        "signal": dropdown(["step", "sine"], "step", description="input u"),
    }, name="ssm_discretization")


# --------------------------------------------------------------------------- parallel scan
def make_scan_figure(length: int = 16, method: str = "blelloch") -> go.Figure:
    """The combine pattern of a parallel scan over ``length`` steps.

    Rows are levels (inputs at the top); an arrow from ``src`` to ``dst`` in a
    level means position ``dst`` absorbs the partial result at ``src``.  All
    arrows in a level run at once, so the number of levels is the parallel
    depth; the number of arrows is the work.  ``layout.meta`` has both.
    """
    levels = ssm.scan_schedule(length, method)
    depth, work = len(levels), sum(len(lv) for lv in levels)
    xs, ys = [], []
    for i, level in enumerate(levels):
        for src, dst in level:
            xs += [src, dst, None]
            ys += [-i, -(i + 1), None]
    grid_x = np.tile(np.arange(length), depth + 1)
    grid_y = -np.repeat(np.arange(depth + 1), length)
    data = [
        dict(type="scatter", x=xs, y=ys, mode="lines", name="combine", line=dict(color=COLORS[0], width=2),
             hoverinfo="skip"),
        dict(type="scatter", x=grid_x, y=grid_y, mode="markers", name="partial result",
             marker=dict(color="#BBBBBB", size=8), hoverinfo="skip"),
    ]
    touched = [dst for lv in levels for _, dst in lv]
    dst_y = [-(i + 1) for i, lv in enumerate(levels) for _ in lv]
    data.append(dict(type="scatter", x=touched, y=dst_y, mode="markers", name="updated",
                     marker=dict(color=COLORS[0], size=9)))
    layout = {"xaxis": dict(title="position t", dtick=max(1, length // 16)),
              "yaxis": dict(title="level", tickvals=list(range(0, -depth - 1, -1)),
                            ticktext=[str(i) for i in range(depth + 1)]),
              "legend": dict(orientation="h", y=-0.2)}
    name = "Blelloch (work-efficient)" if method == "blelloch" else "Hillis-Steele"
    title = (f"{name} scan of {length} steps: depth {depth} levels (a loop needs {max(0, length - 1)}), "
             f"{work} combines (a loop needs {max(0, length - 1)})")
    return themed_figure(data, layout, title, {"length": length, "method": method, "depth": depth, "work": work},
                         height=360)


@register("ssm_scan")
def scan_explorer(length: int = 16, method: str = "blelloch") -> InteractiveFigure:
    """Length and method of :func:`make_scan_figure`."""
    return InteractiveFigure(make_scan_figure, {
        "length": slider(length, 2, 64, 1, description="length L"),
        "method": dropdown([("Blelloch", "blelloch"), ("Hillis-Steele", "hillis_steele")], method,
                           description="scan"),
    }, name="ssm_scan")


# --------------------------------------------------------------------------- timing
def make_timing_figure(d_model: int = 64, d_state: int = 16, batch: int = 1,
                       log2_T: Tuple[int, int] = (7, 11), device: str = "auto", repeat: int = 3,
                       progress: bool = False) -> go.Figure:
    """Seconds against sequence length for the SSM scan and attention, log-log, measured here.

    ``log2_T = (lo, hi)``: lengths ``2**lo .. 2**hi``.  Dashed lines are the
    fits ``seconds ~ c T**p`` (slopes in the legend), the vertical line the
    crossover (where the fits meet, even if outside the range), and the
    title gives the scan's best achieved bandwidth against the device's
    measured copy bandwidth.  ``layout.meta`` holds parameters, slopes,
    crossover and bandwidths.  Measurements are cached per point.
    """
    lo, hi = int(log2_T[0]), int(log2_T[1])
    if not 1 <= lo < hi <= 20:
        raise ValueError(f"log2_T must be two increasing exponents in [1, 20], got {log2_T}")
    Ts = [2 ** k for k in range(lo, hi + 1)]
    rows = time_mixers(Ts, d_model=d_model, d_state=d_state, batch=batch, device=device, repeat=repeat,
                       progress=progress)
    summary = scaling_summary(rows)
    data = []
    names = {"ssm": f"SSM scan (d_inner {2 * d_model}, d_state {d_state})",
             "attention": f"attention ({max(1, d_model // 64)} head(s) of 64, causal)"}
    for m in ("ssm", "attention"):
        pts = [r for r in rows if r["mixer"] == m]
        x = [r["T"] for r in pts]
        y = [r["seconds"] * 1e3 for r in pts]
        data.append(dict(type="scatter", x=x, y=y, mode="markers+lines", name=names[m],
                         line=dict(color=_MIXER_COLORS[m]), marker=dict(size=8)))
        if m in summary["fits"]:
            c, p = summary["fits"][m]
            xf = np.array([Ts[0], Ts[-1]], float)
            data.append(dict(type="scatter", x=xf, y=c * xf ** p * 1e3, mode="lines", name=f"fit: slope {p:.2f}",
                             line=dict(color=_MIXER_COLORS[m], dash="dash", width=1)))
    cross = summary["crossover"]
    ys = [r["seconds"] * 1e3 for r in rows]
    if cross is not None and Ts[0] / 8 <= cross <= Ts[-1] * 8:
        inside = Ts[0] <= cross <= Ts[-1]
        data.append(dict(type="scatter", x=[cross, cross], y=[min(ys) / 2, max(ys) * 2], mode="lines",
                         name=f"crossover T = {cross:,.0f}" + ("" if inside else " (extrapolated)"),
                         line=dict(color=COLORS[3], dash="dot")))
    dev = rows[0]["device"].upper()
    bw = summary.get("bandwidth", float("nan"))
    peak = summary.get("copy_bandwidth", float("nan"))
    title = (f"{dev}, batch {batch}: slopes SSM {summary['slopes'].get('ssm', float('nan')):.2f}, "
             f"attention {summary['slopes'].get('attention', float('nan')):.2f}"
             + (f"; crossover T = {cross:,.0f}" if cross is not None else "; no crossover")
             + f"<br><sup>SSM scan: {bw / 1e9:.2f} GB/s achieved, {100 * bw / peak:.1f}% of the "
               f"measured copy bandwidth ({peak / 1e9:.1f} GB/s)</sup>")
    layout = {"xaxis": dict(type="log", title="sequence length T", tickvals=Ts, ticktext=[str(t) for t in Ts]),
              "yaxis": dict(type="log", title="time (ms)"), "legend": dict(orientation="h", y=-0.25)}
    meta = {"d_model": d_model, "d_state": d_state, "batch": batch, "log2_T": [lo, hi], "device": dev.lower(),
            "slopes": summary["slopes"], "crossover": cross, "bandwidth": bw, "copy_bandwidth": peak}
    return themed_figure(data, layout, title, meta, height=480)


@register("ssm_timing")
def timing_explorer(d_model: int = 64, d_state: int = 16, batch: int = 1, log2_T: Tuple[int, int] = (6, 10),
                    max_log2_T: Optional[int] = None, repeat: int = 3) -> InteractiveFigure:
    """Width, state size, batch and range of T for :func:`make_timing_figure`.

    Moving a control measures only the points not measured before (a few
    hundred ms on a laptop for the defaults; seconds for the longest T).
    ``max_log2_T`` defaults to 12 (T = 4096) on a CPU and 16 on a GPU.
    """
    if max_log2_T is None:
        from ..kernels.backend import get_backend
        max_log2_T = 16 if get_backend().is_gpu else 12
    return InteractiveFigure(make_timing_figure, {
        "d_model": dropdown([64, 128, 256, 512], d_model, description="width d_model"),
        "d_state": dropdown([1, 4, 16, 64], d_state, description="state d_state"),
        "batch": slider(batch, 1, 8, 1, description="batch"),
        "log2_T": range_slider(tuple(log2_T), 4, max_log2_T, 1, description="log2 T range"),
    }, fixed={"repeat": repeat}, name="ssm_timing")


# --------------------------------------------------------------------------- experiments
def make_accuracy_figure(curves: Mapping[str, Tuple[Sequence[int], Sequence[float]]],
                         title: str = "Answer accuracy during training", chance: Optional[float] = None) -> go.Figure:
    """One line per model: ``curves[name] = (steps, accuracy)``; optional dashed chance level."""
    if not curves:
        raise ValueError("curves must name at least one model")
    data = []
    for i, (name, (steps, acc)) in enumerate(curves.items()):
        data.append(dict(type="scatter", x=list(steps), y=list(acc), mode="lines+markers", name=name,
                         line=dict(color=COLORS[i % len(COLORS)])))
    if chance is not None:
        last = max(max(s) for s, _ in curves.values())
        data.append(dict(type="scatter", x=[0, last], y=[chance, chance], mode="lines", name="chance",
                         line=dict(color="#7F7F7F", dash="dash")))
    layout = {"xaxis": dict(title="training step"), "yaxis": dict(title="answer accuracy", range=[0, 1.05])}
    final = {name: float(acc[-1]) for name, (_, acc) in curves.items()}
    return themed_figure(data, layout, title, {"final": final}, height=400)


def make_recall_figure(results: Sequence[Mapping[str, object]],
                       title: str = "Associative recall against state size") -> go.Figure:
    """Accuracy against recurrent-state size for SSMs, with attention as a horizontal reference.

    ``results``: records with ``model`` (``"ssm"``, ``"hybrid"`` or
    ``"attention"``), ``accuracy``, optionally ``params`` (parameter count,
    shown in the labels) and, for SSMs and hybrids, ``state`` (numbers per
    Mamba layer) and ``d_state``.  Hybrids are drawn as separate markers.
    """
    def label(r):
        extra = f", {r['params'] / 1e3:.1f}K params" if r.get("params") else ""
        return f"N={r['d_state']}{extra}" if r.get("d_state") else extra.lstrip(", ")

    ssm_rows = sorted((r for r in results if r["model"] == "ssm"), key=lambda r: r["state"])
    hyb = [r for r in results if r["model"] == "hybrid"]
    att = [r for r in results if r["model"] == "attention"]
    if not ssm_rows:
        raise ValueError("results must contain at least one SSM record")
    data = [dict(type="scatter", x=[r["state"] for r in ssm_rows], y=[r["accuracy"] for r in ssm_rows],
                 mode="lines+markers+text", text=[label(r) for r in ssm_rows],
                 textposition="top center", name="SSM", line=dict(color=METHOD_COLORS["mamba"]),
                 marker=dict(size=10))]
    if hyb:
        data.append(dict(type="scatter", x=[r["state"] for r in hyb], y=[r["accuracy"] for r in hyb],
                         mode="markers+text", text=[label(r) for r in hyb], textposition="bottom center",
                         name="hybrid (Mamba + one attention block)",
                         marker=dict(size=12, symbol="diamond", color=METHOD_COLORS["hybrid"])))
    xs = [r["state"] for r in ssm_rows + hyb]
    for r in att:
        name = "attention (keeps every token)" + (f", {r['params'] / 1e3:.1f}K params" if r.get("params") else "")
        data.append(dict(type="scatter", x=[min(xs) / 1.5, max(xs) * 1.5], y=[r["accuracy"]] * 2, mode="lines",
                         name=name, line=dict(color=METHOD_COLORS["dense"], dash="dash")))
    layout = {"xaxis": dict(type="log", title="recurrent state per Mamba layer (numbers: d_inner x d_state)"),
              "yaxis": dict(title="recall accuracy", range=[0, 1.05])}
    meta = {"ssm": [(r["state"], r["accuracy"]) for r in ssm_rows], "attention": [r["accuracy"] for r in att],
            "hybrid": [(r["state"], r["accuracy"]) for r in hyb],
            "params": {label(r) or r["model"]: r.get("params") for r in results}}
    return themed_figure(data, layout, title, meta, height=400)
