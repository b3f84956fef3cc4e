"""The one place that chooses where heavy kernels run: CuPy on an NVIDIA GPU, NumPy (+ numba) on the CPU.

>>> from frontier.kernels import get_backend
>>> be = get_backend()          # never fails for lack of a GPU
>>> be.name, be.reason          # e.g. ('numpy', 'CuPy is not installed (...)')

``get_backend("auto")`` picks CuPy when :func:`frontier.env.cupy_status` says a
kernel can run on a GPU, and the CPU otherwise; ``"cpu"`` forces the CPU;
``"gpu"`` raises :class:`BackendUnavailable` (with the reason) if there is no
usable GPU.  Set ``FRONTIER_DISABLE_GPU=1`` to make ``"auto"`` choose the CPU.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from types import ModuleType
from typing import Callable, Optional

import numpy as np

from ..env import cupy_status
from ..validation import choice

__all__ = ["Backend", "BackendUnavailable", "get_backend", "describe_backend", "to_numpy",
           "numba_status"]


class BackendUnavailable(RuntimeError):
    """Raised when a GPU backend is requested explicitly and cannot run here."""


@dataclass(frozen=True)
class Backend:
    """Where kernels run.

    ``name``: ``"cupy"`` or ``"numpy"``; ``device``: a human description
    (``"GPU: NVIDIA ..."`` or ``"CPU: 8 cores, numba 0.60"``); ``reason``: why
    this backend was chosen.
    """

    name: str
    device: str
    reason: str

    @property
    def is_gpu(self) -> bool:
        return self.name == "cupy"

    @property
    def xp(self) -> ModuleType:
        """The array module: ``cupy`` or ``numpy``."""
        if self.is_gpu:
            import cupy
            return cupy
        return np

    def synchronize(self) -> None:
        """Wait until queued device work is done (a no-op on the CPU)."""
        if self.is_gpu:
            import cupy
            cupy.cuda.get_current_stream().synchronize()

    def sync_fn(self) -> Optional[Callable[[], None]]:
        """A ``sync`` argument for :func:`frontier.timing.time_callable` (``None`` on the CPU)."""
        return self.synchronize if self.is_gpu else None


def numba_status() -> tuple:
    """``(usable, detail)`` for the compiled CPU path."""
    try:
        import numba
    except ImportError:
        return False, "numba is not installed; the CPU falls back to NumPy loops"
    return True, f"numba {numba.__version__}, {numba.config.NUMBA_NUM_THREADS} threads"


def _cpu_backend(reason: str) -> Backend:
    ok, detail = numba_status()
    return Backend("numpy", f"CPU: {os.cpu_count()} cores, {detail}", reason)


def get_backend(prefer: str = "auto") -> Backend:
    """Choose a backend: ``prefer`` is ``"auto"``, ``"cpu"`` or ``"gpu"``."""
    choice("prefer", prefer, ("auto", "cpu", "gpu"))
    if prefer == "cpu":
        return _cpu_backend("the CPU was requested")
    ok, detail = cupy_status()
    if ok:
        return Backend("cupy", f"GPU: {detail}", "CuPy can run kernels on a GPU here")
    if prefer == "gpu":
        raise BackendUnavailable(f"a GPU backend was requested but is not usable: {detail}")
    return _cpu_backend(f"no usable GPU ({detail})")


def describe_backend(prefer: str = "auto") -> str:
    """One line: which backend runs the kernels, on what, and why."""
    be = get_backend(prefer)
    return f"kernels run on {be.name} ({be.device}); reason: {be.reason}"


def to_numpy(x) -> np.ndarray:
    """A NumPy copy (or view) of a NumPy array, a CuPy array or a torch tensor."""
    if isinstance(x, np.ndarray):
        return x
    mod = type(x).__module__.split(".")[0]
    if mod == "cupy":
        return x.get()
    if mod == "torch":
        return x.detach().cpu().numpy()
    return np.asarray(x)
