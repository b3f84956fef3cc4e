"""Figures and controllers for lesson 02, efficient attention.

* :func:`make_tiling_figure` / :func:`tiling_stepper`: step through the
  tiles of FlashAttention's Algorithm 1 and watch each query's running
  maximum ``m`` and normaliser ``l``;
* :func:`make_traffic_figure` / :func:`traffic_explorer`: HBM traffic of
  standard and tiled attention against the on-chip memory ``M``;
* :func:`make_performer_figure` / :func:`performer_explorer`: Performer's
  implicit attention matrix and its error against the number of features;
* :func:`make_mask_figure` / :func:`mask_explorer`: sliding-window, sink and
  sparse attention patterns.

The computations live in :mod:`frontier.architecture.attention`; the
expensive ones are cached here so that moving a slider only redraws.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import plotly.graph_objects as go

from ..architecture import costs, masks
from ..architecture import attention as att
from ..env import torch_threads
from .controller import InteractiveFigure, checkbox, dropdown, register, slider
from .theme import COLORS, METHOD_COLORS, apply_theme

__all__ = [
    "tiling_run", "make_tiling_figure", "tiling_stepper",
    "make_traffic_figure", "traffic_explorer",
    "performer_curve", "make_performer_figure", "performer_explorer",
    "make_mask_figure", "mask_explorer", "MASK_PATTERNS",
]

_GREY = "#BBBBBB"


def _one_thread():
    """Run torch on one thread: these examples are many tiny operations, where
    spreading each one over busy cores costs far more than it saves."""
    return torch_threads(1)


def _panels(widths: Sequence[float], titles: Sequence[str], gap: float = 0.05, shared_y: bool = False) -> dict:
    """Layout for side-by-side panels, built directly (``make_subplots`` costs ~20 ms per call).

    Panel ``i`` uses axes ``x{i+1}``/``y{i+1}`` (``x``/``y`` for the first);
    titles sit above each panel as annotations.
    """
    usable = 1.0 - gap * (len(widths) - 1)
    total = float(sum(widths))
    layout: dict = {"annotations": []}
    x0 = 0.0
    for i, (w, title) in enumerate(zip(widths, titles)):
        dom = [x0, min(1.0, x0 + usable * w / total)]
        x0 = dom[1] + gap
        ax = "" if i == 0 else str(i + 1)
        layout[f"xaxis{ax}"] = dict(domain=dom, anchor=f"y{ax}")
        layout[f"yaxis{ax}"] = dict(anchor=f"x{ax}")
        if shared_y and i:
            layout[f"yaxis{ax}"].update(matches="y", showticklabels=False)
        layout["annotations"].append(dict(text=title, x=(dom[0] + dom[1]) / 2, y=1.0, xref="paper", yref="paper",
                                          xanchor="center", yanchor="bottom", showarrow=False,
                                          font=dict(size=12)))
    return layout


def _axes(i: int) -> dict:
    """Trace keywords that put a trace on panel ``i`` (0-based) of :func:`_panels`."""
    ax = "" if i == 0 else str(i + 1)
    return dict(xaxis=f"x{ax}", yaxis=f"y{ax}")


# --------------------------------------------------------------------------- tiles and the online softmax

@lru_cache(maxsize=64)
def tiling_run(T: int = 24, d: int = 4, block_q: int = 4, block_k: int = 6, causal: bool = False,
               seed: int = 0) -> Dict[str, object]:
    """Run :func:`~frontier.architecture.attention.tiled_attention` with a trace, once per setting (cached).

    Returns plain NumPy data for drawing: ``scores`` ``(T, T)`` (scaled,
    ``nan`` where masked), ``steps`` (a list of dicts with ``rows``,
    ``cols``, ``skipped``, ``m``, ``l``, ``hbm``), the final ``m`` and ``l``,
    and ``max_abs_diff``, the largest difference from naive attention.
    """
    with _one_thread():
        return att.tiling_trace(T, d, block_q, block_k, causal, seed)


def make_tiling_figure(step: int = 0, T: int = 24, d: int = 4, block_q: int = 4, block_k: int = 6,
                       causal: bool = False, seed: int = 0) -> go.Figure:
    """Algorithm 1 after ``step`` tiles: scores seen so far, and each query's running ``m`` and ``l``.

    Left, the ``(T, T)`` scaled scores ``q.k/sqrt(d)``, shown only in the
    tiles already processed (the current tile outlined, skipped causal
    tiles shaded grey).  Middle and right, per query row, the running
    maximum ``m`` and normaliser ``l = sum exp(s - m)`` after this step
    (bars) and their final values (open circles).  ``step`` counts from 0
    and is clipped to the last tile.
    """
    run = tiling_run(T, d, block_q, block_k, bool(causal), seed)
    steps = run["steps"]
    n = len(steps)
    step = int(min(max(int(step), 0), n - 1))
    cur = steps[step]
    S = run["scores"]
    seen = np.zeros_like(S, dtype=bool)
    for st in steps[:step + 1]:
        if not st["skipped"]:
            (r0, r1), (c0, c1) = st["rows"], st["cols"]
            seen[r0:r1, c0:c1] = True
    z = np.where(seen, S, np.nan)
    finite = S[np.isfinite(S)]
    lim = float(np.max(np.abs(finite))) if finite.size else 1.0
    rows = np.arange(T)
    skip = np.full(S.shape, np.nan)
    for st in steps:
        if st["skipped"]:
            (r0, r1), (c0, c1) = st["rows"], st["cols"]
            skip[r0:r1, c0:c1] = 1.0
    # tile grid as one line trace (None breaks the line between segments)
    gx, gy = [], []
    for c in list(range(0, T, run["block_k"])) + [T]:
        gx += [c - .5, c - .5, None]
        gy += [-.5, T - .5, None]
    for r in list(range(0, T, run["block_q"])) + [T]:
        gx += [-.5, T - .5, None]
        gy += [r - .5, r - .5, None]
    (r0, r1), (c0, c1) = cur["rows"], cur["cols"]
    active = (rows >= r0) & (rows < r1)
    colors = np.where(active, COLORS[3], COLORS[0]).tolist()
    m_now = np.where(np.isfinite(cur["m"]), cur["m"], np.nan)
    final = dict(symbol="circle-open", color="#000000", size=7)
    data = [
        go.Heatmap(z=z, zmin=-lim, zmax=lim, colorscale="RdBu_r", showscale=False,
                   hovertemplate="query %{y}, key %{x}: %{z:.2f}<extra></extra>"),
        go.Heatmap(z=skip, zmin=0, zmax=1, colorscale=[[0, _GREY], [1, _GREY]], opacity=0.45,
                   showscale=False, hoverinfo="skip"),
        go.Scatter(x=gx, y=gy, mode="lines", line=dict(color="#7F7F7F", width=1), hoverinfo="skip",
                   showlegend=False),
        go.Scatter(x=[c0 - .5, c1 - .5, c1 - .5, c0 - .5, c0 - .5], y=[r0 - .5, r0 - .5, r1 - .5, r1 - .5, r0 - .5],
                   mode="lines", line=dict(color=COLORS[3], width=3), name="current tile", hoverinfo="skip"),
        go.Bar(x=m_now, y=rows, orientation="h", marker_color=colors, name="m, l after this step",
               hovertemplate="query %{y}: m = %{x:.3f}<extra></extra>", **_axes(1)),
        go.Scatter(x=run["m"], y=rows, mode="markers", name="final m, l", marker=final,
                   hovertemplate="query %{y}: final m = %{x:.3f}<extra></extra>", **_axes(1)),
        go.Bar(x=cur["l"], y=rows, orientation="h", marker_color=colors, showlegend=False,
               hovertemplate="query %{y}: l = %{x:.3f}<extra></extra>", **_axes(2)),
        go.Scatter(x=run["l"], y=rows, mode="markers", showlegend=False, marker=final,
                   hovertemplate="query %{y}: final l = %{x:.3f}<extra></extra>", **_axes(2)),
    ]
    layout = _panels([0.56, 0.22, 0.22], ["scores q.k/sqrt(d) in the tiles processed so far",
                                          "running max m", "running normaliser l"], gap=0.03, shared_y=True)
    layout["xaxis"].update(title="key j", range=[-.5, T - .5], showgrid=False, zeroline=False)
    layout["yaxis"].update(title="query i", autorange="reversed", showgrid=False, zeroline=False)
    layout["xaxis2"].update(title="m")
    layout["xaxis3"].update(title="l")
    fig = go.Figure(data, dict(layout, bargap=0.15, legend=dict(orientation="h", y=-0.14, x=0)))
    what = "skipped (above the diagonal, never loaded)" if cur["skipped"] else "computed"
    done = step == n - 1
    title = (f"Step {step + 1} of {n}: key block j={cur['kv_block']}, query block i={cur['q_block']} {what}. "
             f"HBM traffic so far {cur['hbm']:,} elements"
             + (f". Done: max |tiled - naive| = {run['max_abs_diff']:.1e}" if done else ""))
    meta = dict(step=step, n_steps=n, T=T, d=d, block_q=run["block_q"], block_k=run["block_k"],
                causal=bool(causal), seed=seed, kv_block=cur["kv_block"], q_block=cur["q_block"],
                skipped=cur["skipped"], hbm_elements=cur["hbm"], max_abs_diff=run["max_abs_diff"])
    return apply_theme(fig, title, meta, height=470)


@register("efficient_attention_tiling")
def tiling_stepper(T: int = 24, d: int = 4, seed: int = 0) -> InteractiveFigure:
    """Step through the tiles of Algorithm 1; the tile sizes and causality are controls too.

    The step slider's range follows the number of tiles when the tile sizes change.
    """
    def n_steps(bq, bk):
        return -(-T // min(bq, T)) * -(-T // min(bk, T))

    controls = {
        "step": slider(0, 0, n_steps(4, 6) - 1, 1, "tile step"),
        "block_q": dropdown([2, 3, 4, 6, 8], 4, "query block B_r"),
        "block_k": dropdown([2, 3, 4, 6, 8, 12], 6, "key block B_c"),
        "causal": checkbox(False, "causal"),
    }
    ctl = InteractiveFigure(make_tiling_figure, controls, fixed={"T": T, "d": d, "seed": seed},
                            name="efficient_attention_tiling")

    def resize(_change=None):
        controls["step"].max = n_steps(controls["block_q"].value, controls["block_k"].value) - 1

    controls["block_q"].observe(resize, names="value")
    controls["block_k"].observe(resize, names="value")
    return ctl


# --------------------------------------------------------------------------- HBM traffic against M

def make_traffic_figure(N: int = 1024, d: int = 64, causal: bool = False, sram_kib: Optional[float] = 192.0,
                        bytes_per_element: int = 2, counted: Optional[Sequence[Tuple[int, int]]] = None,
                        points: int = 48) -> go.Figure:
    """HBM traffic (elements, one head) of standard and tiled attention against on-chip memory ``M``.

    ``M`` runs over the range the paper's analysis covers, from ``d`` to
    ``N d`` elements.  Lines: standard attention (Algorithm 0,
    ``4 N d + 4 N^2``, independent of ``M``), the exact count of
    Algorithm 1 (:func:`~frontier.architecture.attention.tiled_attention_traffic`),
    the cost explorer's formula (non-causal), and ``12 N^2 d^2 / M`` for the
    slope.  The vertical line is one SM's on-chip memory, ``sram_kib`` KiB
    at ``bytes_per_element`` bytes per element (``None``: no line).  ``counted``: optional
    ``(M, elements)`` pairs measured by running the algorithm, drawn as markers.
    """
    N, d = int(N), int(d)
    if N < 2 or d < 1:
        raise ValueError(f"need N >= 2 and d >= 1, got N={N}, d={d}")
    Ms = np.unique(np.round(np.geomspace(d, N * d, int(points))).astype(np.int64))
    flash = np.array([att.tiled_attention_traffic(N, d, causal=causal, sram_elements=int(M)).total
                      for M in Ms], dtype=float)
    standard = 4.0 * N * d + 4.0 * N * N
    guide = 12.0 * N * N * d * d / Ms
    data = [
        go.Scatter(x=Ms, y=np.full(Ms.shape, standard), mode="lines",
                   name="standard attention (Algorithm 0): 4Nd + 4N^2",
                   line=dict(color=METHOD_COLORS["dense"], width=2)),
        go.Scatter(x=Ms, y=flash, mode="lines", name="tiled, Algorithm 1 (exact count)",
                   line=dict(color=COLORS[0], width=3, shape="hv")),
    ]
    if not causal:
        model = np.array([float(costs.flash_traffic_elements(N, d, float(M))[0]) for M in Ms])
        data.append(go.Scatter(x=Ms, y=model, mode="lines", name="cost model of lesson 01",
                               line=dict(color=COLORS[1], dash="dash", shape="hv")))
    data.append(go.Scatter(x=Ms, y=guide, mode="lines", name="12 N^2 d^2 / M",
                           line=dict(color=COLORS[8], dash="dot")))
    if counted:
        cm, ce = zip(*counted)
        data.append(go.Scatter(x=list(cm), y=list(ce), mode="markers", name="counted by running it",
                               marker=dict(color=COLORS[3], size=11, symbol="x")))
    title = f"HBM traffic against on-chip memory: N={N}, d={d}{', causal' if causal else ''}"
    meta = dict(N=N, d=d, causal=bool(causal), sram_kib=sram_kib, bytes_per_element=bytes_per_element)
    if sram_kib is not None:
        M_chip = float(sram_kib) * 1024 / float(bytes_per_element)
        at_chip = att.tiled_attention_traffic(N, d, causal=causal, sram_elements=max(1, int(M_chip))).total
        lo, hi = float(min(flash.min(), standard)), float(max(flash.max(), standard, guide.max()))
        data.append(go.Scatter(x=[M_chip, M_chip], y=[lo, hi], mode="lines",
                               name=f"on-chip memory: {sram_kib:g} KiB = {M_chip:,.0f} elements",
                               line=dict(color=COLORS[3], dash="dash")))
        ratio = standard / at_chip
        title += (f". At {sram_kib:g} KiB, tiled moves {at_chip * bytes_per_element / 1e6:.3g} MB, "
                  f"{ratio:.1f}x less than standard ({standard * bytes_per_element / 1e6:.3g} MB)")
        meta.update(M_chip=M_chip, tiled_at_chip=int(at_chip), standard=int(standard), ratio=float(ratio))
    layout = dict(xaxis=dict(type="log", title="on-chip memory M (elements)"),
                  yaxis=dict(type="log", title="HBM reads + writes (elements, one head)"),
                  legend=dict(orientation="h", y=-0.2, x=0))
    fig = go.Figure(data, layout)
    return apply_theme(fig, title, meta, height=480)


@register("efficient_attention_traffic")
def traffic_explorer(**fixed) -> InteractiveFigure:
    """HBM traffic against on-chip memory, with sequence length, head size and chip as controls."""
    controls = {
        "N": dropdown([256, 1024, 4096, 16384, 65536], 1024, "sequence length N"),
        "d": dropdown([32, 64, 128, 256], 64, "head size d"),
        "sram_kib": dropdown([48, 96, 164, 192, 228, 256], 192, "on-chip memory (KiB)"),
        "bytes_per_element": dropdown([("fp16/bf16 (2 bytes)", 2), ("fp32 (4 bytes)", 4)], 2, "precision"),
        "causal": checkbox(False, "causal (skip tiles above the diagonal)"),
    }
    return InteractiveFigure(make_traffic_figure, controls, fixed=fixed, name="efficient_attention_traffic")


# --------------------------------------------------------------------------- Performer

@lru_cache(maxsize=32)
def performer_curve(T: int = 48, d: int = 16, std: float = 0.5, causal: bool = False, orthogonal: bool = True,
                    n_seeds: int = 6, max_log2: int = 11, seed: int = 0) -> Dict[str, np.ndarray]:
    """Mean and spread of Performer's relative error for ``m = 2, 4, ..., 2**max_log2`` features (cached).

    Inputs from :func:`~frontier.architecture.attention.random_qkv` with
    entries N(0, ``std``^2); ``n_seeds`` random projections per count.
    """
    q, k, v = att.random_qkv(T, d, seed=seed, std=std)
    feats = 2 ** np.arange(1, int(max_log2) + 1)
    with _one_thread():
        res = att.performer_error(q, k, v, feats, n_seeds=n_seeds, seed=seed + 1, causal=causal,
                                  orthogonal=orthogonal)
    return dict(n_features=res.n_features, mean=res.mean, std=res.std, errors=res.errors)


@lru_cache(maxsize=16)
def _exact_weights(T: int, d: int, std: float, causal: bool, seed: int):
    q, k, v = att.random_qkv(T, d, seed=seed, std=std)
    with _one_thread():
        return q, k, v, att.attention_weights(q, k, causal=causal)


def make_performer_figure(n_features: int = 64, projection: int = 0, std: float = 0.5, causal: bool = False,
                          show_iid: bool = True, T: int = 48, d: int = 16, n_seeds: int = 6,
                          max_log2: int = 11, seed: int = 0) -> go.Figure:
    """Performer against exact attention: the two attention matrices and the error against ``m``.

    Left, the exact softmax weights; middle, Performer's implicit weights
    ``D^-1 phi(Q) phi(K)^T`` with ``n_features`` orthogonal random features
    (projection number ``projection``); right, the relative error
    ``|out - exact| / |exact|`` of the output against the number of
    features, averaged over ``n_seeds`` projections (band: one standard
    deviation), with independent Gaussian features for comparison, a
    ``m^(-1/2)`` guide, and the current setting as a star.
    """
    m = int(n_features)
    if m < 1:
        raise ValueError(f"n_features must be positive, got {n_features}")
    q, k, v, exact_w = _exact_weights(int(T), int(d), float(std), bool(causal), int(seed))
    om = att.orthogonal_gaussian(m, int(d), seed=np.random.default_rng([int(seed), 7, int(projection)]))
    with _one_thread():
        _, w, err = att.performer_comparison(q, k, v, om, causal=causal)
    zmax = float(exact_w.max())
    data = []
    for i, mat in enumerate((exact_w, w)):
        data.append(go.Heatmap(z=mat.numpy(), zmin=0, zmax=zmax, colorscale="Viridis", showscale=i == 1,
                               colorbar=dict(x=0.535, len=0.8, thickness=10),
                               hovertemplate="query %{y}, key %{x}: %{z:.3f}<extra></extra>", **_axes(i)))
    curves = [("orthogonal features", True, COLORS[1])]
    if show_iid:
        curves.append(("independent features", False, COLORS[0]))
    ref = None
    for label, ortho, color in curves:
        c = performer_curve(int(T), int(d), float(std), bool(causal), ortho, int(n_seeds), int(max_log2), int(seed))
        ref = c if ref is None else ref
        x, mu, sd = c["n_features"], c["mean"], c["std"]
        data.append(go.Scatter(x=np.concatenate([x, x[::-1]]),
                               y=np.concatenate([mu + sd, np.maximum(mu - sd, 1e-4)[::-1]]),
                               fill="toself", fillcolor=color, opacity=0.18, line=dict(width=0),
                               hoverinfo="skip", showlegend=False, **_axes(2)))
        data.append(go.Scatter(x=x, y=mu, mode="lines+markers", name=f"{label} (mean of {n_seeds})",
                               line=dict(color=color), **_axes(2)))
    x = ref["n_features"].astype(float)
    mid = len(x) // 2
    data.append(go.Scatter(x=x, y=ref["mean"][mid] * np.sqrt(x[mid] / x), mode="lines", name="~ m^(-1/2)",
                           line=dict(color=COLORS[8], dash="dot"), **_axes(2)))
    data.append(go.Scatter(x=[m], y=[err], mode="markers", name=f"this projection: {err:.3f}",
                           marker=dict(symbol="star", size=14, color=COLORS[3]), **_axes(2)))
    layout = _panels([0.27, 0.27, 0.46], ["exact softmax weights", f"Performer weights, m={m}",
                                          "relative error of the output"], gap=0.07)
    for ax in ("yaxis", "yaxis2"):
        layout[ax].update(autorange="reversed", showgrid=False)
    layout["yaxis"].update(title="query")
    layout["xaxis"].update(title="key", showgrid=False)
    layout["xaxis2"].update(title="key", showgrid=False)
    layout["xaxis3"].update(type="log", title="random features m")
    layout["yaxis3"].update(type="log", title="|out - exact| / |exact|")
    layout["legend"] = dict(orientation="h", y=-0.2, x=0.5)
    fig = go.Figure(data, layout)
    title = (f"Performer (FAVOR+) against softmax attention: T={T}, d={d}, input std {std:g}"
             f"{', causal' if causal else ''}; m={m} features give error {err:.3f}")
    meta = dict(n_features=m, projection=int(projection), std=float(std), causal=bool(causal), T=T, d=d,
                n_seeds=n_seeds, error=err, mean_error=dict(zip(ref["n_features"].tolist(), ref["mean"].tolist())))
    return apply_theme(fig, title, meta, height=460)


@register("efficient_attention_performer")
def performer_explorer(**fixed) -> InteractiveFigure:
    """Performer's attention matrix and error, with the number of features and the projection as controls."""
    controls = {
        "n_features": dropdown([2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048], 64, "features m"),
        "projection": slider(0, 0, 9, 1, "random projection #"),
        "std": dropdown([0.25, 0.5, 0.75, 1.0], 0.5, "input std"),
        "causal": checkbox(False, "causal"),
    }
    return InteractiveFigure(make_performer_figure, controls, fixed=fixed, name="efficient_attention_performer")


# --------------------------------------------------------------------------- masks

#: The extra patterns :func:`make_mask_figure` can draw beside the window and sink masks.
MASK_PATTERNS = ("longformer", "strided", "bigbird")


def _extra_mask(pattern: str, T: int, window: int, n_sink: int) -> Tuple[np.ndarray, str]:
    if pattern == "longformer":
        # Longformer is an encoder pattern (both directions).  Its causal form with
        # the first tokens global is exactly the sink mask of the third panel.
        return (masks.longformer_mask(T, min(window, T), n_global=n_sink, causal=False),
                f"Longformer (non-causal): window {window} + {n_sink} global")
    if pattern == "strided":
        stride = max(1, int(round(np.sqrt(T))))
        return masks.strided_mask(T, stride), f"Sparse Transformer: stride {stride}"
    if pattern == "bigbird":
        block = T // 16 if T % 16 == 0 else 1
        return (masks.bigbird_mask(T, block=block, seed=0),
                f"BigBird (non-causal): blocks of {block}")
    raise ValueError(f"pattern must be one of {list(MASK_PATTERNS)}, got {pattern!r}")


def make_mask_figure(T: int = 64, window: int = 8, n_sink: int = 4, pattern: str = "longformer") -> go.Figure:
    """Which keys each query may attend: causal, sliding window, sinks + window, and one sparse pattern.

    Each panel is a ``(T, T)`` boolean mask (query rows, key columns); its
    title gives the kept pairs as a share of the full ``T^2``.  The window
    and sink masks are the ones :func:`~frontier.architecture.attention.naive_attention`
    accepts; the fourth comes from :mod:`frontier.architecture.masks`.
    """
    T, window, n_sink = int(T), int(window), int(n_sink)
    if window > T:
        raise ValueError(f"window ({window}) must not exceed T ({T})")
    panels = [
        (np.tril(np.ones((T, T), dtype=bool)), "causal (dense)"),
        (att.window_mask(T, window, causal=True).numpy(), f"sliding window {window}"),
        (att.sink_mask(T, window, n_sink).numpy(), f"{n_sink} sinks + window {window}"),
        _extra_mask(pattern, T, window, n_sink),
    ]
    titles = [f"{name}<br>{mk.sum():,} pairs, {mk.sum() / mk.size:.0%}" for mk, name in panels]
    layout = _panels([1, 1, 1, 1], titles, gap=0.03)
    data = []
    for i, (mk, _) in enumerate(panels):
        ax = "" if i == 0 else str(i + 1)
        data.append(go.Heatmap(z=mk.astype(np.int8), colorscale=[[0, "#F4F4F4"], [1, COLORS[0]]], zmin=0, zmax=1,
                               showscale=False, hovertemplate="query %{y}, key %{x}: %{z}<extra></extra>",
                               **_axes(i)))
        layout[f"xaxis{ax}"].update(title="key", showgrid=False, zeroline=False)
        layout[f"yaxis{ax}"].update(autorange="reversed", scaleanchor=f"x{ax}", showticklabels=i == 0,
                                    showgrid=False, zeroline=False)
    layout["yaxis"].update(title="query")
    fig = go.Figure(data, layout)
    meta = dict(T=T, window=window, n_sink=n_sink, pattern=pattern,
                pairs={name: int(mk.sum()) for mk, name in panels})
    return apply_theme(fig, f"Attention masks: T={T}, window={window}, sinks={n_sink}", meta, height=380)


@register("efficient_attention_masks")
def mask_explorer(**fixed) -> InteractiveFigure:
    """Window, sink and sparse masks, with the sequence length, window and sinks as controls."""
    controls = {
        "T": dropdown([32, 64, 128], 64, "T"),
        "window": slider(8, 1, 32, 1, "window"),
        "n_sink": slider(4, 0, 8, 1, "sink tokens"),
        "pattern": dropdown(list(MASK_PATTERNS), "longformer", "fourth panel"),
    }
    return InteractiveFigure(make_mask_figure, controls, fixed=fixed, name="efficient_attention_masks")
