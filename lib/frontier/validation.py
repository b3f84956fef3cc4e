"""Input checks shared by the library's public functions.

Every public function validates its arguments at the boundary and raises a
``TypeError`` (wrong kind of value) or ``ValueError`` (right kind, bad value)
whose message names the argument and says what was expected.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["positive_int", "nonnegative_int", "positive_float", "nonnegative_float",
           "fraction", "choice", "int_array", "rng"]


def positive_int(name: str, value: object) -> int:
    """``value`` as an ``int`` if it is a positive integer, else a clear error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


def nonnegative_int(name: str, value: object) -> int:
    """``value`` as an ``int`` if it is an integer >= 0, else a clear error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)


def positive_float(name: str, value: object) -> float:
    """``value`` as a ``float`` if it is a finite number > 0, else a clear error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive, finite number, got {value}")
    return float(value)


def nonnegative_float(name: str, value: object) -> float:
    """``value`` as a ``float`` if it is a finite number >= 0, else a clear error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return float(value)


def fraction(name: str, value: object) -> float:
    """``value`` as a ``float`` in [0, 1], else a clear error."""
    v = nonnegative_float(name, value)
    if v > 1:
        raise ValueError(f"{name} must lie in [0, 1], got {value}")
    return v


def choice(name: str, value: object, options) -> object:
    """``value`` if it is one of ``options``, else a ``ValueError`` listing them."""
    if value not in options:
        raise ValueError(f"{name} must be one of {list(options)}, got {value!r}")
    return value


def lookup(name: str, value: object, table, cls: type):
    """``value`` itself if it is a ``cls``, else ``table[value]`` for one of the table's names: a ``ValueError``
    lists the names for an unknown one, a ``TypeError`` answers anything that is neither a name nor a ``cls``."""
    if isinstance(value, cls):
        return value
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a name in {list(table)} or a {cls.__name__}, got {type(value).__name__}")
    choice(name, value, tuple(table))
    return table[value]


def int_array(name: str, value: object) -> np.ndarray:
    """A 1-D ``int64`` array of positive integers from a scalar or a sequence."""
    arr = np.atleast_1d(np.asarray(value))
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a scalar or a 1-D sequence, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    if np.any(arr != np.round(arr)):
        raise ValueError(f"{name} must hold whole numbers, got {value!r}")
    if np.any(arr <= 0):
        raise ValueError(f"{name} must be positive, got minimum {arr.min()}")
    return arr.astype(np.int64)


def rng(seed: object = None, name: str = "seed") -> np.random.Generator:
    """A NumPy ``Generator`` from ``seed``: ``None`` (fresh entropy), an int >= 0, or a Generator (returned as is).

    Every function that samples takes ``seed`` and calls this once, so a
    caller may pass a number for reproducibility or share one Generator
    across calls.  ``name`` is the argument named in errors.
    """
    if seed is None or isinstance(seed, np.random.Generator):
        return np.random.default_rng(seed)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be None, an int or a numpy.random.Generator, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"{name} must be >= 0, got {seed}")
    return np.random.default_rng(int(seed))
