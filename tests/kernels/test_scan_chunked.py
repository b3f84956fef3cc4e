"""The chunked two-pass scan (the GPU kernel's sequence parallelism) equals the recurrence.

The algorithm is re-done in NumPy with the kernel's segment maths
(:func:`frontier.kernels.scan_cpu.selective_scan_chunked`), so it is tested on
machines without a GPU; ``tests/kernels/test_gpu.py`` runs the kernel itself.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontier.architecture import ssm
from frontier.kernels.scan_cpu import selective_scan_chunked
from frontier.kernels.selective_scan import TCHUNK, launch_config


def _close(got, want, tol=2e-4):
    scale = max(1.0, float(np.max(np.abs(want))))
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale)


def _four_d(M, b, l):
    return M.reshape(b, -1, M.shape[-2], l) if M.ndim == 3 else M


@settings(max_examples=25, deadline=None)
@given(b=st.integers(1, 2), d=st.integers(1, 6), l=st.integers(1, 70), n=st.integers(1, 5),
       seg=st.integers(1, 24), softplus=st.booleans(), gate=st.booleans(), bias=st.booleans(),
       seed=st.integers(0, 2 ** 16))
def test_chunked_two_pass_equals_the_recurrence(b, d, l, n, seg, softplus, gate, bias, seed):
    kw = ssm.random_scan_inputs(b, d, l, n, seed=seed, with_z=gate, with_delta_bias=bias)
    ref, ref_last = ssm.selective_scan_ref(**kw, delta_softplus=softplus, return_last_state=True)
    out, last = selective_scan_chunked(kw["u"], kw["delta"], kw["A"], _four_d(kw["B"], b, l),
                                       _four_d(kw["C"], b, l), kw.get("D"), kw.get("z"),
                                       kw.get("delta_bias"), softplus, seg_len=seg)
    _close(out, ref)
    _close(last, ref_last)


@pytest.mark.parametrize("l, seg", [(1, 1), (1, 32), (33, 32), (100, 7), (64, 64)])
def test_single_steps_and_lengths_that_are_not_multiples_of_the_segment(l, seg):
    kw = ssm.random_scan_inputs(2, 4, l, 3, groups=2, seed=l, with_delta_bias=True)
    ref, ref_last = ssm.selective_scan_ref(**kw, delta_softplus=True, return_last_state=True)
    out, last = selective_scan_chunked(**kw, delta_softplus=True, seg_len=seg)
    _close(out, ref)
    _close(last, ref_last)


def test_the_carry_matters():
    # without the carried state the later segments would be wrong: a guard against a vacuous pass
    kw = ssm.random_scan_inputs(1, 3, 96, 4, seed=3)
    kw["delta"] = np.full_like(kw["delta"], 0.01)          # slow decay: the state lasts across segments
    ref = ssm.selective_scan_ref(**kw)
    out, _ = selective_scan_chunked(**{k: (v.reshape(1, 1, 4, 96) if k in "BC" else v) for k, v in kw.items()},
                                    seg_len=32)
    _close(out, ref)
    b4 = kw["B"].reshape(1, 1, 4, 96)
    c4 = kw["C"].reshape(1, 1, 4, 96)
    alone, _ = selective_scan_chunked(kw["u"][..., 32:], kw["delta"][..., 32:], kw["A"], b4[..., 32:],
                                      c4[..., 32:], kw["D"], kw["z"][..., 32:], seg_len=32)
    assert np.max(np.abs(alone - ref[..., 32:])) > 1e-2


def test_segment_lengths_of_the_launch_are_whole_chunks_and_cover_the_sequence():
    for b, d, l in [(1, 128, 2048), (1, 1024, 4096), (8, 2048, 2048), (1, 64, 300), (3, 40, 5)]:
        cfg = launch_config(b, d, 16, 1, l)
        assert cfg["seg_len"] % TCHUNK == 0
        assert (cfg["nseg"] - 1) * cfg["seg_len"] < l <= cfg["nseg"] * cfg["seg_len"]
    # small batch x channels: cut into segments so that the device fills; large: one segment
    assert launch_config(1, 128, 16, 1, 2048)["chunked"]
    assert not launch_config(64, 4096, 16, 1, 2048)["chunked"]
    assert not launch_config(1, 128, 16, 1, 2048, chunked=False)["chunked"]
