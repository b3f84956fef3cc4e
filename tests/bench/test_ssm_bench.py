"""The ssm benchmark's command line: the GPU section times the scan both ways and can run alone."""
from __future__ import annotations

from frontier import env
from frontier.bench import ssm as bench


def test_gpu_section_times_the_mamba_way_and_the_cheap_case():
    assert bench.SCAN_CASES["mamba"] == {"delta_softplus": True, "with_delta_bias": True}
    assert bench.SCAN_CASES["cheap"] == {"delta_softplus": False, "with_delta_bias": False}
    # the sizes include one that batch x channel blocks cannot fill (the chunked two-pass scan runs there)
    from frontier.kernels.selective_scan import launch_config

    assert any(launch_config(b, d, n, 1, L)["chunked"] for b, d, L, n in bench.SCAN_SIZES)
    assert any(not launch_config(b, d, n, 1, L)["chunked"] for b, d, L, n in bench.SCAN_SIZES)


def test_gpu_only_without_a_gpu_skips_and_says_why(monkeypatch, capsys):
    monkeypatch.setenv("FRONTIER_DISABLE_GPU", "1")
    env.cupy_status.cache_clear()
    try:
        assert bench.main(["--gpu-only"]) == 0
        out = capsys.readouterr().out
        assert "GPU section skipped" in out and "FRONTIER_DISABLE_GPU" in out and "seq_len" not in out
        assert bench.main(["--gpu-only", "--cpu-only"]) == 2
    finally:
        monkeypatch.delenv("FRONTIER_DISABLE_GPU")
        env.cupy_status.cache_clear()
