"""Figures and controllers of lesson 02 (efficient attention), checked without a browser."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
from IPython.utils.capture import capture_output

from frontier.architecture.attention import sink_mask, tiled_attention_traffic, window_mask
from frontier.viz import CONTROLLERS
from frontier.viz.attention import (
    MASK_PATTERNS, make_mask_figure, make_performer_figure, make_tiling_figure, make_traffic_figure,
    mask_explorer, performer_curve, performer_explorer, tiling_run, tiling_stepper, traffic_explorer,
)

NAMES = ["efficient_attention_tiling", "efficient_attention_traffic", "efficient_attention_performer",
         "efficient_attention_masks"]


def _trace(fig, name_start):
    return next(t for t in fig.data if (t.name or "").startswith(name_start))


# --------------------------------------------------------------------------- tiling

@pytest.mark.parametrize("causal", [False, True])
def test_tiling_figure_walks_through_every_tile(causal):
    run = tiling_run(T=20, d=3, block_q=4, block_k=6, causal=causal, seed=1)
    n = run["n_q_blocks"] * run["n_kv_blocks"]
    assert len(run["steps"]) == n == 5 * 4
    first = make_tiling_figure(0, T=20, d=3, block_q=4, block_k=6, causal=causal, seed=1)
    last = make_tiling_figure(n - 1, T=20, d=3, block_q=4, block_k=6, causal=causal, seed=1)
    assert isinstance(first, go.Figure)
    assert first.layout.meta["step"] == 0 and last.layout.meta["step"] == n - 1
    assert make_tiling_figure(10 ** 6, T=20, d=3, block_q=4, block_k=6, causal=causal,
                              seed=1).layout.meta["step"] == n - 1        # clipped
    assert last.layout.meta["max_abs_diff"] < 1e-12
    assert "Done" in last.layout.title.text and "Done" not in first.layout.title.text
    # the scores heatmap fills up: only the first tile at step 0, every allowed score at the end
    z0, z1 = np.array(first.data[0].z, dtype=float), np.array(last.data[0].z, dtype=float)
    assert np.isfinite(z0).sum() == (1 + 2 + 3 + 4 if causal else 4 * 6)
    allowed = (20 * 21 // 2) if causal else 400
    assert np.isfinite(z1).sum() == allowed
    # the bars at the last step are the final statistics
    np.testing.assert_allclose(np.array(_trace(last, "m, l after").x, dtype=float), run["m"])
    assert last.layout.meta["hbm_elements"] == tiled_attention_traffic(20, 3, causal=causal, block_q=4,
                                                                      block_k=6).total
    assert last.layout.meta["skipped"] is False


def test_tiling_figure_marks_skipped_tiles():
    run = tiling_run(T=12, d=2, block_q=3, block_k=3, causal=True, seed=0)
    skipped = [i for i, s in enumerate(run["steps"]) if s["skipped"]]
    assert len(skipped) == 6                                   # the 4x4 tile grid above its diagonal
    fig = make_tiling_figure(skipped[0], T=12, d=2, block_q=3, block_k=3, causal=True, seed=0)
    assert fig.layout.meta["skipped"] is True and "skipped" in fig.layout.title.text
    grey = np.array(fig.data[1].z, dtype=float)
    assert np.nansum(grey) == 6 * 9


def test_tiling_stepper_follows_the_tile_sizes():
    with capture_output():
        ctl = tiling_stepper()
        assert ctl.controls["step"].max == ctl.figure.layout.meta["n_steps"] - 1
        ctl.set(block_q=2)
        assert ctl.controls["step"].max == 12 * 4 - 1
        ctl.set(step=30)
        assert ctl.figure.layout.meta["step"] == 30
        ctl.set(block_q=8)                                     # 3 x 4 tiles: step is pulled back in range
        assert ctl.figure.layout.meta["step"] <= 11
        ctl.set(causal=True)
        assert ctl.figure.layout.meta["causal"] is True
    assert ctl.error is None


# --------------------------------------------------------------------------- traffic

def test_traffic_figure_lines():
    fig = make_traffic_figure(N=1024, d=64)
    tiled = np.array(_trace(fig, "tiled").y, dtype=float)
    M = np.array(_trace(fig, "tiled").x, dtype=float)
    assert M[0] == 64 and M[-1] == 1024 * 64
    assert np.all(np.diff(tiled) <= 0)
    model = np.array(_trace(fig, "cost model").y, dtype=float)
    np.testing.assert_array_equal(tiled - model, 1024 * (64 + 2))   # Algorithm 1's initial writes
    standard = np.array(_trace(fig, "standard").y, dtype=float)
    assert np.all(standard == 4 * 1024 * 64 + 4 * 1024 ** 2)
    meta = fig.layout.meta
    assert meta["M_chip"] == 192 * 1024 / 2 and meta["ratio"] > 1
    assert meta["tiled_at_chip"] == tiled_attention_traffic(1024, 64, sram_elements=98304).total


def test_traffic_figure_causal_and_counted_points():
    fig = make_traffic_figure(N=4096, d=32, causal=True, counted=[(256, 1000), (4096, 500)])
    assert not any((t.name or "").startswith("cost model") for t in fig.data)
    assert list(_trace(fig, "counted").x) == [256, 4096]
    full = make_traffic_figure(N=4096, d=32)
    assert fig.layout.meta["tiled_at_chip"] < full.layout.meta["tiled_at_chip"]
    with pytest.raises(ValueError):
        make_traffic_figure(N=1, d=4)


# --------------------------------------------------------------------------- Performer

def test_performer_curve_falls_and_figure_reports_the_error():
    c = performer_curve(T=32, d=8, std=0.5, n_seeds=3, max_log2=9)
    assert list(c["n_features"]) == [2 ** i for i in range(1, 10)]
    assert c["mean"][-1] < 0.3 * c["mean"][0]
    fig = make_performer_figure(n_features=256, T=32, d=8, n_seeds=3, max_log2=9)
    meta = fig.layout.meta
    assert 0 < meta["error"] < 0.5
    assert _trace(fig, "this projection").y[0] == pytest.approx(meta["error"])
    w = np.array(fig.data[1].z, dtype=float)
    np.testing.assert_allclose(w.sum(1), 1.0)
    fig2 = make_performer_figure(n_features=256, projection=1, T=32, d=8, n_seeds=3, max_log2=9)
    assert fig2.layout.meta["error"] != meta["error"]
    causal = make_performer_figure(n_features=16, causal=True, show_iid=False, T=32, d=8, n_seeds=3, max_log2=9)
    wc = np.array(causal.data[1].z, dtype=float)
    assert np.allclose(np.triu(wc, 1), 0)
    assert not any((t.name or "").startswith("independent") for t in causal.data)


# --------------------------------------------------------------------------- masks

@pytest.mark.parametrize("pattern", MASK_PATTERNS)
def test_mask_figure_counts_pairs(pattern):
    fig = make_mask_figure(T=64, window=8, n_sink=4, pattern=pattern)
    pairs = fig.layout.meta["pairs"]
    assert pairs["causal (dense)"] == 64 * 65 // 2
    assert pairs["sliding window 8"] == int(window_mask(64, 8).sum())
    assert pairs["4 sinks + window 8"] == int(sink_mask(64, 8, 4).sum())
    assert len(fig.data) == 4
    for t in fig.data:
        assert np.array(t.z).shape == (64, 64)
    with pytest.raises(ValueError, match="window"):
        make_mask_figure(T=32, window=40)
    with pytest.raises(ValueError, match="pattern"):
        make_mask_figure(pattern="random")


def test_causal_longformer_with_global_prefix_is_the_sink_mask():
    # Why the figure shows Longformer non-causal: causally, its global first
    # tokens are exactly StreamingLLM's sinks.
    from frontier.architecture.masks import longformer_mask

    assert np.array_equal(longformer_mask(40, 6, n_global=3, causal=True), sink_mask(40, 6, 3).numpy())


# --------------------------------------------------------------------------- controllers

@pytest.mark.parametrize("name", NAMES)
def test_controllers_are_registered_and_render(name):
    with capture_output():
        ctl = CONTROLLERS[name]()
        assert isinstance(ctl.figure, go.Figure) and ctl.error is None
        for key, w in ctl.controls.items():
            assert not getattr(w, "continuous_update", False), key
        before = ctl.renders
        first = next(iter(ctl.controls))
        w = ctl.controls[first]
        opts = getattr(w, "options", None)
        if opts:
            vals = [o[1] if isinstance(o, tuple) else o for o in opts]
            new = next(v for v in vals if v != w.value)
        elif isinstance(w.value, bool):
            new = not w.value
        else:
            new = w.max if w.value != w.max else w.min
        ctl.set(**{first: new})
        assert ctl.renders == before + 1 and ctl.error is None


def test_mask_explorer_reports_impossible_settings():
    with capture_output():
        ctl = mask_explorer()
        ctl.set(T=32)
        ctl.set(window=32)
        ctl.set(window=20)
        assert ctl.error is None
        good = ctl.figure
        ctl.set(T=128)
        assert ctl.figure.layout.meta["T"] == 128
    assert good is not None


def test_factories_accept_fixed_parameters():
    with capture_output():
        assert traffic_explorer(points=12).figure.layout.meta["N"] == 1024
        assert performer_explorer(T=24, d=8, n_seeds=2, max_log2=6).figure.layout.meta["T"] == 24
