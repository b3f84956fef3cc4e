"""Figures and widgets for section 4: preference optimisation, oversight and robustness.

Controllers (registered for the benchmark and the browser tests):

* ``alignment_bandit``          β and data-size sliders over the bandit: each method's policy against π*
* ``alignment_frontier``        the reward–KL frontier of RLHF against DPO (which method, which β)
* ``alignment_attack``          pick a request, see the attack search's steps and the classifier's score
* ``alignment_layers``          layered defences: the joint miss rate against the correlation of the layers

Builders are pure and cheap: the training runs happen once in the notebook (or in the factory's defaults) and
the builders only draw precomputed results. The computation lives in :mod:`frontier.alignment`.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import plotly.graph_objects as go

from ..alignment import bandit as B
from ..alignment import tabular as T
from .controller import InteractiveFigure, checkbox, dropdown, register, slider
from .theme import COLORS, themed_figure

__all__ = ["ALIGN_COLORS", "make_policy_figure", "make_bandit_figure", "bandit_explorer", "default_bandit",
           "make_kl_curves_figure", "make_frontier_figure", "frontier_explorer", "make_margin_figure",
           "make_attack_figure", "attack_explorer", "make_layers_figure", "layers_slider"]

#: one colour per method, the same in every figure of the section
ALIGN_COLORS: Dict[str, str] = {"reference": "#BBBBBB", "optimal": "#000000", "rlhf": COLORS[0], "dpo": COLORS[3],
                                "ipo": COLORS[2], "orpo": COLORS[4], "online dpo": COLORS[1],
                                "offline dpo": COLORS[3]}
_LABEL = {"reference": "π_ref", "optimal": "π* (closed form)", "rlhf": "RLHF", "dpo": "DPO", "ipo": "IPO",
          "orpo": "ORPO"}


def default_bandit() -> Tuple[np.ndarray, np.ndarray]:
    """The lesson's bandit: π_ref ``(5,)`` puts little mass on the best response; rewards ``(5,)``."""
    return np.array([0.35, 0.3, 0.2, 0.1, 0.05]), np.array([0.0, 0.5, 1.0, 2.0, 3.0])


def make_policy_figure(policies: Mapping[str, np.ndarray], ref_probs: np.ndarray, rewards: np.ndarray,
                       title: str = "", meta: Optional[Mapping[str, object]] = None) -> go.Figure:
    """Grouped bars: π_ref, π* and each method's policy ``(K,)`` over the K responses (labelled by reward)."""
    K = len(ref_probs)
    x = [f"y{i} (r={rewards[i]:g})" for i in range(K)]
    data = [dict(type="bar", x=x, y=list(np.asarray(ref_probs, float)), name=_LABEL["reference"],
                 marker=dict(color=ALIGN_COLORS["reference"]))]
    for name, p in policies.items():
        data.append(dict(type="bar", x=x, y=list(np.asarray(p, float).reshape(-1)[:K]), name=_LABEL.get(name, name),
                         marker=dict(color=ALIGN_COLORS.get(name, COLORS[5]))))
    return themed_figure(data, dict(barmode="group", yaxis=dict(title=dict(text="probability"), range=[0, 1]),
                                    legend=dict(orientation="h", y=-0.2)), title, meta, height=420)


def make_bandit_figure(beta: float = 1.0, n_pairs: int = 2000, labels: str = "bradley_terry",
                       grid: Optional[Mapping] = None, ref_probs: Optional[np.ndarray] = None,
                       rewards: Optional[np.ndarray] = None) -> go.Figure:
    """One cell of a :func:`frontier.alignment.tabular.bandit_grid`: every method's policy against π*; the title
    gives each method's ``KL(π‖π*)``. ``grid`` must hold the key ``(labels, beta, n_pairs)``."""
    if grid is None:
        raise ValueError("grid is required (from frontier.alignment.bandit_grid)")
    key = (labels, float(beta), int(n_pairs))
    if key not in grid:
        raise ValueError(f"this grid has no run for labels={labels}, beta={beta}, n_pairs={n_pairs}")
    res = grid[key]
    ref, r = (default_bandit() if ref_probs is None else (np.asarray(ref_probs), np.asarray(rewards)))
    target = res["optimal"][0]
    kls = {m: float(B.kl_divergence(p[0], target)) for m, p in res.items() if m != "optimal"}
    order = {"optimal": target, **{m: res[m][0] for m in T.METHODS if m in res}}
    title = (f"β={beta:g}, {n_pairs:,} pairs, {labels.replace('_', '-')} labels: KL(π‖π*) "
             + ", ".join(f"{_LABEL[m]} {v:.3f}" for m, v in kls.items()))
    return make_policy_figure(order, ref, r, title, {"beta": float(beta), "n_pairs": int(n_pairs), "labels": labels,
                                                    "kl_to_optimum": kls})


@register("alignment_bandit")
def bandit_explorer(grid: Optional[Mapping] = None, **fixed) -> InteractiveFigure:
    """Sliders over β and the number of pairs (and the label kind) of a precomputed bandit grid.

    Without ``grid`` a small one is computed (two β, two sizes, Bradley–Terry labels; a few seconds).
    """
    if grid is None:
        ref, r = default_bandit()
        grid = T.bandit_grid(ref, r, betas=[0.5, 2.0], n_pairs=[100, 2000], steps=200)
    betas = sorted({k[1] for k in grid})
    sizes = sorted({k[2] for k in grid})
    kinds = sorted({k[0] for k in grid})
    controls = {"beta": dropdown(betas, betas[len(betas) // 2], "β"),
                "n_pairs": dropdown(sizes, sizes[-1], "preference pairs"),
                "labels": dropdown(kinds, kinds[0], "labels")}
    return InteractiveFigure(make_bandit_figure, controls, fixed={"grid": grid, **fixed}, name="alignment_bandit")


def make_kl_curves_figure(x: Sequence[float], curves: Mapping[str, Sequence[float]], *, x_title: str,
                          y_title: str = "KL(π‖π*) (nats)", title: str = "", log_x: bool = True,
                          log_y: bool = True, bands: Optional[Mapping[str, Tuple[Sequence[float], Sequence[float]]]] = None
                          ) -> go.Figure:
    """Lines of a quantity against ``x`` per method (e.g. KL to the optimum against pairs or β); optional bands
    ``{method: (low, high)}``."""
    data: List[dict] = []
    for name, y in curves.items():
        colour = ALIGN_COLORS.get(name, COLORS[len(data) % len(COLORS)])
        if bands and name in bands:
            lo, hi = bands[name]
            data.append(dict(type="scatter", x=list(x) + list(x)[::-1], y=list(hi) + list(lo)[::-1], fill="toself",
                             line=dict(width=0), fillcolor=colour, opacity=0.15, showlegend=False, hoverinfo="skip"))
        data.append(dict(type="scatter", x=list(x), y=list(y), mode="lines+markers", name=_LABEL.get(name, name),
                         line=dict(color=colour)))
    lay = dict(xaxis=dict(title=dict(text=x_title), type="log" if log_x else "linear"),
               yaxis=dict(title=dict(text=y_title), type="log" if log_y else "linear"))
    return themed_figure(data, lay, title, {"x_title": x_title}, height=400)


def make_frontier_figure(points: Sequence[Mapping[str, float]], show: str = "both", final_only: bool = False,
                         reference_reward: Optional[float] = None) -> go.Figure:
    """Reward against ``KL(π‖π_ref)``: one marker per evaluation, one line per (method, β) run.

    ``points``: dicts with ``method``, ``beta``, ``step``, ``kl``, ``reward`` (and optionally ``kl_se``).
    ``show``: ``"both"``, ``"rlhf"`` or ``"dpo"``; ``final_only``: only each run's last evaluation.
    """
    if show not in ("both", "rlhf", "dpo"):
        raise ValueError(f"show must be 'both', 'rlhf' or 'dpo', got {show!r}")
    runs: Dict[Tuple[str, float], List[Mapping[str, float]]] = {}
    for p in points:
        if show in ("both", p["method"]):
            runs.setdefault((p["method"], float(p["beta"])), []).append(p)
    data: List[dict] = []
    symbols = ["circle", "square", "diamond", "triangle-up", "x", "cross"]
    betas = sorted({b for _, b in runs})
    for (m, b), ps in sorted(runs.items()):
        ps = sorted(ps, key=lambda q: q["step"])
        if final_only:
            ps = ps[-1:]
        data.append(dict(type="scatter", x=[q["kl"] for q in ps], y=[q["reward"] for q in ps],
                         mode="lines+markers", name=f"{_LABEL.get(m, m)} β={b:g}",
                         text=[f"step {q['step']}" for q in ps],
                         marker=dict(symbol=symbols[betas.index(b) % len(symbols)], size=9,
                                     color=ALIGN_COLORS.get(m, COLORS[5])),
                         line=dict(color=ALIGN_COLORS.get(m, COLORS[5]), width=1, dash="dot")))
    if reference_reward is not None:
        data.append(dict(type="scatter", x=[0], y=[reference_reward], mode="markers", name="π_ref",
                         marker=dict(color="#7F7F7F", size=11, symbol="star")))
    title = "Reward–KL frontier: mean true reward of samples against KL(π‖π_ref)"
    lay = dict(xaxis=dict(title=dict(text="KL(π‖π_ref) (nats per continuation)")),
               yaxis=dict(title=dict(text="mean true reward")))
    return themed_figure(data, lay, title, {"show": show, "final_only": final_only, "runs": len(runs)}, height=440)


@register("alignment_frontier")
def frontier_explorer(points: Optional[Sequence[Mapping[str, float]]] = None, **fixed) -> InteractiveFigure:
    """Which method and whether to show only each run's end point, over precomputed frontier ``points``.

    Without ``points`` the factory draws a small synthetic set (the shape of the notebook's data; for the tests).
    """
    if points is None:
        points = [dict(method=m, beta=b, step=s, kl=k * s / 100, reward=0.2 + v * (1 - np.exp(-k * s / 100)))
                  for m, v in (("rlhf", 1.5), ("dpo", 1.4)) for b, k in ((0.25, 4.0), (1.0, 1.0))
                  for s in (50, 100)]
    controls = {"show": dropdown(["both", "rlhf", "dpo"], "both", "method"),
                "final_only": checkbox(False, "end of each run only")}
    return InteractiveFigure(make_frontier_figure, controls, fixed={"points": list(points), **fixed},
                             name="alignment_frontier")


def make_margin_figure(records: Mapping[str, Sequence[float]], title: str = "", smooth: int = 10) -> go.Figure:
    """The implicit rewards of chosen and rejected responses and their margin against the step (moving average
    over ``smooth`` steps), from :class:`frontier.alignment.lm.LMRun` ``records``."""
    steps = np.asarray(records["step"], float)
    k = max(1, int(smooth))

    def ma(v):
        v = np.asarray(v, float)
        return np.convolve(v, np.ones(k) / k, mode="valid") if len(v) >= k else v

    s = steps[k - 1:] if len(steps) >= k else steps
    data = [dict(type="scatter", x=list(s), y=list(ma(records[key])), mode="lines", name=name,
                 line=dict(color=c, dash=d))
            for key, name, c, d in (("chosen", "chosen: β·log π/π_ref (y_w)", COLORS[2], "solid"),
                                    ("rejected", "rejected: β·log π/π_ref (y_l)", COLORS[3], "solid"),
                                    ("margin", "margin (chosen − rejected)", COLORS[7], "dash"))]
    data.append(dict(type="scatter", x=[s[0], s[-1]], y=[0, 0], mode="lines", showlegend=False,
                     line=dict(color="#BBBBBB", width=1)))
    lay = dict(xaxis=dict(title=dict(text="training step")), yaxis=dict(title=dict(text="implicit reward (nats × β)")),
               legend=dict(orientation="h", y=-0.2))
    return themed_figure(data, lay, title or "DPO: both implicit rewards fall while the margin grows",
                         {"smooth": k}, height=420)


# ---------------------------------------------------------------------------------------------------------------
# Lesson 4.2: red-teaming and layered defences
# ---------------------------------------------------------------------------------------------------------------
def make_attack_figure(results: Sequence, index: int = 0, threshold: float = 0.5) -> go.Figure:
    """One attack search: the classifier's harmful score after each step, with each step's edit and text on hover.

    ``results``: :class:`frontier.alignment.redteam.AttackResult` objects; ``index`` picks the request.
    """
    if not results:
        raise ValueError("results is empty")
    if not 0 <= int(index) < len(results):
        raise ValueError(f"index must lie in [0, {len(results)}), got {index}")
    res = results[int(index)]
    steps = list(range(len(res.steps)))
    scores = [s for _, _, s in res.steps]
    colours = [COLORS[3] if s >= threshold else COLORS[2] for s in scores]
    data = [dict(type="scatter", x=steps, y=scores, mode="lines+markers+text", name="P(harmful)",
                 text=[e if len(e) < 28 else e[:26] + "…" for e, _, _ in res.steps], textposition="top center",
                 hovertext=[f"{e}<br>{t}" for e, t, _ in res.steps], hoverinfo="text+y",
                 marker=dict(size=11, color=colours), line=dict(color="#7F7F7F")),
            dict(type="scatter", x=[steps[0], steps[-1]], y=[threshold] * 2, mode="lines", name="threshold",
                 line=dict(color=COLORS[3], dash="dash"))]
    verdict = f"unflagged after {res.queries} queries" if res.success else f"still flagged after {res.queries} queries"
    title = f"Request {index}: {verdict}<br><sub>{res.original} → {res.final}</sub>"
    lay = dict(xaxis=dict(title=dict(text="search step"), dtick=1),
               yaxis=dict(title=dict(text="classifier's P(harmful)"), range=[0, 1.1]), margin=dict(t=90))
    return themed_figure(data, lay, title, {"index": int(index), "success": bool(res.success),
                                            "queries": int(res.queries)}, height=420)


@register("alignment_attack")
def attack_explorer(results: Optional[Sequence] = None, threshold: float = 0.5, **fixed) -> InteractiveFigure:
    """Pick a request and see the attack search's steps. Without ``results`` a small classifier is trained and
    eight requests attacked (about a second)."""
    if results is None:
        from ..alignment import redteam as RT

        texts, labels = RT.make_requests(600, seed=0)
        clf = RT.train_classifier(texts, labels)
        harmful, _ = RT.make_requests(8, seed=1, harmful_share=1.0)
        results = [RT.attack(clf, t, budget=100, seed=i) for i, t in enumerate(harmful)]
        threshold = clf.threshold
    controls = {"index": slider(0, 0, len(results) - 1, 1, "request")}
    return InteractiveFigure(make_attack_figure, controls, fixed={"results": list(results), "threshold": threshold,
                                                                  **fixed}, name="alignment_attack")


def make_layers_figure(rho: float = 0.0, miss_rates: Sequence[float] = (0.05, 0.12, 0.38),
                       measured: Optional[Mapping[str, object]] = None) -> go.Figure:
    """Joint miss rate of stacked layers against the correlation ρ of their failures (Gaussian copula), with the
    independent product and the weakest layer's rate as bounds; the current ρ marked; optionally the measured
    joint rate of real layers (``measured``: :func:`frontier.alignment.defences.measured_dependence`)."""
    from ..alignment import defences as D

    rates = [float(m) for m in miss_rates]
    rhos = _RHO_GRID
    key = tuple(rates)
    if key not in _CURVE_CACHE:
        _CURVE_CACHE[key] = [D.joint_miss_rate(rates, float(r)) for r in rhos]
    curve = _CURVE_CACHE[key]
    now = D.joint_miss_rate(rates, float(rho))
    prod = float(np.prod(rates))
    data = [dict(type="scatter", x=list(rhos), y=curve, mode="lines", name="joint miss rate (model)",
                 line=dict(color=COLORS[0])),
            dict(type="scatter", x=[0, 1], y=[prod, prod], mode="lines", name=f"independent: product {prod:.2%}",
                 line=dict(color=COLORS[2], dash="dash")),
            dict(type="scatter", x=[0, 1], y=[min(rates)] * 2, mode="lines",
                 name=f"fully correlated: weakest layer {min(rates):.1%}", line=dict(color=COLORS[3], dash="dot")),
            dict(type="scatter", x=[rho], y=[now], mode="markers", name=f"ρ={rho:.2f}: {now:.2%}",
                 marker=dict(size=13, color=COLORS[1]))]
    if measured is not None:
        data.append(dict(type="scatter", x=[0, 1], y=[measured["joint"]] * 2, mode="lines",
                         name=f"measured on real layers: {measured['joint']:.1%}", line=dict(color=COLORS[7], width=1)))
    title = (f"Layers missing {', '.join(f'{m:.0%}' for m in rates)}: together {now:.2%} at ρ={rho:.2f} "
             f"({now / prod:.1f}× the independent product)")
    lay = dict(xaxis=dict(title=dict(text="correlation ρ of the layers' failures")),
               yaxis=dict(title=dict(text="P(every layer misses)"), type="log"), legend=dict(orientation="h", y=-0.25))
    return themed_figure(data, lay, title, {"rho": float(rho), "joint": now, "product": prod}, height=440)


_RHO_GRID = tuple(np.round(np.linspace(0.0, 1.0, 21), 3))
_CURVE_CACHE: Dict[tuple, List[float]] = {}


@register("alignment_layers")
def layers_slider(miss_rates: Sequence[float] = (0.05, 0.12, 0.38), measured=None, **fixed) -> InteractiveFigure:
    """The correlation slider over :func:`make_layers_figure` (``rho`` snaps to the precomputed grid)."""
    controls = {"rho": slider(0.0, 0.0, 1.0, 0.05, "correlation ρ")}
    return InteractiveFigure(make_layers_figure, controls,
                             fixed={"miss_rates": tuple(miss_rates), "measured": measured, **fixed},
                             name="alignment_layers")
