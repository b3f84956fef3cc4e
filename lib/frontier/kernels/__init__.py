"""Compute kernels and the choice of where they run.

* :mod:`frontier.kernels.backend`         picks CuPy on a GPU or NumPy/numba on the CPU, and says why
* :mod:`frontier.kernels.scan_cpu`        the selective scan compiled with numba (CPU), and the GPU kernel's
  chunked two-pass algorithm re-done in NumPy (``selective_scan_chunked``)
* :mod:`frontier.kernels.selective_scan`  the fused selective-scan CUDA kernel (``selective_scan.cu``) via CuPy,
  with a chunked two-pass scan along the sequence when batch x channels cannot fill the GPU
* :mod:`frontier.kernels.attention`       GPU attention (``attention.cu``) via CuPy: cuBLAS products plus a
  softmax kernel, and a fused tiled kernel with the online softmax
* :mod:`frontier.kernels.cuda`            loading and compiling the ``.cu`` sources at run time

Importing this package never needs CuPy or a GPU.  ``python -m frontier.bench kernels --static``
reports the kernels' registers, spills, occupancy and instruction-issue ceilings from their machine
code (needs ``nvcc``, not a GPU).
"""
from .backend import Backend, BackendUnavailable, describe_backend, get_backend, to_numpy

__all__ = ["Backend", "BackendUnavailable", "describe_backend", "get_backend", "to_numpy"]
