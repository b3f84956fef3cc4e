"""The selective scan: every implementation equals the plain recurrence; inputs are checked."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frontier.architecture import ssm
from frontier.kernels.backend import BackendUnavailable
from frontier.env import cupy_status

VARIANTS = {
    "ref": ssm.selective_scan_ref,
    "fast": lambda *a, **k: ssm.selective_scan(*a, backend="cpu", **k),
    "blelloch": lambda *a, **k: ssm.selective_scan_parallel(*a, method="blelloch", **k),
    "hillis_steele": lambda *a, **k: ssm.selective_scan_parallel(*a, method="hillis_steele", **k),
    "torch_loop": ssm.selective_scan_torch_loop,
}


def recurrence(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """The definition, one (batch, channel, time) at a time, in float64."""
    u, delta, A = (np.asarray(x, np.float64) for x in (u, delta, A))
    b, d, l = u.shape
    n = A.shape[1]
    B = np.asarray(B, np.float64).reshape(b, -1, n, l)
    C = np.asarray(C, np.float64).reshape(b, -1, n, l)
    per_group = d // B.shape[1]
    out = np.zeros((b, d, l))
    last = np.zeros((b, d, n))
    for i in range(b):
        for c in range(d):
            g = c // per_group
            h = np.zeros(n)
            for t in range(l):
                dt = delta[i, c, t] + (0.0 if delta_bias is None else delta_bias[c])
                if delta_softplus:
                    dt = math.log1p(math.exp(dt)) if dt < 30 else dt
                h = np.exp(dt * A[c]) * h + dt * B[i, g, :, t] * u[i, c, t]
                y = float(C[i, g, :, t] @ h)
                if D is not None:
                    y += D[c] * u[i, c, t]
                if z is not None:
                    y *= z[i, c, t] / (1 + math.exp(-z[i, c, t]))
                out[i, c, t] = y
            last[i, c] = h
    return out, last


@st.composite
def scan_cases(draw):
    b = draw(st.integers(1, 2))
    groups = draw(st.sampled_from([0, 1, 2, 3]))
    d = draw(st.integers(1, 3)) * max(groups, 1)
    l = draw(st.integers(1, 19))
    n = draw(st.integers(1, 5))
    kw = ssm.random_scan_inputs(b, d, l, n, groups=groups, seed=draw(st.integers(0, 2**16)),
                                with_D=draw(st.booleans()), with_z=draw(st.booleans()),
                                with_delta_bias=draw(st.booleans()))
    return kw, draw(st.booleans())


def _close(got, want, rtol=2e-4):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    scale = max(1.0, float(np.max(np.abs(want))))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("name", list(VARIANTS))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=scan_cases())
def test_every_variant_equals_the_recurrence(name, case):
    kw, softplus = case
    want, want_last = recurrence(**kw, delta_softplus=softplus)
    out, last = VARIANTS[name](**kw, delta_softplus=softplus, return_last_state=True)
    assert isinstance(out, np.ndarray) and out.shape == want.shape and out.dtype == np.float32
    assert last.shape == want_last.shape
    _close(out, want)
    _close(last, want_last)


def test_fast_path_matches_reference_at_a_realistic_size():
    kw = ssm.random_scan_inputs(2, 64, 300, 16, seed=3, with_delta_bias=True)
    ref, ref_last = ssm.selective_scan_ref(**kw, delta_softplus=True, return_last_state=True)
    fast, fast_last = ssm.selective_scan(**kw, delta_softplus=True, return_last_state=True, backend="cpu")
    _close(fast, ref, rtol=1e-5)
    _close(fast_last, ref_last, rtol=1e-5)


def test_fast_path_large_enough_to_run_in_parallel():
    from frontier.kernels.scan_cpu import PARALLEL_THRESHOLD

    b, d, n = 1, 128, 16
    l = PARALLEL_THRESHOLD // (b * d * n) + 3
    kw = ssm.random_scan_inputs(b, d, l, n, seed=4)
    _close(ssm.selective_scan(**kw, backend="cpu"), ssm.selective_scan_ref(**kw), rtol=1e-5)


def test_default_results_without_options():
    kw = ssm.random_scan_inputs(1, 4, 9, 3, seed=0, with_D=False, with_z=False)
    out = ssm.selective_scan_ref(**kw)
    assert out.shape == (1, 4, 9)
    _close(out, recurrence(**kw)[0])


def test_torch_inputs_give_torch_outputs_in_their_dtype():
    kw = ssm.random_scan_inputs(1, 4, 7, 3, seed=1)
    tkw = {k: torch.from_numpy(v) for k, v in kw.items()}
    tkw["u"] = tkw["u"].double()
    for f in VARIANTS.values():
        out, last = f(**tkw, return_last_state=True)
        assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
        assert isinstance(last, torch.Tensor) and last.dtype == torch.float32
        _close(out.detach().numpy(), recurrence(**kw)[0])


def test_float64_and_float16_numpy_inputs_keep_their_dtype():
    kw = ssm.random_scan_inputs(1, 3, 5, 2, seed=2)
    for dtype in (np.float64, np.float16):
        k2 = dict(kw, u=kw["u"].astype(dtype))
        assert ssm.selective_scan_ref(**k2).dtype == dtype
        assert ssm.selective_scan(**k2, backend="cpu").dtype == dtype


def test_parallel_scan_is_differentiable_and_matches_the_loop_gradient():
    kw = ssm.random_scan_inputs(1, 4, 13, 3, seed=5)
    grads = []
    for f in (ssm.selective_scan_torch_loop, ssm.selective_scan_parallel):
        t = {k: torch.tensor(v, requires_grad=True) for k, v in kw.items()}
        f(**t).square().sum().backward()
        grads.append({k: v.grad.numpy() for k, v in t.items()})
    for k in kw:
        _close(grads[1][k], grads[0][k], rtol=1e-4)


# ------------------------------------------------------------------ errors
def _kw():
    return ssm.random_scan_inputs(2, 4, 6, 3, seed=0)


@pytest.mark.parametrize("f", list(VARIANTS.values()), ids=list(VARIANTS))
@pytest.mark.parametrize("key, value, err, match", [
    ("u", np.zeros((4, 6), np.float32), ValueError, "u must have shape"),
    ("delta", np.zeros((2, 4, 5), np.float32), ValueError, "delta must have the shape of u"),
    ("A", np.zeros((5, 3), np.float32), ValueError, "A must have shape"),
    ("B", np.zeros((2, 3, 5), np.float32), ValueError, "B must have shape"),
    ("C", np.zeros((2, 3, 3, 6), np.float32), ValueError, "C must have shape"),
    ("D", np.zeros(5, np.float32), ValueError, "D must have shape"),
    ("z", np.zeros((2, 4, 7), np.float32), ValueError, "z must have shape"),
    ("u", np.zeros((2, 4, 6), np.int64), TypeError, "u must hold real floating-point"),
    ("A", np.zeros((4, 3), np.complex64), TypeError, "A must hold real floating-point"),
    ("B", [[0.0]], TypeError, "B must be a NumPy array or a torch tensor"),
    ("delta", torch.zeros(2, 4, 6, dtype=torch.int32), TypeError, "delta must hold real floating-point"),
])
def test_bad_inputs_raise_clear_errors(f, key, value, err, match):
    kw = _kw()
    kw[key] = value
    with pytest.raises(err, match=match):
        f(**kw)


def test_groups_must_divide_channels_and_agree():
    kw = _kw()
    kw["B"] = np.zeros((2, 3, 3, 6), np.float32)
    kw["C"] = np.zeros((2, 3, 3, 6), np.float32)
    with pytest.raises(ValueError, match="divisible by groups"):
        ssm.selective_scan_ref(**kw)
    kw["B"] = np.zeros((2, 2, 3, 6), np.float32)
    kw["C"] = np.zeros((2, 4, 3, 6), np.float32)
    with pytest.raises(ValueError, match="same number of groups"):
        ssm.selective_scan_ref(**kw)


def test_backend_argument_is_checked():
    with pytest.raises(ValueError, match="backend must be one of"):
        ssm.selective_scan(**_kw(), backend="tpu")


@pytest.mark.skipif(cupy_status()[0], reason="a GPU is usable here")
def test_asking_for_the_gpu_without_one_says_why():
    with pytest.raises(BackendUnavailable, match="not usable"):
        ssm.selective_scan(**_kw(), backend="gpu")


# ------------------------------------------------------------------ linear recurrences
@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 9), min_size=1, max_size=3), data=st.data(),
       method=st.sampled_from(["blelloch", "hillis_steele"]), use_torch=st.booleans())
def test_associative_scan_equals_the_sequential_scan(shape, data, method, use_torch):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    rng = np.random.default_rng(data.draw(st.integers(0, 1000)))
    a = rng.uniform(-1.2, 1.2, shape)
    b = rng.standard_normal(shape)
    if use_torch:
        a, b = torch.from_numpy(a), torch.from_numpy(b)
    want = ssm.linear_scan(a, b, axis=axis)
    got = ssm.associative_scan(a, b, axis=axis, method=method)
    assert type(got) is type(want) and tuple(got.shape) == tuple(shape)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-10, atol=1e-10)
    # and the loop is the definition
    h = np.zeros(np.moveaxis(np.asarray(b), axis, 0).shape[1:])
    for t in range(shape[axis]):
        h = np.take(np.asarray(a), t, axis=axis) * h + np.take(np.asarray(b), t, axis=axis)
        np.testing.assert_allclose(np.take(np.asarray(want), t, axis=axis), h, rtol=1e-12, atol=1e-12)


def test_scan_arguments_are_checked():
    a = np.ones((3, 4))
    with pytest.raises(ValueError, match="same shape"):
        ssm.associative_scan(a, np.ones((4, 3)))
    with pytest.raises(ValueError, match="out of range"):
        ssm.linear_scan(a, a, axis=2)
    with pytest.raises(TypeError, match="same kind"):
        ssm.associative_scan(a, torch.ones(3, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="method must be one of"):
        ssm.associative_scan(a, a, method="sklansky")
    with pytest.raises(TypeError, match="floating-point"):
        ssm.linear_scan(np.ones(3, int), np.ones(3, int))


@pytest.mark.parametrize("method", ["blelloch", "hillis_steele"])
@pytest.mark.parametrize("L", [1, 2, 3, 5, 8, 13, 16, 100])
def test_scan_schedule_computes_prefix_sums_in_log_depth(method, L):
    levels = ssm.scan_schedule(L, method)
    vals = list(range(1, L + 1))
    for level in levels:
        snapshot = list(vals)
        dsts = [dst for _, dst in level]
        assert len(set(dsts)) == len(dsts), "a level writes each position at most once"
        for src, dst in level:
            assert src < dst
            vals[dst] = snapshot[src] + snapshot[dst]
    assert vals == list(np.cumsum(range(1, L + 1)))
    depth_bound = math.ceil(math.log2(L)) * (2 if method == "blelloch" else 1) if L > 1 else 0
    assert len(levels) <= depth_bound
    work = sum(len(lv) for lv in levels)
    if method == "blelloch":
        assert work <= 2 * L


# ------------------------------------------------------------------ discretisation
def test_zoh_is_exact_for_a_constant_input():
    a, b, dt, steps = -1.7, 0.8, 0.3, 12
    Abar, Bbar = ssm.discretize(a, b, dt, "zoh")
    h = 0.0
    for _ in range(steps):
        h = Abar * h + Bbar * 1.0
    exact = b / a * (math.exp(a * dt * steps) - 1.0)      # h' = a h + b, h(0) = 0
    assert h == pytest.approx(exact, rel=1e-12)


def test_discretisations_agree_for_small_steps_and_differ_as_documented():
    A = np.array([-1.0, -4.0])
    B = np.array([1.0, 2.0])
    for method in ("zoh", "euler", "mamba"):
        Abar, Bbar = ssm.discretize(A, B, 1e-4, method)
        np.testing.assert_allclose(Abar, 1 + 1e-4 * A, rtol=1e-7)
        np.testing.assert_allclose(Bbar, 1e-4 * B, rtol=1e-3)
    Abar_m, Bbar_m = ssm.discretize(A, B, 0.5, "mamba")
    Abar_z, _ = ssm.discretize(A, B, 0.5, "zoh")
    np.testing.assert_allclose(Abar_m, Abar_z)
    np.testing.assert_allclose(Bbar_m, 0.5 * B)
    Abar_e, _ = ssm.discretize(A, B, 0.6, "euler")
    assert abs(Abar_e[1]) > 1, "Euler is unstable once delta > 2/|A|"
    assert np.all(np.abs(Abar_z) < 1), "ZOH keeps a stable system stable"


def test_zoh_limit_as_A_goes_to_zero():
    _, Bbar = ssm.discretize(np.array([0.0, 1e-12]), 3.0, 0.5, "zoh")
    np.testing.assert_allclose(Bbar, [1.5, 1.5])


def test_discretize_checks_its_inputs():
    with pytest.raises(ValueError, match="step size"):
        ssm.discretize(-1.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="method must be one of"):
        ssm.discretize(-1.0, 1.0, 0.1, "bilinear")
    with pytest.raises(ValueError, match="finite"):
        ssm.discretize(np.nan, 1.0, 0.1)


# ------------------------------------------------------------------ helpers
def test_scan_work_counts():
    w = ssm.scan_work(8, 4096, 2048, 16, has_z=False)
    assert w["elements"] == 8 * 4096 * 2048 * 16
    assert w["flops"] == 7 * w["elements"] + 2 * 8 * 4096 * 2048
    # the reference sheet's fp32 roofline: 4(3BDL + 2BNL + DN + D) bytes
    assert w["bytes_fused"] == 4 * (3 * 8 * 4096 * 2048 + 2 * 8 * 16 * 2048 + 4096 * 16 + 4096)
    assert w["bytes_unfused"] > 10 * w["bytes_fused"]
    with pytest.raises(ValueError):
        ssm.scan_work(0, 1, 1, 1)


def test_random_inputs_are_reproducible_and_shaped():
    a = ssm.random_scan_inputs(2, 6, 5, 4, groups=3, seed=7)
    b = ssm.random_scan_inputs(2, 6, 5, 4, groups=3, seed=7)
    assert a["B"].shape == (2, 3, 4, 5) and a["A"].shape == (6, 4)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
        assert a[k].dtype == np.float32


def test_fast_exp_is_accurate():
    from frontier.kernels.scan_cpu import fast_exp

    x = np.linspace(-80, 80, 20001, dtype=np.float32)
    rel = np.abs(fast_exp(x) / np.exp(x.astype(np.float64)) - 1)
    assert rel.max() < 1e-6


# ------------------------------------------------------------------ training path
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=scan_cases())
def test_compiled_backward_matches_autograd_through_the_loop(case):
    kw, softplus = case
    weights = None
    results = []
    for f in (ssm.selective_scan_torch_loop, ssm.selective_scan_autograd):
        t = {k: torch.tensor(v, requires_grad=True) for k, v in kw.items()}
        out = f(**t, delta_softplus=softplus)
        if weights is None:
            weights = torch.from_numpy(np.random.default_rng(0).standard_normal(tuple(out.shape)).astype(np.float32))
        (out * weights).sum().backward()
        results.append((out.detach().numpy(), {k: v.grad.numpy() for k, v in t.items()}))
    _close(results[1][0], results[0][0])
    for k in kw:
        _close(results[1][1][k], results[0][1][k], rtol=5e-4)


def test_compiled_scan_wants_cpu_tensors():
    kw = ssm.random_scan_inputs(1, 2, 3, 2, seed=0)
    with pytest.raises(TypeError, match="torch tensor on the CPU"):
        ssm.selective_scan_autograd(**kw)


# --------------------------------------------------------------------------- the Mamba block, LTI = convolution
def test_mamba_block_equals_the_tiny_models_block_and_reports_shapes():
    from frontier.models.tiny_ssm import TinySSM, TinySSMConfig
    block = TinySSM(TinySSMConfig(vocab_size=8, d_model=16, n_layers=1, d_state=4, d_conv=3), seed=1).blocks[0]
    w = ssm.MambaBlockWeights.from_module(block)
    assert w.sizes == {"d_model": 16, "d_inner": 32, "d_state": 4, "dt_rank": 1, "d_conv": 3}
    x = torch.randn(3, 11, 16, generator=torch.Generator().manual_seed(0))
    out, parts = ssm.mamba_block(x, w, return_parts=True)
    with torch.no_grad():
        assert torch.allclose(out, block(x), atol=1e-5)
    assert {k: tuple(v.shape) for k, v in parts.items()} == {
        "u": (3, 32, 11), "z": (3, 32, 11), "u_conv": (3, 32, 11), "dt": (3, 1, 11), "delta": (3, 32, 11),
        "B": (3, 4, 11), "C": (3, 4, 11), "y": (3, 32, 11)}
    assert bool((parts["delta"] > 0).all())
    assert w.n_parameters() == sum(p.numel() for p in block.parameters())


def test_causal_depthwise_conv_matches_torch_and_never_looks_ahead():
    g = torch.Generator().manual_seed(1)
    x, w, b = torch.randn(2, 5, 9, generator=g), torch.randn(5, 4, generator=g), torch.randn(5, generator=g)
    ref = torch.nn.functional.conv1d(x, w[:, None, :], b, padding=3, groups=5)[..., :9]
    assert torch.allclose(ssm.causal_depthwise_conv(x, w, b), ref, atol=1e-6)
    x2 = x.clone()
    x2[..., 6:] += 1.0                                  # change the future only
    assert torch.allclose(ssm.causal_depthwise_conv(x2, w, b)[..., :6], ssm.causal_depthwise_conv(x, w, b)[..., :6])


def test_random_mamba_weights_follow_mamba_minimal_init():
    w = ssm.random_mamba_weights(32, d_state=8, seed=2)
    assert torch.allclose(-torch.exp(w.A_log[0]), -torch.arange(1.0, 9.0, dtype=w.A_log.dtype))
    delta0 = torch.nn.functional.softplus(w.dt_bias)
    assert float(delta0.min()) >= 0.001 - 1e-9 and float(delta0.max()) <= 0.1 + 1e-9
    with pytest.raises(ValueError, match="x must"):
        ssm.mamba_block(torch.zeros(1, 4, 31), w)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4), st.integers(1, 5), st.integers(1, 30), st.integers(0, 10_000))
def test_a_time_invariant_ssm_is_a_convolution_with_its_kernel(E, N, L, seed):
    rng = np.random.default_rng(seed)
    A = -rng.uniform(0.1, 3.0, (E, N))
    B, C = rng.standard_normal((2, E, N))
    delta = rng.uniform(0.01, 1.0, E)
    u = rng.standard_normal((2, E, L))
    fixed = lambda a: np.broadcast_to(a[None, :, :, None], (2, E, N, L))
    rec = ssm.selective_scan_ref(u, np.broadcast_to(delta[None, :, None], u.shape), A, fixed(B), fixed(C))
    conv = ssm.causal_convolution(u, ssm.lti_kernel(A, B, C, delta, L))
    assert np.allclose(rec, conv, atol=1e-5 * (1 + np.abs(conv).max()))


def test_lti_kernel_is_c_abar_power_bbar():
    K = ssm.lti_kernel([[-1.0]], [[2.0]], [[3.0]], 0.5, 4, method="zoh")
    Abar, Bbar = ssm.discretize(-1.0, 2.0, 0.5, "zoh")
    assert np.allclose(K[0], 3.0 * Abar ** np.arange(4) * Bbar)
    with pytest.raises(ValueError, match="shape"):
        ssm.lti_kernel(np.ones((2, 3)), np.ones((2, 2)), np.ones((2, 3)), 0.1, 4)
