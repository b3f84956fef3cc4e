"""The CuPy kernels against the NumPy/torch references, on an NVIDIA GPU.

Every test is marked ``gpu``; ``tests/conftest.py`` skips them when
``frontier.env.cupy_status()`` finds no usable CuPy.  Run with ``pytest -m gpu``.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from frontier.architecture import ssm
from frontier.architecture.attention import naive_attention

pytestmark = pytest.mark.gpu

SCAN_CASES = [
    # (batch, d_inner, seq_len, d_state, groups, softplus, bias, D, z)
    (1, 4, 7, 16, 0, False, False, True, True),      # fewer channels than a block, a partial time tile
    (2, 70, 33, 16, 0, True, True, True, True),      # a partial channel block, two-and-a-bit time tiles
    (2, 64, 100, 2, 2, True, False, False, True),    # groups; one lane per channel
    (1, 33, 17, 3, 0, False, True, True, False),     # odd state size
    (1, 32, 50, 1, 0, True, False, False, False),    # a single state
    (2, 96, 64, 64, 3, True, True, True, True),      # the largest supported state
]


def _close(got, want, rtol=2e-4):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    scale = max(1.0, float(np.max(np.abs(want))))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("case", SCAN_CASES)
def test_scan_kernel_matches_reference(case):
    b, d, l, n, g, softplus, bias, D, z = case
    kw = ssm.random_scan_inputs(b, d, l, n, groups=g, seed=sum(case[:5]), with_D=D, with_z=z,
                                with_delta_bias=bias)
    ref, ref_last = ssm.selective_scan_ref(**kw, delta_softplus=softplus, return_last_state=True)
    out, last = ssm.selective_scan(**kw, delta_softplus=softplus, return_last_state=True, backend="gpu")
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    _close(out, ref)
    _close(last, ref_last)


def test_scan_kernel_keeps_the_kind_of_its_input():
    import cupy

    kw = ssm.random_scan_inputs(2, 40, 21, 16, seed=1)
    ref = ssm.selective_scan_ref(**kw)
    dev = {k: cupy.asarray(v) for k, v in kw.items()}
    out = ssm.selective_scan(**dev, backend="gpu")
    assert isinstance(out, cupy.ndarray)
    _close(cupy.asnumpy(out), ref)
    for device in ("cpu", "cuda"):
        t = {k: torch.from_numpy(v).to(device) for k, v in kw.items()}
        o = ssm.selective_scan(**t, backend="gpu")
        assert isinstance(o, torch.Tensor) and o.device.type == device
        _close(o.cpu().numpy(), ref)


def test_auto_backend_uses_the_gpu():
    from frontier.kernels import get_backend

    assert get_backend().is_gpu


@pytest.mark.parametrize("method", ["cublas", "tiled"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("shape", [(1, 1, 5, 8), (2, 3, 130, 64), (1, 2, 257, 32), (1, 1, 64, 128)])
def test_attention_kernels_match_naive_attention(method, causal, shape):
    import cupy

    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal(shape).astype(np.float32) for _ in range(3))
    want = naive_attention(*(torch.from_numpy(x) for x in (q, k, v)), causal=causal).numpy()
    from frontier.kernels.attention import attention_cupy

    got = attention_cupy(*(cupy.asarray(x) for x in (q, k, v)), causal=causal, method=method)
    _close(cupy.asnumpy(got), want, rtol=1e-4)
    tgot = attention_cupy(*(torch.from_numpy(x).cuda() for x in (q, k, v)), causal=causal, method=method)
    assert isinstance(tgot, torch.Tensor) and tgot.is_cuda
    _close(tgot.cpu().numpy(), want, rtol=1e-4)


def test_attention_kernel_rejects_bad_inputs():
    import cupy

    from frontier.kernels.attention import attention_cupy

    x = cupy.zeros((2, 8, 16), cupy.float32)
    with pytest.raises(ValueError, match="causal attention needs Tq == Tk"):
        attention_cupy(x, cupy.zeros((2, 9, 16), cupy.float32), cupy.zeros((2, 9, 16), cupy.float32),
                       causal=True)
    with pytest.raises(ValueError, match="tiled kernel needs a head size"):
        attention_cupy(cupy.zeros((1, 8, 6), cupy.float32), cupy.zeros((1, 8, 6), cupy.float32),
                       cupy.zeros((1, 8, 6), cupy.float32), method="tiled")
    with pytest.raises(TypeError, match="CuPy array or a CUDA torch tensor"):
        attention_cupy(np.zeros((2, 8, 16), np.float32), x, x)


def test_cuda_event_timing_and_copy_bandwidth():
    import cupy

    from frontier.timing import copy_bandwidth, time_callable

    x = cupy.ones(1 << 20, cupy.float32)
    t = time_callable(lambda: x * 2, warmup=1, repeat=3, clock="cupy")
    assert t.clock == "cupy" and 0 < t.minimum <= t.median <= t.maximum
    bw = copy_bandwidth("gpu", nbytes=1 << 24)
    assert bw["bandwidth"] > 1e10 and bw["device"].startswith("GPU")


# --------------------------------------------------------------------------- the kernel variants of issue 19
@pytest.mark.parametrize("chunked", [True, False])
@pytest.mark.parametrize("case", [
    # (batch, d_inner, seq_len, d_state, groups, softplus, bias, z)
    (1, 8, 1, 16, 1, True, True, True),          # a single step
    (1, 70, 33, 16, 1, True, True, True),        # a partial block of channels; 33 = one chunk and one step
    (2, 64, 130, 16, 2, False, False, True),     # the cheap case; 130 is not a multiple of 4 (scalar loads)
    (1, 128, 1000, 16, 1, True, True, True),     # several segments, the last one partial
    (1, 40, 257, 32, 1, True, False, False),     # two lanes per channel, no gate
    (2, 48, 96, 64, 3, True, True, True),        # four lanes per channel
    (1, 33, 64, 3, 1, False, True, True),        # an odd state size
])
def test_scan_variants_and_the_chunked_two_pass_scan_match_the_reference(case, chunked):
    import cupy

    from frontier.kernels.selective_scan import selective_scan_cupy

    b, d, l, n, g, softplus, bias, z = case
    kw = ssm.random_scan_inputs(b, d, l, n, groups=g, seed=l, with_z=z, with_delta_bias=bias)
    ref, ref_last = ssm.selective_scan_ref(**kw, delta_softplus=softplus, return_last_state=True)
    dev = {k: cupy.asarray(v) for k, v in kw.items()}
    out, last = selective_scan_cupy(dev["u"], dev["delta"], dev["A"], dev["B"], dev["C"], dev.get("D"),
                                    dev.get("z"), dev.get("delta_bias"), softplus, True, chunked=chunked)
    _close(cupy.asnumpy(out), ref)
    _close(cupy.asnumpy(last), ref_last)


def test_scan_accepts_misaligned_views_and_three_dimensional_B():
    import cupy

    from frontier.kernels.selective_scan import selective_scan_cupy

    kw = ssm.random_scan_inputs(1, 16, 64, 16, seed=5)                 # B, C: (b, n, l)
    ref = ssm.selective_scan_ref(**kw)
    dev = {k: cupy.asarray(v) for k, v in kw.items()}
    flat = cupy.zeros(dev["u"].size + 1, cupy.float32)
    flat[1:] = dev["u"].ravel()
    odd = flat[1:].reshape(dev["u"].shape)                             # contiguous, 4 bytes past alignment
    assert odd.data.ptr % 16 != 0
    out, _ = selective_scan_cupy(odd, dev["delta"], dev["A"], dev["B"], dev["C"], dev["D"], dev["z"])
    _close(cupy.asnumpy(out), ref)


def test_scan_rejects_bad_inputs():
    import cupy

    from frontier.kernels.selective_scan import selective_scan_cupy

    u = cupy.zeros((1, 4, 8), cupy.float32)
    A = cupy.zeros((4, 2), cupy.float32)
    B = cupy.zeros((1, 2, 8), cupy.float32)
    with pytest.raises(ValueError, match="zero-size"):
        selective_scan_cupy(cupy.zeros((1, 4, 0), cupy.float32), cupy.zeros((1, 4, 0), cupy.float32), A,
                            cupy.zeros((1, 2, 0), cupy.float32), cupy.zeros((1, 2, 0), cupy.float32))
    with pytest.raises(ValueError, match="B must have shape"):
        selective_scan_cupy(u, u, A, cupy.zeros((2, 8), cupy.float32), B)
    with pytest.raises(ValueError, match="C must have shape"):
        selective_scan_cupy(u, u, A, B, cupy.zeros((1, 3, 8), cupy.float32))
    with pytest.raises(ValueError, match="group count"):
        selective_scan_cupy(u, u, A, cupy.zeros((1, 3, 2, 8), cupy.float32), cupy.zeros((1, 3, 2, 8), cupy.float32))


def test_attention_rejects_empty_inputs_and_handles_odd_offsets_and_many_heads():
    import cupy

    from frontier.kernels.attention import attention_cupy

    x = cupy.zeros((2, 8, 16), cupy.float32)
    for bad_k in (cupy.zeros((2, 0, 16), cupy.float32), cupy.zeros((0, 8, 16), cupy.float32)):
        with pytest.raises(ValueError, match="zero-size"):
            attention_cupy(x, bad_k, bad_k)
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((3, 20, 8)).astype(np.float32) for _ in range(3))
    want = naive_attention(*(torch.from_numpy(a) for a in (q, k, v))).numpy()
    flat = cupy.zeros(q.size + 1, cupy.float32)
    flat[1:] = cupy.asarray(q).ravel()
    q_odd = flat[1:].reshape(q.shape)
    assert q_odd.data.ptr % 16 != 0
    got = attention_cupy(q_odd, cupy.asarray(k), cupy.asarray(v), method="tiled")
    _close(cupy.asnumpy(got), want, rtol=1e-4)
    # more than 65,535 (batch x heads): the one-dimensional grid has no y limit to hit
    qs, ks, vs = (rng.standard_normal((70_000, 2, 4)).astype(np.float32) for _ in range(3))
    want = naive_attention(*(torch.from_numpy(a) for a in (qs, ks, vs))).numpy()
    for method in ("cublas", "tiled"):
        got = attention_cupy(*(cupy.asarray(a) for a in (qs, ks, vs)), method=method)
        _close(cupy.asnumpy(got), want, rtol=1e-4)


def test_scan_rejects_B_with_the_wrong_state_size():
    import cupy

    from frontier.kernels.selective_scan import selective_scan_cupy

    u = cupy.zeros((1, 4, 8), cupy.float32)
    B = cupy.zeros((1, 1, 3, 8), cupy.float32)                        # n = 3, but A says 2
    with pytest.raises(ValueError, match="B must have shape"):
        selective_scan_cupy(u, u, cupy.zeros((4, 2), cupy.float32), B, B)
