"""Figures for the long-context lesson: RoPE scaling, KV-cache memory, sink tokens, ring attention."""
from __future__ import annotations

from typing import Dict, Mapping

import numpy as np
import plotly.graph_objects as go

from ..architecture import long_context as lc
from ..architecture.costs import GPUS
from ..architecture.params import LLAMA2_70B, MIXTRAL_8X7B, PRESETS, ModelConfig, weight_bytes
from ..validation import choice, positive_int
from ._panels import Panels
from .controller import InteractiveFigure, checkbox, dropdown, range_slider, register, slider
from .theme import COLORS, apply_theme

__all__ = ["METHOD_LABELS", "ATTENTION_OPTIONS", "make_rope_scaling_figure", "make_kv_cache_figure",
           "make_streaming_figure", "make_ring_attention_figure", "make_sink_experiment_figure",
           "make_context_extension_figure", "make_haystack_figure",
           "rope_scaling_explorer", "kv_cache_explorer", "streaming_cache_explorer", "ring_attention_explorer"]

METHOD_LABELS: Dict[str, str] = {"rope": "RoPE (no scaling)", "pi": "position interpolation",
                                 "ntk": "NTK-aware", "dynamic_ntk": "dynamic NTK", "yarn": "YaRN"}
METHOD_COLOURS: Dict[str, str] = {"rope": "#7F7F7F", "pi": COLORS[0], "ntk": COLORS[1],
                                  "dynamic_ntk": COLORS[4], "yarn": COLORS[2]}
#: Attention variants of the KV-cache explorer: label -> (attention kind, KV heads or None).
ATTENTION_OPTIONS: Dict[str, tuple] = {
    "as configured": (None, None), "MHA (one KV head per query head)": ("mha", None),
    "GQA with 8 KV heads": ("gqa", 8), "MQA (one KV head)": ("mqa", None),
}


def make_rope_scaling_figure(scale: float = 8.0, method: str = "yarn", alpha: float = 1.0, beta: float = 32.0,
                             base: float = 10_000.0, head_dim: int = 128, original_context: int = 4096,
                             points: int = 500) -> go.Figure:
    """Wavelength of every RoPE pair, and the score against distance, for one scaling method.

    Left: wavelength ``2*pi/theta_j`` (tokens) of each pair ``j`` under plain
    RoPE and every method at ``scale``, the chosen one drawn bold, with the
    trained context ``L`` and the target ``s*L`` as horizontal lines.  Pairs
    whose wavelength is below ``L`` made full turns during training.
    Right: the score ``q.k / d`` of all-ones query and key against their
    distance (log-spaced from 1 to ``1.25*s*L``), for plain RoPE and the
    chosen method.  Plain RoPE beyond ``L`` is shaded: the model never saw
    those distances.  On the log axis, position interpolation is plain RoPE
    shifted right by ``log s``.
    """
    choice("method", method, lc.ROPE_METHODS)
    scale = float(scale)
    L = positive_int("original_context", original_context)
    theta = lc.rope_inv_freq(head_dim, base)
    panels = Panels(1, 2, ("wavelength of each rotating pair (tokens)",
                           "score q.k/d against distance (all-ones q, k)"), hspace=0.1)
    left, right = panels.ref(1, 1), panels.ref(1, 2)
    pairs = np.arange(theta.size)
    data = []
    freqs = {}
    for m in lc.ROPE_METHODS:
        inv, factor = lc.scaled_inv_freq(m, head_dim, scale, base=base, original_context=L, alpha=alpha,
                                         beta=beta)
        freqs[m] = (inv, factor)
        bold = m == method
        data.append(go.Scatter(x=pairs, y=lc.wavelengths(inv), mode="lines", name=METHOD_LABELS[m],
                               line=dict(color=METHOD_COLOURS[m], width=3.5 if bold else 1.2,
                                         dash=None if bold or m == "rope" else "dot"), **left))
    for y, label, dash in ((L, f"trained context L = {L:,}", "dash"),
                           (scale * L, f"target s*L = {int(scale * L):,}", "dashdot")):
        data.append(go.Scatter(x=[0, pairs[-1]], y=[y, y], mode="lines", name=label,
                               line=dict(color="#000000", dash=dash, width=1), **left))
    dist = np.unique(np.round(np.logspace(0, np.log10(1.25 * scale * L), positive_int("points", points))))
    rope_score = lc.rope_score_vs_distance(dist, theta) / head_dim
    inv, factor = freqs[method]
    seen = dist <= L
    data.append(go.Scatter(x=dist[seen], y=rope_score[seen], mode="lines", name="RoPE, distances seen in training",
                           line=dict(color=METHOD_COLOURS["rope"], width=1.5), showlegend=False, **right))
    if (~seen).any():
        data.append(go.Scatter(x=dist[~seen], y=rope_score[~seen], mode="lines", name="RoPE beyond L (unseen)",
                               line=dict(color=COLORS[3], width=1), **right))
    if method != "rope":
        data.append(go.Scatter(x=dist, y=lc.rope_score_vs_distance(dist, inv, factor) / head_dim, mode="lines",
                               name=f"{METHOD_LABELS[method]} (s={scale:g})", showlegend=False,
                               line=dict(color=METHOD_COLOURS[method], width=2.5), **right))
    panels.axis(1, 1, "y", type="log", title_text="tokens per turn")
    panels.axis(1, 1, "x", title_text="pair index j")
    panels.axis(1, 2, "x", type="log", title_text="distance m - n (tokens, log scale)")
    panels.axis(1, 2, "y", title_text="score / d")
    layout = dict(panels.layout, shapes=[dict(type="rect", xref=right["xaxis"], yref=f"{right['yaxis']} domain",
                                              x0=L, x1=float(dist[-1]), y0=0, y1=1, fillcolor=COLORS[3],
                                              opacity=0.06, line_width=0)])
    fig = go.Figure(data=data, layout=layout)
    r = lc.rotations_in_context(theta, L)
    meta = dict(scale=scale, method=method, alpha=alpha, beta=beta, base=base, head_dim=head_dim,
                original_context=L, attention_factor=float(factor),
                inv_freq_ratio=(inv / theta).round(6).tolist(),
                pairs_extrapolated=int((r > beta).sum()), pairs_interpolated=int((r < alpha).sum()))
    title = (f"{METHOD_LABELS[method]} at s = {scale:g} (L = {L:,}, d = {head_dim}, base {base:g}): "
             f"attention factor {factor:.4f}")
    apply_theme(fig, title, meta, height=470, legend_below=-0.2)
    return fig


@register("rope_scaling_explorer")
def rope_scaling_explorer(**fixed) -> InteractiveFigure:
    """Scale factor, method, YaRN's alpha and beta, and the RoPE base."""
    controls = {
        "scale": dropdown([1.0, 2.0, 4.0, 8.0, 16.0, 32.0], 8.0, "scale s"),
        "method": dropdown([(METHOD_LABELS[m], m) for m in lc.ROPE_METHODS], "yarn", "method"),
        "alpha": slider(1.0, 0.25, 8.0, 0.25, "YaRN alpha"),
        "beta": dropdown([8.0, 16.0, 32.0, 64.0], 32.0, "YaRN beta"),
        "base": dropdown([("10,000 (LLaMA-2)", 10_000.0), ("500,000 (LLaMA-3)", 500_000.0),
                          ("1,000,000 (Mixtral)", 1_000_000.0)], 10_000.0, "RoPE base"),
    }
    return InteractiveFigure(make_rope_scaling_figure, controls, fixed=fixed, name="rope_scaling_explorer")


def make_kv_cache_figure(attention: str = "as configured", precision: str = "bf16", batch: int = 1,
                         log10_context=(3.0, 6.0), include_weights: bool = False, custom_layers: int = 32,
                         custom_kv_heads: int = 8, custom_head_dim: int = 128, points: int = 40) -> go.Figure:
    """KV-cache memory against context for LLaMA-2 70B, Mixtral 8x7B and a custom model, with GPU memory lines.

    ``attention`` is a key of :data:`ATTENTION_OPTIONS`; the custom model has
    32 query heads and the chosen layers, KV heads and head size.  With
    ``include_weights`` the 16-bit weights are added, so a line crossing a
    GPU's memory is where that GPU runs out.  Each legend entry gives the
    longest context that fits on an H100 (80 GB).
    """
    choice("attention", attention, tuple(ATTENTION_OPTIONS))
    kind, n_kv = ATTENTION_OPTIONS[attention]
    lo, hi = float(log10_context[0]), float(log10_context[1])
    if not hi > lo:
        raise ValueError(f"the context range must have its upper end above its lower end, got {log10_context}")
    custom_kv_heads = positive_int("custom_kv_heads", custom_kv_heads)
    if 32 % custom_kv_heads:
        raise ValueError(f"custom_kv_heads must divide the 32 query heads, got {custom_kv_heads}")
    custom = ModelConfig("custom", d_model=32 * positive_int("custom_head_dim", custom_head_dim),
                         n_layers=positive_int("custom_layers", custom_layers), n_heads=32,
                         n_kv_heads=custom_kv_heads, head_dim=custom_head_dim, d_ff=4 * 32 * custom_head_dim,
                         vocab_size=32000)
    ctx = np.unique(np.round(np.logspace(lo, hi, points)).astype(np.int64))
    data = []
    fits = {}
    for i, cfg in enumerate((LLAMA2_70B, MIXTRAL_8X7B, custom)):
        heads = lc.kv_heads_for(cfg, kind, n_kv if kind == "gqa" else None)
        y = lc.kv_cache_curve(cfg, ctx, batch=batch, n_kv_heads=heads, precision=precision)
        offset = weight_bytes(cfg, "bf16") if include_weights else 0.0
        longest = lc.max_context_for_memory(cfg, GPUS["H100 80 GB"], batch=batch, n_kv_heads=heads,
                                            precision=precision,
                                            weights_precision="bf16" if include_weights else None)
        fits[cfg.name] = longest
        per_token = lc.kv_cache_size(cfg, 1, batch=batch, n_kv_heads=heads, precision=precision)
        data.append(go.Scatter(x=ctx, y=(y + offset) / 1e9, mode="lines", line=dict(color=COLORS[i], width=2.5),
                               name=f"{cfg.name}: {heads} KV heads, {per_token / 1024:,.0f} KiB/token, "
                                    f"fits {longest:,} tokens on an H100"))
    for j, (gpu, cap) in enumerate(GPUS.items()):
        data.append(go.Scatter(x=[ctx[0], ctx[-1]], y=[cap / 1e9] * 2, mode="lines", name=gpu,
                               line=dict(color=COLORS[3 + j % 5], dash="dash", width=1.2)))
    ylabel = "GB" + (" (KV cache + bf16 weights)" if include_weights else " (KV cache)")
    fig = go.Figure(data=data, layout=dict(xaxis=dict(type="log", title=dict(text="context (tokens)")),
                                           yaxis=dict(type="log", title=dict(text=ylabel))))
    meta = dict(attention=attention, precision=precision, batch=batch, log10_context=[lo, hi],
                include_weights=include_weights, custom_layers=custom_layers, custom_kv_heads=custom_kv_heads,
                custom_head_dim=custom_head_dim, longest_on_h100=fits)
    title = f"KV-cache memory against context: {attention}, {precision}, batch {batch}"
    apply_theme(fig, title, meta, height=480, legend_below=-0.2)
    return fig


@register("kv_cache_explorer")
def kv_cache_explorer(**fixed) -> InteractiveFigure:
    """Attention variant, precision, batch, context range, weights, and a custom model's shape."""
    controls = {
        "attention": dropdown(list(ATTENTION_OPTIONS), "as configured", "attention"),
        "precision": dropdown(["fp32", "bf16", "fp8", "int4"], "bf16", "KV precision"),
        "batch": dropdown([1, 4, 16, 64], 1, "batch"),
        "log10_context": range_slider((3.0, 6.0), 2.0, 7.0, 0.5, "log10 context range"),
        "include_weights": checkbox(False, "add the weights"),
        "custom_layers": slider(32, 4, 128, 4, "custom: layers"),
        "custom_kv_heads": dropdown([1, 2, 4, 8, 16, 32], 8, "custom: KV heads"),
        "custom_head_dim": dropdown([64, 128, 256], 128, "custom: head size"),
    }
    return InteractiveFigure(make_kv_cache_figure, controls, fixed=fixed, name="kv_cache_explorer")


def make_streaming_figure(t: int = 200, window: int = 64, n_sink: int = 4, horizon: int = 400) -> go.Figure:
    """What a StreamingLLM cache holds after ``t`` tokens, and its size over time.

    Top: every position ``0..t-1``, coloured by whether a plain sliding
    window and a window with ``n_sink`` sinks keep it.  Bottom: tokens in the
    cache after each of ``horizon`` tokens for a full cache, the window and
    the window with sinks.
    """
    t = positive_int("t", t)
    window = positive_int("window", window)
    horizon = max(positive_int("horizon", horizon), t)
    plain = lc.streaming_kept_positions(t, window, 0)
    sinks = lc.streaming_kept_positions(t, window, n_sink)
    panels = Panels(2, 1, (f"positions in the cache after t = {t} tokens (blue kept, grey evicted)",
                           "tokens held in the cache"), row_heights=[0.35, 0.65], vspace=0.18)
    top, bottom = panels.ref(1, 1), panels.ref(2, 1)
    rows = [f"{n_sink} sinks + window", "window"]
    strip = np.zeros((2, t))
    strip[0, sinks] = 1
    strip[1, plain] = 1
    data = [go.Heatmap(z=strip, x=np.arange(t), y=rows, zmin=0, zmax=1, showscale=False, xgap=0.5, ygap=4,
                       colorscale=[[0, COLORS[9]], [1, COLORS[0]]],
                       hovertemplate="position %{x}: %{z}<extra>%{y}</extra>", **top)]
    # cache size is piecewise linear: draw only the corners
    for label, cap, color in (("full cache", None, COLORS[7]), ("window", window, COLORS[1]),
                              (f"{n_sink} sinks + window", n_sink + window, COLORS[0])):
        xs = [0, horizon] if cap is None or cap >= horizon else [0, cap, horizon]
        ys = lc.streaming_cache_size(np.array(xs), window, 0 if cap == window else n_sink) if cap else np.array(xs)
        data.append(go.Scatter(x=xs, y=ys, mode="lines", name=label, line=dict(color=color, width=2), **bottom))
    panels.axis(1, 1, "x", title_text="position")
    panels.axis(2, 1, "x", title_text="tokens seen")
    panels.axis(2, 1, "y", title_text="cached tokens")
    layout = dict(panels.layout, shapes=[dict(type="line", xref=bottom["xaxis"], yref=f"{bottom['yaxis']} domain",
                                              x0=t, x1=t, y0=0, y1=1, line=dict(color=COLORS[3], dash="dot"))])
    fig = go.Figure(data=data, layout=layout)
    meta = dict(t=t, window=window, n_sink=n_sink, kept_window=plain.tolist(), kept_sinks=sinks.tolist())
    title = f"StreamingLLM cache: {n_sink} sink tokens + a window of {window} (cache size {sinks.size} at t = {t})"
    return apply_theme(fig, title, meta, height=470)


@register("streaming_cache_explorer")
def streaming_cache_explorer(**fixed) -> InteractiveFigure:
    """Tokens seen, window and number of sinks."""
    controls = {
        "t": slider(200, 1, 400, 1, "tokens seen t"),
        "window": slider(64, 8, 256, 8, "window"),
        "n_sink": slider(4, 0, 16, 1, "sink tokens"),
    }
    return InteractiveFigure(make_streaming_figure, controls, fixed=fixed, name="streaming_cache_explorer")


def make_ring_attention_figure(n_devices: int = 4, seq_len: int = 131072, model: str = "LLaMA-2 70B",
                               causal: bool = True, precision: str = "bf16") -> go.Figure:
    """Ring attention: which KV block each device holds at each step, and the bytes it sends.

    Left: ``schedule[step, device]`` as text over a heatmap of the work (full
    block, diagonal block, skipped under causal masking).  Right: bytes each
    device sends per step, per layer.
    """
    if model not in PRESETS:
        raise ValueError(f"model must be one of {list(PRESETS)}, got {model!r}")
    plan = lc.ring_attention_plan(PRESETS[model], seq_len, n_devices, precision=precision, causal=causal)
    P = plan.n_devices
    panels = Panels(1, 2, ("KV block held (number) and work (colour)", "bytes each device sends, per layer (MB)"),
                    col_widths=[0.55, 0.45], hspace=0.12)
    work_names = np.array(["skipped (masked)", "diagonal (half masked)", "full block"])
    steps = [f"step {s}" for s in range(P)]
    data = [go.Heatmap(z=plan.work, x=[f"dev {d}" for d in range(P)], y=steps, text=plan.schedule,
                       texttemplate="%{text}" if P <= 16 else None, customdata=work_names[plan.work], zmin=0,
                       zmax=2, showscale=False, colorscale=[[0, "#EEEEEE"], [0.5, COLORS[5]], [1, COLORS[0]]],
                       hovertemplate="%{y}, %{x}: KV block %{text}<br>%{customdata}<extra></extra>",
                       **panels.ref(1, 1)),
            go.Bar(x=steps, y=plan.bytes_per_step / 1e6, marker_color=COLORS[2], name="sent", showlegend=False,
                   **panels.ref(1, 2))]
    panels.axis(1, 1, "y", autorange="reversed")
    fig = go.Figure(data=data, layout=panels.layout)
    total_model = plan.bytes_per_device * PRESETS[model].n_layers
    meta = dict(n_devices=P, seq_len=plan.seq_len, model=model, causal=causal, precision=precision,
                block_tokens=plan.block_tokens, kv_block_bytes=plan.kv_block_bytes,
                bytes_per_device=plan.bytes_per_device, total_bytes=plan.total_bytes,
                bytes_per_device_all_layers=total_model, skipped_blocks=int((plan.work == 0).sum()))
    title = (f"Ring attention, {model}, {plan.seq_len:,} tokens on {P} devices: blocks of {plan.block_tokens:,} "
             f"tokens; each device sends {plan.bytes_per_device / 1e6:,.1f} MB per layer "
             f"({total_model / 1e9:,.2f} GB over {PRESETS[model].n_layers} layers)")
    return apply_theme(fig, title, meta, height=440)


@register("ring_attention_explorer")
def ring_attention_explorer(**fixed) -> InteractiveFigure:
    """Devices, sequence length, model, causal masking, precision."""
    controls = {
        "n_devices": dropdown([1, 2, 4, 8, 16, 32], 4, "devices"),
        "seq_len": dropdown([32768, 131072, 1048576], 131072, "sequence (tokens)"),
        "model": dropdown(list(PRESETS), "LLaMA-2 70B", "model"),
        "causal": checkbox(True, "causal"),
        "precision": dropdown(["fp32", "bf16", "fp8"], "bf16", "precision"),
    }
    return InteractiveFigure(make_ring_attention_figure, controls, fixed=fixed, name="ring_attention_explorer")


def make_sink_experiment_figure(position_loss: Mapping[str, np.ndarray], bos_mass: np.ndarray,
                                train_len: int, window: int, n_sink: int) -> go.Figure:
    """Results of the sink experiment: loss against position, and attention mass on the first token.

    Args:
        position_loss: label -> ``(T-1,)`` mean next-token loss at each position (nats).
        bos_mass: ``(layers, heads)`` mean attention weight on position 0 (queries past the first few).
        train_len: the training length (drawn as a line).
        window, n_sink: the cache used (for the title).
    """
    if not position_loss:
        raise ValueError("position_loss must not be empty")
    bos_mass = np.asarray(bos_mass, dtype=float)
    panels = Panels(1, 2, ("next-token loss against position (nats, smoothed)",
                           "attention on the first token, per head"), col_widths=[0.66, 0.34], hspace=0.1)
    left = panels.ref(1, 1)
    data = []
    summary = {}
    for i, (label, loss) in enumerate(position_loss.items()):
        loss = np.asarray(loss, dtype=float)
        k = 8
        smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
        data.append(go.Scatter(x=np.arange(smooth.size) + k // 2, y=smooth, mode="lines", name=label,
                               line=dict(color=COLORS[i % len(COLORS)], width=2), **left))
        summary[label] = dict(within_training=float(loss[:train_len].mean()),
                              beyond_training=float(loss[train_len:].mean()) if loss.size > train_len else None)
    data.append(go.Heatmap(z=bos_mass, x=[f"head {h}" for h in range(bos_mass.shape[1])],
                           y=[f"layer {l}" for l in range(bos_mass.shape[0])], zmin=0, zmax=1,
                           colorscale="Oranges", text=bos_mass.round(2), texttemplate="%{text}",
                           colorbar=dict(title="mass", x=1.02), **panels.ref(1, 2)))
    panels.axis(1, 1, "x", title_text="position")
    panels.axis(1, 1, "y", title_text="loss")
    layout = dict(panels.layout)
    layout["shapes"] = [dict(type="line", xref=left["xaxis"], yref="y domain", x0=train_len, x1=train_len, y0=0,
                             y1=1, line=dict(color="#000000", dash="dash"))]
    layout["annotations"] = layout["annotations"] + [dict(x=train_len, y=1.0, xref=left["xaxis"], yref="y domain",
                                                          text="training length", showarrow=False,
                                                          xanchor="left")]
    fig = go.Figure(data=data, layout=layout)
    title = f"Sinks against a plain window (window {window}, {n_sink} sinks), trained on {train_len} tokens"
    apply_theme(fig, title, dict(summary=summary, bos_mass=bos_mass.round(4).tolist(), train_len=train_len,
                                 window=window, n_sink=n_sink), height=430)
    fig.update_layout(legend=dict(orientation="h", y=-0.2, x=0))
    return fig


def make_context_extension_figure(probes: Mapping[str, Mapping[str, np.ndarray]], train_len: int) -> go.Figure:
    """Answer accuracy and loss against the needle's position, one line per extended model.

    Args:
        probes: label -> a :func:`frontier.architecture.long_context.passkey_probe`
            result at one length (its first row is drawn).  A label that ends
            in "+ fine-tune" is drawn solid, others dashed; the method is the
            label's first word (``rope``, ``pi``, ``ntk``, ``yarn``).
        train_len: the pre-training length; needles before ``seq_len -
            train_len`` are further from the answer than any distance seen in
            pre-training (shaded).
    """
    if not probes:
        raise ValueError("probes must not be empty")
    train_len = positive_int("train_len", train_len)
    panels = Panels(1, 2, ("answer accuracy", "answer loss (nats)"), hspace=0.1)
    data, summary, seq_len = [], {}, None
    for label, probe in probes.items():
        T = int(np.atleast_1d(probe["seq_lens"])[0])
        seq_len = T if seq_len is None else seq_len
        if T != seq_len:
            raise ValueError(f"every probe must be at the same length; got {seq_len} and {T}")
        position = 1 + np.asarray(probe["depths"], dtype=float) * (T - 6)
        method = label.split()[0].lower()
        style = dict(color=METHOD_COLOURS.get(method, "#000000"), width=2,
                     dash="solid" if label.endswith("fine-tune") else "dash")
        for col, field in ((1, "accuracy"), (2, "loss")):
            data.append(go.Scatter(x=position, y=np.asarray(probe[field])[0], mode="lines+markers", name=label,
                                   legendgroup=label, showlegend=col == 1, line=style, **panels.ref(1, col)))
        summary[label] = dict(accuracy=float(np.mean(probe["accuracy"][0])), loss=float(np.mean(probe["loss"][0])))
    for c in (1, 2):
        panels.axis(1, c, "x", title_text=f"needle position in a {seq_len}-token sequence")
    layout = dict(panels.layout)
    far = seq_len - train_len
    layout["shapes"] = [dict(type="rect", xref=panels.ref(1, c)["xaxis"], yref=f"{panels.ref(1, c)['yaxis']} domain",
                             x0=0, x1=far, y0=0, y1=1, fillcolor="#BBBBBB", opacity=0.25, line=dict(width=0))
                        for c in (1, 2)]
    fig = go.Figure(data=data, layout=layout)
    apply_theme(fig, f"Extending a model trained on {train_len} tokens to {seq_len} (grey: farther than any "
                     "distance seen in pre-training)", dict(summary=summary, seq_len=seq_len, train_len=train_len),
                height=430)
    fig.update_layout(legend=dict(orientation="h", y=-0.25, x=0))
    return fig


def make_haystack_figure(probes: Mapping[str, Mapping[str, np.ndarray]], threshold: float = 0.9) -> go.Figure:
    """Needle-in-a-haystack heatmaps: accuracy by sequence length (rows) and needle depth (columns), per model.

    ``probes``: label -> a :func:`~frontier.architecture.long_context.passkey_probe`
    result over several lengths.  Each title gives the *effective context*
    (:func:`~frontier.architecture.long_context.effective_context` at ``threshold``).
    """
    if not probes:
        raise ValueError("probes must not be empty")
    effective = {label: lc.effective_context(p, threshold) for label, p in probes.items()}
    panels = Panels(1, len(probes), tuple(f"{label}: effective {effective[label]}" for label in probes), hspace=0.08)
    data = []
    for i, (label, p) in enumerate(probes.items()):
        acc = np.asarray(p["accuracy"], dtype=float)
        data.append(go.Heatmap(z=acc, x=[f"{d:.0%}" for d in p["depths"]], y=[str(t) for t in p["seq_lens"]],
                               zmin=0, zmax=1, colorscale="RdYlGn", text=acc.round(2), texttemplate="%{text}",
                               showscale=i == len(probes) - 1, **panels.ref(1, i + 1)))
    for i in range(len(probes)):
        panels.axis(1, i + 1, "x", title_text="needle depth")
    panels.axis(1, 1, "y", title_text="sequence length")
    fig = go.Figure(data=data, layout=dict(panels.layout))
    apply_theme(fig, f"Needle in a haystack: accuracy (effective context = longest length with >= {threshold:.0%} "
                     "at every depth)", dict(effective=effective, threshold=threshold), height=380)
    return fig
