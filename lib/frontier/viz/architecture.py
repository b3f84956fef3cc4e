"""Figures for section 1: the attention cost explorer and measured timings."""
from __future__ import annotations

from functools import lru_cache
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np
import plotly.graph_objects as go

from ..architecture import costs
from ..timing import fit_loglog_slope
from .controller import InteractiveFigure, checkbox, dropdown, range_slider, register, slider
from .theme import METHOD_COLORS, apply_theme, themed_figure

__all__ = ["METHOD_LABELS", "method_costs", "make_cost_figure", "make_cost_table_figure",
           "make_timing_figure", "cost_explorer", "cost_table"]

#: Default on-chip memory per SM (KiB): A100's, from frontier.hardware through the cost models.
_SRAM_KIB: float = costs.DEFAULT_SRAM_BYTES / 1024

METHOD_LABELS: Dict[str, str] = {
    "dense": "Dense", "flash": "FlashAttention", "longformer": "Longformer (window+global)",
    "bigbird": "BigBird (window+global+random)", "sparse_transformer": "Sparse Transformer (strided)",
    "performer": "Performer", "mamba": "Mamba (selective SSM)", "hybrid": "Hybrid attention/SSM",
}


@lru_cache(maxsize=256)
def _cached_costs(method: str, Ts: tuple, shape: costs.ModelShape, knobs: tuple) -> costs.Cost:
    return costs.cost_of(method, np.array(Ts), shape, **dict(knobs))


def method_costs(T: Sequence[int], *, d_model: int = 4096, n_heads: int = 32, n_layers: int = 32,
                 batch: int = 1, window: int = 512, n_global: int = 16, n_features: int = 256,
                 d_state: int = 16, sram_kib: float = _SRAM_KIB, attention_ratio: float = 0.125,
                 methods: Iterable[str] = tuple(costs.METHODS)) -> Dict[str, costs.Cost]:
    """Costs of each method over ``T`` with the explorer's knobs (cached: slider moves are cheap).

    Attention is causal (decoder LLMs) wherever the method has a causal form;
    BigBird stays non-causal, as published.
    """
    shape = costs.ModelShape(d_model=d_model, n_heads=n_heads, n_layers=n_layers, batch=batch)
    knobs = costs.decoder_knobs(window=int(window), n_global=int(n_global), n_features=int(n_features),
                                d_state=int(d_state), sram_bytes=float(sram_kib) * 1024,
                                attention_ratio=float(attention_ratio))
    Ts = tuple(int(t) for t in T)
    return {m: _cached_costs(m, Ts, shape, tuple(sorted(knobs[m].items()))) for m in methods}


def _T_grid(log10_range, points: int) -> np.ndarray:
    lo, hi = float(log10_range[0]), float(log10_range[1])
    if not hi > lo:
        raise ValueError(f"the T range must have its upper end above its lower end, got {log10_range}")
    return np.unique(np.round(np.logspace(lo, hi, int(points))).astype(np.int64))


def _tail_slope(T: np.ndarray, y: np.ndarray) -> float:
    """Log-log slope over the upper half of the range (where the leading term shows)."""
    k = max(2, len(T) // 2)
    return fit_loglog_slope(T[-k:], y[-k:])


def make_cost_figure(log10_T=(3.0, 6.0), d_model: int = 4096, n_heads: int = 32, n_layers: int = 32,
                     window: int = 512, n_global: int = 16, n_features: int = 256, d_state: int = 16,
                     sram_kib: float = _SRAM_KIB, attention_ratio: float = 0.125, gpu: str = "H100 80 GB",
                     mixing_only: bool = False, methods: Iterable[str] = tuple(costs.METHODS),
                     points: int = 32) -> go.Figure:
    """Log-log FLOPs, memory and memory traffic against sequence length for every method, with fitted slopes.

    Left: FLOPs of one forward pass (or only the token-mixing FLOPs).  Middle:
    KV cache plus one layer's peak activations (bytes), with the chosen GPU's
    memory as a horizontal wall.  Right: bytes moved to and from HBM (the only
    panel the on-chip memory ``sram_kib`` changes, through FlashAttention).
    Each legend entry gives the fitted exponent ``p`` in ``cost ~ T^p`` over
    the upper half of the range.
    """
    if gpu not in costs.GPUS:
        raise ValueError(f"gpu must be one of {list(costs.GPUS)}, got {gpu!r}")
    T = _T_grid(log10_T, points)
    allc = method_costs(T, d_model=d_model, n_heads=n_heads, n_layers=n_layers, window=window,
                        n_global=n_global, n_features=n_features, d_state=d_state, sram_kib=sram_kib,
                        attention_ratio=attention_ratio, methods=tuple(methods))
    slopes, data = {}, []
    for m, c in allc.items():
        y1 = c.mixing_flops if mixing_only else c.flops
        s1, s2, s3 = (_tail_slope(T, y) for y in (y1, c.memory_bytes, c.traffic_bytes))
        slopes[m] = {"flops": round(s1, 3), "memory": round(s2, 3), "traffic": round(s3, 3)}
        line = dict(color=METHOD_COLORS.get(m), dash="dot" if m == "flash" else "solid")
        label = f"{METHOD_LABELS[m]}  (FLOPs ~T^{s1:.2f}, mem ~T^{s2:.2f}, traffic ~T^{s3:.2f})"
        for axis, y in (("", y1), ("2", c.memory_bytes), ("3", c.traffic_bytes)):
            data.append(dict(type="scatter", x=T, y=y, mode="lines", name=label, legendgroup=m, line=line,
                             showlegend=axis == "", xaxis="x" + axis, yaxis="y" + axis))
    wall = costs.GPUS[gpu]
    data.append(dict(type="scatter", x=[T[0], T[-1]], y=[wall, wall], mode="lines", name=f"{gpu} memory",
                     line=dict(color="#B2182B", width=3, dash="dash"), xaxis="x2", yaxis="y2"))
    xa = dict(type="log", title=dict(text="sequence length T (tokens)"))
    titles = ["token-mixing FLOPs" if mixing_only else "FLOPs (forward pass)",
              "memory: KV cache + peak activations (bytes)", "HBM traffic (bytes)"]
    domains = [[0.0, 0.29], [0.355, 0.645], [0.71, 1.0]]
    layout = dict(legend=dict(orientation="h", y=-0.18, x=0), annotations=[])
    for i, (title_i, dom) in enumerate(zip(titles, domains)):
        n = "" if i == 0 else str(i + 1)
        layout[f"xaxis{n}"] = dict(xa, domain=dom, anchor=f"y{n}")
        layout[f"yaxis{n}"] = dict(type="log", anchor=f"x{n}",
                                   title=dict(text="FLOPs" if i == 0 else "bytes"))
        layout["annotations"].append(dict(text=title_i, x=(dom[0] + dom[1]) / 2, y=1.0, xref="paper",
                                          yref="paper", xanchor="center", yanchor="bottom", showarrow=False))
    meta = dict(log10_T=list(log10_T), d_model=d_model, n_heads=n_heads, n_layers=n_layers, window=window,
                n_global=n_global, n_features=n_features, d_state=d_state, sram_kib=sram_kib,
                attention_ratio=attention_ratio, gpu=gpu, mixing_only=mixing_only, slopes=slopes)
    title = (f"Cost against sequence length: d_model={d_model}, heads={n_heads}, layers={n_layers}, "
             f"window={window}, GPU={gpu}")
    return themed_figure(data, layout, title, meta, height=520)


def make_cost_table_figure(T: int = 131072, d_model: int = 4096, n_heads: int = 32, n_layers: int = 32,
                           window: int = 512, n_global: int = 16, n_features: int = 256, d_state: int = 16,
                           sram_kib: float = _SRAM_KIB, attention_ratio: float = 0.125,
                           gpu: str = "H100 80 GB") -> go.Figure:
    """A table of every method's costs at one sequence length, relative to dense attention."""
    if gpu not in costs.GPUS:
        raise ValueError(f"gpu must be one of {list(costs.GPUS)}, got {gpu!r}")
    allc = method_costs([int(T)], d_model=d_model, n_heads=n_heads, n_layers=n_layers, window=window,
                        n_global=n_global, n_features=n_features, d_state=d_state, sram_kib=sram_kib,
                        attention_ratio=attention_ratio)
    dense = allc["dense"]
    rows = []
    for m, c in allc.items():
        fits = c.memory_bytes[0] <= costs.GPUS[gpu]
        rows.append([METHOD_LABELS[m], f"{c.flops[0]:.3g}", f"{c.flops[0] / dense.flops[0]:.3f}",
                     f"{c.memory_bytes[0] / 1e9:.3g}", f"{c.kv_cache_bytes[0] / 1e9:.3g}",
                     f"{c.traffic_bytes[0] / 1e9:.3g}", "yes" if fits else "no"])
    cols = list(zip(*rows))
    header = ["method", "FLOPs", "FLOPs / dense", "memory (GB)", "KV cache (GB)", "HBM traffic (GB)",
              f"fits on {gpu}?"]
    fig = go.Figure(go.Table(header=dict(values=header, fill_color="#E8EEF4", align="left"),
                             cells=dict(values=cols, align="left")))
    meta = dict(T=int(T), d_model=d_model, n_heads=n_heads, n_layers=n_layers, window=window, gpu=gpu,
                rows=[list(r) for r in rows])
    return apply_theme(fig, f"Costs at T = {int(T):,} tokens (d_model={d_model}, layers={n_layers})", meta,
                       height=130 + 34 * (len(rows) + 1))


def make_timing_figure(records: List[dict], predicted: Optional[Dict[str, float]] = None,
                       title: str = "Measured time against sequence length") -> go.Figure:
    """Log-log plot of measured timings (records from :func:`frontier.timing.sweep`) with fitted slopes.

    ``predicted`` maps a label to the slope the cost model expects; it is
    shown beside the measured one.
    """
    if not records:
        raise ValueError("records must not be empty")
    fig = go.Figure()
    slopes = {}
    for label in dict.fromkeys(r["label"] for r in records):
        rs = sorted((r for r in records if r["label"] == label), key=lambda r: r["n"])
        n = np.array([r["n"] for r in rs], dtype=float)
        t = np.array([r["seconds"] for r in rs], dtype=float)
        s = fit_loglog_slope(n, t) if len(rs) >= 2 else float("nan")
        slopes[label] = round(s, 3)
        exp = f", model {predicted[label]:.0f}" if predicted and label in predicted else ""
        fig.add_trace(go.Scatter(
            x=n, y=t, mode="lines+markers", name=f"{label} (measured slope {s:.2f}{exp})",
            error_y=dict(type="data", symmetric=False,
                         array=[r["max"] - r["seconds"] for r in rs],
                         arrayminus=[r["seconds"] - r["min"] for r in rs]),
            line=dict(color=METHOD_COLORS.get(label.split()[0].lower()))))
    fig.update_xaxes(type="log", title_text="sequence length T (tokens)")
    fig.update_yaxes(type="log", title_text="seconds (median)")
    return apply_theme(fig, title, {"slopes": slopes, "predicted": dict(predicted or {})})


def _explorer_controls() -> dict:
    return {
        "log10_T": range_slider((3.0, 6.0), 2.0, 7.0, 0.5, "log10 T range"),
        "d_model": dropdown([1024, 2048, 4096, 8192], 4096, "d_model"),
        "n_heads": dropdown([8, 16, 32, 64], 32, "heads"),
        "n_layers": slider(32, 1, 96, 1, "layers"),
        "window": dropdown([64, 128, 256, 512, 1024, 2048, 4096, 8192], 512, "window w"),
        "n_global": slider(16, 0, 256, 16, "global tokens"),
        "n_features": dropdown([16, 64, 128, 256, 512, 1024], 256, "Performer features m"),
        "d_state": dropdown([4, 8, 16, 32, 64, 128, 256], 16, "SSM state N"),
        "sram_kib": dropdown([48, 96, 164, 192, 228, 256], 192, "on-chip memory M (KiB)"),
        "attention_ratio": dropdown([("0 (pure SSM)", 0.0), ("1/16", 0.0625), ("1/8 (Jamba)", 0.125),
                                     ("1/4", 0.25), ("1/2", 0.5), ("1 (pure attention)", 1.0)],
                                    0.125, "attention layers"),
        "gpu": dropdown(list(costs.GPUS), "H100 80 GB", "GPU"),
        "mixing_only": checkbox(False, "token-mixing FLOPs only"),
    }


@register("attention_cost_explorer")
def cost_explorer(**fixed) -> InteractiveFigure:
    """The attention cost explorer: every knob of :func:`make_cost_figure` as a control."""
    return InteractiveFigure(make_cost_figure, _explorer_controls(), fixed=fixed, name="attention_cost_explorer")


@register("attention_cost_table")
def cost_table(**fixed) -> InteractiveFigure:
    """A table of all methods at one sequence length, with the model and GPU as controls."""
    controls = {
        "T": dropdown([4096, 32768, 131072, 1_000_000, 10_000_000], 131072, "T (tokens)"),
        "d_model": dropdown([1024, 2048, 4096, 8192], 4096, "d_model"),
        "n_layers": slider(32, 1, 96, 1, "layers"),
        "window": dropdown([256, 512, 1024, 4096], 512, "window w"),
        "gpu": dropdown(list(costs.GPUS), "H100 80 GB", "GPU"),
    }
    return InteractiveFigure(make_cost_table_figure, controls, fixed=fixed, name="attention_cost_table")
