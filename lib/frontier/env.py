"""What this machine offers the course: Python, torch, CPU or GPU, CuPy.

``report()`` returns the facts as a dict; ``describe()`` formats them for a
notebook.  Nothing here fails for lack of a GPU: a missing or broken CuPy is
reported with the reason, and every demo falls back to the CPU.
"""
from __future__ import annotations

import os
import platform
import sys
from contextlib import contextmanager
from functools import lru_cache
from typing import Dict, Iterator, Optional, Tuple

__all__ = ["torch_threads", "cupy_status", "torch_status", "report", "describe", "in_colab", "ensure_env_bin_on_path"]


def in_colab() -> bool:
    """True when running inside Google Colab."""
    return "google.colab" in sys.modules


@lru_cache(maxsize=1)
def cupy_status() -> Tuple[bool, str]:
    """``(usable, reason)``: whether CuPy can run a kernel on a GPU here, and why not.

    Importing CuPy is not enough: we compile and run a tiny element-wise kernel,
    which catches a missing driver, a missing CUDA runtime and a CuPy build for
    the wrong CUDA version.  Set ``FRONTIER_DISABLE_GPU=1`` to force the CPU.
    """
    if os.environ.get("FRONTIER_DISABLE_GPU"):
        return False, "disabled by FRONTIER_DISABLE_GPU"
    try:
        import cupy  # noqa: F401
    except ImportError:
        return False, "CuPy is not installed (pip install 'llm-frontiers[gpu]' on a machine with an NVIDIA GPU)"
    except Exception as exc:  # a broken install raises all sorts of things
        return False, f"CuPy failed to import: {exc.__class__.__name__}: {exc}"
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        return False, f"CuPy found no usable CUDA driver: {exc.__class__.__name__}: {exc}"
    if n == 0:
        return False, "CuPy is installed but no NVIDIA GPU is visible"
    try:
        x = cupy.arange(4, dtype=cupy.float32)
        if float((x * 2).sum()) != 12.0:
            return False, "CuPy ran a test kernel but got a wrong answer"
    except Exception as exc:
        return False, f"CuPy could not run a kernel: {exc.__class__.__name__}: {exc}"
    name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
    name = name.decode() if isinstance(name, bytes) else str(name)
    return True, f"CuPy {cupy.__version__} on {name}"


def torch_status() -> Dict[str, object]:
    """torch's version and which accelerator it can use (``'cuda'``, ``'mps'`` or ``'cpu'``)."""
    try:
        import torch
    except ImportError:
        return {"version": None, "device": "cpu", "detail": "torch is not installed"}
    if torch.cuda.is_available():
        return {"version": torch.__version__, "device": "cuda",
                "detail": torch.cuda.get_device_name(0)}
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return {"version": torch.__version__, "device": "mps", "detail": "Apple GPU (Metal)"}
    build = "CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda} build, no GPU visible"
    return {"version": torch.__version__, "device": "cpu", "detail": build}


def _distribution_version(name: str) -> Optional[str]:
    """The installed version of distribution ``name``, or None."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def report() -> Dict[str, object]:
    """Facts about this environment, as a flat dict of strings, numbers and booleans."""
    import numpy

    cupy_ok, cupy_reason = cupy_status()
    t = torch_status()
    # Versions from the installed distributions: env is computation-side and never imports a GUI library.
    widgets, plotly_v = _distribution_version("ipywidgets"), _distribution_version("plotly")
    return {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "cpu_count": os.cpu_count(),
        "numpy": numpy.__version__,
        "torch": t["version"],
        "torch_device": t["device"],
        "torch_detail": t["detail"],
        "cupy": cupy_ok,
        "cupy_detail": cupy_reason,
        "ipywidgets": widgets,
        "plotly": plotly_v,
        "colab": in_colab(),
    }


def describe() -> str:
    """A few lines that say what this machine will run the course on."""
    r = report()
    lines = [
        f"Python {r['python']} on {r['platform']} ({r['cpu_count']} CPU cores)",
        f"numpy {r['numpy']}, torch {r['torch']} -> {r['torch_device']} ({r['torch_detail']})",
        f"ipywidgets {r['ipywidgets']}, plotly {r['plotly']}" + (", running on Colab" if r["colab"] else ""),
        ("GPU kernels: " + r["cupy_detail"]) if r["cupy"] else
        ("GPU kernels: off, demos run on the CPU. Reason: " + r["cupy_detail"]),
    ]
    return "\n".join(lines)


def ensure_env_bin_on_path() -> str:
    """Put this Python environment's ``bin/`` (``Scripts\\`` on Windows) first on ``PATH`` if it is not there.

    Tools started as ``.venv/bin/python ...`` or ``.venv/bin/jupyter lab`` without activating the environment see
    the caller's ``PATH``, which lacks ``.venv/bin``; nbgrader then cannot find the ``alembic`` command it runs to
    create the gradebook, and kernels and terminals started by the server miss the environment's commands. Called
    by ``nbgrader_config.py`` (so by every nbgrader command and the Formgrader that read it). Changes ``os.environ``
    of this process (and so of every process it starts). Idempotent. Returns the directory.
    """
    import sysconfig

    bindir = sysconfig.get_path("scripts") or os.path.join(sys.prefix, "bin")
    parts = os.environ.get("PATH", "").split(os.pathsep)
    same = {os.path.normcase(os.path.realpath(p)) for p in parts if p}
    if os.path.normcase(os.path.realpath(bindir)) not in same:
        os.environ["PATH"] = os.pathsep.join([bindir] + [p for p in parts if p])
    return bindir


@contextmanager
def torch_threads(n: Optional[int] = 1) -> Iterator[None]:
    """Run the ``with`` block with torch limited to ``n`` intra-op threads, then restore the previous count.

    The one thread-limiting helper of the library.  For the course's tiny
    tensors one thread is usually fastest (starting and synchronising threads
    costs more than small products save), timings are steadier, and parallel
    test runs do not oversubscribe the cores.  ``n=None`` leaves the setting
    alone.  Without torch installed it does nothing.
    """
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"threads must be an int or None, got {type(n).__name__}")
        if n <= 0:
            raise ValueError(f"threads must be a positive integer, got {n}")
    try:
        import torch
    except ImportError:
        torch = None
    if n is None or torch is None:
        yield
        return
    before = torch.get_num_threads()
    if before != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
