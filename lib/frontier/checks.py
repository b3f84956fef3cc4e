"""Self-checks for learners: a clear pass, or a failure that says what was expected.

For notebooks run without nbgrader (Colab, a laptop): each helper prints one
line when the check passes and raises ``AssertionError`` with a message that
names the quantity, the expected value and what it got when it fails::

    >>> check_close("Mixtral active parameters", 12_879_925_248, 12.88e9, rtol=1e-3)
    ✓ Mixtral active parameters: 12,879,925,248 (expected 1.288e+10, rtol 0.001)

    >>> import numpy as np
    >>> check_shape("scores", np.zeros((2, 4, 4)), (2, None, 4))
    ✓ scores: shape (2, 4, 4)

Helpers take an optional ``hint``, appended to the failure message (say where
to look).  They accept Python numbers, NumPy arrays and torch tensors; torch
is never imported here.
"""
from __future__ import annotations

import numbers
from typing import Any, Optional, Sequence

import numpy as np

__all__ = ["check_close", "check_equal", "check_shape", "check_dtype", "check_true"]

PASS = "\u2713"  # ✓


def _fail(message: str, hint: Optional[str]) -> None:
    if hint:
        message = f"{message}\n  Hint: {hint}"
    raise AssertionError(message)


def _ok(message: str, quiet: bool) -> None:
    if not quiet:
        print(f"{PASS} {message}")


def _as_array(name: str, value: Any) -> np.ndarray:
    """A NumPy view of a number, sequence, NumPy array or (CPU or GPU) torch tensor."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch tensor
        value = value.detach().cpu().numpy()
    elif hasattr(value, "get") and type(value).__module__.startswith("cupy"):  # CuPy array
        value = value.get()
    try:
        arr = np.asarray(value)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise TypeError(f"{name}: cannot compare a {type(value).__name__}") from exc
    if arr.dtype == object:
        raise TypeError(f"{name}: expected numbers or an array of numbers, got {type(value).__name__}")
    return arr


def _fmt(x: Any, digits: int = 4) -> str:
    if isinstance(x, np.ndarray):
        if x.size == 1:
            x = x.reshape(()).item()
        else:
            return f"array of shape {x.shape}"
    if isinstance(x, bool):
        return repr(x)
    if isinstance(x, numbers.Integral):
        return f"{int(x):,}"
    if isinstance(x, numbers.Real):
        return f"{float(x):.{digits}g}"
    return repr(x)


def check_close(name: str, got: Any, expected: Any, rtol: float = 1e-6, atol: float = 0.0,
                hint: Optional[str] = None, quiet: bool = False) -> None:
    """Pass if ``got`` equals ``expected`` within ``|got - expected| <= atol + rtol * |expected|``.

    Works elementwise for arrays (shapes must match exactly, no broadcasting).
    ``got`` that is ``None`` or not a number fails with a message saying so.
    """
    if rtol < 0 or atol < 0:
        raise ValueError(f"rtol and atol must be >= 0, got rtol={rtol}, atol={atol}")
    if got is None:
        _fail(f"{name}: got None; expected {_fmt(expected)}. Did the function forget to return?", hint)
    try:
        g = _as_array(name, got).astype(float)
    except (TypeError, ValueError):
        _fail(f"{name}: expected a number or an array, got {type(got).__name__}: {got!r}", hint)
    e = _as_array(name, expected).astype(float)
    if g.shape != e.shape:
        _fail(f"{name}: expected shape {e.shape}, got shape {g.shape}", hint)
    if not np.all(np.isfinite(g) | ~np.isfinite(e)):
        _fail(f"{name}: got non-finite values (nan or inf) where {_fmt(expected)} was expected", hint)
    close = np.isclose(g, e, rtol=rtol, atol=atol, equal_nan=True)
    if not np.all(close):
        if g.ndim == 0:
            rel = abs(g - e) / abs(e) if e != 0 else float("inf")
            want = expected if isinstance(expected, numbers.Number) else e
            have = got if isinstance(got, numbers.Number) else g
            _fail(f"{name}: expected {_fmt(want, 10)} (rtol {rtol:g}, atol {atol:g}), got {_fmt(have, 10)} "
                  f"(relative error {float(rel):.2e})", hint)
        bad = int(np.size(close) - np.count_nonzero(close))
        idx = tuple(int(i) for i in np.argwhere(~close)[0])
        _fail(f"{name}: {bad} of {close.size} values differ (rtol {rtol:g}, atol {atol:g}); "
              f"first at index {idx}: expected {_fmt(e[idx])}, got {_fmt(g[idx])}; "
              f"largest absolute error {np.max(np.abs(g - e)):.3g}", hint)
    if g.ndim == 0:
        _ok(f"{name}: {_fmt(got if isinstance(got, numbers.Number) else g)} "
            f"(expected {_fmt(expected if isinstance(expected, numbers.Number) else e)}, rtol {rtol:g})", quiet)
    else:
        _ok(f"{name}: all {g.size} values within rtol {rtol:g}, atol {atol:g}", quiet)


def check_equal(name: str, got: Any, expected: Any, hint: Optional[str] = None, quiet: bool = False) -> None:
    """Pass if ``got == expected`` exactly (integers, strings, tuples, dicts; arrays elementwise)."""
    if isinstance(got, np.ndarray) or isinstance(expected, np.ndarray) or hasattr(got, "detach"):
        g, e = _as_array(name, got), _as_array(name, expected)
        if g.shape != e.shape:
            _fail(f"{name}: expected shape {e.shape}, got shape {g.shape}", hint)
        if not np.array_equal(g, e):
            _fail(f"{name}: {int(np.count_nonzero(g != e))} of {g.size} values differ from the expected array",
                  hint)
        _ok(f"{name}: all {g.size} values equal", quiet)
        return
    if got != expected:
        _fail(f"{name}: expected {_fmt(expected)}, got {_fmt(got)}", hint)
    _ok(f"{name}: {_fmt(got)}", quiet)


def check_shape(name: str, array: Any, expected: Sequence[Optional[int]], hint: Optional[str] = None,
                quiet: bool = False) -> None:
    """Pass if ``array.shape`` matches ``expected``; ``None`` in ``expected`` matches any size."""
    shape = getattr(array, "shape", None)
    if shape is None:
        _fail(f"{name}: expected an array of shape {tuple(expected)}, got {type(array).__name__} (no shape)", hint)
    shape = tuple(int(s) for s in shape)
    exp = tuple(expected)
    if len(shape) != len(exp) or any(e is not None and e != s for s, e in zip(shape, exp)):
        shown = "(" + ", ".join("any" if e is None else str(e) for e in exp) + ("," if len(exp) == 1 else "") + ")"
        _fail(f"{name}: expected shape {shown}, got {shape}", hint)
    _ok(f"{name}: shape {shape}", quiet)


def _dtype_name(dtype: Any) -> str:
    """A comparable name for NumPy, torch or string dtypes: ``"float32"``, ``"int64"``, ``"bfloat16"``."""
    text = str(dtype)
    if text.startswith("torch."):
        return text[len("torch."):]
    try:
        return np.dtype(dtype).name
    except TypeError:
        return text


def check_dtype(name: str, array: Any, expected: Any, hint: Optional[str] = None, quiet: bool = False) -> None:
    """Pass if ``array.dtype`` is ``expected`` (``np.float32``, ``torch.float32`` or ``"float32"``)."""
    dtype = getattr(array, "dtype", None)
    if dtype is None:
        _fail(f"{name}: expected an array of dtype {_dtype_name(expected)}, got {type(array).__name__} "
              f"(no dtype)", hint)
    if _dtype_name(dtype) != _dtype_name(expected):
        _fail(f"{name}: expected dtype {_dtype_name(expected)}, got {_dtype_name(dtype)}", hint)
    _ok(f"{name}: dtype {_dtype_name(dtype)}", quiet)


def check_true(name: str, condition: Any, message: str, hint: Optional[str] = None, quiet: bool = False) -> None:
    """Pass if ``condition`` is true; otherwise fail with ``message`` (what should have held)."""
    if not bool(condition):
        _fail(f"{name}: {message}", hint)
    _ok(name, quiet)
