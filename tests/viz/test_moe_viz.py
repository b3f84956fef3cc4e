"""The MoE lesson's figures: set controls, check the figure that results."""
from __future__ import annotations

import numpy as np
import pytest

from frontier.architecture import moe
from frontier.models.training import TrainLog
from frontier.viz import load_all_controllers
from frontier.viz import moe as vm


def test_controllers_are_registered():
    ctl = load_all_controllers()
    assert {"moe_routing_visualiser", "moe_parameter_explorer"} <= set(ctl)


def test_routing_visualiser_capacity_line_and_drops_follow_the_controls():
    ctl = vm.routing_visualiser()
    fig = ctl.set(n_experts=8, k=2, capacity_factor=0.5)
    meta = fig.layout.meta
    assert meta["capacity"] == moe.expert_capacity(96, 8, 2, 0.5) == 12
    assert max(meta["kept_load"]) <= meta["capacity"]
    assert sum(meta["requested_load"]) == 96 * 2
    capacity_trace = [t for t in fig.data if t.name and t.name.startswith("capacity")][0]
    assert list(capacity_trace.y) == [12, 12]
    dropped = [t for t in fig.data if t.name == "dropped (over capacity)"][0]
    assert len(dropped.x) == round(meta["drop_rate"] * 192) > 0
    # enough room for everything: nothing dropped
    fig = ctl.set(capacity_factor=4.0)
    assert fig.layout.meta["drop_rate"] == 0.0
    assert "0% of assignments dropped" in fig.layout.title.text


def test_balancing_weight_evens_the_load():
    ctl = vm.routing_visualiser()
    unbalanced = ctl.set(aux_weight=0.0).layout.meta["load_cv"]
    balanced = ctl.set(aux_weight=10.0).layout.meta["load_cv"]
    assert balanced < 0.5 * unbalanced


def test_temperature_and_noise_controls():
    ctl = vm.routing_visualiser()
    cold = ctl.set(temperature=0.25).layout.meta["token_entropy"]
    hot = ctl.set(temperature=4.0).layout.meta["token_entropy"]
    assert hot > cold
    ctl.set(temperature=1.0)
    quiet = ctl.set(noise_std=0.0).layout.meta["requested_load"]
    noisy = ctl.set(noise_std=3.0).layout.meta["requested_load"]
    assert quiet != noisy


def test_routing_visualiser_reports_impossible_combinations():
    ctl = vm.routing_visualiser()
    before = ctl.set(n_experts=2, k=2)
    ctl.set(k=4)
    assert ctl.error is not None and "top-k" in str(ctl.error)
    assert ctl.figure is before


def test_parameter_explorer_matches_the_shared_counter():
    fig = vm.moe_parameter_explorer().figure
    total, active = fig.layout.meta["total"], fig.layout.meta["active"]
    assert total[0] == total[1] == 46_702_792_704
    assert active[0] == active[1] == 12_879_925_248
    assert total[2] == active[2] == 68_976_648_192                  # dense: everything is active
    ctl = vm.moe_parameter_explorer()
    meta = ctl.set(n_experts=1, k=1).layout.meta
    assert meta["total"][0] == meta["active"][0]
    meta = ctl.set(n_experts=16, k=2, precision="int4").layout.meta
    assert meta["active"][0] == 12_879_925_248 + 32 * 4096 * 8      # only the router grows
    assert meta["weight_bytes"][0] == pytest.approx(meta["total"][0] * 0.5)


def test_expert_usage_figure():
    runs = {}
    for label, loads in (("collapsed", [[10, 0, 0, 0], [20, 0, 0, 0]]), ("balanced", [[5, 5, 5, 5], [4, 6, 5, 5]])):
        log = TrainLog(step=[1, 2], loss=[3.0, 2.0], aux_loss=[0.0, 0.0],
                       records=[{"load": [l]} for l in loads])
        runs[label] = log
    fig = vm.make_expert_usage_figure(runs)
    meta = fig.layout.meta["runs"]
    assert meta["collapsed"]["final_cv"] == pytest.approx(np.sqrt(3))
    assert meta["balanced"]["final_share"] == [0.2, 0.3, 0.25, 0.25]
    with pytest.raises(ValueError):
        vm.make_expert_usage_figure({})
