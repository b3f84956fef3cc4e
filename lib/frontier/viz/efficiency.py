"""Figures and widgets for section 5 (efficiency): iso-FLOP curves, speculative decoding, quantization, merging,
and the "will it fit" calculator."""
from __future__ import annotations

from functools import lru_cache
from typing import Dict, Mapping, Optional, Sequence

import numpy as np
import plotly.graph_objects as go
import torch

from ..architecture.params import PRESETS
from ..env import torch_threads
from ..efficiency import merging, quantization, scaling, speculative
from ..validation import choice, fraction, positive_float, positive_int
from ._panels import Panels
from .controller import InteractiveFigure, dropdown, log_slider, register, slider
from .theme import COLORS, apply_theme

__all__ = ["make_isoflop_figure", "isoflop_explorer", "make_speculative_figure", "speculative_explorer",
           "make_quantization_figure", "quantization_explorer", "make_merge_figure", "merge_explorer",
           "make_fit_figure", "fit_calculator", "make_distillation_figure", "make_scaling_runs_figure",
           "make_lora_memory_figure", "lora_memory_explorer", "make_peft_figure"]

_FIT_COLORS = {"hoffmann": COLORS[0], "epoch": COLORS[1], "hoffmann-tex": COLORS[5], "ours": COLORS[3]}


# --------------------------------------------------------------------------- iso-FLOP curves
def make_isoflop_figure(compute: float = scaling.CHINCHILLA_COMPUTE, fits: Sequence[str] = ("hoffmann", "epoch"),
                        ours: Optional[scaling.LossFit] = None, our_compute: Optional[float] = None) -> go.Figure:
    """Left: loss against N along the iso-FLOP line of ``compute`` for each published fit, optima marked.
    Right: the compute-optimal N against compute (the frontier) with tokens per parameter on hover.

    ``ours``: a fit of our own runs, drawn on its own budget ``our_compute``
    (our models are ~1e5 parameters: its curve lives far to the left).
    """
    compute = positive_float("compute", compute)
    panels = Panels(1, 2, (f"loss along C = {compute:.3g} FLOPs", "compute-optimal N against C"), hspace=0.1)
    L, R = panels.ref(1, 1), panels.ref(1, 2)
    data, meta = [], {"compute": compute}
    cs = np.logspace(18, 26, 33)
    for name in fits:
        f = scaling.FITS[name]
        n_opt, d_opt = scaling.chinchilla_optimum(compute, name)
        n = n_opt * np.logspace(-1.5, 1.5, 61)
        color = _FIT_COLORS.get(name, COLORS[4])
        data.append(go.Scatter(x=n, y=scaling.isoflop_curve(f, compute, n), mode="lines", name=name,
                               line=dict(color=color), legendgroup=name, **L))
        data.append(go.Scatter(x=[n_opt], y=[float(scaling.loss(f, n_opt, d_opt))], mode="markers", showlegend=False,
                               marker=dict(color=color, size=10, symbol="star"), legendgroup=name,
                               hovertemplate=f"N_opt %{{x:.3g}}<br>D/N {d_opt / n_opt:.1f}<extra>{name}</extra>", **L))
        nf, df = scaling.optimum(f, cs)
        data.append(go.Scatter(x=cs, y=nf, mode="lines", name=f"{name} frontier", showlegend=False,
                               line=dict(color=color), customdata=df / nf, legendgroup=name,
                               hovertemplate="C %{x:.2g}<br>N_opt %{y:.3g}<br>D/N %{customdata:.1f}<extra></extra>",
                               **R))
        meta[name] = {"n_opt": n_opt, "d_opt": d_opt, "tokens_per_param": d_opt / n_opt}
    if ours is not None and our_compute is not None:
        n_opt, d_opt = scaling.optimum(ours, our_compute)
        n = float(n_opt) * np.logspace(-1, 1, 80)
        data.append(go.Scatter(x=n, y=scaling.isoflop_curve(ours, our_compute, n), mode="lines",
                               name=f"ours (C = {our_compute:.2g})", line=dict(color=_FIT_COLORS["ours"], dash="dot"),
                               **L))
        meta["ours"] = {"n_opt": float(n_opt), "d_opt": float(d_opt)}
    data.append(go.Scatter(x=[compute, compute], y=[1e6, 1e13], mode="lines", name="this budget",
                           line=dict(color=COLORS[8], dash="dash"), **R))
    panels.axis(1, 1, "x", type="log", title_text="parameters N")
    panels.axis(1, 1, "y", title_text="predicted loss (nats/token)")
    panels.axis(1, 2, "x", type="log", title_text="training compute C (FLOPs)")
    panels.axis(1, 2, "y", type="log", title_text="N_opt", range=[6, 13])
    fig = go.Figure(data=data, layout=panels.layout)
    parts = [f"{k}: N={v['n_opt']:.3g}, D/N={v['tokens_per_param']:.0f}" for k, v in meta.items()
             if isinstance(v, dict) and "tokens_per_param" in v]
    return apply_theme(fig, f"C = {compute:.3g}: " + "; ".join(parts), meta, height=440)


@register("efficiency_isoflop")
def isoflop_explorer(**fixed) -> InteractiveFigure:
    """The compute-budget slider on the iso-FLOP curves of the published fits."""
    controls = {"compute": log_slider(scaling.CHINCHILLA_COMPUTE, 19, 26, 0.1, "compute C (FLOPs)")}
    return InteractiveFigure(make_isoflop_figure, controls, fixed=fixed, name="efficiency_isoflop")


# --------------------------------------------------------------------------- speculative decoding
def make_speculative_figure(gamma: int = 4, alpha: float = 0.8, c: float = 0.05,
                            measured: Optional[Mapping[str, Sequence[float]]] = None) -> go.Figure:
    """Tokens per target call and wall-time speedup against gamma: the formula at ``alpha`` and ``c``,
    and measured points (``measured = {"gamma": [...], "tokens_per_call": [...], "speedup": [...]}``)."""
    g = positive_int("gamma", gamma)
    a = fraction("alpha", alpha)
    c = float(c)
    gs = np.arange(1, 13)
    tpc = np.array([speculative.expected_tokens_per_call(a, int(x)) for x in gs])
    spd = np.array([speculative.expected_speedup(a, int(x), c) for x in gs])
    panels = Panels(1, 2, ("tokens per target call", "wall-time speedup"), hspace=0.1)
    L, R = panels.ref(1, 1), panels.ref(1, 2)
    data = [go.Scatter(x=gs, y=tpc, mode="lines+markers", name=f"formula, alpha={a:.2f}", line=dict(color=COLORS[0]),
                       **L),
            go.Scatter(x=gs, y=spd, mode="lines+markers", name=f"formula, c={c:.2f}", line=dict(color=COLORS[1]), **R),
            go.Scatter(x=[g], y=[speculative.expected_tokens_per_call(a, g)], mode="markers", name=f"gamma={g}",
                       marker=dict(size=14, symbol="star", color=COLORS[3]), **L),
            go.Scatter(x=[g], y=[speculative.expected_speedup(a, g, c)], mode="markers", showlegend=False,
                       marker=dict(size=14, symbol="star", color=COLORS[3]), **R),
            go.Scatter(x=[1, 12], y=[1, 1], mode="lines", name="no speedup", line=dict(color=COLORS[8], dash="dash"),
                       **R)]
    if measured:
        data.append(go.Scatter(x=measured["gamma"], y=measured["tokens_per_call"], mode="markers", name="measured",
                               marker=dict(color=COLORS[2], size=9, symbol="x"), **L))
        if "speedup" in measured:
            data.append(go.Scatter(x=measured["gamma"], y=measured["speedup"], mode="markers", showlegend=False,
                                   marker=dict(color=COLORS[2], size=9, symbol="x"), **R))
    panels.axis(1, 1, "x", title_text="draft tokens per call (gamma)")
    panels.axis(1, 2, "x", title_text="draft tokens per call (gamma)")
    fig = go.Figure(data=data, layout=panels.layout)
    best = speculative.optimal_gamma(a, c) if c > 0 else 12
    title = (f"alpha={a:.2f}, gamma={g}: {speculative.expected_tokens_per_call(a, g):.2f} tokens/call, "
             f"speedup {speculative.expected_speedup(a, g, c):.2f}x at c={c:.2f} (best gamma {best})")
    return apply_theme(fig, title, {"gamma": g, "alpha": a, "c": c, "best_gamma": best}, height=420)


@register("efficiency_speculative")
def speculative_explorer(**fixed) -> InteractiveFigure:
    """gamma and draft quality (alpha) and draft cost (c) against tokens per call and speedup."""
    controls = {"gamma": slider(4, 1, 12, 1, "gamma"), "alpha": slider(0.8, 0.05, 0.99, 0.01, "draft quality alpha"),
                "c": slider(0.05, 0.0, 1.0, 0.01, "c = t_draft / t_target")}
    return InteractiveFigure(make_speculative_figure, controls, fixed=fixed, name="efficiency_speculative")


# --------------------------------------------------------------------------- quantization
@lru_cache(maxsize=4)
def _default_weight(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(32, 256, generator=g) * 0.05
    w[:, :2] *= 20.0                                     # two outlier input channels
    return w


_HIST_CACHE: Dict[tuple, tuple] = {}


def _error_histogram(w: torch.Tensor, format: str, g: Optional[int]):
    """``(counts, edges, relative error, max |error|)`` of quantize-dequantize, cached per matrix and setting."""
    key = (id(w), tuple(w.shape), format, g)
    if key not in _HIST_CACHE:
        if len(_HIST_CACHE) > 64:
            _HIST_CACHE.clear()
        with torch_threads(1):
            err = (quantization.quantize_dequantize(w, format, g).double() - w.double()).flatten().numpy()
        counts, edges = np.histogram(err, bins=60)
        _HIST_CACHE[key] = (counts, edges, float(np.linalg.norm(err) / w.double().norm()), float(np.abs(err).max()))
    return _HIST_CACHE[key]


def make_quantization_figure(format: str = "int4", group_size: int = 64, weight: Optional[torch.Tensor] = None,
                             table: Optional[Sequence[Mapping[str, object]]] = None) -> go.Figure:
    """Left: histogram of the quantization error ``w_hat - w`` of one weight matrix.  Right: held-out perplexity
    against bits per weight for every row of ``table`` (``{"label", "bits", "perplexity"}``), the chosen format marked.

    The default weight is a random ``(32, 256)`` matrix with two outlier input channels. A ``group_size`` longer
    than a row is capped at the row length (the title says so).
    """
    choice("format", format, quantization.FORMATS)
    w = _default_weight() if weight is None else weight
    fixed_blocks = format in ("nf4", "q4_0", "int8")
    requested = positive_int("group_size", group_size)
    asked = None if fixed_blocks else requested
    row = int(w.shape[1])
    g = asked if asked is None or asked <= row else row     # a group cannot be longer than the row it splits
    counts, edges, rel, max_err = _error_histogram(w, format, g)
    bits = quantization.bits_per_weight(format, g, row)
    panels = Panels(1, 2, ("error w_hat - w", "held-out perplexity against bits per weight"), hspace=0.1)
    L, R = panels.ref(1, 1), panels.ref(1, 2)
    data = [go.Bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, name=format, marker_color=COLORS[0], showlegend=False,
                   **L)]
    if table:
        data.append(go.Scatter(x=[r["bits"] for r in table], y=[r["perplexity"] for r in table], mode="markers+text",
                               text=[r["label"] for r in table], textposition="top center", name="models",
                               marker=dict(color=COLORS[8], size=8), **R))
        sel = [r for r in table if str(r["label"]).split(" ")[0] == format]
        if sel:
            data.append(go.Scatter(x=[r["bits"] for r in sel], y=[r["perplexity"] for r in sel], mode="markers",
                                   name=format, marker=dict(color=COLORS[3], size=13, symbol="star"), **R))
    panels.axis(1, 1, "x", title_text="error")
    panels.axis(1, 2, "x", title_text="bits per weight (with scales)")
    fig = go.Figure(data=data, layout=panels.layout)
    gtxt = f", group {g}" if g else ""
    if g != asked:
        gtxt += f" (asked {asked}: capped at the row length)"
    if fixed_blocks:
        gtxt += f" (its blocks are fixed; the group size {requested} applies to int4)"
    title = f"{format}{gtxt}: {bits:.3g} bits/weight, relative error {rel:.3f}, max |error| {max_err:.3g}"
    return apply_theme(fig, title, {"format": format, "group_size": g, "group_size_asked": requested, "bits": bits,
                                     "relative_error": rel},
                       height=420)


@register("efficiency_quantization")
def quantization_explorer(**fixed) -> InteractiveFigure:
    """Format and group size against the error histogram and perplexity."""
    controls = {"format": dropdown(list(quantization.FORMATS), "int4", "format"),
                "group_size": dropdown([16, 32, 64, 128, 256], 64, "int4 group size")}
    return InteractiveFigure(make_quantization_figure, controls, fixed=fixed, name="efficiency_quantization")


# --------------------------------------------------------------------------- merging
@lru_cache(maxsize=1)
def _toy_sweep():
    return merging.toy_merge_sweep()


def make_merge_figure(method: str = "task_arithmetic", knob_index: int = 1,
                      sweep: Optional[Mapping[str, Mapping[str, Sequence[float]]]] = None,
                      labels: Sequence[str] = ("task A", "task B")) -> go.Figure:
    """Score on both tasks against the method's knob (a sweep from :func:`frontier.efficiency.merging.toy_merge_sweep`
    or the lesson's own ``{method: {"knob", "values", "score_a", "score_b"}}``), the chosen knob value marked."""
    sw = _toy_sweep() if sweep is None else sweep
    choice("method", method, tuple(sw))
    s = sw[method]
    i = int(knob_index)
    if not 0 <= i < len(s["values"]):
        raise ValueError(f"{method} has {len(s['values'])} knob settings; knob_index must lie in "
                         f"[0, {len(s['values']) - 1}]")
    x = list(s["values"])
    data = [go.Scatter(x=x, y=s["score_a"], mode="lines+markers", name=labels[0], line=dict(color=COLORS[0])),
            go.Scatter(x=x, y=s["score_b"], mode="lines+markers", name=labels[1], line=dict(color=COLORS[1])),
            go.Scatter(x=[x[i], x[i]], y=[s["score_a"][i], s["score_b"][i]], mode="markers", name="chosen",
                       marker=dict(size=14, symbol="star", color=COLORS[3]))]
    fig = go.Figure(data=data, layout=dict(xaxis=dict(title=dict(text=s["knob"])), yaxis=dict(title=dict(text="score"))))
    title = (f"{method}, {s['knob']} = {x[i]:g}: {labels[0]} {s['score_a'][i]:.3f}, "
             f"{labels[1]} {s['score_b'][i]:.3f}")
    return apply_theme(fig, title, {"method": method, "knob": s["knob"], "value": x[i],
                                    "score_a": s["score_a"][i], "score_b": s["score_b"][i]}, height=400)


@register("efficiency_merge")
def merge_explorer(**fixed) -> InteractiveFigure:
    """Method and knob index against the score on both tasks."""
    sweep = fixed.get("sweep") or _toy_sweep()
    controls = {"method": dropdown(list(sweep), list(sweep)[0], "method"),
                "knob_index": slider(1, 0, max(len(v["values"]) for v in sweep.values()) - 1, 1,
                                     "knob setting (index)")}
    return InteractiveFigure(make_merge_figure, controls, fixed=fixed, name="efficiency_merge")


# --------------------------------------------------------------------------- will it fit
def make_fit_figure(model: str = "LLaMA-2 70B", precision: str = "q4_0", context: int = 4096,
                    batch: int = 1) -> go.Figure:
    """Weights + KV cache (bf16) of a preset model against devices' memory (10% held back)."""
    choice("model", model, tuple(PRESETS))
    rep = quantization.will_it_fit(PRESETS[model], precision, context=int(context), batch=positive_int("batch", batch))
    from .. import hardware

    devs = list(rep["fits"])
    caps = [hardware.accelerator(d).memory_bytes * 0.9 / 1e9 for d in devs]
    data = [go.Bar(x=["this model"], y=[rep["weights_gb"]], name="weights", marker_color=COLORS[0]),
            go.Bar(x=["this model"], y=[rep["kv_gb"]], name="KV cache", marker_color=COLORS[1]),
            go.Bar(x=devs, y=caps, name="usable memory (90%)", marker_color=[COLORS[2] if rep["fits"][d] else COLORS[9]
                                                                           for d in devs],
                   text=["fits" if rep["fits"][d] else f"needs {rep['gpus_needed'][d]}" for d in devs],
                   textposition="outside")]
    fig = go.Figure(data=data, layout=dict(barmode="stack", yaxis=dict(title=dict(text="GB"), type="log")))
    title = (f"{model} in {precision}, {context} tokens x {batch}: weights {rep['weights_gb']:.1f} GB + KV "
             f"{rep['kv_gb']:.1f} GB = {rep['total_gb']:.1f} GB")
    return apply_theme(fig, title, {k: v for k, v in rep.items()}, height=420)


@register("efficiency_will_it_fit")
def fit_calculator(**fixed) -> InteractiveFigure:
    """The "will it fit" calculator: model, precision, context and batch."""
    from .. import hardware

    controls = {"model": dropdown(list(PRESETS), "LLaMA-2 70B", "model"),
                "precision": dropdown(list(hardware.PRECISIONS), "q4_0", "weights"),
                "context": dropdown([512, 4096, 32768, 131072], 4096, "context (tokens)"),
                "batch": dropdown([1, 4, 16, 64], 1, "batch")}
    return InteractiveFigure(make_fit_figure, controls, fixed=fixed, name="efficiency_will_it_fit")


# --------------------------------------------------------------------------- static figures for the lessons
def make_distillation_figure(curves: Mapping[str, Mapping[str, Sequence[float]]], floor: Optional[float] = None) -> go.Figure:
    """Held-out loss and accuracy against step for each run (``{label: {"step", "loss", "accuracy"}}``)."""
    panels = Panels(1, 2, ("held-out loss (nats/token)", "held-out accuracy"), hspace=0.1)
    data = []
    for i, (lab, c) in enumerate(curves.items()):
        col = COLORS[i % len(COLORS)]
        data.append(go.Scatter(x=c["step"], y=c["loss"], mode="lines+markers", name=lab, line=dict(color=col),
                               legendgroup=lab, **panels.ref(1, 1)))
        data.append(go.Scatter(x=c["step"], y=c["accuracy"], mode="lines+markers", showlegend=False,
                               line=dict(color=col), legendgroup=lab, **panels.ref(1, 2)))
    if floor is not None:
        xs = [min(min(c["step"]) for c in curves.values()), max(max(c["step"]) for c in curves.values())]
        data.append(go.Scatter(x=xs, y=[floor, floor], mode="lines", name="entropy rate",
                               line=dict(color=COLORS[8], dash="dash"), **panels.ref(1, 1)))
    for c in (1, 2):
        panels.axis(1, c, "x", title_text="step")
    fig = go.Figure(data=data, layout=panels.layout)
    return apply_theme(fig, "Training curves: " + ", ".join(curves), {"runs": list(curves)}, height=400)


def make_scaling_runs_figure(n_params: Sequence[float], n_tokens: Sequence[float], losses: Sequence[float],
                             fit: Optional[scaling.LossFit] = None, minima: Optional[Mapping[float, Mapping]] = None,
                             floor: Optional[float] = None) -> go.Figure:
    """Our grid: loss against N, one line per compute budget (6ND), the fitted surface dotted, iso-FLOP minima starred."""
    N, D, Lo = (np.asarray(v, dtype=float) for v in (n_params, n_tokens, losses))
    C = 6 * N * D
    data = []
    budgets = sorted(set(np.round(C, 6).tolist()))
    for i, c in enumerate(budgets):
        sel = np.isclose(C, c, rtol=0.05)
        order = np.argsort(N[sel])
        col = COLORS[i % len(COLORS)]
        data.append(go.Scatter(x=N[sel][order], y=Lo[sel][order], mode="markers+lines", name=f"C = {c:.2g}",
                               line=dict(color=col)))
        if fit is not None:
            n = np.logspace(np.log10(N.min() / 1.5), np.log10(N.max() * 1.5), 50)
            data.append(go.Scatter(x=n, y=scaling.isoflop_curve(fit, c, n), mode="lines", showlegend=False,
                                   line=dict(color=col, dash="dot")))
    if minima:
        data.append(go.Scatter(x=[m["n_opt"] for m in minima.values()], y=[m["loss"] for m in minima.values()],
                               mode="markers", name="iso-FLOP minimum", marker=dict(size=13, symbol="star",
                                                                                    color=COLORS[7])))
    if floor is not None:
        data.append(go.Scatter(x=[N.min() / 1.5, N.max() * 1.5], y=[floor, floor], mode="lines",
                               name="entropy rate E", line=dict(color=COLORS[8], dash="dash")))
    fig = go.Figure(data=data, layout=dict(xaxis=dict(type="log", title=dict(text="non-embedding parameters N")),
                                           yaxis=dict(title=dict(text="held-out loss (nats/token)"))))
    title = "Our scaling grid" + (f": fit alpha={fit.alpha:.2f}, beta={fit.beta:.2f}" if fit else "")
    return apply_theme(fig, title, {"budgets": budgets}, height=440)


# --------------------------------------------------------------------------- PEFT
_TARGET_SETS = {"q, v": ("q", "v"), "q, k, v, o": ("q", "k", "v", "o"),
                "all linear": ("q", "k", "v", "o", "w1", "w2", "w3")}


def make_lora_memory_figure(model: str = "LLaMA-2 7B", rank: int = 16, targets: str = "q, k, v, o") -> go.Figure:
    """Fine-tuning memory (weights + optimizer states, activations excluded) of full fine-tuning, LoRA and QLoRA,
    against GPU memory; trainable parameters on hover (:func:`frontier.efficiency.lora.finetune_memory`)."""
    from ..efficiency import lora

    choice("model", model, tuple(PRESETS))
    choice("targets", targets, tuple(_TARGET_SETS))
    mem = lora.finetune_memory(PRESETS[model], positive_int("rank", rank), _TARGET_SETS[targets])
    names = list(mem)
    data = [go.Bar(x=names, y=[mem[k]["weights"] / 1e9 for k in names], name="weights", marker_color=COLORS[0],
                   customdata=[mem[k]["trainable"] for k in names],
                   hovertemplate="%{x}: %{y:.1f} GB of weights<br>%{customdata:.3s} trainable<extra></extra>"),
            go.Bar(x=names, y=[mem[k]["optimizer"] / 1e9 for k in names], name="gradients + Adam states",
                   marker_color=COLORS[1])]
    for i, (gpu, cap) in enumerate((("24 GB (RTX 4090)", 24), ("48 GB", 48), ("80 GB (A100/H100)", 80))):
        data.append(go.Scatter(x=[names[0], names[-1]], y=[cap, cap], mode="lines", name=gpu,
                               line=dict(dash="dash", color=COLORS[3 + i])))
    fig = go.Figure(data=data, layout=dict(barmode="stack", yaxis=dict(title=dict(text="GB"), type="log")))
    ratio = mem["full"]["trainable"] / mem["lora"]["trainable"]
    title = (f"{model}, LoRA rank {rank} on {targets}: {mem['lora']['trainable'] / 1e6:.1f}M trainable "
             f"({ratio:,.0f}x fewer); full {mem['full']['total'] / 1e9:.0f} GB, LoRA {mem['lora']['total'] / 1e9:.0f} GB, "
             f"QLoRA {mem['qlora']['total'] / 1e9:.0f} GB")
    return apply_theme(fig, title, {"memory": mem, "ratio": ratio}, height=420)


@register("efficiency_lora_memory")
def lora_memory_explorer(**fixed) -> InteractiveFigure:
    """Model, LoRA rank and target layers against fine-tuning memory."""
    controls = {"model": dropdown(list(PRESETS), "LLaMA-2 7B", "model"),
                "rank": dropdown([1, 4, 8, 16, 64, 256], 16, "rank r"),
                "targets": dropdown(list(_TARGET_SETS), "q, k, v, o", "adapted layers")}
    return InteractiveFigure(make_lora_memory_figure, controls, fixed=fixed, name="efficiency_lora_memory")


def make_peft_figure(rows: Sequence[Mapping[str, object]]) -> go.Figure:
    """Accuracy against trainable parameters (log) for fine-tuning methods: ``{"label", "trainable", "accuracy"}``."""
    data = [go.Scatter(x=[r["trainable"] for r in rows], y=[r["accuracy"] for r in rows], mode="markers+text",
                       text=[r["label"] for r in rows], textposition="top center", marker=dict(size=11,
                                                                                                 color=COLORS[0]))]
    fig = go.Figure(data=data, layout=dict(xaxis=dict(type="log", title=dict(text="trainable parameters")),
                                           yaxis=dict(title=dict(text="accuracy on the new task"))))
    return apply_theme(fig, "Accuracy against trainable parameters", {"rows": [dict(r) for r in rows]}, height=420)
