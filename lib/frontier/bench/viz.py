"""Re-render time of every registered interactive controller (Python side).

For each controller we move every control through a few values and time
what a slider release costs in the kernel: the builder call plus the JSON
serialisation plotly does when the figure is displayed.  The target is a
median of at most 50 ms per controller.
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Dict, List

TARGET_MS = 50.0


def _values(widget, k: int) -> list:
    """Up to ``k`` distinct values a control can take, spread over its range."""
    import ipywidgets as w

    if isinstance(widget, (w.Dropdown, w.SelectionSlider, w.ToggleButtons, w.RadioButtons)):
        opts = [o[1] if isinstance(o, tuple) else o for o in widget.options]
        return opts[:: max(1, len(opts) // k)][:k]
    if isinstance(widget, w.Checkbox):
        return [not widget.value, widget.value]
    if isinstance(widget, (w.IntRangeSlider, w.FloatRangeSlider)):
        lo, hi = widget.min, widget.max
        mid = type(lo)((lo + hi) / 2) if isinstance(lo, int) else (lo + hi) / 2
        if isinstance(widget, w.IntRangeSlider):
            mid = int(round(mid))
        return [(lo, mid), (mid, hi), tuple(widget.value)]
    if isinstance(widget, w.FloatLogSlider):
        return [widget.base ** e for e in (widget.min, (widget.min + widget.max) / 2, widget.max)]
    if hasattr(widget, "min") and hasattr(widget, "max"):
        lo, hi = widget.min, widget.max
        mid = (lo + hi) / 2
        if isinstance(lo, int):
            step = getattr(widget, "step", 1) or 1
            mid = lo + int(round((mid - lo) / step)) * step
        return [lo, mid, hi]
    return [widget.value]


def measure(factory, per_control: int = 3) -> Dict[str, float]:
    """Median and max re-render time (ms) of one controller over moves of all its controls."""
    import plotly.io as pio

    ctl = factory()
    samples: List[float] = []
    for name, widget in ctl.controls.items():
        original = widget.value
        for v in _values(widget, per_control) + [original]:
            if v == widget.value:
                continue
            t0 = time.perf_counter()
            widget.value = v          # triggers the re-render
            if ctl.figure is not None:
                pio.to_json(ctl.figure, validate=False)
            samples.append((time.perf_counter() - t0) * 1e3)
    return {"median_ms": statistics.median(samples) if samples else float("nan"),
            "max_ms": max(samples) if samples else float("nan"), "moves": len(samples)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m frontier.bench viz", description=__doc__)
    ap.add_argument("--smoke", action="store_true", help="one move per control")
    ap.add_argument("--only", nargs="*", help="controller names to measure")
    args = ap.parse_args(argv)

    from IPython.utils.capture import capture_output

    from ..viz import load_all_controllers

    controllers = load_all_controllers()
    names = args.only or sorted(controllers)
    rows = []
    for name in names:
        if name not in controllers:
            print(f"unknown controller {name!r}; known: {sorted(controllers)}")
            return 2
        with capture_output():      # outside a notebook, display() would print every figure
            rows.append((name, measure(controllers[name], 1 if args.smoke else 3)))
    width = max(len(n) for n, _ in rows)
    print(f"{'controller':<{width}}  moves  median ms  max ms  target {TARGET_MS:.0f} ms")
    for name, r in rows:
        flag = "ok" if r["median_ms"] <= TARGET_MS else "SLOW"
        print(f"{name:<{width}}  {r['moves']:>5}  {r['median_ms']:>9.1f}  {r['max_ms']:>6.1f}  {flag}")
    return 0
