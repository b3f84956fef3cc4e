"""Figures and controllers of lesson 03 (SSM against attention), checked without a browser."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
from IPython.utils.capture import capture_output

from frontier.viz import CONTROLLERS
from frontier.viz.ssm import (
    discretization_explorer, make_accuracy_figure, make_discretization_figure, make_recall_figure,
    make_scan_figure, make_timing_figure, scan_explorer, timing_explorer,
)

NAMES = ["ssm_discretization", "ssm_scan", "ssm_timing"]


def test_controllers_are_registered():
    for name in NAMES:
        assert name in CONTROLLERS


def test_discretization_figure_shows_zoh_exact_and_euler_unstable():
    fig = make_discretization_figure(delta=0.5, a=-2.0, signal="step")
    assert isinstance(fig, go.Figure)
    err = fig.layout.meta["errors"]
    assert err["zoh"] < 1e-9 < err["mamba"] and err["euler"] > 1e-3
    assert fig.layout.meta["euler_stable"] is True
    unstable = make_discretization_figure(delta=1.5, a=-2.0)
    assert unstable.layout.meta["euler_stable"] is False
    assert unstable.layout.meta["errors"]["euler"] > 1.0
    sine = make_discretization_figure(delta=0.05, a=-1.0, signal="sine")
    assert max(sine.layout.meta["errors"].values()) < 0.05
    with pytest.raises(ValueError):
        make_discretization_figure(delta=0.1, a=1.0)
    with pytest.raises(ValueError):
        make_discretization_figure(signal="square")


@pytest.mark.parametrize("method", ["blelloch", "hillis_steele"])
def test_scan_figure_reports_depth_and_work(method):
    fig = make_scan_figure(16, method)
    meta = fig.layout.meta
    assert meta["depth"] == (7 if method == "blelloch" else 4)
    assert meta["work"] == (26 if method == "blelloch" else 49)
    assert str(meta["depth"]) in fig.layout.title.text


def test_timing_figure_measures_both_mixers_and_fits_slopes():
    fig = make_timing_figure(d_model=64, d_state=4, batch=1, log2_T=(5, 8), repeat=1)
    meta = fig.layout.meta
    assert set(meta["slopes"]) == {"ssm", "attention"}
    assert meta["bandwidth"] > 0 and meta["copy_bandwidth"] > 0
    assert meta["device"] in ("cpu", "gpu")
    assert "slope" in " ".join(t.name for t in fig.data)
    with pytest.raises(ValueError):
        make_timing_figure(log2_T=(8, 8))


def test_controllers_redraw_on_change():
    with capture_output():
        ctl = discretization_explorer()
        fig = ctl.set(delta=1.0)
        assert fig.layout.meta["delta"] == pytest.approx(1.0)
        sc = scan_explorer()
        assert sc.set(length=8, method="hillis_steele").layout.meta["depth"] == 3
        tm = timing_explorer(log2_T=(5, 7), repeat=1)
        assert tm.set(d_state=1).layout.meta["d_state"] == 1
        assert tm.renders == 2


def test_experiment_figures():
    fig = make_accuracy_figure({"a": ([10, 20], [0.1, 0.9]), "b": ([10, 20], [0.1, 0.2])}, chance=0.05)
    assert fig.layout.meta["final"] == {"a": 0.9, "b": 0.2}
    rec = make_recall_figure([{"model": "ssm", "state": 64, "d_state": 1, "accuracy": 0.2},
                              {"model": "ssm", "state": 1024, "d_state": 16, "accuracy": 0.8},
                              {"model": "attention", "accuracy": 1.0}])
    assert rec.layout.meta["ssm"] == [(64, 0.2), (1024, 0.8)]
    with pytest.raises(ValueError):
        make_accuracy_figure({})
    with pytest.raises(ValueError):
        make_recall_figure([{"model": "attention", "accuracy": 1.0}])


def test_recall_figure_draws_hybrids_and_parameter_counts():
    rec = make_recall_figure([{"model": "ssm", "state": 64, "d_state": 1, "accuracy": 0.2, "params": 22_306},
                              {"model": "hybrid", "state": 1024, "d_state": 16, "accuracy": 0.9, "params": 22_336},
                              {"model": "attention", "accuracy": 1.0, "params": 22_688}])
    assert rec.layout.meta["hybrid"] == [(1024, 0.9)]
    names = [t.name for t in rec.data]
    assert any("hybrid" in n for n in names) and any("22.7K params" in n for n in names)
    assert "N=1, 22.3K params" in rec.data[0].text
