"""Section 3's figures: set controls, check the figure that results (and that a re-render is fast)."""
from __future__ import annotations

import time

import numpy as np
import pytest

from frontier.multimodal import budgets
from frontier.viz import load_all_controllers
from frontier.viz import multimodal as vm


def test_controllers_are_registered():
    assert {"multimodal_patches", "multimodal_token_budget", "multimodal_clip_similarity",
            "multimodal_generation"} <= set(load_all_controllers())


def test_patch_explorer_counts_tokens():
    ctl = vm.patch_explorer()
    assert ctl.figure.layout.meta["tokens"] == 576                      # 336 px, patch 14
    fig = ctl.set(resolution=224)
    assert fig.layout.meta["tokens"] == budgets.vit_tokens(224, 14, cls_token=False) == 256
    fig = ctl.set(patch=32, resolution=336)                             # 336 / 32 = 10.5: padded to 11 x 11
    assert fig.layout.meta["tokens"] == 121 and fig.layout.meta["padded"] == 16
    fig = ctl.set(patch=64)
    assert ctl.set(resolution=56) is fig and ctl.error is not None      # rejected: patch larger than the image


def test_token_budget_matches_the_library():
    ctl = vm.token_budget_explorer()
    meta = ctl.figure.layout.meta
    assert meta["audio_tokens_per_second"] == 50.0                      # Whisper's defaults
    assert meta["audio_minutes"] == pytest.approx((128_000 - 2_000) / 50 / 60)
    meta = ctl.set(fps=2.0, tokens_per_frame=576, temporal_pool=2).layout.meta
    assert meta["video_tokens_per_second"] == pytest.approx(576.0)


def test_similarity_viewer_ranks_by_similarity():
    ctl = vm.similarity_explorer()
    sim = ctl.fixed["similarity"]
    fig = ctl.set(caption=7, top=5)
    ranked = fig.layout.meta["ranked"]
    assert ranked == list(np.argsort(-sim[7], kind="stable")[:5])
    assert 0 <= fig.layout.meta["precision"] <= 1
    with pytest.raises(ValueError, match="caption"):
        vm.make_similarity_figure(sim, ctl.fixed["images"], ctl.fixed["captions"], caption=10)


def test_generation_control_is_seeded_and_temperature_zero_is_greedy():
    ctl = vm.generation_explorer()
    a = ctl.set(digit=5, temperature=1.0, seed=3)
    b = vm.make_generation_figure(**ctl.params())
    assert np.array_equal(np.asarray(a.data[0].z, float), np.asarray(b.data[0].z, float), equal_nan=True)
    assert ctl.set(temperature=0.0).layout.meta["distinct"] == 1


def test_rerenders_are_fast():
    for factory, change in [(vm.patch_explorer, {"patch": 16}), (vm.token_budget_explorer, {"stride": 4}),
                            (vm.similarity_explorer, {"caption": 3}), (vm.generation_explorer, {"seed": 2})]:
        ctl = factory()
        ctl.set(**change)                                               # warm caches
        start = time.perf_counter()
        ctl.render()
        assert time.perf_counter() - start < 0.25, factory.__name__    # 50 ms target; slack for a loaded CI box


def test_static_figures():
    fig = vm.make_visual_tokens_figure()
    assert {t.name for t in fig.data if t.mode == "lines"} == {"patch 14", "patch 16", "patch 32"}
    fig = vm.make_digit_grid_figure(np.zeros((3, 8, 8)), labels=["a", "b", "c"], cols=2)
    assert fig.layout.meta["n"] == 3
    with pytest.raises(ValueError):
        vm.make_digit_grid_figure(np.zeros((8, 8)))
    fig = vm.make_training_figure({"step": [1, 2], "loss": [2.0, 1.0], "metrics": [{"temperature": 0.07}] * 2})
    assert fig.layout.meta["final_loss"] == 1.0
