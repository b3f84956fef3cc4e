"""How many tokens an image, a clip of audio or a video costs a multimodal model.

Every function returns a count of positions in the language model's context
(what the KV cache stores and prefill computes), from the published
preprocessing of each encoder.  Sources (checked in the code, not only the
papers; ``shared/reference/facts.md`` section 13):

* **ViT / CLIP.** ``(side / patch)**2`` patches plus one CLS token
  (Radford et al. 2021, openai/CLIP ``model.py``): CLIP ViT-L/14 at 224 px
  has 16 x 16 = 256 patches, at 336 px 24 x 24 = 576.
* **LLaVA-1.5** feeds the 576 patch features of CLIP ViT-L/14-336 from the
  penultimate layer and drops the CLS token (haotian-liu/LLaVA
  ``llava/model/multimodal_encoder/clip_encoder.py``, ``select_feature='patch'``).
  A ViT run natively at 672 px would give 48 x 48 = 2,304.
* **LLaVA-NeXT (1.6) AnyRes** picks the grid of 336-px tiles that best fits
  the image from ``image_grid_pinpoints``, encodes every tile and a
  downscaled overview: a 672 x 672 image is 2 x 2 tiles + 1 overview =
  4 x 576 + 576 = 2,880 (Liu et al. 2024, "LLaVA-NeXT" blog; the counting
  in the paper).  Hugging Face's ``LlavaNextProcessor`` also appends one
  ``image_newline`` token per row of the tiled feature map and crops
  padding ("unpad"): pass ``newline=True`` for that count (2,928 here).
* **Qwen2-VL** (Wang et al. 2024, arXiv 2409.12191) keeps the aspect ratio:
  ``smart_resize`` rounds each side to a multiple of 28 (patch 14 x merge 2)
  and scales the image into ``[min_pixels, max_pixels]``; a 2 x 2 merger then
  turns four 14-px patches into one token, so tokens = ``(h/28) * (w/28)``.
  Defaults from QwenLM ``qwen-vl-utils`` ``vision_process.py``:
  ``min_pixels = 4*28*28``, ``max_pixels = 16384*28*28`` (4 to 16,384 tokens).
* **Whisper** (Radford et al. 2022; openai/whisper ``audio.py``,
  ``model.py``): 16 kHz audio, STFT hop of 160 samples -> 100 mel frames per
  second, 3,000 frames per 30-s window; the encoder's second convolution has
  stride 2 -> 1,500 positions per 30 s = 50 per second.  Whisper always pads
  to whole 30-s windows.
* **Video**: frames sampled per second x tokens per frame, divided by
  temporal pooling (Qwen2-VL merges 2 consecutive frames, its
  ``temporal_patch_size = 2``) and spatial pooling.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Sequence, Tuple

from ..validation import nonnegative_float, positive_float, positive_int

__all__ = [
    "vit_tokens", "llava15_tokens", "anyres_tokens", "select_best_resolution", "LLAVA_NEXT_PINPOINTS",
    "smart_resize", "qwen2vl_tokens", "audio_frames", "audio_tokens", "whisper_tokens", "video_tokens",
    "seconds_that_fit", "Encoder", "encoder_tokens",
    "WHISPER_SAMPLE_RATE", "WHISPER_HOP", "WHISPER_WINDOW_S", "WHISPER_STRIDE",
]

WHISPER_SAMPLE_RATE = 16_000   #: samples per second (openai/whisper audio.py SAMPLE_RATE)
WHISPER_HOP = 160              #: STFT hop in samples (HOP_LENGTH) -> 100 frames per second
WHISPER_WINDOW_S = 30          #: seconds per window (CHUNK_LENGTH): 3,000 frames
WHISPER_STRIDE = 2             #: stride of the encoder's second convolution (model.py conv2)

#: LLaVA-NeXT's ``image_grid_pinpoints`` for the 336-px encoder (llava-v1.6 configs): (height, width) pixels.
LLAVA_NEXT_PINPOINTS: Tuple[Tuple[int, int], ...] = ((336, 672), (672, 336), (672, 672), (1008, 336), (336, 1008))


def vit_tokens(image_size, patch: int, *, cls_token: bool = True) -> int:
    """Positions a ViT produces for a square image of ``image_size`` pixels (or an ``(H, W)`` pair).

    ``(H / patch) * (W / patch)`` patches (both sides must be multiples of
    ``patch``), plus one CLS token when ``cls_token``.  CLIP ViT-L/14 at 224
    px: 256 patches (+1 CLS = 257); at 336 px: 576 (+1 = 577).
    """
    h, w = _size(image_size)
    patch = positive_int("patch", patch)
    if patch > min(h, w):
        raise ValueError(f"patch={patch} is larger than the image ({h}x{w})")
    if h % patch or w % patch:
        raise ValueError(f"image of {h}x{w} pixels is not a multiple of patch={patch}")
    return (h // patch) * (w // patch) + (1 if cls_token else 0)


def llava15_tokens(image_size: int = 336, patch: int = 14) -> int:
    """Visual tokens LLaVA-1.5 puts in the prompt: the patch features of CLIP ViT-L/14, CLS dropped (576 at 336 px)."""
    return vit_tokens(image_size, patch, cls_token=False)


def select_best_resolution(height: int, width: int,
                           pinpoints: Sequence[Tuple[int, int]] = LLAVA_NEXT_PINPOINTS) -> Tuple[int, int]:
    """The ``(height, width)`` in ``pinpoints`` that LLaVA-NeXT's AnyRes chooses for an image.

    As in LLaVA's ``mm_utils.select_best_resolution``: scale the image to fit
    each candidate (keeping its aspect ratio); keep the candidate with the
    most effective pixels (``min(scaled pixels, original pixels)``), ties
    broken by the least wasted area.
    """
    height, width = positive_int("height", height), positive_int("width", width)
    best, best_eff, best_waste = None, -1.0, math.inf
    for ch, cw in pinpoints:
        scale = min(cw / width, ch / height)
        sw, sh = int(width * scale), int(height * scale)
        eff = min(sw * sh, width * height)
        waste = cw * ch - eff
        if eff > best_eff or (eff == best_eff and waste < best_waste):
            best, best_eff, best_waste = (int(ch), int(cw)), eff, waste
    return best


def anyres_tokens(height: int = 672, width: int = 672, *, tile: int = 336, patch: int = 14,
                  pinpoints: Sequence[Tuple[int, int]] = LLAVA_NEXT_PINPOINTS, newline: bool = False) -> int:
    """Visual tokens of LLaVA-NeXT's any-resolution scheme for an ``height x width`` image.

    ``tiles * (tile/patch)**2 + (tile/patch)**2``: the tiles of the grid
    :func:`select_best_resolution` picks, plus a downscaled overview of the
    whole image.  672 x 672 -> 2 x 2 tiles -> 4 x 576 + 576 = 2,880.

    ``newline=True`` counts as Hugging Face's ``LlavaNextProcessor`` does:
    the tiled feature map is cropped to the image's aspect ratio ("unpad")
    and one newline token is appended per row (672 x 672: 2,304 + 48 + 576 =
    2,928).
    """
    height, width = positive_int("height", height), positive_int("width", width)
    tile, patch = positive_int("tile", tile), positive_int("patch", patch)
    if tile % patch:
        raise ValueError(f"tile={tile} must be a multiple of patch={patch}")
    side = tile // patch
    ch, cw = select_best_resolution(height, width, pinpoints)
    rows, cols = ch // tile, cw // tile
    base = side * side
    if not newline:
        return rows * cols * base + base
    fh, fw = rows * side, cols * side                   # the tiled feature map, then "unpad" as HF does
    if width / height > fw / fh:
        new_h = int(round(height * (fw / width), 7))
        pad = (fh - new_h) // 2
        fh = fh - 2 * pad
    else:
        new_w = int(round(width * (fh / height), 7))
        pad = (fw - new_w) // 2
        fw = fw - 2 * pad
    return fh * fw + fh + base


def smart_resize(height: int, width: int, *, factor: int = 28, min_pixels: int = 4 * 28 * 28,
                 max_pixels: int = 16384 * 28 * 28) -> Tuple[int, int]:
    """Qwen2-VL's resize: ``(h, w)`` multiples of ``factor`` near the image's size, pixels within bounds.

    Each side is rounded to the nearest multiple of ``factor``; if the area
    is then above ``max_pixels`` (below ``min_pixels``) both sides are
    scaled by one factor ``beta`` and floored (ceiled) to multiples of
    ``factor``.  Raises for aspect ratios above 200, as the original does.
    """
    height, width = positive_int("height", height), positive_int("width", width)
    factor = positive_int("factor", factor)
    min_pixels, max_pixels = positive_int("min_pixels", min_pixels), positive_int("max_pixels", max_pixels)
    if min_pixels > max_pixels:
        raise ValueError(f"min_pixels ({min_pixels}) must not exceed max_pixels ({max_pixels})")
    if max(height, width) / min(height, width) > 200:
        raise ValueError(f"aspect ratio must be at most 200, got {max(height, width) / min(height, width):.1f}")
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return h, w


def qwen2vl_tokens(height: int, width: int, *, patch: int = 14, merge: int = 2,
                   min_pixels: int = 4 * 28 * 28, max_pixels: int = 16384 * 28 * 28) -> int:
    """Visual tokens Qwen2-VL gives an ``height x width`` image: ``(h / (patch*merge)) * (w / (patch*merge))``
    after :func:`smart_resize` (a 672 x 672 image: 24 x 24 = 576; 1,000 x 500: 36 x 18 = 648)."""
    patch, merge = positive_int("patch", patch), positive_int("merge", merge)
    f = patch * merge
    h, w = smart_resize(height, width, factor=f, min_pixels=min_pixels, max_pixels=max_pixels)
    return (h // f) * (w // f)


def audio_frames(seconds: float, sample_rate: int = WHISPER_SAMPLE_RATE, hop: int = WHISPER_HOP) -> int:
    """Spectrogram frames for ``seconds`` of audio: ``round(seconds * sample_rate) // hop`` (Whisper: 100 per second).

    Whisper's STFT is centred and its last frame is dropped, so 30 s give
    exactly 480,000 / 160 = 3,000 frames.
    """
    seconds = nonnegative_float("seconds", seconds)
    sample_rate, hop = positive_int("sample_rate", sample_rate), positive_int("hop", hop)
    return int(round(seconds * sample_rate)) // hop


def audio_tokens(seconds: float, *, sample_rate: int = WHISPER_SAMPLE_RATE, hop: int = WHISPER_HOP,
                 stride: int = WHISPER_STRIDE, window_s: float = 0.0) -> int:
    """Encoder positions (tokens) for ``seconds`` of audio: ``ceil(frames / stride)``.

    ``window_s > 0`` pads the audio to whole windows first, as Whisper does
    with its 30-s windows (a 10-s clip still costs 1,500 positions).
    Whisper (the defaults, ``window_s=30``): 1,500 per 30 s, 50 per second.
    """
    seconds = nonnegative_float("seconds", seconds)
    stride = positive_int("stride", stride)
    window_s = nonnegative_float("window_s", window_s)
    if window_s > 0:
        seconds = max(1, math.ceil(seconds / window_s - 1e-12)) * window_s
    return -(-audio_frames(seconds, sample_rate, hop) // stride)


def whisper_tokens(seconds: float) -> int:
    """Whisper's encoder positions for ``seconds`` of audio, padded to 30-s windows (1,500 per window)."""
    return audio_tokens(seconds, window_s=WHISPER_WINDOW_S)


def video_tokens(seconds: float, fps: float, tokens_per_frame: int, *, temporal_pool: int = 1,
                 spatial_pool: int = 1) -> int:
    """Tokens for ``seconds`` of video sampled at ``fps`` frames per second.

    ``frames = floor(seconds * fps)`` (at least 1); groups of
    ``temporal_pool`` consecutive frames share one set of tokens
    (``ceil(frames / temporal_pool)`` groups); ``spatial_pool`` merges that
    many tokens of a frame into one (``ceil(tokens_per_frame / spatial_pool)``).
    """
    seconds = positive_float("seconds", seconds)
    fps = positive_float("fps", fps)
    tpf = positive_int("tokens_per_frame", tokens_per_frame)
    tp, sp = positive_int("temporal_pool", temporal_pool), positive_int("spatial_pool", spatial_pool)
    frames = max(1, math.floor(seconds * fps + 1e-9))
    return -(-frames // tp) * -(-tpf // sp)


def seconds_that_fit(context: int, tokens_per_second: float, reserved: int = 0) -> float:
    """Seconds of a stream at ``tokens_per_second`` that fit in ``context`` tokens with ``reserved`` kept for text."""
    context = positive_int("context", context)
    tps = positive_float("tokens_per_second", tokens_per_second)
    reserved = int(nonnegative_float("reserved", reserved))
    if reserved > context:
        raise ValueError(f"reserved ({reserved}) exceeds the context ({context})")
    return (context - reserved) / tps


@dataclass(frozen=True)
class Encoder:
    """A published image encoder's token count at its input resolution (``tokens``) and where it comes from."""

    name: str
    image_size: int
    patch: int
    tokens: int
    source: str


def encoder_tokens() -> Dict[str, Encoder]:
    """The published counts this module reproduces, computed by its functions (a table for lessons)."""
    return {e.name: e for e in (
        Encoder("CLIP ViT-L/14 @224", 224, 14, vit_tokens(224, 14, cls_token=False), "openai/CLIP"),
        Encoder("LLaVA-1.5 (ViT-L/14 @336)", 336, 14, llava15_tokens(336), "haotian-liu/LLaVA clip_encoder.py"),
        Encoder("ViT-L/14 native @672", 672, 14, vit_tokens(672, 14, cls_token=False), "(672/14)^2"),
        Encoder("LLaVA-NeXT AnyRes 672x672", 672, 14, anyres_tokens(672, 672), "LLaVA-NeXT, 4 tiles + overview"),
        Encoder("Qwen2-VL 672x672", 672, 14, qwen2vl_tokens(672, 672), "QwenLM qwen-vl-utils smart_resize"),
    )}



def _size(image_size) -> Tuple[int, int]:
    if isinstance(image_size, (tuple, list)):
        if len(image_size) != 2:
            raise ValueError(f"image_size must be an int or an (H, W) pair, got {image_size!r}")
        return positive_int("image_size[0]", image_size[0]), positive_int("image_size[1]", image_size[1])
    s = positive_int("image_size", image_size)
    return s, s
