"""Load the package's ``.cu`` sources and compile them at run time with CuPy (NVRTC).

Kernels are compiled on first use, once per set of ``-D`` macros, and kept for
the session (CuPy also caches the binaries on disk, so a new session starts
fast).  Only this module and the wrappers that call it import CuPy.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Tuple

__all__ = ["cuda_source", "get_kernel", "COMPILE_OPTIONS"]

#: NVRTC options used for every kernel: fast float32 intrinsics (exp2 as one instruction).
COMPILE_OPTIONS: Tuple[str, ...] = ("--use_fast_math", "-std=c++14")


def cuda_source(filename: str) -> str:
    """The text of ``frontier/kernels/<filename>`` (e.g. ``"selective_scan.cu"``)."""
    if not filename.endswith(".cu") or "/" in filename or "\\" in filename:
        raise ValueError(f"filename must be the name of a .cu file in frontier/kernels, got {filename!r}")
    return resources.files("frontier.kernels").joinpath(filename).read_text(encoding="utf-8")


@lru_cache(maxsize=64)
def _module(filename: str, defines: Tuple[Tuple[str, int], ...]):
    import cupy

    options = COMPILE_OPTIONS + tuple(f"-D{k}={v}" for k, v in defines)
    return cupy.RawModule(code=cuda_source(filename), options=options)


def get_kernel(filename: str, name: str, **defines: int):
    """The compiled kernel ``name`` from ``filename`` with ``-DKEY=VALUE`` for each of ``defines``.

    Returns a ``cupy.RawKernel``; call it as ``kernel(grid, block, args, shared_mem=0)``.
    """
    key = tuple(sorted((str(k), int(v)) for k, v in defines.items()))
    return _module(filename, key).get_function(name)
