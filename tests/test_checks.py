"""frontier.checks: a printed pass, or an AssertionError that says what was expected."""
from __future__ import annotations

import numpy as np
import pytest

from frontier.checks import check_close, check_dtype, check_equal, check_shape, check_true


def test_check_close_passes_and_prints(capsys):
    check_close("Mixtral active parameters", 12_879_925_248, 12.88e9, rtol=1e-3)
    out = capsys.readouterr().out
    assert out.startswith("\u2713 Mixtral active parameters")
    assert "12,879,925,248" in out


def test_check_close_quiet_prints_nothing(capsys):
    check_close("x", 1.0, 1.0, quiet=True)
    assert capsys.readouterr().out == ""


def test_check_close_failure_says_expected_got_and_hint():
    with pytest.raises(AssertionError) as err:
        check_close("LLaMA-2 70B total", 6.9e10, 68_976_648_192, rtol=1e-9, hint="count the untied head")
    msg = str(err.value)
    assert "LLaMA-2 70B total" in msg and "expected 68,976,648,192" in msg
    assert "got 6.9e+10" in msg and "relative error 3.39e-04" in msg
    assert "Hint: count the untied head" in msg


def test_check_close_arrays_reports_first_bad_index():
    with pytest.raises(AssertionError, match=r"1 of 4 values differ.*index \(3,\).*expected 4, got 3"):
        check_close("scan", np.arange(4.0), [0, 1, 2, 4])
    check_close("scan", np.arange(4.0), [0, 1, 2, 3 + 1e-9])


def test_check_close_shape_mismatch_is_not_broadcast():
    with pytest.raises(AssertionError, match=r"expected shape \(3,\), got shape \(1, 3\)"):
        check_close("y", np.zeros((1, 3)), np.zeros(3))


@pytest.mark.parametrize("got, fragment", [
    (None, "got None"),
    ("abc", "expected a number or an array, got str"),
    (float("nan"), "non-finite"),
])
def test_check_close_rejects_non_numbers(got, fragment):
    with pytest.raises(AssertionError, match=fragment):
        check_close("value", got, 3.0)


def test_check_close_atol_and_bad_tolerances():
    check_close("zero", 1e-12, 0.0, atol=1e-9)
    with pytest.raises(ValueError, match="rtol and atol must be >= 0"):
        check_close("x", 1.0, 1.0, rtol=-1)


def test_check_close_accepts_torch_tensors():
    torch = pytest.importorskip("torch")
    check_close("t", torch.tensor([1.0, 2.0]), np.array([1.0, 2.0]), quiet=True)


def test_check_equal():
    check_equal("grade ids", ("a", "b"), ("a", "b"), quiet=True)
    check_equal("arr", np.arange(3), [0, 1, 2], quiet=True)
    with pytest.raises(AssertionError, match="expected 6,738,415,616, got 6,738,415,615"):
        check_equal("LLaMA-2 7B", 6_738_415_615, 6_738_415_616)
    with pytest.raises(AssertionError, match="1 of 3 values differ"):
        check_equal("arr", np.arange(3), [0, 1, 3])


def test_check_shape_with_wildcards():
    check_shape("scores", np.zeros((2, 4, 4)), (2, None, 4), quiet=True)
    with pytest.raises(AssertionError, match=r"expected shape \(2, any, 5\), got \(2, 4, 4\)"):
        check_shape("scores", np.zeros((2, 4, 4)), (2, None, 5))
    with pytest.raises(AssertionError, match="expected shape .* got \\(4,\\)"):
        check_shape("v", np.zeros(4), (4, 1))
    with pytest.raises(AssertionError, match="no shape"):
        check_shape("v", [1, 2], (2,))


def test_check_dtype_numpy_torch_and_strings():
    check_dtype("x", np.zeros(2, np.float32), "float32", quiet=True)
    check_dtype("x", np.zeros(2, np.int64), np.int64, quiet=True)
    with pytest.raises(AssertionError, match="expected dtype float64, got float32"):
        check_dtype("x", np.zeros(2, np.float32), np.float64)
    torch = pytest.importorskip("torch")
    check_dtype("t", torch.zeros(2, dtype=torch.bfloat16), torch.bfloat16, quiet=True)
    check_dtype("t", torch.zeros(2), "float32", quiet=True)
    with pytest.raises(AssertionError, match="expected dtype float16, got float32"):
        check_dtype("t", torch.zeros(2), torch.float16)


def test_check_true():
    check_true("positive", 3 > 0, "should be positive", quiet=True)
    with pytest.raises(AssertionError, match="loss: should decrease"):
        check_true("loss", False, "should decrease")
