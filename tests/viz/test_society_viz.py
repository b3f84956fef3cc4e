"""Section 7's figures and controllers: set controls, check the figure that results."""
from __future__ import annotations

import time

import pytest

pytest.importorskip("codecarbon")

from frontier.society import energy as E, regulation as R          # noqa: E402
from frontier.viz import load_all_controllers                      # noqa: E402
from frontier.viz import society as vs                             # noqa: E402

NAMES = {"society_energy_calculator", "society_lifetime", "society_risk_questionnaire", "society_penalty_calculator"}


def test_controllers_are_registered():
    assert NAMES <= set(load_all_controllers())


def test_energy_calculator_follows_the_controls():
    ctl = vs.energy_calculator()
    meta = ctl.figure.layout.meta
    assert meta["run"] == "LLaMA-2 70B" and meta["energy_mwh"] == pytest.approx(688.128)
    assert meta["tco2e"] == pytest.approx(688_128 * E.grid_intensity("USA") / 1e6)
    assert meta["own_energy_mwh"] == pytest.approx(1e5 * 0.7 / 1000)              # 100,000 H100-hours at 700 W
    fig = ctl.set(country="FRA")
    assert fig.layout.meta["tco2e"] == pytest.approx(688_128 * E.grid_intensity("FRA") / 1e6)
    fig = ctl.set(pue=1.5)
    assert fig.layout.meta["energy_mwh"] == pytest.approx(688.128 * 1.5)
    fig = ctl.set(device="A100-80GB", gpu_hours=1000.0)
    assert fig.layout.meta["own_power_w"] == 400.0
    assert fig.layout.meta["own_energy_mwh"] == pytest.approx(1000 * 0.4 * 1.5 / 1000)
    fig = ctl.set(run="GPT-3 175B", pue=1.1)
    assert fig.layout.meta["energy_mwh"] == pytest.approx(1_287, rel=5e-3)           # PUE replaces the run's own


def _move(w):
    """What the browser test does to a control: the next dropdown option, a tick, or another slider value."""
    import ipywidgets as widgets

    if isinstance(w, widgets.Dropdown):
        values = [o[1] if isinstance(o, tuple) else o for o in w.options]
        w.value = values[(values.index(w.value) + 1) % len(values)]
    elif isinstance(w, widgets.Checkbox):
        w.value = not w.value
    else:
        w.value = w.max if w.value != w.max else w.min


@pytest.mark.parametrize("factory", [vs.energy_calculator, vs.lifetime_slider, vs.risk_questionnaire,
                                     vs.penalty_calculator])
def test_every_control_moves_its_figure_and_none_shows_an_error(factory):
    ctl = factory()
    for name, w in ctl.controls.items():
        before = ctl.figure.to_json()  # JSON text: with older plotly the dict holds numpy arrays
        _move(w)
        assert ctl.error is None, (name, ctl.error)
        after = ctl.figure.to_json()
        assert after != before, f"moving {name!r} did not change the figure"


def test_lifetime_slider_crossing_day():
    ctl = vs.lifetime_slider()
    fig = ctl.set(run="GPT-3 175B", queries_per_day=1e7, wh_per_query=0.3, years=5.0)
    train_kwh = E.PUBLISHED_RUNS["GPT-3 175B"].energy_mwh() * 1000
    assert fig.layout.meta["days_to_match"] == pytest.approx(train_kwh / 3000)
    assert any(t.name and t.name.startswith("equal after") for t in fig.data)
    fig = ctl.set(queries_per_day=1e3)
    assert not any(t.name and t.name.startswith("equal after") for t in fig.data)   # beyond 5 years


@pytest.mark.parametrize("case", list(R.FINANCE_CASES))
def test_questionnaire_shows_each_case_with_articles(case):
    ctl = vs.risk_questionnaire()
    fig = ctl.set(case=case)
    assert fig.layout.meta["tier"] == R.FINANCE_CASES[case].documented_tier
    assert len(fig.data[0].cells.values[1]) == len(R.QUESTIONS) and all(fig.data[0].cells.values[1])
    assert "not legal advice" in fig.layout.title.text


def test_questionnaire_boxes_add_to_a_case():
    ctl = vs.risk_questionnaire()
    assert ctl.set(case="fraud_detector").layout.meta["tier"] == "minimal"
    assert ctl.set(interacts_with_people=True).layout.meta["tier"] == "limited"
    assert ctl.set(credit_scoring=True).layout.meta["tier"] == "limited"   # fraud detection keeps 5(b) out
    assert "ticked" in ctl.figure.layout.title.text


def test_questionnaire_custom_answers():
    ctl = vs.risk_questionnaire()
    assert ctl.figure.layout.meta["tier"] == "minimal"
    assert ctl.set(interacts_with_people=True).layout.meta["tier"] == "limited"
    assert ctl.set(credit_scoring=True, profiling=True).layout.meta["tier"] == "high-risk"
    assert ctl.set(prohibited_practice=True).layout.meta["tier"] == "prohibited"


def test_penalty_calculator():
    ctl = vs.penalty_calculator()
    assert ctl.set(turnover_eur=1e8).layout.meta["ceilings"]["prohibited"] == 35e6
    assert ctl.set(turnover_eur=1e11).layout.meta["ceilings"]["prohibited"] == pytest.approx(7e9)
    assert ctl.set(sme=True).layout.meta["ceilings"]["prohibited"] == 35e6


def test_static_figures():
    fig = vs.make_reproduction_figure()
    meta = fig.layout.meta
    i = meta["names"].index("BLOOM 176B")
    assert meta["reproduced_mwh"][i] == pytest.approx(433, abs=0.5)
    assert vs.make_flops_figure().layout.meta["over_threshold"] == ["Llama 3.1 405B"]
    scale = vs.make_energy_scale_figure(1e-5, "your run", "estimated").layout.meta["items"]
    assert min(scale, key=scale.get).startswith("your run")
    readings = vs.make_llama2_readings_figure(1.1).layout.meta
    assert readings["reading_b_mwh"]["LLaMA-2 70B"] == pytest.approx(1.1 * readings["reading_a_mwh"]["LLaMA-2 70B"])
    assert readings["a100_board_power_w"] == 400.0
    assert len(vs.make_exposure_figure().data) == 4


def test_rerenders_are_fast():
    for factory in (vs.energy_calculator, vs.lifetime_slider, vs.risk_questionnaire, vs.penalty_calculator):
        ctl = factory()
        ctl.render()
        t0 = time.perf_counter()
        for _ in range(5):
            ctl.build()
        assert (time.perf_counter() - t0) / 5 < 0.05, factory.__name__
