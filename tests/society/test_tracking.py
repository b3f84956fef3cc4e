"""The learner's measured run: codecarbon's OfflineEmissionsTracker runs offline and says which method it used."""
from __future__ import annotations

import socket
import time

import pytest

pytest.importorskip("codecarbon")

from frontier.society import energy as E                     # noqa: E402
from frontier.society import tracking as T                   # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _busy(seconds=0.6):
    t0, x = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        x += sum(range(500))
    return x


def test_tracker_makes_no_network_call_and_records_its_method(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)                               # codecarbon must not leave files behind either
    attempts = []

    def refuse(self, address, *a, **k):
        attempts.append(address)
        raise OSError("blocked by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: attempts.append(a) or (_ for _ in ()).throw(
        OSError("blocked by the test")))
    run = T.measure_emissions(_busy, "FRA", label="busy loop", block_network=False, measure_power_secs=0.5)
    assert attempts == []
    assert run.network_attempts is None                       # not guarded by the library here: the test guarded it
    assert run.result is not None and run.duration_s >= 0.6
    assert run.energy_kwh > 0 and run.cpu_kwh >= 0 and run.ram_kwh > 0
    assert run.energy_kwh == pytest.approx(run.cpu_kwh + run.ram_kwh + run.gpu_kwh, rel=1e-6)
    # emissions = energy x the same intensity our grid table reads from codecarbon's file
    assert run.emissions_kg == pytest.approx(run.energy_kwh * E.grid_intensity("FRA") / 1000, rel=1e-6)
    assert run.cpu_mode and run.method
    if run.measured:
        assert run.method.startswith("measured") and run.cpu_mode in T.MEASURED_MODES
    else:
        assert run.method.startswith("estimated") and run.tdp_w and run.tdp_w > 0
    assert list(tmp_path.iterdir()) == []


def test_library_guard_counts_attempts_and_restores_sockets():
    before = socket.socket.connect
    with T.no_network() as log:
        with pytest.raises(OSError, match="blocked"):
            socket.create_connection(("example.org", 80), timeout=0.1)
    assert socket.socket.connect is before and len(log.attempts) == 1
    run = T.measure_emissions(lambda: _busy(0.3), "USA", label="guarded")
    assert run.network_attempts == 0
    assert "OfflineEmissionsTracker" in run.summary() and run.country_iso_code == "USA"


@pytest.mark.slow
def test_tiny_training_run_is_measured():
    run = T.measure_emissions(lambda: T.train_tiny_lm(steps=8, progress=False), "POL", label="tiny LM")
    tiny = run.result
    assert isinstance(tiny, T.TinyRun) and tiny.tokens == 8 * 16 * 32
    assert tiny.flops == pytest.approx(6 * tiny.n_params * tiny.tokens)
    assert run.energy_kwh > 0 and run.network_attempts == 0


def test_bad_input():
    with pytest.raises(ValueError, match="country_iso_code"):
        T.measure_emissions(lambda: 1, "ZZZ")
    with pytest.raises(TypeError, match="fn"):
        T.measure_emissions(42, "FRA")
    with pytest.raises(ValueError, match="tracking_mode"):
        T.measure_emissions(lambda: 1, "FRA", tracking_mode="galaxy")
    with pytest.raises(ValueError, match="measure_power_secs"):
        T.measure_emissions(lambda: 1, "FRA", measure_power_secs=0)


def test_method_descriptions():
    assert T.describe_method("intel_rapl", None, False).startswith("measured: RAPL")
    est = T.describe_method("cpu_load", 8.0, True)
    assert est.startswith("estimated") and "8 W" in est and "default" in est
