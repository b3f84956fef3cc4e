"""The long-context lesson's figures: set controls, check the figure that results."""
from __future__ import annotations

import numpy as np
import pytest

from frontier.architecture import long_context as lc
from frontier.architecture.params import LLAMA2_70B
from frontier.viz import load_all_controllers
from frontier.viz import long_context as vl


def test_controllers_are_registered():
    names = {"rope_scaling_explorer", "kv_cache_explorer", "streaming_cache_explorer", "ring_attention_explorer"}
    assert names <= set(load_all_controllers())


def test_rope_explorer_methods_and_scale():
    ctl = vl.rope_scaling_explorer()
    meta = ctl.figure.layout.meta
    assert meta["method"] == "yarn" and round(meta["attention_factor"], 4) == 1.2079
    meta = ctl.set(method="pi", scale=4.0).layout.meta
    np.testing.assert_allclose(meta["inv_freq_ratio"], 0.25)
    assert meta["attention_factor"] == 1.0
    for method in lc.ROPE_METHODS:                                   # scale 1 is plain RoPE for all
        meta = ctl.set(method=method, scale=1.0).layout.meta
        np.testing.assert_allclose(meta["inv_freq_ratio"], 1.0)
    meta = ctl.set(method="yarn", scale=32.0, alpha=1.0, beta=32.0).layout.meta
    assert round(meta["attention_factor"], 4) == 1.3466
    assert meta["pairs_extrapolated"] > 0 and meta["pairs_interpolated"] > 0


def test_rope_explorer_score_panel_matches_the_library():
    fig = vl.make_rope_scaling_figure(scale=2.0, method="ntk", head_dim=64, original_context=1024, points=50)
    trace = [t for t in fig.data if t.xaxis == "x2" and t.showlegend is False and t.line.width == 2.5][0]
    inv, _ = lc.scaled_inv_freq("ntk", 64, 2.0, original_context=1024)
    np.testing.assert_allclose(trace.y, lc.rope_score_vs_distance(np.asarray(trace.x), inv) / 64)


def test_rope_explorer_rejects_bad_alpha_beta():
    ctl = vl.rope_scaling_explorer()
    ctl.set(alpha=8.0, beta=8.0)
    assert ctl.error is not None and "beta must exceed alpha" in str(ctl.error)


def test_kv_cache_explorer():
    ctl = vl.kv_cache_explorer()
    fits = ctl.figure.layout.meta["longest_on_h100"]
    assert fits["LLaMA-2 70B"] == int(80e9 // 327_680)
    mqa = ctl.set(attention="MQA (one KV head)").layout.meta["longest_on_h100"]
    assert mqa["LLaMA-2 70B"] == int(80e9 // (327_680 / 8))
    fig = ctl.set(attention="as configured", precision="fp32", log10_context=(3.0, 4.0))
    llama = fig.data[0]
    np.testing.assert_allclose(llama.y, lc.kv_cache_curve(LLAMA2_70B, llama.x, precision="fp32") / 1e9)
    meta = ctl.set(include_weights=True, precision="bf16").layout.meta
    assert meta["longest_on_h100"]["LLaMA-2 70B"] == 0                # 138 GB of weights alone


def test_streaming_explorer():
    ctl = vl.streaming_cache_explorer()
    meta = ctl.set(t=100, window=16, n_sink=4).layout.meta
    assert meta["kept_sinks"] == [0, 1, 2, 3] + list(range(84, 100))
    assert meta["kept_window"] == list(range(84, 100))
    assert "cache size 20" in ctl.figure.layout.title.text


def test_ring_explorer():
    ctl = vl.ring_attention_explorer()
    meta = ctl.set(n_devices=8, seq_len=32768, model="LLaMA-2 70B", precision="bf16").layout.meta
    assert meta["kv_block_bytes"] == 2 * 4096 * 8 * 128 * 2
    assert meta["bytes_per_device"] == 7 * meta["kv_block_bytes"]
    assert meta["skipped_blocks"] == 8 * 7 // 2
    assert ctl.set(causal=False).layout.meta["skipped_blocks"] == 0
    assert ctl.set(n_devices=1).layout.meta["bytes_per_device"] == 0


def test_sink_experiment_figure():
    loss = {"full": np.r_[np.ones(31), 2 * np.ones(96)], "window": np.ones(127)}
    fig = vl.make_sink_experiment_figure(loss, np.array([[0.1, 0.2], [0.5, 0.9]]), train_len=32, window=16, n_sink=4)
    summary = fig.layout.meta["summary"]
    assert summary["window"]["beyond_training"] == 1.0
    assert summary["full"]["beyond_training"] == pytest.approx(2.0)


# --------------------------------------------------------------------------- the context-extension experiment's figures
def _probe(lens, acc):
    acc = np.asarray(acc, dtype=float)
    return {"seq_lens": np.asarray(lens), "depths": np.linspace(0, 1, acc.shape[1]), "accuracy": acc,
            "loss": 1 - acc + 0.01}


def test_context_extension_figure_draws_each_model_twice_and_shades_far_needles():
    from frontier.viz.long_context import make_context_extension_figure
    probes = {"rope": _probe([128], [[0.1, 0.2, 0.9]]), "yarn + fine-tune": _probe([128], [[1.0, 1.0, 1.0]])}
    fig = make_context_extension_figure(probes, train_len=32)
    assert len(fig.data) == 4                                       # accuracy and loss per model
    styles = {t.name: t.line.dash for t in fig.data}
    assert styles == {"rope": "dash", "yarn + fine-tune": "solid"}
    assert fig.layout.shapes[0].x1 == 128 - 32
    assert fig.layout.meta["summary"]["rope"]["accuracy"] == pytest.approx(0.4)
    with pytest.raises(ValueError, match="same length"):
        make_context_extension_figure({"a": _probe([64], [[1.0]]), "b": _probe([128], [[1.0]])}, 32)


def test_haystack_figure_reports_effective_context():
    from frontier.viz.long_context import make_haystack_figure
    fig = make_haystack_figure({"base": _probe([32, 64], [[1.0, 1.0], [0.2, 1.0]]),
                                "yarn": _probe([32, 64], [[1.0, 1.0], [0.95, 1.0]])})
    assert fig.layout.meta["effective"] == {"base": 32, "yarn": 64}
    assert len(fig.data) == 2 and fig.data[0].z.shape == (2, 2)
