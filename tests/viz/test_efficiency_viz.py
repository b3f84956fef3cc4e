"""Section 5's figures: controls change what the figure computes, and re-renders stay fast."""
from __future__ import annotations

import time

import pytest

from frontier.efficiency import scaling, speculative
from frontier.viz import efficiency as ve
from frontier.viz import load_all_controllers

NAMES = {"efficiency_isoflop", "efficiency_speculative", "efficiency_quantization", "efficiency_merge",
         "efficiency_will_it_fit", "efficiency_lora_memory"}


def test_controllers_are_registered():
    assert NAMES <= set(load_all_controllers())


def test_isoflop_slider_moves_the_optimum():
    ctl = ve.isoflop_explorer()
    meta = ctl.figure.layout.meta
    assert meta["hoffmann"]["n_opt"] == pytest.approx(3.25e10, rel=0.01)
    assert meta["epoch"]["tokens_per_param"] == pytest.approx(18.4, rel=0.02)
    fig = ctl.set(compute=1e21)
    assert fig.layout.meta["hoffmann"]["n_opt"] == pytest.approx(scaling.chinchilla_optimum(1e21)[0])


def test_speculative_controls_follow_the_formula():
    ctl = ve.speculative_explorer()
    fig = ctl.set(alpha=0.6, gamma=3, c=0.1)
    assert "tokens/call" in fig.layout.title.text
    assert fig.layout.meta["best_gamma"] == speculative.optimal_gamma(0.6, 0.1)


def test_quantization_explorer_counts_bits():
    ctl = ve.quantization_explorer()
    assert ctl.set(format="nf4").layout.meta["bits"] == 4.5
    assert ctl.set(format="int4", group_size=16).layout.meta["bits"] == 5.0


def test_merge_explorer_and_fit_calculator():
    ctl = ve.merge_explorer()
    fig = ctl.set(method="slerp", knob_index=0)
    assert fig.layout.meta["value"] == 0.0
    fit = ve.fit_calculator()
    meta = fit.set(model="LLaMA-2 70B", precision="q4_0").layout.meta
    assert meta["weights_gb"] == pytest.approx(38.8, abs=0.05)
    assert fit.set(precision="fp16").layout.meta["weights_gb"] == pytest.approx(138.0, abs=0.1)


@pytest.mark.parametrize("factory,change", [(ve.isoflop_explorer, {"compute": 1e22}),
                                            (ve.speculative_explorer, {"gamma": 7}),
                                            (ve.quantization_explorer, {"format": "q4_0"}),
                                            (ve.merge_explorer, {"knob_index": 2}),
                                            (ve.fit_calculator, {"batch": 16})])
def test_rerender_is_quick(factory, change):
    ctl = factory()
    ctl.set(**change)
    start = time.perf_counter()
    ctl.render()
    assert time.perf_counter() - start < 0.5          # the 50 ms budget is measured by `python -m frontier.bench viz`


def test_lora_memory_explorer_counts_adapter_parameters():
    from frontier.architecture.params import LLAMA2_7B
    from frontier.efficiency import lora

    ctl = ve.lora_memory_explorer()
    meta = ctl.set(model="LLaMA-2 7B", rank=8, targets="q, v").layout.meta
    assert meta["memory"]["lora"]["trainable"] == lora.lora_parameters_for(LLAMA2_7B, 8, ("q", "v")) == 4_194_304
    assert meta["memory"]["full"]["total"] > meta["memory"]["lora"]["total"] > meta["memory"]["qlora"]["total"]
