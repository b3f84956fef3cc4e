"""Timing the SSM scan against attention: the table's shape, the work counts, the summary.  No time is asserted."""
from __future__ import annotations

import pytest

from frontier.architecture import mixer_timing as mt
from frontier.architecture.ssm import scan_work


def test_attention_work_counts():
    w = mt.attention_work(batch=2, T=10, d_model=128, causal=False)
    assert w["flops"] == 4 * 2 * 10 * 10 * 128
    assert w["bytes"] == 4 * 4 * 2 * 10 * 128
    assert mt.attention_work(1, 10, 128)["flops"] == w["flops"] / 4        # causal, batch 1
    assert mt.attention_heads(32) == 1 and mt.attention_heads(200) == 3


def test_time_mixers_table_and_summary():
    rows = mt.time_mixers([16, 32, 64], d_model=64, d_state=2, repeat=1)
    assert [(r["mixer"], r["T"]) for r in rows] == [("ssm", 16), ("ssm", 32), ("ssm", 64),
                                                    ("attention", 16), ("attention", 32), ("attention", 64)]
    for r in rows:
        assert r["seconds"] > 0 and r["device"] in ("cpu", "gpu")
        assert r["bandwidth"] == pytest.approx(r["bytes"] / r["seconds"])
    assert rows[0]["flops"] == scan_work(1, 128, 16, 2)["flops"]
    s = mt.scaling_summary(rows)
    assert set(s["slopes"]) == {"ssm", "attention"}
    assert s["bandwidth_fraction"] == pytest.approx(s["bandwidth"] / s["copy_bandwidth"])
    only_ssm = mt.scaling_summary(rows, T_min=32, T_max=32)
    assert only_ssm["fits"] == {} and only_ssm["crossover"] is None


def test_points_are_cached():
    mt.time_mixers([24], d_model=64, d_state=2, repeat=1, mixers=["ssm"])
    before = mt._time_point.cache_info().hits
    mt.time_mixers([24], d_model=64, d_state=2, repeat=1, mixers=["ssm"])
    assert mt._time_point.cache_info().hits == before + 1


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="mixer must be one of"):
        mt.time_mixers([16], mixers=["rnn"])
    with pytest.raises(ValueError):
        mt.time_mixers([0])
    with pytest.raises(ValueError, match="device must be one of"):
        mt.time_mixers([16], device="tpu")
