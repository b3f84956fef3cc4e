"""Figures and widgets for section 3, multimodal models.

* :func:`make_patch_figure`           a photograph resized and cut into patches; the token count (controller)
* :func:`make_visual_tokens_figure`   visual tokens against resolution per patch size, published encoders marked
* :func:`make_token_budget_figure`    minutes of audio / video (and images) that fit in a context (controller)
* :func:`make_similarity_figure`      a caption x image similarity matrix and one caption's top images (controller)
* :func:`make_generation_figure`      digits sampled token by token for a class and temperature (controller)
* :func:`make_digit_grid_figure`      a grid of small grey images with labels
* :func:`make_training_figure`        a loss curve with a second quantity (temperature, accuracy) beside it
* :func:`make_ablation_figure`        VLM accuracy per question with the image, blanked, or its projector replaced
* :func:`make_stream_tokens_figure`   tokens against minutes of audio / video, with the context window
* :func:`make_table_cost_figure`      tokens of one table in three serialisations
* :func:`make_geo_figure`             sinusoidal-feature distance against great-circle distance
* :func:`make_codebook_figure`        reconstruction error of the image tokenizer against codebook size

Computation stays in :mod:`frontier.multimodal`; this module only draws.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable, Mapping, Optional, Sequence

import numpy as np
import plotly.graph_objects as go

from ..multimodal import budgets as _budgets
from ..multimodal.digits import DIGIT_WORDS, SAMPLE_IMAGES, class_captions, load_digit_split, sample_image
from ..multimodal.patches import patch_grid
from ..validation import choice, nonnegative_float, positive_float, positive_int
from ._panels import Panels
from .controller import InteractiveFigure, dropdown, log_slider, register, slider
from .theme import COLORS, themed_figure

__all__ = ["make_patch_figure", "patch_explorer", "make_visual_tokens_figure", "make_token_budget_figure",
           "token_budget_explorer", "make_similarity_figure", "similarity_explorer", "pixel_prototype_similarity",
           "make_generation_figure", "generation_explorer", "make_digit_grid_figure", "make_training_figure",
           "make_ablation_figure", "make_stream_tokens_figure", "make_table_cost_figure", "make_geo_figure",
           "make_codebook_figure"]

_GREY = [[0, "white"], [1, "black"]]


@lru_cache(maxsize=16)
def _resized(name: str, resolution: int) -> np.ndarray:
    from skimage.transform import resize

    img = sample_image(name)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    out = resize(img, (resolution, resolution), order=1, anti_aliasing=False, preserve_range=True)
    out = out.round().astype(np.uint8)
    out.setflags(write=False)
    return out


def make_patch_figure(image: str = "astronaut", patch: int = 14, resolution: int = 336) -> go.Figure:
    """A bundled photograph resized to ``resolution`` px square with the ``patch`` grid drawn over it.

    The title gives the grid and the number of visual tokens, ``ceil(resolution / patch)**2``;
    when ``patch`` does not divide ``resolution`` the last row and column are padded (shaded).
    ``layout.meta``: ``tokens``, ``grid``, ``padded`` (pixels of padding per side).
    """
    choice("image", image, SAMPLE_IMAGES)
    patch, resolution = positive_int("patch", patch), positive_int("resolution", resolution)
    if patch > resolution:
        raise ValueError(f"patch={patch} is larger than the image ({resolution} px)")
    gh, gw = patch_grid(resolution, resolution, patch, pad="constant")
    side = gh * patch
    shown = min(resolution, 256)                             # draw at most 256 px: the grid is what matters
    img = _resized(image, shown)
    xs, ys = [], []
    for i in range(gh + 1):                                  # grid lines as one trace: fast to draw
        xs += [0, side, None]
        ys += [i * patch, i * patch, None]
        xs += [i * patch, i * patch, None]
        ys += [0, side, None]
    pad = side - resolution
    data = [dict(type="image", z=img, dx=resolution / shown, dy=resolution / shown, hoverinfo="skip"),
            dict(type="scatter", x=xs, y=ys, mode="lines", line=dict(color="rgba(255,255,255,0.8)", width=1),
                 hoverinfo="skip", showlegend=False)]
    shapes = []
    if pad:
        shapes = [dict(type="rect", x0=resolution, x1=side, y0=0, y1=side, fillcolor="rgba(213,94,0,0.35)",
                       line_width=0),
                  dict(type="rect", x0=0, x1=resolution, y0=resolution, y1=side, fillcolor="rgba(213,94,0,0.35)",
                       line_width=0)]
    tokens = gh * gw
    title = (f"{image}: {resolution} x {resolution} px, patch {patch} -> {gh} x {gw} = {tokens:,} visual tokens"
             + (f"<br><sub>{pad} px of padding on the right and bottom (shaded)</sub>" if pad else ""))
    layout = dict(xaxis=dict(range=[0, side], showgrid=False, visible=False, constrain="domain"),
                  yaxis=dict(range=[side, 0], showgrid=False, visible=False, scaleanchor="x"),
                  shapes=shapes, margin=dict(l=10, r=10, t=70, b=10))
    return themed_figure(data, layout, title, meta={"tokens": tokens, "grid": [gh, gw], "padded": pad,
                                                    "image": image, "patch": patch, "resolution": resolution},
                         height=480)


@register("multimodal_patches")
def patch_explorer(**fixed) -> InteractiveFigure:
    """Image, patch size and resolution controls on :func:`make_patch_figure`."""
    controls = {"image": dropdown(list(SAMPLE_IMAGES), "astronaut", "image"),
                "patch": slider(14, 4, 64, 1, "patch (px)"),
                "resolution": slider(336, 56, 1008, 28, "resolution (px)")}
    return InteractiveFigure(make_patch_figure, controls, fixed=fixed, name="multimodal_patches")


def make_visual_tokens_figure(patches: Sequence[int] = (14, 16, 32), resolutions: Sequence[int] = tuple(range(112, 1009, 28)),
                              marks: Optional[Mapping[str, tuple]] = None) -> go.Figure:
    """Visual tokens ``(r / p)**2`` against resolution ``r`` for each patch size ``p`` (log y), with published
    encoders marked: ``marks`` is ``{label: (resolution, tokens)}`` (default :func:`~frontier.multimodal.budgets.encoder_tokens`)."""
    res = np.asarray(resolutions, dtype=float)
    data = []
    for i, p in enumerate(patches):
        p = positive_int("patch", p)
        data.append(dict(type="scatter", x=res, y=np.ceil(res / p) ** 2, mode="lines", name=f"patch {p}",
                         line=dict(color=COLORS[i % len(COLORS)])))
    if marks is None:
        marks = {e.name: (e.image_size, e.tokens) for e in _budgets.encoder_tokens().values()}
    for j, (label, (r, t)) in enumerate(marks.items()):
        data.append(dict(type="scatter", x=[r], y=[t], mode="markers+text", text=[f"{label}: {t:,}"],
                         textposition="top left" if j % 2 else "bottom right", name=label, showlegend=False,
                         marker=dict(size=10, color="black", symbol="diamond")))
    layout = dict(xaxis=dict(title=dict(text="image side (px)")),
                  yaxis=dict(title=dict(text="visual tokens per image"), type="log"))
    return themed_figure(data, layout, "Visual tokens grow with the square of resolution / patch",
                         meta={"patches": list(patches)}, height=460)


def make_token_budget_figure(context: int = 128_000, reserved: int = 2_000, sample_rate: int = 16_000,
                             hop: int = 160, stride: int = 2, fps: float = 1.0, tokens_per_frame: int = 256,
                             temporal_pool: int = 1, image_tokens: int = 576) -> go.Figure:
    """How much of each modality fits in ``context`` tokens with ``reserved`` left for text.

    Audio: ``sample_rate / hop / stride`` tokens per second (Whisper: 16,000 / 160 / 2 = 50).
    Video: ``fps * tokens_per_frame / temporal_pool`` tokens per second.
    Images: ``image_tokens`` each.  Bars give minutes of audio and video and
    the number of images; ``layout.meta`` has the rates and amounts.
    """
    context = positive_int("context", int(round(positive_float("context", context))))   # sliders give floats
    reserved = int(nonnegative_float("reserved", reserved))
    if reserved >= context:
        raise ValueError(f"reserved ({reserved}) must be below the context ({context})")
    audio_tps = _budgets.audio_tokens(60.0, sample_rate=sample_rate, hop=hop, stride=stride) / 60.0
    video_tps = _budgets.video_tokens(60.0, fps, tokens_per_frame, temporal_pool=temporal_pool) / 60.0
    image_tokens = positive_int("image_tokens", image_tokens)
    audio_min = _budgets.seconds_that_fit(context, audio_tps, reserved) / 60
    video_min = _budgets.seconds_that_fit(context, video_tps, reserved) / 60
    n_images = (context - reserved) // image_tokens
    labels = [f"audio ({audio_tps:,.1f} tok/s)", f"video ({video_tps:,.1f} tok/s)"]
    data = [dict(type="bar", x=[audio_min, video_min], y=labels, orientation="h",
                 marker=dict(color=[COLORS[0], COLORS[1]]), text=[f"{audio_min:,.1f} min", f"{video_min:,.1f} min"],
                 textposition="auto", name="minutes", hovertemplate="%{y}: %{x:,.1f} minutes<extra></extra>")]
    title = (f"In {context:,} tokens ({reserved:,} kept for text): {audio_min:,.1f} min of audio, "
             f"{video_min:,.1f} min of video, or {n_images:,} images of {image_tokens:,} tokens")
    layout = dict(xaxis=dict(title=dict(text="minutes that fit"), type="log"), yaxis=dict(automargin=True),
                  margin=dict(l=170, r=20, t=70, b=50))
    meta = {"audio_tokens_per_second": audio_tps, "video_tokens_per_second": video_tps, "audio_minutes": audio_min,
            "video_minutes": video_min, "images": int(n_images), "context": context}
    return themed_figure(data, layout, title, meta=meta, height=320)


@register("multimodal_token_budget")
def token_budget_explorer(**fixed) -> InteractiveFigure:
    """Context, audio (sample rate, hop, stride) and video (fps, tokens per frame, pooling) controls."""
    controls = {"context": log_slider(128_000, 3, 7, 0.05, "context (tokens)", fmt=",.0f"),
                "sample_rate": dropdown([8_000, 16_000, 24_000, 44_100], 16_000, "sample rate (Hz)"),
                "hop": slider(160, 80, 640, 20, "hop (samples)"),
                "stride": slider(2, 1, 8, 1, "encoder stride"),
                "fps": slider(1.0, 0.25, 8.0, 0.25, "video fps"),
                "tokens_per_frame": slider(256, 16, 2304, 16, "tokens per frame"),
                "temporal_pool": slider(1, 1, 8, 1, "temporal pooling")}
    return InteractiveFigure(make_token_budget_figure, controls, fixed=fixed, name="multimodal_token_budget")


def make_digit_grid_figure(images, labels: Sequence[str] = (), cols: int = 10, title: str = "",
                           height: Optional[int] = None) -> go.Figure:
    """Small grey images ``(N, h, w)`` (values in [0, 1], 1 = ink) tiled ``cols`` per row in one heatmap, labelled."""
    arr = np.asarray(images, dtype=float)
    if arr.ndim != 3 or arr.shape[0] == 0:
        raise ValueError(f"images must have shape (N, h, w), got {arr.shape}")
    cols = positive_int("cols", cols)
    n, h, w = arr.shape
    rows = -(-n // cols)
    canvas = np.full((rows * (h + 1), cols * (w + 1)), np.nan)
    for i in range(n):
        r, c = divmod(i, cols)
        canvas[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = arr[i]
    ann = [dict(x=(i % cols) * (w + 1) + (w - 1) / 2, y=(i // cols) * (h + 1) - 0.9, text=str(t), showarrow=False,
                font=dict(size=10)) for i, t in enumerate(labels)]
    data = [dict(type="heatmap", z=canvas, colorscale=_GREY, zmin=0, zmax=1, showscale=False, hoverinfo="skip")]
    layout = dict(xaxis=dict(visible=False, showgrid=False), annotations=ann,
                  yaxis=dict(visible=False, showgrid=False, autorange="reversed", scaleanchor="x"),
                  margin=dict(l=10, r=10, t=60, b=10))
    return themed_figure(data, layout, title, meta={"n": n}, height=height or 90 + 60 * rows)


def pixel_prototype_similarity(n_images: int = 40, seed: int = 0):
    """A training-free stand-in for a CLIP similarity matrix: cosine similarity between held-out digit images and
    the mean training image of each class, each class named by its caption "a handwritten {word}".

    Returns ``(similarity (10, N), images (N, 8, 8), captions (10,), labels (N,))``.
    """
    d = load_digit_split(seed=seed)
    protos = np.stack([d.train_images[d.train_labels == k].mean(0).ravel() for k in range(10)])
    imgs = d.test_images[:positive_int("n_images", n_images)]
    x = imgs.reshape(len(imgs), -1)
    sim = (protos / np.linalg.norm(protos, axis=1, keepdims=True)) @ (x / np.linalg.norm(x, axis=1, keepdims=True)).T
    return sim, imgs, class_captions("a handwritten {word}"), d.test_labels[:len(imgs)]


def make_similarity_figure(similarity, images, captions: Sequence[str], caption: int = 0, top: int = 8,
                           labels: Optional[Sequence[int]] = None, source: str = "") -> go.Figure:
    """Left: the ``(Q, N)`` caption x image similarity matrix.  Right: caption ``caption``'s ``top`` images, best first.

    ``labels`` (the images' digits) mark each retrieved image correct or not
    when a caption names one digit; ``layout.meta`` has ``ranked`` (image
    indices) and ``precision`` (fraction of the top images whose digit word is in the caption).
    """
    s = np.asarray(similarity, dtype=float)
    imgs = np.asarray(images, dtype=float)
    if s.ndim != 2 or imgs.ndim != 3 or s.shape[1] != imgs.shape[0] or s.shape[0] != len(captions):
        raise ValueError(f"similarity must be (len(captions), N) for N images, got {s.shape}, "
                         f"{len(captions)} captions and images {imgs.shape}")
    q = int(caption)
    if not 0 <= q < s.shape[0]:
        raise ValueError(f"caption must index one of the {s.shape[0]} captions, got {caption}")
    top = min(positive_int("top", top), s.shape[1])
    ranked = np.argsort(-s[q], kind="stable")[:top]
    h, w = imgs.shape[1:]
    strip = np.full((h, top * (w + 1)), np.nan)
    for i, j in enumerate(ranked):
        strip[:, i * (w + 1):i * (w + 1) + w] = imgs[j]
    pan = Panels(1, 2, titles=("similarity (caption x image)", f"top {top} for: \"{captions[q]}\""),
                 col_widths=(0.45, 0.55), hspace=0.12)
    data = [dict(type="heatmap", z=s, y=list(captions), colorscale="Viridis", showscale=False,
                 hovertemplate="%{y}<br>image %{x}: %{z:.2f}<extra></extra>", **pan.ref(1, 1)),
            dict(type="heatmap", z=strip, colorscale=_GREY, zmin=0, zmax=1, showscale=False, hoverinfo="skip",
                 **pan.ref(1, 2))]
    layout = dict(pan.layout)
    layout["xaxis"] = {**layout["xaxis"], "title": dict(text="image")}
    layout["yaxis"] = {**layout["yaxis"], "autorange": "reversed", "tickfont": dict(size=10)}
    layout["xaxis2"] = {**layout["xaxis2"], "visible": False, "showgrid": False}
    layout["yaxis2"] = {**layout["yaxis2"], "visible": False, "showgrid": False, "autorange": "reversed",
                        "scaleanchor": "x2"}
    layout["shapes"] = [dict(type="rect", xref="x", yref="y", x0=-0.5, x1=s.shape[1] - 0.5, y0=q - 0.5, y1=q + 0.5,
                             line=dict(color="red", width=2))]
    precision = None
    if labels is not None:
        lab = np.asarray(labels)
        words = set(captions[q].split())
        ok = [DIGIT_WORDS[int(lab[j])] in words for j in ranked]
        precision = float(np.mean(ok)) if any(w_ in words for w_ in DIGIT_WORDS) else None
        for i, good in enumerate(ok):
            layout["annotations"].append(dict(x=i * (w + 1) + (w - 1) / 2, y=h + 0.6, xref="x2", yref="y2",
                                              text="✓" if good else "✗", showarrow=False,
                                              font=dict(color=COLORS[2] if good else COLORS[3], size=14)))
    title = "Which images does a caption retrieve?" + (f" <sub>({source})</sub>" if source else "")
    if precision is not None:
        title += f"<br><sub>precision@{top} for this caption: {precision:.2f}</sub>"
    return themed_figure(data, layout, title, meta={"ranked": ranked.tolist(), "precision": precision,
                                                    "caption": captions[q]}, height=440)


@register("multimodal_clip_similarity")
def similarity_explorer(similarity=None, images=None, captions: Optional[Sequence[str]] = None, labels=None,
                        source: str = "", **fixed) -> InteractiveFigure:
    """A caption dropdown on :func:`make_similarity_figure` (default: the pixel-prototype baseline, no training)."""
    if similarity is None:
        similarity, images, captions, labels = pixel_prototype_similarity()
        source = source or "pixel-prototype baseline, no training"
    controls = {"caption": dropdown([(c, i) for i, c in enumerate(captions)], 0, "caption"),
                "top": slider(8, 1, 16, 1, "top images")}
    return InteractiveFigure(make_similarity_figure, controls,
                             fixed={"similarity": np.asarray(similarity), "images": np.asarray(images),
                                    "captions": list(captions), "labels": labels, "source": source, **fixed},
                             name="multimodal_clip_similarity")


def make_generation_figure(sampler: Callable[..., np.ndarray], decode: Callable[[np.ndarray], np.ndarray],
                           digit: int = 3, temperature: float = 1.0, seed: int = 0, n: int = 10,
                           source: str = "") -> go.Figure:
    """``n`` images of class ``digit`` sampled token by token by ``sampler(digits, temperature=, seed=)`` (codes
    ``(n, 16)``) and turned into pixels by ``decode``."""
    if not 0 <= int(digit) <= 9:
        raise ValueError(f"digit must be in 0..9, got {digit}")
    temperature = nonnegative_float("temperature", temperature)
    n = positive_int("n", n)
    codes = sampler([int(digit)] * n, temperature=temperature, seed=int(seed))
    images = decode(codes)
    distinct = len({tuple(r) for r in np.asarray(codes).tolist()})
    title = (f"\"{DIGIT_WORDS[int(digit)]}\" sampled at temperature {temperature:g} (seed {seed}): "
             f"{distinct} distinct token sequences of {n}" + (f"<br><sub>{source}</sub>" if source else ""))
    fig = make_digit_grid_figure(images, cols=n, title=title, height=200)
    fig.layout.meta = {"digit": int(digit), "temperature": temperature, "distinct": distinct, "seed": int(seed)}
    return fig


@lru_cache(maxsize=1)
def _default_generator():
    from ..multimodal.codebook import PatchCodebook, PositionalCodeModel

    d = load_digit_split()
    cb = PatchCodebook(32, seed=0).fit(d.train_images)
    model = PositionalCodeModel(32).fit(cb.encode(d.train_images), d.train_labels)
    return model.sample, cb.decode


@register("multimodal_generation")
def generation_explorer(sampler: Optional[Callable] = None, decode: Optional[Callable] = None, source: str = "",
                        **fixed) -> InteractiveFigure:
    """Class, temperature and seed controls on :func:`make_generation_figure` (default: a count-based positional
    model over a 32-code codebook, no training; pass the trained TinyLM's sampler)."""
    if sampler is None or decode is None:
        sampler, decode = _default_generator()
        source = source or "count-based positional model (each token independent given the class)"
    controls = {"digit": slider(3, 0, 9, 1, "digit"), "temperature": slider(1.0, 0.0, 2.0, 0.1, "temperature"),
                "seed": slider(0, 0, 20, 1, "seed")}
    return InteractiveFigure(make_generation_figure, controls,
                             fixed={"sampler": sampler, "decode": decode, "source": source, **fixed},
                             name="multimodal_generation")


def make_training_figure(log: Mapping[str, object], second: str = "temperature", title: str = "") -> go.Figure:
    """Loss against step (left) and one logged metric ``second`` against step (right), from a training log dict."""
    steps = np.asarray(log["step"])
    loss = np.asarray(log["loss"], dtype=float)
    metric = np.array([m.get(second, np.nan) for m in log.get("metrics", [])], dtype=float)
    pan = Panels(1, 2, titles=("loss (nats)", second), hspace=0.1)
    data = [dict(type="scatter", x=steps, y=loss, mode="lines", line=dict(color=COLORS[0]), name="loss",
                 **pan.ref(1, 1))]
    if metric.size == steps.size:
        data.append(dict(type="scatter", x=steps, y=metric, mode="lines", line=dict(color=COLORS[1]), name=second,
                         **pan.ref(1, 2)))
    layout = dict(pan.layout)
    layout["xaxis"] = {**layout["xaxis"], "title": dict(text="step")}
    layout["xaxis2"] = {**layout["xaxis2"], "title": dict(text="step")}
    return themed_figure(data, layout, title or "Training", meta={"final_loss": float(loss[-1])}, height=340)


def make_ablation_figure(results: Mapping[str, Mapping[str, float]], baseline: Mapping[str, float],
                         chance: Optional[Mapping[str, float]] = None) -> go.Figure:
    """Grouped bars: accuracy per question kind (x) for each condition (``results``: condition -> kind -> accuracy),
    with the text-only ``baseline`` per kind drawn as black dashes."""
    if not results:
        raise ValueError("results must not be empty")
    kinds = [k for k in next(iter(results.values())) if k != "mean"] + ["mean"]
    data = [dict(type="bar", x=kinds, y=[r.get(k, np.nan) for k in kinds], name=name,
                 marker=dict(color=COLORS[i % len(COLORS)]),
                 hovertemplate=f"{name}<br>%{{x}}: %{{y:.2f}}<extra></extra>")
            for i, (name, r) in enumerate(results.items())]
    data.append(dict(type="scatter", x=kinds, y=[baseline.get(k, np.nan) for k in kinds], mode="markers",
                     name="text-only baseline", marker=dict(symbol="line-ew-open", size=40, color="black",
                                                            line=dict(width=3))))
    layout = dict(barmode="group", yaxis=dict(title=dict(text="accuracy on held-out digits"), range=[0, 1.05]),
                  xaxis=dict(title=dict(text="question")))
    fig = themed_figure(data, layout, "Does the model use the image? Accuracy with the image and without it",
                        meta={"conditions": list(results)}, height=420)
    fig.update_layout(legend=dict(orientation="h", x=0, y=-0.2))
    return fig


def make_stream_tokens_figure(rates: Mapping[str, float], context: int = 128_000, minutes: float = 60.0,
                              whisper_windows: bool = True) -> go.Figure:
    """Tokens against minutes of a stream for each ``{label: tokens per second}``, with the ``context`` line.

    With ``whisper_windows`` a step curve shows Whisper's padding to 30-s windows (1,500 tokens each).
    ``layout.meta["minutes_in_context"]`` gives, per label, the minutes that fit.
    """
    context = positive_int("context", context)
    minutes = positive_float("minutes", minutes)
    t = np.linspace(0, minutes, 241)
    data, fit = [], {}
    for i, (label, tps) in enumerate(rates.items()):
        tps = positive_float(f"rate of {label}", tps)
        data.append(dict(type="scatter", x=t, y=t * 60 * tps, mode="lines", name=f"{label} ({tps:,.0f}/s)",
                         line=dict(color=COLORS[i % len(COLORS)])))
        fit[label] = context / tps / 60
    if whisper_windows:
        windows = np.ceil(np.maximum(t * 60, 1e-9) / _budgets.WHISPER_WINDOW_S)
        data.append(dict(type="scatter", x=t, y=windows * 1500, mode="lines", name="Whisper, 30-s windows",
                         line=dict(color="gray", dash="dot", shape="hv")))
    data.append(dict(type="scatter", x=[0, minutes], y=[context, context], mode="lines", name=f"context {context:,}",
                     line=dict(color="black", dash="dash")))
    layout = dict(xaxis=dict(title=dict(text="minutes of audio or video")),
                  yaxis=dict(title=dict(text="tokens"), type="log"))
    return themed_figure(data, layout, f"How fast streams fill a {context:,}-token context",
                         meta={"minutes_in_context": fit}, height=420)


def make_table_cost_figure(costs: Mapping[str, Mapping[str, float]], title: str = "") -> go.Figure:
    """Bars of tokens per serialisation (``costs`` from :func:`frontier.multimodal.structured.serialization_costs`)."""
    names = list(costs)
    data = [dict(type="bar", x=names, y=[costs[n]["tokens"] for n in names], marker=dict(color=COLORS[0]),
                 text=[f"{costs[n]['tokens']:,} ({costs[n]['tokens_per_cell']:.1f}/cell)" for n in names],
                 textposition="auto", name="tokens")]
    layout = dict(yaxis=dict(title=dict(text="tokens")), xaxis=dict(title=dict(text="serialisation")))
    return themed_figure(data, layout, title or "One table, three serialisations, three token bills",
                         meta={n: costs[n]["tokens"] for n in names}, height=360)


def make_geo_figure(km, feature_distance, n_frequencies: int) -> go.Figure:
    """Scatter of feature-space distance against great-circle distance (km) for pairs of places."""
    km, fd = np.asarray(km, float), np.asarray(feature_distance, float)
    if km.shape != fd.shape or km.ndim != 1:
        raise ValueError("km and feature_distance must be 1-D arrays of one length")
    data = [dict(type="scattergl", x=km, y=fd, mode="markers", marker=dict(size=4, color=COLORS[0], opacity=0.5),
                 name="pairs of places")]
    layout = dict(xaxis=dict(title=dict(text="great-circle distance (km)")),
                  yaxis=dict(title=dict(text="distance between sinusoidal features")))
    corr = float(np.corrcoef(km, fd)[0, 1]) if km.size > 1 else float("nan")
    return themed_figure(data, layout, f"Near places get near features ({n_frequencies} scales; "
                         f"correlation {corr:.2f})", meta={"correlation": corr}, height=400)


def make_codebook_figure(curve: Mapping[int, float]) -> go.Figure:
    """Held-out reconstruction MSE against codebook size (log-log)."""
    ks = sorted(curve)
    data = [dict(type="scatter", x=ks, y=[curve[k] for k in ks], mode="lines+markers", marker=dict(color=COLORS[2]),
                 name="held-out MSE")]
    layout = dict(xaxis=dict(title=dict(text="codebook size K (codes)"), type="log"),
                  yaxis=dict(title=dict(text="reconstruction MSE (pixels in [0, 1])"), type="log"))
    return themed_figure(data, layout, "What the image tokenizer alone loses, against codebook size",
                         meta={"curve": {int(k): float(curve[k]) for k in ks}}, height=380)
