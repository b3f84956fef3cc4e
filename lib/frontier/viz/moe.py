"""Figures for the mixture-of-experts lesson: the routing visualiser, parameters and memory, training runs."""
from __future__ import annotations

from functools import lru_cache
from typing import Mapping

import numpy as np
import plotly.graph_objects as go

from ..architecture import moe
from ..architecture.costs import GPUS
from ..env import torch_threads
from ..architecture.params import LLAMA2_70B, MIXTRAL_8X7B, active_parameters, total_parameters, weight_bytes
from ..validation import nonnegative_float, positive_int
from ._panels import Panels
from .controller import InteractiveFigure, dropdown, register, slider
from .theme import COLORS, apply_theme

__all__ = ["routing_pass", "make_routing_figure", "make_moe_parameter_figure", "make_expert_usage_figure",
           "routing_visualiser", "moe_parameter_explorer"]

#: Size of the visualiser's scene: synthetic tokens in clusters (see :func:`moe.token_clusters`).
SCENE = {"n_tokens": 96, "d_model": 16, "n_clusters": 6, "d_ff": 8}
CLUSTER_NAMES = ["A", "B", "C", "D", "E", "F", "G", "H"]


@lru_cache(maxsize=128)
def _scene(n_experts: int, k: int, aux_weight: float, seed: int):
    x, labels = moe.token_clusters(SCENE["n_tokens"], SCENE["d_model"], SCENE["n_clusters"], seed=seed)
    w = moe.fit_router_to_preferences(x, labels, n_experts, k, balance_coef=aux_weight, seed=seed)
    return x, labels, w


def routing_pass(n_experts: int = 8, k: int = 2, capacity_factor: float = 1.25, noise_std: float = 0.0,
                 temperature: float = 1.0, aux_weight: float = 0.0, seed: int = 0):
    """Route the visualiser's tokens through a real :class:`~frontier.architecture.moe.MoELayer`.

    The router weights come from :func:`~frontier.architecture.moe.fit_router_to_preferences`
    with ``aux_weight`` as the balancing-loss coefficient (cached, so only a
    change of experts, k, aux weight or seed retrains it, in tens of ms).

    Returns:
        ``(output, labels)``: the layer's :class:`~frontier.architecture.moe.MoEOutput`
        and the ``(T,)`` cluster label of every token.
    """
    n_experts = positive_int("n_experts", n_experts)
    k = positive_int("k", k)
    if k > n_experts:
        raise ValueError(f"top-k ({k}) cannot exceed the number of experts ({n_experts})")
    aux_weight = nonnegative_float("aux_weight", aux_weight)
    with torch_threads(1):               # tiny tensors: one thread is fastest
        x, labels, w = _scene(n_experts, k, aux_weight, int(seed))
        out = moe.route_with_router(x, w, SCENE["d_ff"], k, capacity_factor=capacity_factor, noise_std=noise_std,
                                    temperature=temperature, balance_coef=aux_weight, seed=int(seed))
    return out, labels


def make_routing_figure(n_experts: int = 8, k: int = 2, capacity_factor: float = 1.25, noise_std: float = 0.0,
                        temperature: float = 1.0, aux_weight: float = 0.0, seed: int = 0) -> go.Figure:
    """Token-by-expert heatmap of router probabilities and expert-load bars with the capacity line.

    Top: router probability of every (token, expert); circles mark the
    assignments an expert accepted, crosses the ones it dropped because it
    was full.  Bottom: assignments requested and kept per expert, and the
    capacity.  The title and ``layout.meta`` give the drop rate, the
    coefficient of variation of the load and the balancing loss.
    """
    out, labels = routing_pass(n_experts, k, capacity_factor, noise_std, temperature, aux_weight, seed)
    stats = out.statistics()
    probs = out.routing.probs.numpy()                              # (T, E)
    idx = out.routing.expert_index.numpy()                         # (T, k)
    kept = out.assignment.kept.numpy()
    T = probs.shape[0]
    tok = np.repeat(np.arange(T)[:, None], idx.shape[1], axis=1)
    names = np.array([CLUSTER_NAMES[i % len(CLUSTER_NAMES)] for i in labels.tolist()])

    panels = Panels(2, 1, ("router probability per token and expert (o kept, x dropped)",
                           "load per expert (assignments)"), row_heights=[0.62, 0.38], vspace=0.2)
    top, bottom = panels.ref(1, 1), panels.ref(2, 1)
    experts = np.arange(n_experts)
    data = [
        go.Heatmap(z=probs.T, x=np.arange(T), y=experts, colorscale="Blues", zmin=0, zmax=1,
                   colorbar=dict(title="p", len=0.55, y=0.73), customdata=np.broadcast_to(names, (n_experts, T)),
                   hovertemplate="token %{x} (cluster %{customdata})<br>expert %{y}<br>p = %{z:.2f}<extra></extra>",
                   **top),
        go.Scatter(x=tok[kept], y=idx[kept], mode="markers", name="kept",
                   marker=dict(symbol="circle-open", color=COLORS[1], size=7, line=dict(width=2)), **top),
        go.Scatter(x=tok[~kept], y=idx[~kept], mode="markers", name="dropped (over capacity)",
                   marker=dict(symbol="x", color=COLORS[3], size=8), **top),
        go.Bar(x=experts, y=stats.requested_load, name="requested", marker_color=COLORS[9], **bottom),
        go.Bar(x=experts, y=stats.kept_load, name="kept", marker_color=COLORS[0], **bottom),
        go.Scatter(x=[-0.5, n_experts - 0.5], y=[stats.capacity] * 2, mode="lines",
                   name=f"capacity ({stats.capacity})", line=dict(color=COLORS[3], dash="dash"), **bottom),
    ]
    dtick = 1 if n_experts <= 16 else None
    panels.axis(1, 1, "x", title_text="token (position in the batch)")
    panels.axis(1, 1, "y", title_text="expert", dtick=dtick)
    panels.axis(2, 1, "x", title_text="expert", dtick=dtick)
    panels.axis(2, 1, "y", title_text="assignments")
    fig = go.Figure(data=data, layout=dict(panels.layout, barmode="overlay"))
    balance = float(out.balance_loss) if aux_weight > 0 else float(
        moe.load_balancing_loss(out.routing.probs, out.routing.expert_index, 1.0))
    cf = "none" if capacity_factor is None else f"{capacity_factor:g}"
    title = (f"{T} synthetic tokens, {n_experts} experts, top-{k}, capacity factor {cf}: "
             f"{stats.drop_rate:.0%} of assignments dropped, load CV {stats.load_cv:.2f}")
    meta = dict(n_experts=n_experts, k=k, capacity_factor=capacity_factor, noise_std=noise_std,
                temperature=temperature, aux_weight=aux_weight, seed=seed, capacity=stats.capacity,
                requested_load=stats.requested_load.tolist(), kept_load=stats.kept_load.tolist(),
                drop_rate=stats.drop_rate, tokens_fully_dropped=stats.tokens_fully_dropped,
                load_cv=stats.load_cv, token_entropy=stats.token_entropy, load_entropy=stats.load_entropy,
                balance_loss_unscaled=balance if aux_weight == 0 else balance / aux_weight)
    apply_theme(fig, title, meta, height=600, legend_below=-0.12)
    return fig


@register("moe_routing_visualiser")
def routing_visualiser(**fixed) -> InteractiveFigure:
    """The routing visualiser: experts, top-k, capacity factor, noise, temperature, aux weight."""
    controls = {
        "n_experts": dropdown([2, 4, 8, 16], 8, "experts E"),
        "k": slider(2, 1, 4, 1, "top-k"),
        "capacity_factor": slider(1.25, 0.25, 4.0, 0.25, "capacity factor"),
        "noise_std": slider(0.0, 0.0, 3.0, 0.25, "router noise (std)"),
        "temperature": dropdown([0.25, 0.5, 1.0, 2.0, 4.0], 1.0, "router temperature"),
        "aux_weight": dropdown([0.0, 0.01, 0.1, 1.0, 10.0], 0.0, "balancing-loss weight"),
    }
    return InteractiveFigure(make_routing_figure, controls, fixed=fixed, name="moe_routing_visualiser")


def _mixtral_like(n_experts: int, k: int, d_ff: int):
    return MIXTRAL_8X7B.with_(name=f"{n_experts}x, top-{k}, d_ff {d_ff}", n_experts=n_experts,
                              experts_per_token=k, d_ff=d_ff)


def make_moe_parameter_figure(n_experts: int = 8, k: int = 2, d_ff: int = 14336,
                              precision: str = "bf16") -> go.Figure:
    """Total against active parameters, and weight memory against GPU memory, for a Mixtral-like model.

    The configuration is Mixtral 8x7B's with the number of experts, top-k and
    expert width changed; Mixtral itself and the dense LLaMA-2 70B are drawn
    for comparison.  Counts come from :mod:`frontier.architecture.params`
    (the same code as Exercise 1).
    """
    n_experts = positive_int("n_experts", n_experts)
    k = positive_int("k", k)
    if k > n_experts:
        raise ValueError(f"top-k ({k}) cannot exceed the number of experts ({n_experts})")
    cfgs = [_mixtral_like(n_experts, k, positive_int("d_ff", d_ff)), MIXTRAL_8X7B, LLAMA2_70B]
    labels = ["this config", "Mixtral 8x7B", "LLaMA-2 70B (dense)"]
    total = np.array([total_parameters(c) for c in cfgs], dtype=float)
    active = np.array([active_parameters(c) for c in cfgs], dtype=float)
    mem = np.array([weight_bytes(c, precision) for c in cfgs])
    panels = Panels(1, 2, ("parameters (billions)", f"weight memory in {precision} (GB)"), hspace=0.12)
    left, right = panels.ref(1, 1), panels.ref(1, 2)
    data = [
        go.Bar(x=labels, y=total / 1e9, name="total (stored)", marker_color=COLORS[9],
               text=[f"{v:.1f}" for v in total / 1e9], textposition="outside", **left),
        go.Bar(x=labels, y=active / 1e9, name="active per token", marker_color=COLORS[0],
               text=[f"{v:.1f}" for v in active / 1e9], textposition="outside", **left),
        go.Bar(x=labels, y=mem / 1e9, name="weights", marker_color=COLORS[2], showlegend=False,
               text=[f"{v:.0f}" for v in mem / 1e9], textposition="outside", **right),
    ]
    for i, (gpu, cap) in enumerate(GPUS.items()):
        data.append(go.Scatter(x=[labels[0], labels[-1]], y=[cap / 1e9] * 2, mode="lines", name=gpu,
                               line=dict(dash="dash", color=COLORS[3 + i % 4], width=1.5), **right))
    fig = go.Figure(data=data, layout=dict(panels.layout, barmode="group"))
    title = (f"{cfgs[0].n_experts} experts of width {d_ff}, top-{k}: {total[0] / 1e9:.1f}B stored, "
             f"{active[0] / 1e9:.1f}B active ({active[0] / total[0]:.0%}), {mem[0] / 1e9:.0f} GB in {precision}")
    meta = dict(n_experts=n_experts, k=k, d_ff=d_ff, precision=precision, total=total.tolist(),
                active=active.tolist(), weight_bytes=mem.tolist(), labels=labels)
    return apply_theme(fig, title, meta, height=440)


@register("moe_parameter_explorer")
def moe_parameter_explorer(**fixed) -> InteractiveFigure:
    """Total vs active parameters and memory as the experts, top-k and expert width change."""
    controls = {
        "n_experts": dropdown([1, 2, 4, 8, 16, 32, 64], 8, "experts E"),
        "k": slider(2, 1, 8, 1, "top-k"),
        "d_ff": dropdown([1792, 3584, 7168, 14336], 14336, "expert width d_ff"),
        "precision": dropdown(["fp32", "bf16", "int8", "int4"], "bf16", "precision"),
    }
    return InteractiveFigure(make_moe_parameter_figure, controls, fixed=fixed, name="moe_parameter_explorer")


def make_expert_usage_figure(runs: Mapping[str, object], layer: int = 0) -> go.Figure:
    """Expert usage over training and the loss curves, for runs of :func:`frontier.models.training.train_lm`.

    ``runs`` maps a label (e.g. "no balancing loss") to a
    :class:`~frontier.models.training.TrainLog` whose records hold ``"load"``
    (one ``(E,)`` load per MoE layer, as :func:`frontier.models.training.expert_load_record`
    writes).  Top row: the share of assignments each expert received in
    ``layer`` at each recorded step, one heatmap per run.  Bottom: the loss
    and the coefficient of variation of the load against the step.
    """
    if not runs:
        raise ValueError("runs must not be empty")
    labels = list(runs)
    n = len(labels)
    cols = max(n, 2)
    titles = [f"expert share: {lab}" for lab in labels] + [""] * (cols - n)
    titles += ["next-token loss (nats)", f"load imbalance (CV), layer {layer}"] + [""] * (cols - 2)
    panels = Panels(2, cols, titles, vspace=0.16, hspace=0.08)
    data = []
    summary = {}
    for i, lab in enumerate(labels):
        log = runs[lab]
        steps = np.array(log.step)
        load = np.array([r["load"][layer] for r in log.records], dtype=float)        # (n, E)
        share = load / load.sum(axis=1, keepdims=True)
        cv = load.std(axis=1) / load.mean(axis=1)
        data.append(go.Heatmap(z=share.T, x=steps, y=np.arange(share.shape[1]), colorscale="Viridis", zmin=0,
                               zmax=max(0.5, float(share.max())), showscale=(i == 0),
                               colorbar=dict(title="share", len=0.4, y=0.8),
                               hovertemplate="step %{x}<br>expert %{y}<br>share %{z:.2f}<extra></extra>",
                               **panels.ref(1, i + 1)))
        color = COLORS[i % len(COLORS)]
        data.append(go.Scatter(x=steps, y=log.loss, mode="lines", name=lab, line=dict(color=color),
                               **panels.ref(2, 1)))
        data.append(go.Scatter(x=steps, y=cv, mode="lines", name=lab, showlegend=False, line=dict(color=color),
                               **panels.ref(2, 2)))
        panels.axis(1, i + 1, "y", title_text="expert")
        summary[lab] = dict(final_loss=float(log.loss[-1]), final_cv=float(cv[-1]),
                            final_share=share[-1].round(3).tolist())
    for r in (1, 2):
        for c in range(1, cols + 1):
            panels.axis(r, c, "x", title_text="step")
    fig = go.Figure(data=data, layout=panels.layout)
    title = "Expert usage during training: " + "; ".join(
        f"{lab}: load CV {s['final_cv']:.2f}, loss {s['final_loss']:.3f}" for lab, s in summary.items())
    return apply_theme(fig, title, {"layer": layer, "runs": summary}, height=620)
