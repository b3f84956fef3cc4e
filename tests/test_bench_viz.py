"""The re-render benchmark measures every registered controller (its numbers are printed, not asserted)."""
import subprocess
import sys

from frontier.viz import load_all_controllers


def test_viz_benchmark_lists_every_controller():
    r = subprocess.run([sys.executable, "-m", "frontier.bench", "viz", "--smoke"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    for name in load_all_controllers():
        assert name in r.stdout
    assert "median ms" in r.stdout


def test_unknown_benchmark_is_an_error():
    r = subprocess.run([sys.executable, "-m", "frontier.bench", "nope"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown benchmark" in r.stderr
