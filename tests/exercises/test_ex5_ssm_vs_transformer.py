"""Exercise 5's support: cases, scan depth, CPU-like timings, derived quantities, frozen values."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from frontier.architecture import costs, ssm
from frontier.exercises import ex5_ssm_vs_transformer as ex5
from frontier.timing import fit_power_law


def test_cases_are_reproducible_and_varied():
    a, b = ex5.scan_cases(5, seed=1), ex5.scan_cases(5, seed=1)
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x:
            np.testing.assert_array_equal(x[k], y[k])
    assert len({c["u"].shape for c in ex5.scan_cases(10, seed=2)}) > 3
    assert all("D" not in c for c in ex5.scan_cases(4, seed=3, with_D=False))
    for a_, b_ in ex5.linear_scan_cases(10, seed=4):
        assert a_.shape == b_.shape and 1 <= a_.shape[-1] <= 70


def test_fingerprints_tell_right_from_wrong():
    kw = ex5.scan_cases(1, seed=9)[0]
    y = ssm.selective_scan_ref(**kw)
    want = ex5.fingerprint(y)
    assert ex5.fingerprints_close(ex5.fingerprint(y.astype(np.float64) * (1 + 1e-7)), want) is None
    swapped = np.array(y, dtype=np.float64)
    swapped.reshape(-1)[[0, -1]] = swapped.reshape(-1)[[-1, 0]]
    if swapped.size > 1 and not np.isclose(swapped.reshape(-1)[0], swapped.reshape(-1)[-1]):
        assert ex5.fingerprints_close(ex5.fingerprint(swapped), want) is not None
    assert "shape" in ex5.fingerprints_close(ex5.fingerprint(y[..., :-1]) if y.shape[-1] > 1 else
                                             ex5.fingerprint(np.zeros((9, 9))), want)


def _hillis_steele(a, b):
    L, off = a.shape[-1], 1
    while off < L:
        a_new, b_new = combine(a[..., :-off], b[..., :-off], a[..., off:], b[..., off:])  # noqa: F821
        a = np.concatenate([a[..., :off], a_new], axis=-1)
        b = np.concatenate([b[..., :off], b_new], axis=-1)
        off *= 2
    return b


def _sequential(a, b):
    acc_a, acc_b, out = a[..., 0], b[..., 0], [b[..., 0]]
    for t in range(1, a.shape[-1]):
        acc_a, acc_b = combine(acc_a, acc_b, a[..., t], b[..., t])  # noqa: F821
        out.append(acc_b)
    return np.stack(out, axis=-1)


def _loop_plus_one_dummy_combine(a, b):
    combine(a[..., :1], b[..., :1], a[..., :1], b[..., :1])  # noqa: F821  (the call-count loophole)
    h, out = np.zeros(a.shape[:-1]), []
    for t in range(a.shape[-1]):
        h = a[..., t] * h + b[..., t]
        out.append(h)
    return np.stack(out, axis=-1)


@pytest.mark.parametrize("L", [1, 2, 7, 64, 1000])
def test_scan_depth_separates_parallel_from_sequential(L):
    ns = globals()
    need = np.ceil(np.log2(np.arange(1, L + 1)))
    depth = ex5.scan_depths(_hillis_steele, L, ns)
    np.testing.assert_array_equal(depth, need)  # Hillis-Steele: exactly ceil(log2(t + 1)) levels
    seq = ex5.scan_depths(_sequential, L, ns)
    np.testing.assert_array_equal(seq, np.arange(L))  # a loop: t levels at position t
    dummy = ex5.scan_depths(_loop_plus_one_dummy_combine, L, ns)
    if L > 1:
        assert np.any(dummy < need), "one dummy combine must not look like a scan"
    assert "combine" not in ns  # restored (there was none)


def test_cpu_like_timings_have_the_shape_real_cpus_show():
    for seed in range(10):
        t = ex5.cpu_like_timings(seed, noise=0.0)
        att = ex5.local_slopes(t["T"], t["attention"])
        assert att[0] < 1.7, "attention's slope at short lengths must sit well below 2"
        assert 1.9 < att[-1] <= 2.0, "and approach 2 at long lengths"
        s = ex5.local_slopes(t["T"], t["ssm"])
        assert s[0] < 0.95 and 0.97 < s[-1] <= 1.0
        fit = fit_power_law(t["T"], t["attention"])[1]
        assert 1.55 < fit < 2.0
    noisy = ex5.cpu_like_timings(3)
    assert not np.allclose(noisy["attention"], ex5.cpu_like_timings(3, noise=0.0)["attention"])
    np.testing.assert_array_equal(noisy["attention"], ex5.cpu_like_timings(3)["attention"])


def test_derived_quantities_agree_with_closed_forms():
    # independent check of the search: 4 d T(T+1)/2 >= 7 T E N  <=>  T + 1 >= 7 E N / (2 d)
    for d, E, N in [(4096, 8192, 16), (8, 16, 2), (64, 256, 128), (1000, 2000, 1)]:
        T = ex5.equal_flops_length(d, E, N)
        assert T == max(1, math.ceil(7 * E * N / (2 * d)) - 1)
    assert ex5.equal_flops_length(4096, 8192, 16) == 111
    for budget, d, L, b in [(640, 8, 2, 2), (80e9, 4096, 32, 2), (10, 8, 2, 2)]:
        assert ex5.longest_kv_context(budget, d, L, b) == int(budget // (2 * d * L * b))
    with pytest.raises(ValueError, match="d_inner"):
        ex5.equal_flops_length(8, 15, 2)


def test_frozen_values_agree_with_the_library_and_are_literals():
    values = ex5.frozen_values()
    assert json.loads(json.dumps(values)) == values
    (T, d, L, H, E, N, k, b, causal), want = values["_COST_CASES"][0]
    shape = costs.ModelShape(d_model=d, n_heads=1, n_layers=L, bytes_per_element=b)
    assert want["kv_cache_bytes"] == 2.0 * T * d * L * b  # the exercise's stated formula, as a second check
    assert want["ssm_state_bytes"] == L * E * (N + k - 1) * b
    assert want["attention_mixing_flops"] == costs.dense([T], shape, causal=causal).mixing_flops[0] / L
    for t in values["_TIMING_SETS"]:
        assert fit_power_law(t["T"], t["attention"])[1] == pytest.approx(t["fit_attention"][1])
    fit = values["EXPECTED_FIT"]
    assert fit["attention"][1] < 1.9 and 0.95 < fit["ssm"][1] < 1.05


def test_gaming_students_compile():
    students = ex5.gaming_students()
    assert set(students) == {"delegates", "sequential", "hardcodes"}
    for spec in students.values():
        for source in spec["answers"].values():
            compile(source, "<answer>", "exec")
