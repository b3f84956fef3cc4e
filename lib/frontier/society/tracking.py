"""Measure the energy and emissions of a run on this machine with ``codecarbon``, offline.

:func:`measure_emissions` wraps a function call in
``codecarbon.OfflineEmissionsTracker`` (no location lookup, no API, no output
files) and reports *how* the energy was obtained, because that decides what the
number means:

* ``RAPL`` (Intel/AMD running-average power-limit counters under
  ``/sys/class/powercap``) and the other hardware counters codecarbon reads are
  **measurements** of the CPU package;
* without counters (most virtual machines, containers, Colab) codecarbon
  **estimates** CPU power as the CPU's rated power (TDP, from its table of CPU
  models, or a generic default when the model is unknown) scaled by the
  measured CPU load, and RAM power from the installed memory.

A GPU, when present, is read through NVML (a measurement of board power).

By default the call also runs under :func:`no_network`, which refuses every
outgoing socket connection and counts the attempts, so the result proves the
tracker worked offline.
"""
from __future__ import annotations

import contextlib
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional

from ..validation import positive_float
from .energy import grid_intensity

__all__ = ["MeasuredRun", "measure_emissions", "no_network", "NetworkLog", "describe_method", "MEASURED_MODES",
           "TinyRun", "train_tiny_lm"]

#: codecarbon CPU modes that read hardware energy counters (everything else is an estimate).
MEASURED_MODES = {"intel_rapl": "RAPL energy counters", "intel_power_gadget": "Intel Power Gadget counters",
                  "windows_emi": "Windows Energy Meter Interface (RAPL)", "apple_powermetrics": "Apple powermetrics"}
_ESTIMATED_MODES = {"cpu_load": "CPU load x rated CPU power (TDP)",
                    "constant": "a constant share of the rated CPU power"}


def describe_method(cpu_mode: str, tdp_w: Optional[float], generic_tdp: bool) -> str:
    """A sentence saying how codecarbon obtained the CPU's power in mode ``cpu_mode``."""
    if cpu_mode in MEASURED_MODES:
        return f"measured: {MEASURED_MODES[cpu_mode]}"
    what = _ESTIMATED_MODES.get(cpu_mode, f"codecarbon mode {cpu_mode!r}")
    tdp = "" if tdp_w is None else f" of {tdp_w:g} W"
    src = (" (codecarbon's default watts per thread: this CPU model is not in its table)" if generic_tdp
           else " (from codecarbon's table of CPU models)")
    return f"estimated: {what}{tdp}{src if tdp_w is not None else ''}; no energy counters readable here"


# ---------------------------------------------------------------------------------------------------------------
# Refuse the network, and count who asked
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class NetworkLog:
    """Outgoing connection attempts refused inside :func:`no_network` (``(function, address)`` pairs)."""

    attempts: List[tuple] = field(default_factory=list)


@contextlib.contextmanager
def no_network() -> Iterator[NetworkLog]:
    """Inside the block every ``socket.connect``, ``create_connection`` and ``getaddrinfo`` raises ``OSError``.

    Attempts are recorded in the yielded :class:`NetworkLog`; the originals are
    restored on exit.  Jupyter's own messaging uses ZeroMQ's sockets, which this
    does not touch, so it is safe to use in a notebook.
    """
    log = NetworkLog()
    saved = (socket.socket.connect, socket.socket.connect_ex, socket.create_connection, socket.getaddrinfo)

    def refuse(name):
        def _refuse(*args, **kwargs):
            log.attempts.append((name, args[1:] if name.startswith("socket.") else args))
            raise OSError(f"network access blocked by frontier.society.tracking.no_network ({name})")
        return _refuse

    socket.socket.connect = refuse("socket.connect")
    socket.socket.connect_ex = refuse("socket.connect_ex")
    socket.create_connection = refuse("create_connection")
    socket.getaddrinfo = refuse("getaddrinfo")
    try:
        yield log
    finally:
        socket.socket.connect, socket.socket.connect_ex, socket.create_connection, socket.getaddrinfo = saved


# ---------------------------------------------------------------------------------------------------------------
# The measured run
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class MeasuredRun:
    """What codecarbon measured around one call, and how.

    Attributes:
        label: what ran.
        duration_s: wall time of the call (s).
        energy_kwh: total energy (CPU + RAM + GPU) in kWh; ``cpu_kwh``, ``ram_kwh``, ``gpu_kwh`` its parts.
        emissions_kg: energy x the country's grid intensity, in kg CO2e.
        country_iso_code: where the energy is assumed to come from; ``grid_g_per_kwh`` its intensity.
        method: how the CPU's power was obtained (:func:`describe_method`); ``measured`` says whether it was
            read from energy counters (True) or estimated (False).
        cpu_mode: codecarbon's name for that method (``"intel_rapl"``, ``"cpu_load"``, ...).
        cpu_model, cpu_power_w, tdp_w, generic_tdp: the CPU, its average estimated or measured power (W),
            the rated power codecarbon used (W, None when measured) and whether that was a generic default.
        gpu_model: the GPU codecarbon read through NVML ("" when none).
        network_attempts: connection attempts refused during the run (0 means the tracker stayed offline;
            None when the run was not guarded).
        codecarbon_version: the library's version.
        result: the return value of the measured call.
    """

    label: str
    duration_s: float
    energy_kwh: float
    cpu_kwh: float
    ram_kwh: float
    gpu_kwh: float
    emissions_kg: float
    country_iso_code: str
    grid_g_per_kwh: float
    method: str
    measured: bool
    cpu_mode: str
    cpu_model: str
    cpu_power_w: float
    tdp_w: Optional[float]
    generic_tdp: bool
    gpu_model: str
    network_attempts: Optional[int]
    codecarbon_version: str
    result: Any = None

    def summary(self) -> str:
        """Three lines for a notebook."""
        net = "not checked" if self.network_attempts is None else f"{self.network_attempts} network attempts"
        return (f"{self.label}: {self.duration_s:.1f} s, {self.energy_kwh * 1000:.4f} Wh "
                f"(CPU {self.cpu_kwh * 1000:.4f}, RAM {self.ram_kwh * 1000:.4f}, GPU {self.gpu_kwh * 1000:.4f} Wh), "
                f"{self.emissions_kg * 1000:.4f} g CO2e at {self.grid_g_per_kwh:.0f} g/kWh "
                f"({self.country_iso_code})\n"
                f"CPU power: {self.method} [{self.cpu_model or 'unknown CPU'}, average {self.cpu_power_w:.1f} W]\n"
                f"codecarbon {self.codecarbon_version}, OfflineEmissionsTracker, {net}")

    def as_dict(self) -> Dict[str, object]:
        """Every field but ``result``."""
        return {k: v for k, v in self.__dict__.items() if k != "result"}


def _tdp_is_generic(cpu, model: str) -> bool:
    """True when codecarbon's rated power is its default (watts per thread) rather than a table entry."""
    if bool(getattr(cpu, "_is_generic_tdp", False)):
        return True
    try:
        from codecarbon.core import cpu as cc_cpu
        from codecarbon.core.hardware_cache import get_cached_tdp

        return get_cached_tdp(cc_cpu)._get_cpu_power_from_registry(model) is None
    except Exception:  # private API: if it moved, say nothing rather than guess
        return False


@contextlib.contextmanager
def _quiet_codecarbon() -> Iterator[None]:
    import logging

    lg = logging.getLogger("codecarbon")
    before = lg.level
    lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        lg.setLevel(before)


def _cpu_hardware(tracker) -> Optional[object]:
    for h in getattr(tracker, "_hardware", []) or []:
        if type(h).__name__ in ("CPU", "AppleSiliconChip"):
            return h
    return None


def measure_emissions(fn: Callable[[], Any], country_iso_code: str = "USA", label: str = "run",
                      measure_power_secs: float = 1.0, tracking_mode: str = "process",
                      block_network: bool = True) -> MeasuredRun:
    """Run ``fn()`` inside ``codecarbon.OfflineEmissionsTracker`` and say how the energy was obtained.

    Args:
        fn: the work to measure, called with no arguments; its return value is kept in ``result``.
        country_iso_code: ISO alpha-3 code of the grid to charge (must be in codecarbon's energy-mix data).
        label: a name for the run.
        measure_power_secs: how often codecarbon samples power (s).
        tracking_mode: ``"process"`` (this process's CPU time only, the default: other users of a shared
            machine are not charged to you) or ``"machine"`` (the whole machine's load).
        block_network: run under :func:`no_network` and record refused connection attempts.

    Raises:
        ValueError: unknown country code, bad interval or mode.
        ImportError: codecarbon is not installed.
        RuntimeError: codecarbon returned no result (it swallows its own errors; the message says where to look).
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    g = grid_intensity(country_iso_code)          # validates the code against the same data codecarbon uses
    code = country_iso_code.strip().upper()
    secs = positive_float("measure_power_secs", measure_power_secs)
    if tracking_mode not in ("process", "machine"):
        raise ValueError(f"tracking_mode must be 'process' or 'machine', got {tracking_mode!r}")
    try:
        import codecarbon
        from codecarbon import OfflineEmissionsTracker
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("measure_emissions needs codecarbon: pip install 'llm-frontiers[society]'") from exc

    guard = no_network() if block_network else contextlib.nullcontext(None)
    with guard as net, _quiet_codecarbon():
        tracker = OfflineEmissionsTracker(
            country_iso_code=code, measure_power_secs=secs, tracking_mode=tracking_mode, output_methods=[],
            log_level="error", allow_multiple_runs=True, project_name=f"frontier-{label}")
        t0 = time.perf_counter()
        tracker.start()
        try:
            result = fn()
        finally:
            tracker.stop()
        duration = time.perf_counter() - t0
    data = getattr(tracker, "final_emissions_data", None)
    if data is None:
        raise RuntimeError("codecarbon produced no measurement (it logs and swallows its own errors); "
                           "rerun with log_level='debug' on OfflineEmissionsTracker to see why")
    cpu = _cpu_hardware(tracker)
    mode = str(getattr(cpu, "_mode", "unknown"))
    measured = mode in MEASURED_MODES
    tdp = None if measured else getattr(cpu, "_tdp", None)
    energy = float(data.energy_consumed)
    with _quiet_codecarbon():
        generic = False if measured else _tdp_is_generic(cpu, str(data.cpu_model or ""))
    return MeasuredRun(
        label=label, duration_s=duration, energy_kwh=energy, cpu_kwh=float(data.cpu_energy),
        ram_kwh=float(data.ram_energy), gpu_kwh=float(data.gpu_energy), emissions_kg=float(data.emissions),
        country_iso_code=code, grid_g_per_kwh=g, method=describe_method(mode, tdp, generic), measured=measured,
        cpu_mode=mode, cpu_model=str(data.cpu_model or ""), cpu_power_w=float(data.cpu_power or 0.0),
        tdp_w=None if tdp is None else float(tdp), generic_tdp=generic, gpu_model=str(data.gpu_model or ""),
        network_attempts=None if net is None else len(net.attempts),
        codecarbon_version=str(getattr(codecarbon, "__version__", "?")), result=result)


@dataclass
class TinyRun:
    """A tiny language model trained for the measurement: sizes, final loss and its training compute.

    ``flops`` is 6 N D with N the model's parameters and D = steps x batch x seq_len
    tokens, the same estimate the lesson applies to published models.
    """

    n_params: int
    tokens: int
    steps: int
    final_loss: float
    flops: float


def train_tiny_lm(steps: int = 60, batch: int = 16, seq_len: int = 32, seed: int = 0, progress: bool = True,
                  d_model: int = 64, n_layers: int = 2) -> TinyRun:
    """Train a :class:`~frontier.models.tiny_lm.TinyLM` on synthetic Markov text for ``steps`` steps (seconds on a CPU).

    This is the "learner's own run" of the energy lesson: small enough for a
    laptop, real enough to draw real power.  Data: four Markov sources over 48
    tokens (:func:`frontier.models.data.markov_mixture`), seeded.
    """
    from ..models import TinyLM, TinyLMConfig, train_lm
    from ..models.data import markov_mixture, sample_batch

    mix = markov_mixture(n_sources=4, vocab_size=48, seed=seed)
    model = TinyLM(TinyLMConfig(vocab_size=48, d_model=d_model, n_layers=n_layers, n_heads=4, d_ff=2 * d_model),
                   seed=seed)
    log = train_lm(model, lambda rng: sample_batch(mix, batch, seq_len, rng)[0], steps, lr=3e-3, seed=seed,
                   progress=progress, desc="tiny LM (measured)")
    n = sum(p.numel() for p in model.parameters())
    tokens = steps * batch * seq_len
    return TinyRun(n, tokens, steps, float(log.loss[-1]), 6.0 * n * tokens)
