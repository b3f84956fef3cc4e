"""Section 2's figures: set controls, check the figure that results."""
from __future__ import annotations

import pytest

from frontier.reasoning.theory import best_of_n_accuracy, pass_at_n
from frontier.viz import load_all_controllers
from frontier.viz import reasoning as vr


def test_controllers_are_registered():
    names = set(load_all_controllers())
    assert {"reasoning_accuracy_compute", "reasoning_verifier_noise", "reasoning_reliability",
            "reasoning_agent_trace"} <= names


def test_verifier_noise_curves_are_the_closed_forms():
    ctl = vr.verifier_noise_explorer()
    fig = ctl.set(false_positive=0.0, false_negative=0.0, overconfidence=0.0, p=0.3)
    perfect, noisy = fig.data[0], fig.data[1]
    assert list(noisy.y) == pytest.approx(list(perfect.y))
    assert perfect.y[-1] == pytest.approx(pass_at_n(0.3, int(perfect.x[-1])))
    fig = ctl.set(false_positive=0.1, overconfidence=1.0)
    assert fig.layout.meta["peak_n"] < 128             # over-confident false positives: a peak, then decline
    assert fig.data[1].y[-1] == pytest.approx(best_of_n_accuracy(0.3, int(fig.data[1].x[-1]), 0.1, 0.0, 1.0))
    fig = ctl.set(overconfidence=0.0)
    assert fig.layout.meta["limit"] == pytest.approx(0.3 / (0.3 + 0.7 * 0.1))


def test_accuracy_compute_budget_picks_the_best_affordable_point():
    summary = [dict(strategy="single", knob_value=1, accuracy=0.1, lo=0.0, hi=0.2, tokens=50),
               dict(strategy="best_of_n", knob_value=4, accuracy=0.4, lo=0.3, hi=0.5, tokens=200),
               dict(strategy="best_of_n", knob_value=16, accuracy=0.6, lo=0.5, hi=0.7, tokens=800)]
    ctl = vr.accuracy_compute_explorer(summary)
    assert ctl.set(budget=300.0).layout.meta["best"]["knob_value"] == 4
    assert ctl.set(budget=1000.0).layout.meta["best"]["accuracy"] == 0.6
    with pytest.raises(ValueError, match="strategy"):
        vr.make_accuracy_compute_figure(summary, strategy="nope")


def test_reliability_and_trace_widgets():
    fig = vr.reliability_explorer().set(step_success=0.5)
    assert fig.layout.meta["half_life_steps"] == pytest.approx(1.0)
    assert list(fig.data[0].y[:3]) == pytest.approx([0.5, 0.25, 0.125])
    ctl = vr.trace_explorer()
    fig = ctl.set(episode=1, step=2)
    assert fig.layout.meta["rows"] == 2 and fig.data[0].cells.values[5][0] == "False"   # the schema error row
    with pytest.raises(ValueError, match="episode"):
        vr.make_trace_figure([], 0)
