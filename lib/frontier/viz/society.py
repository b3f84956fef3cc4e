"""Figures and widgets for section 7: energy and emissions, regulation, work.

Controllers (registered for the benchmark and the browser tests):

* ``society_energy_calculator``   a published run or your own inputs, the power, the PUE and the grid
* ``society_lifetime``            training energy against inference over a model's life (queries/day, Wh/query, years)
* ``society_risk_questionnaire``  yes/no questions -> EU AI Act tier, with the article behind each answer
* ``society_penalty_calculator``  AI Act fine ceilings for a turnover ("whichever is higher", or lower for SMEs)

Builders are pure and cheap; the computation lives in :mod:`frontier.society`.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np
import plotly.graph_objects as go

from .. import hardware
from ..society import energy, regulation, work
from ..society.sources import CHECKED
from ._panels import Panels
from .controller import InteractiveFigure, checkbox, dropdown, log_slider, register, slider
from .theme import COLORS, apply_theme, themed_figure

__all__ = [
    "COMPARISON_GRIDS", "make_reproduction_figure", "make_llama2_readings_figure", "make_energy_calculator_figure",
    "energy_calculator", "make_lifetime_figure", "lifetime_slider", "make_flops_figure", "make_energy_scale_figure",
    "make_questionnaire_figure", "risk_questionnaire", "make_penalty_figure", "penalty_calculator",
    "make_exposure_figure",
]

#: Grids the lesson compares (ISO alpha-3); intensities always come from codecarbon's data.
COMPARISON_GRIDS = ("FRA", "SWE", "GBR", "USA", "DEU", "CHN", "POL", "IND")
_RUN_ORDER = ["GPT-3 175B", "LLaMA-2 7B", "LLaMA-2 13B", "LLaMA-2 34B", "LLaMA-2 70B", "BLOOM 176B",
              "Llama 3.1 8B", "Llama 3.1 70B", "Llama 3.1 405B"]
_GPUS = ("A100-80GB", "H100-SXM", "H200", "L4")


def _fmt_t(t: float) -> str:
    return f"{t:,.0f}" if t >= 100 else f"{t:,.2f}"


# ---------------------------------------------------------------------------------------------------------------
# Published runs: reported against reproduced
# ---------------------------------------------------------------------------------------------------------------
def make_reproduction_figure(grid_g_per_kwh: Optional[Mapping[str, float]] = None) -> go.Figure:
    """Reported against reproduced energy (MWh) and emissions (t CO2e) for every published run, log scale.

    Energy is hours x power x PUE from each run's inputs.  Emissions use the
    intensity the source states; where it states none (the Llama cards) they use
    ``grid_g_per_kwh[name]`` (e.g. the fitted intensity), else they are left out.
    The chapter's claims are drawn as crosses.
    """
    grid_g_per_kwh = dict(grid_g_per_kwh or {})
    names = [n for n in _RUN_ORDER if n in energy.PUBLISHED_RUNS]
    runs = [energy.PUBLISHED_RUNS[n] for n in names]
    e_rep = [r.reported_energy_mwh for r in runs]
    e_rec = [r.energy_mwh() for r in runs]
    t_rep = [r.reported_tco2e for r in runs]
    t_rec = []
    for r in runs:
        g = r.grid_g_per_kwh if r.grid_g_per_kwh is not None else grid_g_per_kwh.get(r.name)
        t_rec.append(None if g is None else r.tco2e(g))
    claims = {row.runs[0]: row for row in energy.CHAPTER_TABLE if len(row.runs) == 1}
    panels = Panels(1, 2, ("energy (MWh)", "emissions (t CO2e)"), hspace=0.1)
    data = []
    for col, (rep, rec, key) in enumerate([(e_rep, e_rec, "claimed_mwh"), (t_rep, t_rec, "claimed_tco2e")], start=1):
        ref = panels.ref(1, col)
        show = col == 1
        data += [
            go.Bar(x=names, y=rep, name="reported by the source", marker_color=COLORS[0], showlegend=show, **ref),
            go.Bar(x=names, y=rec, name="reproduced from the inputs", marker_color=COLORS[1], showlegend=show, **ref),
            go.Scatter(x=list(claims), y=[getattr(c, key) for c in claims.values()], mode="markers",
                       name="the chapter's table", marker=dict(symbol="x", size=11, color=COLORS[3]),
                       showlegend=show, **ref),
        ]
        panels.axis(1, col, "y", type="log")
        panels.axis(1, col, "x", tickangle=-35)
    fig = go.Figure(data=data, layout=dict(panels.layout, barmode="group"))
    meta = {"names": names, "reported_mwh": e_rep, "reproduced_mwh": e_rec, "reported_t": t_rep,
            "reproduced_t": t_rec, "checked": CHECKED}
    apply_theme(fig, "Published training runs: reported vs reproduced (hours x power x PUE; x grid intensity)",
                meta, height=480, legend_below=-0.35)
    return fig


def make_llama2_readings_figure(extra_pue: float = 1.1, grid_g_per_kwh: Optional[float] = None) -> go.Figure:
    """LLaMA-2's energy under the two readings of the card's 400 W, and the chapter's 70B row.

    Reading A: 400 W already includes the data centre (the card's words), so
    energy = GPU-h x 400 W.  Reading B: 400 W is the A100-80GB board power
    (the same number in :mod:`frontier.hardware`), so a PUE comes on top.
    """
    sizes = ["LLaMA-2 7B", "LLaMA-2 13B", "LLaMA-2 34B", "LLaMA-2 70B"]
    runs = [energy.PUBLISHED_RUNS[s] for s in sizes]
    a = [r.energy_mwh(pue=1.0) for r in runs]
    b = [r.energy_mwh(pue=extra_pue) for r in runs]
    data = [go.Bar(x=sizes, y=a, name="A: 400 W includes PUE (card's wording)", marker_color=COLORS[0],
                   text=[f"{v:,.0f}" for v in a], textposition="outside"),
            go.Bar(x=sizes, y=b, name=f"B: 400 W is board power, x PUE {extra_pue:g}", marker_color=COLORS[5],
                   text=[f"{v:,.0f}" for v in b], textposition="outside"),
            go.Scatter(x=["LLaMA-2 70B"], y=[530], mode="markers", name="chapter: ~530 MWh",
                       marker=dict(symbol="x", size=12, color=COLORS[3]))]
    meta = {"reading_a_mwh": dict(zip(sizes, a)), "reading_b_mwh": dict(zip(sizes, b)), "extra_pue": extra_pue,
            "a100_board_power_w": hardware.accelerator("A100-80GB").board_power_w}
    if grid_g_per_kwh is not None:
        meta["tco2e_reading_a"] = dict(zip(sizes, [r.tco2e(grid_g_per_kwh, 1.0) for r in runs]))
    return themed_figure(data, dict(barmode="group", yaxis=dict(title=dict(text="energy (MWh)")),
                                    legend=dict(orientation="h", y=-0.2)),
                         "LLaMA-2 training energy: two readings of the card's 400 W", meta, height=440)


# ---------------------------------------------------------------------------------------------------------------
# The energy / emissions calculator
# ---------------------------------------------------------------------------------------------------------------
def make_energy_calculator_figure(run: str = "LLaMA-2 70B", gpu_hours: float = 1e5, device: str = "H100-SXM",
                                  pue: float = 1.0, country: str = "USA") -> go.Figure:
    """A published run and your own run side by side: t CO2e on several grids; energies in the title.

    Args:
        run: a name in :data:`frontier.society.energy.PUBLISHED_RUNS` (its own GPU-hours and average power).
        gpu_hours: device-hours of *your* run.
        device: a device in :mod:`frontier.hardware` for your run; its board power is the power per device.
        pue: data-centre PUE (>= 1) for both runs; for the published run it replaces the run's own
            (GPT-3's is 1.10, the others' 1.0).
        country: ISO alpha-3 code of the highlighted grid (codecarbon's data).
    """
    r = energy.PUBLISHED_RUNS[run]
    pue = energy.check_pue(pue)
    watts = hardware.accelerator(device).board_power_w
    pub_kwh = energy.energy_kwh(r.accelerator_hours, r.power_w, pue)
    own_kwh = energy.energy_kwh(gpu_hours, watts, pue)
    g_sel = energy.grid_intensity(country)
    code = country.strip().upper()
    table = energy.grid_intensities()
    grids = list(dict.fromkeys([*COMPARISON_GRIDS, code]))
    gs = [table[c].g_per_kwh for c in grids]
    labels = [f"{table[c].country} ({c})" for c in grids]
    line = [dict(width=3, color=COLORS[7]) if c == code else dict(width=0) for c in grids]
    data = []
    for name, kwh, color in [(run, pub_kwh, COLORS[0]), (f"your run: {gpu_hours:,.0f} GPU-h on {device}", own_kwh,
                                                          COLORS[1])]:
        ts = [energy.emissions_t(kwh, g) for g in gs]
        data.append(go.Bar(x=labels, y=ts, name=name, marker=dict(color=color, line=dict(
            width=[ln["width"] for ln in line], color=COLORS[7])), text=[_fmt_t(t) for t in ts],
            textposition="outside", customdata=gs,
            hovertemplate="%{x}<br>%{customdata:.0f} g/kWh<br>%{y:,.2f} t CO2e<extra></extra>"))
    t_pub, t_own = energy.emissions_t(pub_kwh, g_sel), energy.emissions_t(own_kwh, g_sel)
    title = (f"{run}: {r.accelerator_hours:,.0f} GPU-h x {r.power_w:g} W x PUE {pue:.2f} = {pub_kwh / 1000:,.0f} MWh; "
             f"yours: {own_kwh / 1000:,.1f} MWh.<br>In {table[code].country} ({g_sel:.0f} g/kWh): "
             f"{_fmt_t(t_pub)} t and {_fmt_t(t_own)} t CO2e")
    meta = {"run": run, "accelerator_hours": r.accelerator_hours, "power_w": r.power_w, "pue": pue,
            "energy_mwh": pub_kwh / 1000, "tco2e": t_pub, "own_gpu_hours": gpu_hours, "own_device": device,
            "own_power_w": watts, "own_energy_mwh": own_kwh / 1000, "own_tco2e": t_own, "country": code,
            "grid_g_per_kwh": g_sel, "grid_year": table[code].year, "grids": dict(zip(grids, gs))}
    return themed_figure(data, dict(barmode="group", yaxis=dict(type="log", title=dict(text="t CO2e (log scale)")),
                                    xaxis=dict(tickangle=-25), legend=dict(orientation="h", y=-0.3),
                                    margin=dict(t=90)), title, meta, height=480)


@register("society_energy_calculator")
def energy_calculator(**fixed) -> InteractiveFigure:
    """The calculator: a published run next to your own (GPU-hours, device), one PUE, the grid."""
    countries = sorted(energy.grid_intensities().items(), key=lambda kv: kv[1].country)
    controls = {
        "run": dropdown([n for n in _RUN_ORDER if n in energy.PUBLISHED_RUNS], "LLaMA-2 70B", "published run"),
        "gpu_hours": log_slider(1e5, 2, 8, 0.1, "your GPU-hours", fmt=".3s"),
        "device": dropdown(list(_GPUS), "H100-SXM", "your device"),
        "pue": slider(1.0, 1.0, 2.0, 0.05, "PUE"),
        "country": dropdown([(f"{v.country} ({k})", k) for k, v in countries], "USA", "grid"),
    }
    return InteractiveFigure(make_energy_calculator_figure, controls, fixed=fixed, name="society_energy_calculator")


# ---------------------------------------------------------------------------------------------------------------
# Training against lifetime inference
# ---------------------------------------------------------------------------------------------------------------
def make_lifetime_figure(run: str = "Llama 3.1 405B", queries_per_day: float = 1e8, wh_per_query: float = 0.3,
                         years: float = 2.0) -> go.Figure:
    """Cumulative inference energy over ``years`` against the run's training energy (MWh), with the crossing day."""
    r = energy.PUBLISHED_RUNS[run]
    train_kwh = r.energy_mwh() * 1000.0
    days = np.linspace(0.0, 365.0 * float(years), 200)
    infer = np.array([energy.inference_energy_kwh(queries_per_day, wh_per_query, d) for d in days]) / 1000.0
    cross = energy.days_to_match_training(train_kwh, queries_per_day, wh_per_query)
    total_inf = float(infer[-1])
    data = [go.Scatter(x=days, y=infer, mode="lines", name="inference (cumulative)", line=dict(color=COLORS[1])),
            go.Scatter(x=[0, days[-1]], y=[train_kwh / 1000] * 2, mode="lines", name="training (once)",
                       line=dict(color=COLORS[0], dash="dash"))]
    if np.isfinite(cross) and cross <= days[-1]:
        data.append(go.Scatter(x=[cross], y=[train_kwh / 1000], mode="markers", name=f"equal after {cross:,.0f} days",
                               marker=dict(size=11, color=COLORS[3])))
    when = (f"inference matches training after {cross:,.0f} days" if np.isfinite(cross)
            else "no queries: inference uses nothing")
    title = (f"{run}: {queries_per_day:,.3g} queries/day x {wh_per_query:g} Wh; {when}; "
             f"{years:g} years of serving = {total_inf / (train_kwh / 1000):.2g} x training")
    meta = {"run": run, "training_mwh": train_kwh / 1000, "queries_per_day": queries_per_day,
            "wh_per_query": wh_per_query, "years": years, "days_to_match": cross, "inference_mwh": total_inf}
    return themed_figure(data, dict(xaxis=dict(title=dict(text="days of serving")),
                                    yaxis=dict(title=dict(text="energy (MWh)")), legend=dict(orientation="h", y=-0.2)),
                         title, meta, height=420)


@register("society_lifetime")
def lifetime_slider(**fixed) -> InteractiveFigure:
    """Training vs lifetime inference: the run, queries per day, Wh per query (published estimates marked), years."""
    controls = {
        "run": dropdown([n for n in _RUN_ORDER if n in energy.PUBLISHED_RUNS], "Llama 3.1 405B", "model"),
        "queries_per_day": log_slider(1e8, 3, 10, 0.25, "queries per day", fmt=".3s"),
        "wh_per_query": dropdown([0.03, 0.1, 0.24, 0.3, 1.0, 3.0], 0.3, "Wh per query"),
        "years": slider(2.0, 0.5, 5.0, 0.5, "years of serving"),
    }
    return InteractiveFigure(make_lifetime_figure, controls, fixed=fixed, name="society_lifetime")


# ---------------------------------------------------------------------------------------------------------------
# FLOPs against the AI Act threshold, and the scale of your own run
# ---------------------------------------------------------------------------------------------------------------
def make_flops_figure(names: Optional[Sequence[str]] = None) -> go.Figure:
    """Training compute 6ND of published models against the AI Act's 10^25 FLOP presumption (log scale)."""
    names = [n for n in (names or _RUN_ORDER) if n in energy.PUBLISHED_RUNS]
    flops = [energy.PUBLISHED_RUNS[n].flops() for n in names]
    over = [regulation.systemic_risk_presumed(f) for f in flops]
    data = [go.Bar(x=names, y=flops, marker_color=[COLORS[3] if o else COLORS[0] for o in over],
                   text=[f"{f:.2g}" for f in flops], textposition="outside", name="6ND"),
            go.Scatter(x=[names[0], names[-1]], y=[regulation.SYSTEMIC_RISK_FLOPS] * 2, mode="lines",
                       name="10^25 FLOPs (Art. 51(2))", line=dict(color=COLORS[3], dash="dash"))]
    meta = {"flops": dict(zip(names, flops)), "over_threshold": [n for n, o in zip(names, over) if o]}
    return themed_figure(data, dict(yaxis=dict(type="log", title=dict(text="training FLOPs (6 N D)")),
                                    xaxis=dict(tickangle=-30), legend=dict(orientation="h", y=-0.3)),
                         "Training compute against the EU AI Act's systemic-risk presumption", meta, height=440)


def make_energy_scale_figure(measured_kwh: Optional[float] = None, measured_label: str = "your run",
                             method: str = "") -> go.Figure:
    """Energies from one query to a frontier run on one log axis (kWh), with your measured run if given."""
    items = [(f"one query ({q.label}, {q.date})", q.wh_per_query / 1000.0) for q in energy.QUERY_ENERGY.values()]
    items += [(n, energy.PUBLISHED_RUNS[n].energy_mwh() * 1000.0) for n in
              ("LLaMA-2 7B", "BLOOM 176B", "GPT-3 175B", "LLaMA-2 70B", "Llama 3.1 405B")]
    if measured_kwh is not None:
        items.append((f"{measured_label} (measured{': ' + method if method else ''})", float(measured_kwh)))
    items.sort(key=lambda it: it[1])
    colors = [COLORS[3] if lab.startswith(measured_label) and measured_kwh is not None else COLORS[0]
              for lab, _ in items]
    data = [go.Bar(y=[lab for lab, _ in items], x=[v for _, v in items], orientation="h", marker_color=colors,
                   text=[f"{v:.3g} kWh" for _, v in items], textposition="outside")]
    meta = {"items": {lab: v for lab, v in items}}
    return themed_figure(data, dict(xaxis=dict(type="log", title=dict(text="energy (kWh, log scale)")),
                                    margin=dict(l=330), showlegend=False),
                         "From one query to a frontier training run, on one axis", meta, height=420)


# ---------------------------------------------------------------------------------------------------------------
# The risk-tier questionnaire and the penalty calculator
# ---------------------------------------------------------------------------------------------------------------
_TIER_COLOR = {"prohibited": COLORS[3], "high-risk": COLORS[1], "limited": COLORS[5], "minimal": COLORS[2]}


def make_questionnaire_figure(case: str = "custom", **answers: bool) -> go.Figure:
    """A table of the questionnaire's answers, each with its article and consequence; the tier in the title.

    ``case`` = a key of :data:`frontier.society.regulation.FINANCE_CASES` starts
    from that case's answers and adds every *yes* in ``answers`` (ticking a box
    can only add a yes); ``"custom"`` uses ``answers`` alone.
    """
    boxes = {k: bool(v) for k, v in answers.items()}
    if case != "custom":
        if case not in regulation.FINANCE_CASES:
            raise ValueError(f"case must be 'custom' or one of {list(regulation.FINANCE_CASES)}, got {case!r}")
        base = regulation.FINANCE_CASES[case].answers
        answers = {k: bool(base.get(k, False)) or boxes.get(k, False) for k in set(base) | set(boxes)}
    c = regulation.classify(answers)
    cells = [[("yes" if s.answer else "no") for s in c.steps], [s.article for s in c.steps],
             [s.question for s in c.steps], [s.consequence for s in c.steps]]
    fill = [["#FDF2E9" if s.answer else "white" for s in c.steps]] * 4
    data = [go.Table(columnwidth=[40, 120, 420, 300],
                     header=dict(values=["answer", "article", "question", "what the answer means"],
                                 fill_color="#E5ECF6", align="left"),
                     cells=dict(values=cells, align="left", fill_color=fill, height=26))]
    ticked = sum(boxes.values())
    who = "your answers" if case == "custom" else (regulation.FINANCE_CASES[case].name
                                                     + (f" + {ticked} ticked" if ticked else ""))
    title = (f"{who}: <b style='color:{_TIER_COLOR[c.tier]}'>{c.tier}</b> under the EU AI Act "
             f"(because of {', '.join(c.decisive)}); summary checked {CHECKED}, not legal advice")
    meta = {"case": case, "boxes": boxes, "tier": c.tier, "decisive": list(c.decisive),
            "transparency": list(c.transparency),
            "articles": [s.article for s in c.steps], "obligations": [list(o) for o in c.obligations]}
    return themed_figure(data, dict(margin=dict(l=10, r=10, t=70, b=10)), title, meta, height=520)


@register("society_risk_questionnaire")
def risk_questionnaire(**fixed) -> InteractiveFigure:
    """The questionnaire: pick a finance case (boxes add yes answers to it), or 'custom' and answer yourself."""
    controls = {"case": dropdown([("custom (only the boxes)", "custom"),
                                  *[(v.name, k) for k, v in regulation.FINANCE_CASES.items()]], "custom", "case")}
    for q in regulation.QUESTIONS:
        controls[q.key] = checkbox(False, f"{q.key.replace('_', ' ')} ({q.article})")
    return InteractiveFigure(make_questionnaire_figure, controls, fixed=fixed, columns=3,
                             name="society_risk_questionnaire")


def make_penalty_figure(turnover_eur: float = 1e9, sme: bool = False) -> go.Figure:
    """Fixed amount, turnover share and the resulting ceiling for each infringement (EUR, log scale)."""
    rows = [regulation.penalty_ceiling(k, turnover_eur, sme) for k in regulation.PENALTIES]
    names = [f"{r.infringement} ({r.article})" for r in rows]
    data = [go.Bar(y=names, x=[r.fixed_eur for r in rows], orientation="h", name="fixed amount",
                   marker_color=COLORS[9]),
            go.Bar(y=names, x=[max(r.share_eur, 1.0) for r in rows], orientation="h", name="share of turnover",
                   marker_color=COLORS[5]),
            go.Bar(y=names, x=[r.ceiling_eur for r in rows], orientation="h", name=f"ceiling ({rows[0].rule})",
                   marker_color=COLORS[3], text=[f"EUR {r.ceiling_eur / 1e6:,.1f}M" for r in rows],
                   textposition="outside")]
    title = (f"AI Act fine ceilings at EUR {turnover_eur / 1e6:,.0f}M worldwide turnover"
             f"{' (SME)' if sme else ''}: prohibited practices up to EUR {rows[0].ceiling_eur / 1e6:,.1f}M")
    meta = {"turnover_eur": turnover_eur, "sme": sme, "ceilings": {k: r.ceiling_eur for k, r in
                                                                   zip(regulation.PENALTIES, rows)}}
    return themed_figure(data, dict(barmode="group", xaxis=dict(type="log", title=dict(text="EUR (log scale)")),
                                    margin=dict(l=420), legend=dict(orientation="h", y=-0.25)),
                         title, meta, height=420)


@register("society_penalty_calculator")
def penalty_calculator(**fixed) -> InteractiveFigure:
    """Fine ceilings for a worldwide annual turnover, for a large firm or an SME."""
    controls = {"turnover_eur": log_slider(1e9, 6, 12, 0.1, "worldwide turnover (EUR)", fmt=".3s"),
                "sme": checkbox(False, "SME or start-up (Art. 99(6))")}
    return InteractiveFigure(make_penalty_figure, controls, fixed=fixed, name="society_penalty_calculator")


# ---------------------------------------------------------------------------------------------------------------
# Work
# ---------------------------------------------------------------------------------------------------------------
def make_exposure_figure(tasks: Sequence[work.Task] = work.TASKS) -> go.Figure:
    """Per role: share of working time rated E1, E2, E0 (stacked), and beta = E1 + E2/2 as a marker."""
    table = work.exposure_table(tasks)
    roles = [r.role for r in table]
    e1 = [r.alpha for r in table]
    e2 = [r.zeta - r.alpha for r in table]
    e0 = [1 - r.zeta for r in table]
    data = [go.Bar(x=roles, y=e1, name="E1: the LLM alone halves the time", marker_color=COLORS[3]),
            go.Bar(x=roles, y=e2, name="E2: with tools built on an LLM", marker_color=COLORS[1]),
            go.Bar(x=roles, y=e0, name="E0: not exposed", marker_color=COLORS[9]),
            go.Scatter(x=roles, y=[r.beta for r in table], mode="markers", name="beta = E1 + 0.5 E2",
                       marker=dict(symbol="diamond", size=12, color=COLORS[7]))]
    meta = {"table": [r.__dict__ for r in table]}
    return themed_figure(data, dict(barmode="stack", yaxis=dict(title=dict(text="share of working time"),
                                                                tickformat=".0%"),
                                    legend=dict(orientation="h", y=-0.2)),
                         "Task exposure by role (illustrative ratings, Eloundou et al.'s rubric)", meta, height=440)
