"""The timing harness: what it calls, the tidy table, slopes, crossovers and rates.  No test asserts on a time."""
from __future__ import annotations

import numpy as np
import pytest

from frontier import timing


def test_time_callable_warms_up_and_repeats():
    calls = []
    t = timing.time_callable(lambda: calls.append(1), warmup=2, repeat=4)
    assert len(calls) == 6
    assert t.repeats == 4 and t.clock == "wall"
    assert 0 <= t.minimum <= t.median <= t.maximum


def test_time_callable_calls_sync_around_each_run():
    log = []
    timing.time_callable(lambda: log.append("f"), warmup=0, repeat=2, sync=lambda: log.append("s"))
    assert log == ["s", "s", "f", "s", "s", "f", "s"]


def test_time_callable_checks_arguments():
    with pytest.raises(TypeError, match="callable"):
        timing.time_callable(3)
    with pytest.raises(ValueError, match="repeat"):
        timing.time_callable(lambda: None, repeat=0)
    with pytest.raises(ValueError, match="clock must be one of"):
        timing.time_callable(lambda: None, clock="sundial")


def test_sweep_returns_a_tidy_table_with_rates():
    made = []

    def make(n):
        made.append(n)
        return lambda: sum(range(n))

    rows = timing.sweep(make, [10, 100], label="sum", repeat=2,
                        work=lambda n: {"bytes": 8.0 * n, "flops": float(n)})
    assert made == [10, 100]
    assert [r["n"] for r in rows] == [10, 100]
    for r in rows:
        assert r["label"] == "sum" and r["repeats"] == 2
        assert r["bandwidth"] == pytest.approx(r["bytes"] / r["seconds"])
        assert r["flop_rate"] == pytest.approx(r["flops"] / r["seconds"])


def test_sweep_without_work_has_no_rates():
    rows = timing.sweep(lambda n: (lambda: None), [1, 2], repeat=1)
    assert "bandwidth" not in rows[0]


def test_power_law_fit_recovers_exponent_and_coefficient():
    x = np.array([100, 200, 400, 800, 1600])
    c, p = timing.fit_power_law(x, 3e-6 * x ** 1.7)
    assert p == pytest.approx(1.7) and c == pytest.approx(3e-6)
    assert timing.fit_loglog_slope(x, 5 * x ** 2) == pytest.approx(2.0)


@pytest.mark.parametrize("x, y, match", [
    ([1, 2], [1, 2, 3], "equal length"),
    ([1], [1], "two points"),
    ([1, 2], [0, 1], "positive"),
    ([3, 3], [1, 2], "distinct"),
    ([1, 2], [1, np.inf], "finite"),
])
def test_fit_rejects_bad_data(x, y, match):
    with pytest.raises(ValueError, match=match):
        timing.fit_power_law(x, y)


def test_crossover_of_a_linear_and_a_quadratic_cost():
    x = np.array([64, 128, 256, 512, 1024, 2048, 4096], float)
    linear, quadratic = 1e-3 * x, 1e-6 * x ** 2       # equal at x = 1000
    assert timing.find_crossover(x, linear, quadratic) == pytest.approx(1000, rel=1e-9)
    assert timing.find_crossover(x, quadratic, linear) == pytest.approx(1000, rel=1e-9)
    fits = timing.fit_power_law(x, linear), timing.fit_power_law(x, quadratic)
    assert timing.crossover_from_fits(*fits) == pytest.approx(1000, rel=1e-6)


def test_no_crossover_and_ties():
    x = [1, 2, 4]
    assert timing.find_crossover(x, [1, 2, 3], [2, 3, 4]) is None
    assert timing.find_crossover(x, [1, 2, 3], [2, 2, 1]) == 2.0
    assert timing.crossover_from_fits((1.0, 1.0), (2.0, 1.0)) is None
    with pytest.raises(ValueError, match="positive coefficient"):
        timing.crossover_from_fits((0.0, 1.0), (1.0, 2.0))


def test_achieved_rates():
    r = timing.achieved_rates(0.5, nbytes=1e9, flops=2e9)
    assert r == {"bytes": 1e9, "bandwidth": 2e9, "flops": 2e9, "flop_rate": 4e9}
    assert timing.achieved_rates(1.0) == {}
    with pytest.raises(ValueError):
        timing.achieved_rates(0.0, nbytes=1)


def test_cpu_copy_bandwidth_is_measured():
    bw = timing.copy_bandwidth("cpu", nbytes=1 << 20, repeat=2)
    assert bw["bytes"] == 2 * (1 << 20)
    assert bw["bandwidth"] == pytest.approx(bw["bytes"] / bw["seconds"])
    assert bw["device"].startswith("CPU")
    with pytest.raises(ValueError, match="device must be one of"):
        timing.copy_bandwidth("tpu")


def test_format_table():
    text = timing.format_table([{"n": 8, "ms": 1.234}, {"n": 16}], [("n", "n", "{:d}"), ("ms", "ms", "{:.1f}")])
    lines = text.splitlines()
    assert lines[0].split() == ["n", "ms"]
    assert lines[2].split() == ["8", "1.2"] and lines[3].split() == ["16", "-"]


class FakeGPU:
    """A GPU queue on a fake clock: a launch costs the host ``overhead`` seconds of Python work, then
    queues a kernel of ``kernel`` seconds that starts when both the launch is done and the GPU is free.
    An event completes when the work queued before it is done."""

    def __init__(self, overhead: float, kernel: float):
        self.overhead, self.kernel = overhead, kernel
        self.host = 0.0          # host clock (s)
        self.free = 0.0          # when the GPU finishes its queue (s)
        self.launches = 0

    def launch(self):
        self.host += self.overhead
        self.free = max(self.host, self.free) + self.kernel
        self.launches += 1

    def event_pair(self, clock):
        times = {}

        def record(key):
            return lambda: times.__setitem__(key, max(self.host, self.free))

        def elapsed():
            self.host = max(self.host, times["stop"])          # the host waits for the stop event
            return times["stop"] - times["start"]
        return record("start"), record("stop"), elapsed


@pytest.mark.parametrize("clock", ["cupy", "torch"])
def test_event_timing_excludes_launch_overhead_on_a_fake_clock(monkeypatch, clock):
    gpu = FakeGPU(overhead=30e-6, kernel=100e-6)
    monkeypatch.setattr(timing, "_event_pair", gpu.event_pair)
    t = timing.time_callable(gpu.launch, warmup=1, repeat=3, clock=clock, number=8)
    assert t.number == 8 and t.clock == clock
    assert gpu.launches == 1 + 3 * (1 + 8)                    # warm-up, then a leading call + 8 per sample
    assert t.median == pytest.approx(100e-6, rel=1e-9)       # the kernel's time alone
    # the old way (start recorded on an idle GPU, one launch, stop) counts the launch's Python work too
    idle = FakeGPU(overhead=30e-6, kernel=100e-6)
    start, stop, elapsed = idle.event_pair(clock)
    start()
    idle.launch()
    stop()
    assert elapsed() == pytest.approx(130e-6, rel=1e-9)


def test_event_timing_of_kernels_shorter_than_their_launch_gives_the_launch_rate(monkeypatch):
    gpu = FakeGPU(overhead=30e-6, kernel=5e-6)
    monkeypatch.setattr(timing, "_event_pair", gpu.event_pair)
    t = timing.time_callable(gpu.launch, warmup=0, repeat=2, clock="cupy", number=10)
    assert t.median == pytest.approx(30e-6, rel=1e-9)        # the GPU waits for Python: launch-bound


def test_wall_clock_divides_by_number():
    calls = []
    t = timing.time_callable(lambda: calls.append(1), warmup=0, repeat=2, number=5)
    assert len(calls) == 10 and t.number == 5
    with pytest.raises(ValueError, match="number"):
        timing.time_callable(lambda: None, number=0)
