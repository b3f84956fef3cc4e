"""The backend choice: CuPy on a usable GPU, the CPU otherwise, and always a reason."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from frontier import env
from frontier.kernels import backend
from frontier.kernels.backend import Backend, BackendUnavailable, describe_backend, get_backend, to_numpy


@pytest.fixture
def gpu_disabled(monkeypatch):
    monkeypatch.setenv("FRONTIER_DISABLE_GPU", "1")
    env.cupy_status.cache_clear()
    yield
    monkeypatch.delenv("FRONTIER_DISABLE_GPU")
    env.cupy_status.cache_clear()


def test_cpu_on_request():
    be = get_backend("cpu")
    assert be.name == "numpy" and not be.is_gpu and be.xp is np
    assert "requested" in be.reason and be.device.startswith("CPU")


def test_auto_falls_back_to_the_cpu_and_says_why(gpu_disabled):
    be = get_backend()
    assert be.name == "numpy"
    assert "FRONTIER_DISABLE_GPU" in be.reason
    assert "FRONTIER_DISABLE_GPU" in describe_backend()


def test_gpu_on_request_raises_with_the_reason(gpu_disabled):
    with pytest.raises(BackendUnavailable, match="FRONTIER_DISABLE_GPU"):
        get_backend("gpu")


def test_auto_matches_cupy_status():
    ok, _ = env.cupy_status()
    assert get_backend().is_gpu == ok


def test_bad_preference():
    with pytest.raises(ValueError, match="prefer must be one of"):
        get_backend("tpu")


def test_cpu_backend_sync_is_a_no_op():
    be = get_backend("cpu")
    be.synchronize()
    assert be.sync_fn() is None


def test_gpu_backend_object_describes_itself():
    be = Backend("cupy", "GPU: test", "because")
    assert be.is_gpu and be.sync_fn() is not None


def test_numba_status_reports_threads():
    ok, detail = backend.numba_status()
    assert ok and "threads" in detail


def test_to_numpy():
    a = np.arange(3.0)
    assert to_numpy(a) is a
    np.testing.assert_array_equal(to_numpy(torch.arange(3.0)), a)
    np.testing.assert_array_equal(to_numpy([0.0, 1.0, 2.0]), a)


def test_cuda_sources_ship_with_the_package():
    from frontier.kernels.cuda import cuda_source

    assert "selective_scan_fwd" in cuda_source("selective_scan.cu")
    src = cuda_source("attention.cu")
    assert "flash_attention_fwd" in src and "softmax_rows" in src
    with pytest.raises(ValueError, match=".cu file"):
        cuda_source("../env.py")


def test_kernel_wrappers_import_without_cupy():
    from frontier.kernels import attention, selective_scan  # noqa: F401

    cfg = selective_scan.launch_config(batch=2, d_inner=100, d_state=16, groups=2)
    assert cfg["grid"] == (2 * 2 * 1,) and cfg["block"] == (64,)      # one-dimensional grid
    assert cfg["defines"]["SPLIT"] == 1                                 # one lane per channel for n <= 16
    assert selective_scan.launch_config(1, 8, 3, 1)["defines"]["SPLIT"] == 1
    assert selective_scan.launch_config(1, 64, 64, 1)["defines"]["SPLIT"] == 4
    with pytest.raises(ValueError, match="d_state <= 64"):
        selective_scan.launch_config(1, 8, 65, 1)


def test_launch_grid_is_one_dimensional_beyond_the_y_limit():
    from frontier.kernels.selective_scan import launch_config

    cfg = launch_config(batch=70_000, d_inner=64, d_state=16, groups=1, seq_len=8)
    assert len(cfg["grid"]) == 1 and cfg["grid"][0] == 70_000      # a (.., .., batch) grid would fail at 65,536
    with pytest.raises(ValueError, match="groups"):
        launch_config(1, 10, 16, 3)


def test_tiled_attention_gives_head_128_its_own_tile():
    from frontier.kernels.attention import tiled_config

    assert tiled_config(64) == {"HEAD_DIM": 64, "BLOCK_M": 128, "BLOCK_N": 16, "ROW_SPLIT": 1}
    assert tiled_config(128)["ROW_SPLIT"] == 2 and tiled_config(128)["BLOCK_M"] == 64
    for bad in (0, 6, 100, 132):
        with pytest.raises(ValueError, match="head size"):
            tiled_config(bad)


def test_cupy_status_is_detected_once_per_session(monkeypatch):
    from frontier.architecture import ssm

    env.cupy_status.cache_clear()
    kw = ssm.random_scan_inputs(1, 2, 3, 2, seed=0)
    for _ in range(3):
        ssm.selective_scan(**kw)
    info = env.cupy_status.cache_info()
    assert info.misses == 1 and info.hits >= 2
