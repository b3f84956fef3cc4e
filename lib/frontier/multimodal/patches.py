"""Images as sequences of patches: the first step of every vision transformer.

A ViT cuts an image of ``H x W`` pixels with ``C`` channels into
non-overlapping ``P x P`` squares, flattens each square to a vector of
``P * P * C`` numbers and treats the ``(H / P) * (W / P)`` vectors as tokens
(Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words", arXiv 2010.11929).

Shapes (``docs/glossary.md``): ``H, W`` pixels, ``C`` channels, ``P`` patch
side, ``gh = H / P`` and ``gw = W / P`` the grid, ``N = gh * gw`` patches.

Layout conventions, stated once and used everywhere in this section:

* images are channels-last: ``(H, W)`` (grey) or ``(H, W, C)``; a batch adds
  a leading axis only where a function says so;
* patches are numbered row by row (raster order), and inside a patch the
  values run row, column, channel: ``patches[i * gw + j] ==
  image[i*P:(i+1)*P, j*P:(j+1)*P].reshape(-1)``;
* a grey image gives patches of ``P * P`` values, an ``(H, W, C)`` image
  ``P * P * C``; :func:`unpatchify` needs ``channels`` to undo either.

When ``H`` or ``W`` is not a multiple of ``P``, :func:`patchify` raises by
default (``pad=None``); ``pad="constant"`` (zeros, or ``fill``) or
``pad="edge"`` extends the bottom and right edges to the next multiple and
:func:`unpatchify` with ``size=(H, W)`` crops them off again.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from ..validation import choice, positive_int

__all__ = ["as_image", "patchify", "unpatchify", "patch_grid", "pad_to_multiple", "PAD_MODES"]

#: How :func:`patchify` may pad an image whose sides are not multiples of the patch.
PAD_MODES = (None, "constant", "edge")


def as_image(image: object, name: str = "image") -> np.ndarray:
    """``image`` as a NumPy array of shape ``(H, W)`` or ``(H, W, C)`` with ``C`` in 1..4, else a clear error.

    Accepts anything ``np.asarray`` takes (lists, NumPy arrays, torch tensors
    on the CPU).  The dtype is kept; it must be numeric and the values finite.
    """
    if isinstance(image, (str, bytes)) or image is None:
        raise TypeError(f"{name} must be an array of pixels, got {type(image).__name__}")
    arr = np.asarray(image)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if arr.ndim not in (2, 3):
        raise ValueError(f"{name} must have shape (H, W) or (H, W, C), got shape {arr.shape}")
    if arr.ndim == 3 and not 1 <= arr.shape[2] <= 4:
        raise ValueError(f"{name} must be channels-last with 1-4 channels, got shape {arr.shape} "
                         "(channels-first arrays need np.moveaxis(image, 0, -1))")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must have at least one pixel, got shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} has NaN or infinite values")
    return arr


def patch_grid(height: int, width: int, patch: int, pad: Optional[str] = None) -> Tuple[int, int]:
    """``(gh, gw)``: patches per column and per row for an ``height x width`` image.

    Without padding both sides must be multiples of ``patch``; with padding
    they round up.
    """
    height, width = positive_int("height", height), positive_int("width", width)
    patch = positive_int("patch", patch)
    choice("pad", pad, PAD_MODES)
    if pad is None:
        if height % patch or width % patch:
            raise ValueError(f"image of {height}x{width} pixels is not a multiple of patch={patch}; "
                             "pass pad='constant' or pad='edge', or resize it")
        return height // patch, width // patch
    return -(-height // patch), -(-width // patch)


def pad_to_multiple(image: object, patch: int, mode: str = "constant", fill: float = 0.0) -> np.ndarray:
    """Extend the bottom and right edges of ``image`` to the next multiple of ``patch`` (``np.pad``)."""
    img = as_image(image)
    patch = positive_int("patch", patch)
    choice("mode", mode, ("constant", "edge"))
    extra = [(0, (-img.shape[0]) % patch), (0, (-img.shape[1]) % patch)] + [(0, 0)] * (img.ndim - 2)
    if mode == "constant":
        return np.pad(img, extra, mode="constant", constant_values=fill)
    return np.pad(img, extra, mode="edge")


def patchify(image: object, patch: int, *, pad: Optional[str] = None, fill: float = 0.0) -> np.ndarray:
    """Cut an image into non-overlapping ``patch x patch`` squares, flattened in raster order.

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` (channels last).
        patch: side ``P`` of the square patches, in pixels.
        pad: ``None`` (raise unless ``H`` and ``W`` are multiples of ``P``),
            ``"constant"`` (fill with ``fill``) or ``"edge"`` (repeat the
            last row/column) to round the sides up to a multiple of ``P``.
        fill: the value ``pad="constant"`` uses.

    Returns:
        ``(N, P * P * C)`` with ``N = gh * gw`` (``C = 1`` for a grey image),
        same dtype as ``image``.  Patch ``i * gw + j`` covers rows
        ``i*P .. i*P + P - 1`` and columns ``j*P .. j*P + P - 1``.
    """
    img = as_image(image)
    patch = positive_int("patch", patch)
    choice("pad", pad, PAD_MODES)
    if patch > max(img.shape[0], img.shape[1]) or (pad is None and patch > min(img.shape[0], img.shape[1])):
        raise ValueError(f"patch={patch} is larger than the image ({img.shape[0]}x{img.shape[1]} pixels)")
    gh, gw = patch_grid(img.shape[0], img.shape[1], patch, pad)
    if pad is not None:
        img = pad_to_multiple(img, patch, pad, fill)
    c = 1 if img.ndim == 2 else img.shape[2]
    blocks = img.reshape(gh, patch, gw, patch, c)          # (gh, P, gw, P, C)
    return blocks.transpose(0, 2, 1, 3, 4).reshape(gh * gw, patch * patch * c)


def unpatchify(patches: object, grid: Tuple[int, int], patch: int, *, channels: Optional[int] = None,
               size: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """The inverse of :func:`patchify`: ``(N, P * P * C)`` patches back to an image.

    Args:
        patches: ``(N, P * P * C)`` in raster order.
        grid: ``(gh, gw)`` with ``gh * gw == N``.
        patch: ``P``.
        channels: ``None`` gives a grey ``(H, W)`` image (requires ``C = 1``);
            an int gives ``(H, W, channels)``, even for ``channels = 1``.
        size: ``(H, W)`` to crop padding off (default ``(gh * P, gw * P)``).

    Returns:
        ``(H, W)`` or ``(H, W, channels)``; ``unpatchify(patchify(x, P), grid, P,
        channels=...) == x`` exactly.
    """
    arr = np.asarray(patches)
    if arr.ndim != 2:
        raise ValueError(f"patches must have shape (N, P*P*C), got shape {arr.shape}")
    patch = positive_int("patch", patch)
    if not (isinstance(grid, (tuple, list)) and len(grid) == 2):
        raise TypeError(f"grid must be a pair (gh, gw), got {grid!r}")
    gh, gw = positive_int("grid[0]", grid[0]), positive_int("grid[1]", grid[1])
    c = 1 if channels is None else positive_int("channels", channels)
    if arr.shape != (gh * gw, patch * patch * c):
        raise ValueError(f"patches of shape {arr.shape} do not fit grid {gh}x{gw}, patch {patch} and "
                         f"{c} channel(s): expected {(gh * gw, patch * patch * c)}")
    img = arr.reshape(gh, gw, patch, patch, c).transpose(0, 2, 1, 3, 4).reshape(gh * patch, gw * patch, c)
    if size is not None:
        h, w = positive_int("size[0]", size[0]), positive_int("size[1]", size[1])
        if h > gh * patch or w > gw * patch:
            raise ValueError(f"size {size} is larger than the patched image {(gh * patch, gw * patch)}")
        img = img[:h, :w]
    return img[..., 0] if channels is None else img
