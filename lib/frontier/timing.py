"""Honest timings: warm up, repeat, take the median, fit log-log slopes.

Benchmarks and lessons time real code with these helpers; tests never assert
on a time, only on correctness.

* :func:`time_callable` times one callable.  On a GPU, pass ``clock="cupy"``
  or ``clock="torch"``: ``number`` calls (default 10) are queued between one
  pair of CUDA events recorded on the current stream, behind one untimed call
  that keeps the GPU busy while the start event is recorded, and the time
  between the events is divided by ``number``.  While the kernels take longer
  than the Python work that launches them, the GPU never waits for Python and
  launch overhead is excluded; when they are shorter, the result is the launch
  rate, which is then the true cost of a call.  Or pass a ``sync`` callable
  (for example ``torch.cuda.synchronize``) with the default wall clock.
* :func:`sweep` times a family of callables over sizes and returns a tidy
  table (a list of dicts), optionally with achieved bandwidth and FLOP rate.
* :func:`fit_loglog_slope` / :func:`fit_power_law` fit ``y ~ c * x**p``;
  :func:`find_crossover` and :func:`crossover_from_fits` find where two cost
  curves cross.
* :func:`copy_bandwidth` measures the device's copy bandwidth (the practical
  ceiling for a memory-bound kernel); :func:`achieved_rates` turns bytes and
  FLOPs per call into rates.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .validation import choice, nonnegative_int, positive_float, positive_int

__all__ = ["Timing", "time_callable", "sweep", "fit_loglog_slope", "fit_power_law",
           "find_crossover", "crossover_from_fits", "achieved_rates", "copy_bandwidth",
           "format_table"]

CLOCKS = ("wall", "thread", "cupy", "torch")


@dataclass(frozen=True)
class Timing:
    """Summary of repeated runs of one callable (seconds)."""

    median: float
    minimum: float
    maximum: float
    repeats: int
    clock: str = "wall"
    number: int = 1


def _event_pair(clock: str):
    """Start/stop events and a function returning the seconds between them, for a CUDA clock."""
    if clock == "cupy":
        import cupy

        start, stop = cupy.cuda.Event(), cupy.cuda.Event()

        def elapsed() -> float:
            stop.synchronize()
            return cupy.cuda.get_elapsed_time(start, stop) / 1e3   # ms -> s
        return start.record, stop.record, elapsed
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("clock='torch' needs a CUDA GPU visible to torch")
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

    def elapsed() -> float:
        stop.synchronize()
        return start.elapsed_time(stop) / 1e3
    return start.record, stop.record, elapsed


def time_callable(fn: Callable[[], object], *, warmup: int = 1, repeat: int = 5,
                  sync: Optional[Callable[[], None]] = None, clock: str = "wall",
                  number: Optional[int] = None) -> Timing:
    """Time ``fn()``: ``repeat`` samples after ``warmup`` untimed calls; each sample
    is the time of ``number`` back-to-back calls divided by ``number`` (seconds per call).

    ``clock="wall"``: ``time.perf_counter``; ``sync`` (if given) is called
    before starting and before stopping each clock, so that asynchronous GPU
    work is finished inside the measured interval.  ``number`` defaults to 1.

    ``clock="thread"``: ``time.thread_time``, the CPU time of the calling
    thread.  For single-threaded CPU code it equals the wall time on an idle
    machine and leaves out the moments when other programs have the core, so
    it stays honest on a busy machine; it does not count work done by other
    threads.

    ``clock="cupy"`` or ``"torch"``: per sample, one untimed call is queued
    (so the GPU is busy), the start event is recorded, ``number`` calls
    (default 10) are queued, the stop event is recorded, and the host waits for
    it.  The time between the events divided by ``number`` is the GPU's time per
    call; the Python work of each launch (validation, lookup, allocation,
    argument packing) overlaps the previous kernels and is not counted, as long
    as a call's kernels outlast its launch.  Event resolution is about 0.5 us.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    warmup = nonnegative_int("warmup", warmup)
    repeat = positive_int("repeat", repeat)
    choice("clock", clock, CLOCKS)
    events = clock in ("cupy", "torch")
    number = positive_int("number", (10 if events else 1) if number is None else number)
    sync = sync or (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    samples = []
    if not events:
        now = time.perf_counter if clock == "wall" else time.thread_time
        for _ in range(repeat):
            sync()
            t0 = now()
            for _ in range(number):
                fn()
            sync()
            samples.append((now() - t0) / number)
    else:
        for _ in range(repeat):
            start, stop, elapsed = _event_pair(clock)
            fn()                      # keeps the GPU busy while the start event is recorded
            start()
            for _ in range(number):
                fn()
            stop()
            samples.append(elapsed() / number)
    arr = np.asarray(samples)
    return Timing(float(np.median(arr)), float(arr.min()), float(arr.max()), repeat, clock, number)


def sweep(make_fn: Callable[[int], Callable[[], object]], sizes: Iterable[int], *,
          label: str = "", warmup: int = 1, repeat: int = 5,
          sync: Optional[Callable[[], None]] = None,
          progress: bool = False, clock: str = "wall",
          work: Optional[Callable[[int], Mapping[str, float]]] = None) -> List[Dict[str, object]]:
    """Time ``make_fn(n)()`` for every ``n`` in ``sizes``.

    ``make_fn(n)`` prepares inputs for size ``n`` (untimed) and returns the
    zero-argument callable to time.  Returns tidy records
    ``{"label", "n", "seconds", "min", "max", "repeats"}``, one per size.

    ``work(n)``, if given, returns ``{"bytes": ..., "flops": ...}`` (either key
    optional) for one call at size ``n``; the records then also carry those
    and ``"bandwidth"`` (bytes/s) and ``"flop_rate"`` (FLOP/s), from the median.
    """
    sizes = [positive_int("size", int(n)) for n in sizes]
    it = sizes
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(sizes, desc=label or "timing", leave=True)
    rows = []
    for n in it:
        t = time_callable(make_fn(n), warmup=warmup, repeat=repeat, sync=sync, clock=clock)
        row: Dict[str, object] = {"label": label, "n": n, "seconds": t.median, "min": t.minimum,
                                  "max": t.maximum, "repeats": t.repeats}
        if work is not None:
            w = dict(work(n))
            row.update(achieved_rates(t.median, nbytes=w.get("bytes"), flops=w.get("flops")))
        rows.append(row)
    return rows


def _xy(x: Sequence[float], y: Sequence[float]) -> Tuple[np.ndarray, np.ndarray]:
    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    if xa.shape != ya.shape or xa.ndim != 1:
        raise ValueError(f"x and y must be 1-D and of equal length, got {xa.shape} and {ya.shape}")
    if xa.size < 2:
        raise ValueError("need at least two points to fit a slope")
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya))):
        raise ValueError("x and y must be finite")
    if np.any(xa <= 0) or np.any(ya <= 0):
        raise ValueError("x and y must be positive to fit a log-log slope")
    if np.ptp(np.log(xa)) == 0:
        raise ValueError("x must take at least two distinct values")
    return xa, ya


def fit_loglog_slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of ``log y`` against ``log x``: the exponent ``p`` in ``y ~ x**p``."""
    return fit_power_law(x, y)[1]


def fit_power_law(x: Sequence[float], y: Sequence[float]) -> Tuple[float, float]:
    """``(c, p)`` such that ``y ~ c * x**p``, by least squares on ``log y`` against ``log x``."""
    xa, ya = _xy(x, y)
    slope, intercept = np.polyfit(np.log(xa), np.log(ya), 1)
    return float(np.exp(intercept)), float(slope)


def crossover_from_fits(fit_a: Tuple[float, float], fit_b: Tuple[float, float]) -> Optional[float]:
    """Where ``c_a x**p_a == c_b x**p_b``, from two :func:`fit_power_law` results; ``None`` if parallel."""
    (ca, pa), (cb, pb) = fit_a, fit_b
    for name, c in (("fit_a", ca), ("fit_b", cb)):
        if not c > 0:
            raise ValueError(f"{name} must have a positive coefficient, got {c}")
    if math.isclose(pa, pb, rel_tol=1e-12, abs_tol=1e-12):
        return None
    return float(math.exp(math.log(cb / ca) / (pa - pb)))


def find_crossover(x: Sequence[float], y_a: Sequence[float], y_b: Sequence[float]) -> Optional[float]:
    """The first ``x`` at which the cheaper of two measured curves changes.

    ``y_a`` and ``y_b`` are costs (for example seconds) at the same ``x``.
    Between the two neighbouring points where ``log(y_a / y_b)`` changes sign,
    the crossing is interpolated linearly in ``log x``.  Returns ``None`` when
    one curve is cheaper (or equal) everywhere.  If the curves tie exactly at
    measured points between the two sides, the first tie is returned.
    """
    xa, ya = _xy(x, y_a)
    _, yb = _xy(x, y_b)
    order = np.argsort(xa)
    xa, ya, yb = xa[order], ya[order], yb[order]
    r = np.log(ya) - np.log(yb)
    last = None                     # index of the last point where one curve was strictly cheaper
    for i, ri in enumerate(r):
        if ri == 0:
            continue
        if last is not None and np.sign(ri) != np.sign(r[last]):
            if i - last > 1:        # exact ties in between: the first tie is the crossing
                return float(xa[last + 1])
            lx0, lx1 = math.log(xa[last]), math.log(xa[i])
            frac = r[last] / (r[last] - ri)
            return float(math.exp(lx0 + frac * (lx1 - lx0)))
        last = i
    return None


def achieved_rates(seconds: float, nbytes: Optional[float] = None,
                   flops: Optional[float] = None) -> Dict[str, float]:
    """``{"bytes", "bandwidth"}`` (bytes/s) and/or ``{"flops", "flop_rate"}`` (FLOP/s) for one call."""
    seconds = positive_float("seconds", seconds)
    out: Dict[str, float] = {}
    if nbytes is not None:
        out["bytes"] = float(nbytes)
        out["bandwidth"] = float(nbytes) / seconds
    if flops is not None:
        out["flops"] = float(flops)
        out["flop_rate"] = float(flops) / seconds
    return out


@lru_cache(maxsize=8)
def copy_bandwidth(device: str = "auto", nbytes: int = 1 << 28, repeat: int = 5) -> Dict[str, object]:
    """Measure the bandwidth of copying an ``nbytes`` buffer into another (bytes/s).

    Each copy reads ``nbytes`` and writes ``nbytes``, so the bandwidth counts
    ``2 * nbytes`` per copy: the number to compare a kernel's achieved
    bandwidth against.  ``device``: ``"auto"`` (GPU through CuPy when usable,
    else CPU), ``"cpu"`` or ``"gpu"``.  Cached per argument set.

    Returns ``{"device", "bytes", "seconds", "bandwidth"}``.
    """
    choice("device", device, ("auto", "cpu", "gpu"))
    nbytes = positive_int("nbytes", nbytes)
    from .kernels.backend import get_backend

    be = get_backend("cpu" if device == "cpu" else ("gpu" if device == "gpu" else "auto"))
    n = max(1, nbytes // 4)
    if be.is_gpu:
        import cupy

        src = cupy.ones(n, dtype=cupy.float32)
        dst = cupy.empty_like(src)
        t = time_callable(lambda: cupy.copyto(dst, src), warmup=2, repeat=repeat, clock="cupy")
    else:
        src = np.ones(n, dtype=np.float32)
        dst = np.empty_like(src)
        t = time_callable(lambda: np.copyto(dst, src), warmup=1, repeat=repeat)
    seconds = t.minimum        # the best run: the ceiling, not the typical case
    return {"device": be.device, "bytes": 2 * 4 * n, "seconds": seconds,
            "bandwidth": 2 * 4 * n / seconds}


def format_table(rows: Sequence[Mapping[str, object]], columns: Sequence[Tuple[str, str, str]]) -> str:
    """A fixed-width text table: ``columns`` are ``(key, header, format)``, e.g. ``("seconds", "ms", "{:.2f}")``.

    A missing or ``None`` value prints as ``-``.  Formats apply to the raw value,
    so scale beforehand (or use a key that already holds milliseconds).
    """
    cells = [[h for _, h, _ in columns]]
    for r in rows:
        line = []
        for key, _, fmt in columns:
            v = r.get(key)
            line.append("-" if v is None else fmt.format(v))
        cells.append(line)
    widths = [max(len(c[i]) for c in cells) for i in range(len(columns))]
    out = []
    for j, c in enumerate(cells):
        out.append("  ".join(s.rjust(w) for s, w in zip(c, widths)))
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)
