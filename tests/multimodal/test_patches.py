"""patchify / unpatchify: exact round trips, the raster layout, padding, and clear errors."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from frontier.multimodal import pad_to_multiple, patch_grid, patchify, unpatchify


@settings(max_examples=60, deadline=None)
@given(gh=st.integers(1, 5), gw=st.integers(1, 5), p=st.integers(1, 6), c=st.sampled_from([None, 1, 3, 4]),
       seed=st.integers(0, 2**16))
def test_round_trip_is_exact_for_divisible_shapes(gh, gw, p, c, seed):
    shape = (gh * p, gw * p) if c is None else (gh * p, gw * p, c)
    img = np.random.default_rng(seed).integers(0, 256, size=shape).astype(np.uint8)
    patches = patchify(img, p)
    assert patches.shape == (gh * gw, p * p * (c or 1)) and patches.dtype == img.dtype
    back = unpatchify(patches, (gh, gw), p, channels=c)
    assert back.shape == img.shape and np.array_equal(back, img)


def test_raster_order_and_patch_content():
    img = np.arange(4 * 6 * 3).reshape(4, 6, 3)
    patches = patchify(img, 2)
    assert patches.shape == (2 * 3, 12)
    # patch (i, j) sits at index i * gw + j and holds its block flattened row, column, channel
    assert np.array_equal(patches[1 * 3 + 2], img[2:4, 4:6].reshape(-1))
    assert np.array_equal(patches[0], img[:2, :2].reshape(-1))


@settings(max_examples=40, deadline=None)
@given(h=st.integers(1, 20), w=st.integers(1, 20), p=st.integers(1, 7), mode=st.sampled_from(["constant", "edge"]))
def test_padding_rounds_up_and_crops_back(h, w, p, mode):
    if p > max(h, w):
        with pytest.raises(ValueError, match="larger than the image"):
            patchify(np.ones((h, w)), p, pad=mode)
        return
    img = np.random.default_rng(h * 31 + w).random((h, w))
    patches = patchify(img, p, pad=mode, fill=-1.0)
    gh, gw = patch_grid(h, w, p, pad=mode)
    assert (gh, gw) == (-(-h // p), -(-w // p)) and patches.shape == (gh * gw, p * p)
    assert np.array_equal(unpatchify(patches, (gh, gw), p, size=(h, w)), img)
    padded = unpatchify(patches, (gh, gw), p)
    assert np.array_equal(padded, pad_to_multiple(img, p, mode, fill=-1.0))
    if mode == "constant" and (h % p or w % p):
        assert (padded == -1.0).sum() == gh * gw * p * p - h * w


def test_not_divisible_raises_without_padding():
    with pytest.raises(ValueError, match="not a multiple of patch=16"):
        patchify(np.zeros((30, 32, 3)), 16)


@pytest.mark.parametrize("bad, err, match", [
    (np.zeros(5), ValueError, r"shape \(H, W\)"),
    (np.zeros((2, 3, 4, 5)), ValueError, r"shape \(H, W\)"),
    (np.zeros((3, 8, 8)), ValueError, "channels-last"),          # channels first
    ("an image", TypeError, "array of pixels"),
    (np.array([["a", "b"]]), TypeError, "numbers"),
    (np.full((4, 4), np.nan), ValueError, "NaN"),
    (np.zeros((0, 4)), ValueError, "at least one pixel"),
])
def test_bad_images_raise(bad, err, match):
    with pytest.raises(err, match=match):
        patchify(bad, 2)


def test_bad_patch_and_grid_raise():
    img = np.zeros((8, 8))
    with pytest.raises(ValueError, match="larger than the image"):
        patchify(img, 16)
    with pytest.raises(ValueError, match="positive"):
        patchify(img, 0)
    with pytest.raises(TypeError, match="patch must be an int"):
        patchify(img, 2.5)
    with pytest.raises(ValueError, match="pad must be one of"):
        patchify(img, 2, pad="reflect")
    with pytest.raises(ValueError, match="do not fit grid"):
        unpatchify(patchify(img, 2), (4, 4), 2, channels=3)
    with pytest.raises(ValueError, match="larger than the patched image"):
        unpatchify(patchify(img, 2), (4, 4), 2, size=(9, 8))
