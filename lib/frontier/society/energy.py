"""Training and inference energy, and the emissions that follow, from sourced inputs.

The two formulas of the lesson::

    energy (kWh)   = accelerator-hours x average power (W) / 1000 x PUE
    emissions (t)  = energy (kWh) x grid intensity (gCO2e/kWh) / 1e6

PUE (power usage effectiveness) is the data centre's total power over the
power that reaches the computers, so it is >= 1.  Grid intensities by country
come from the energy-mix file that ships with ``codecarbon`` (read offline, see
:func:`grid_intensities`); nothing here downloads anything.

Published runs are data (:data:`PUBLISHED_RUNS`), each input with its
:class:`~frontier.society.sources.Source`.  Units: hours, watts, kWh, MWh,
tonnes CO2e (t), gCO2e/kWh, FLOPs, tokens, parameters.
"""
from __future__ import annotations

import json
import numbers
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Dict, Iterable, List, Mapping, Optional, Sequence

import numpy as np

from .. import hardware
from ..validation import nonnegative_float, positive_float
from .sources import Source

__all__ = [
    "energy_kwh", "emissions_t", "check_pue", "training_flops", "GridIntensity", "grid_intensities",
    "grid_intensity", "TrainingRun", "PUBLISHED_RUNS", "LLAMA2_SIZES", "LLAMA2_TOTAL", "LLAMA31_SIZES",
    "LLAMA31_TOTAL", "llama2_34b_by_difference", "GridFit", "fit_grid_intensity", "ChapterRow", "CHAPTER_TABLE",
    "QueryEnergy", "QUERY_ENERGY", "inference_energy_kwh", "days_to_match_training", "energy_for_compute",
    "energy_on_accelerator", "BLOOM_LIFECYCLE_TCO2E",
]


# ---------------------------------------------------------------------------------------------------------------
# The two formulas
# ---------------------------------------------------------------------------------------------------------------
def check_pue(pue: object) -> float:
    """``pue`` as a float if it is a finite number >= 1, else a ``ValueError`` that says why."""
    p = positive_float("pue", pue)
    if p < 1.0:
        raise ValueError(f"pue must be >= 1 (total facility power / IT power), got {pue}")
    return p


def energy_kwh(accelerator_hours: float, power_w: float, pue: float = 1.0) -> float:
    """Energy of a run in kWh: ``accelerator_hours x power_w / 1000 x pue``.

    Args:
        accelerator_hours: device-hours summed over all devices (>= 0), e.g. GPU-hours.
        power_w: average power per device in watts (> 0): a measured average,
            or the board power (TDP) as an upper bound.
        pue: power usage effectiveness of the data centre (>= 1); 1 means
            "IT power only".
    """
    h = nonnegative_float("accelerator_hours", accelerator_hours)
    p = positive_float("power_w", power_w)
    return h * p / 1000.0 * check_pue(pue)


def emissions_t(energy_kwh_: float, grid_g_per_kwh: float) -> float:
    """Emissions in tonnes CO2e of ``energy_kwh_`` kWh drawn at ``grid_g_per_kwh`` gCO2e/kWh."""
    e = nonnegative_float("energy_kwh", energy_kwh_)
    g = nonnegative_float("grid_g_per_kwh", grid_g_per_kwh)
    return e * g / 1e6


def training_flops(n_params: float, n_tokens: float) -> float:
    """Training compute ``6 N D`` in FLOPs (Kaplan et al. 2020: ~6 FLOPs per parameter per token, forward + backward).

    Args:
        n_params: parameters N (for a mixture of experts, the *active* ones).
        n_tokens: training tokens D.
    """
    return 6.0 * positive_float("n_params", n_params) * positive_float("n_tokens", n_tokens)


def energy_for_compute(flops: float, peak_flops_per_s: float, utilization: float, power_w: float,
                       pue: float = 1.0) -> float:
    """Energy in kWh to spend ``flops`` on devices with ``peak_flops_per_s`` used at ``utilization`` (MFU).

    ``hours = flops / (peak_flops_per_s x utilization) / 3600``, then :func:`energy_kwh`.
    This is how a hardware generation changes a run's energy: a newer device
    draws more power but finishes the same work in fewer hours.
    """
    f = positive_float("flops", flops)
    peak = positive_float("peak_flops_per_s", peak_flops_per_s)
    u = positive_float("utilization", utilization)
    if u > 1:
        raise ValueError(f"utilization must lie in (0, 1], got {utilization}")
    return energy_kwh(f / (peak * u) / 3600.0, power_w, pue)


def energy_on_accelerator(flops: float, accelerator: str, utilization: float = 0.4, pue: float = 1.1,
                          dtype: str = "bf16") -> Dict[str, float]:
    """A training budget of ``flops`` on one accelerator type from :mod:`frontier.hardware`.

    Uses the device's dense peak rate for ``dtype`` and its board power as the
    average draw (an upper bound: real runs average less).  Returns
    ``{"accelerator_hours", "power_w", "energy_kwh"}``.
    """
    acc = hardware.accelerator(accelerator)
    peak = acc.flops(dtype)
    u = positive_float("utilization", utilization)
    hours = positive_float("flops", flops) / (peak * min(u, 1.0)) / 3600.0
    return {"accelerator_hours": hours, "power_w": acc.board_power_w,
            "energy_kwh": energy_for_compute(flops, peak, utilization, acc.board_power_w, pue)}


# ---------------------------------------------------------------------------------------------------------------
# Grid intensity by country, from codecarbon's bundled energy-mix data
# ---------------------------------------------------------------------------------------------------------------
_CODECARBON_MIX = "data/private_infra/global_energy_mix.json"


@dataclass(frozen=True)
class GridIntensity:
    """One country's average grid intensity as codecarbon ships it."""

    iso_code: str
    country: str
    g_per_kwh: float
    year: int
    source: Source


@lru_cache(maxsize=1)
def grid_intensities() -> Dict[str, GridIntensity]:
    """Every country in codecarbon's bundled ``global_energy_mix.json``: ISO-3166 alpha-3 code -> intensity.

    Read from the installed package's data (no network).  The values are
    yearly averages of generation-weighted intensity (``carbon_intensity``,
    gCO2e/kWh) for the year given in the file.

    Raises:
        ImportError: codecarbon is not installed (``pip install 'llm-frontiers[society]'``).
    """
    import importlib.metadata
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("codecarbon")          # locate the package without importing it (fast)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("grid intensities come from codecarbon's bundled data: "
                          "pip install 'llm-frontiers[society]' (or codecarbon)")
    path = Path(list(spec.submodule_search_locations)[0]) / _CODECARBON_MIX
    data = json.loads(path.read_text(encoding="utf-8"))
    version = importlib.metadata.version("codecarbon")
    out: Dict[str, GridIntensity] = {}
    for code, row in data.items():
        g = row.get("carbon_intensity")
        if not isinstance(g, numbers.Real) or not np.isfinite(g):
            continue
        src = Source(f"codecarbon {version}, bundled energy-mix data", f"codecarbon/{_CODECARBON_MIX}, key {code}",
                     "SECONDARY", note="codecarbon compiles these from public energy statistics; yearly average")
        out[code] = GridIntensity(code, str(row.get("country_name", code)), float(g), int(row.get("year", 0)), src)
    return out


def grid_intensity(country_iso_code: str) -> float:
    """Average grid intensity in gCO2e/kWh of a country (ISO alpha-3, e.g. ``"FRA"``), from codecarbon's data.

    Raises:
        TypeError: the code is not a string.
        ValueError: the code is not in the file (the message lists close matches).
    """
    if not isinstance(country_iso_code, str):
        raise TypeError(f"country_iso_code must be a str such as 'FRA', got {type(country_iso_code).__name__}")
    table = grid_intensities()
    code = country_iso_code.strip().upper()
    if code not in table:
        near = sorted(c for c in table if c[:1] == code[:1])[:8]
        raise ValueError(f"unknown country_iso_code {country_iso_code!r}: expected an ISO 3166 alpha-3 code present "
                         f"in codecarbon's energy-mix data (e.g. {', '.join(near) or 'FRA, USA, POL'})")
    return table[code].g_per_kwh


# ---------------------------------------------------------------------------------------------------------------
# Published training runs
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainingRun:
    """A published training run, with the inputs that reproduce its energy and emissions.

    Attributes:
        name: model name.
        accelerator: the device type the source names.
        accelerator_hours: device-hours (for GPT-3: processors x days x 24).
        power_w: average power per device used in the reproduction (W).
        pue: PUE the reproduction applies on top of ``power_w`` (1.0 where the
            source's power already includes it or the source reports IT energy only).
        grid_g_per_kwh: the intensity the source used, where it states one (gCO2e/kWh).
        reported_energy_mwh / reported_tco2e: what the source reports (None where it does not).
        n_params / n_tokens: for 6ND (None where not published).
        sources: ``{field name: Source}`` for every input and reported figure.
        note: what to watch out for.
    """

    name: str
    accelerator: str
    accelerator_hours: float
    power_w: float
    pue: float = 1.0
    grid_g_per_kwh: Optional[float] = None
    reported_energy_mwh: Optional[float] = None
    reported_tco2e: Optional[float] = None
    n_params: Optional[float] = None
    n_tokens: Optional[float] = None
    sources: Mapping[str, Source] = field(default_factory=dict)
    note: str = ""

    def energy_mwh(self, pue: Optional[float] = None) -> float:
        """Reproduced energy in MWh (``pue`` overrides the run's own)."""
        return energy_kwh(self.accelerator_hours, self.power_w, self.pue if pue is None else pue) / 1000.0

    def tco2e(self, grid_g_per_kwh: Optional[float] = None, pue: Optional[float] = None) -> float:
        """Reproduced emissions in t CO2e at ``grid_g_per_kwh`` (default: the intensity the source states)."""
        g = self.grid_g_per_kwh if grid_g_per_kwh is None else grid_g_per_kwh
        if g is None:
            raise ValueError(f"{self.name}: the source states no grid intensity; pass grid_g_per_kwh "
                             "(e.g. from fit_grid_intensity or grid_intensity('USA'))")
        return emissions_t(self.energy_mwh(pue) * 1000.0, g)

    def flops(self) -> float:
        """Training compute 6ND in FLOPs (ValueError where N or D is not published)."""
        if self.n_params is None or self.n_tokens is None:
            raise ValueError(f"{self.name}: parameters or tokens not published")
        return training_flops(self.n_params, self.n_tokens)


# Sources ---------------------------------------------------------------------------------------------------------
_PATTERSON = "Patterson et al. 2021, Carbon Emissions and Large Neural Network Training (arXiv 2104.10350)"
_PATTERSON_TOTALS = Source(_PATTERSON, "Table 4, GPT-3 column: 1,287 MWh, 552 tCO2e", "SECONDARY",
                           note="via shared/reference/facts.md section 10; the 0.429 kg/kWh follows from them")
_PATTERSON_INPUTS = Source(
    _PATTERSON, "Table 4, GPT-3 column: 10,000 V100, 14.8 days, 330 W average per processor, PUE 1.10", "SECONDARY",
    note="the primary table was not readable here; 14.8 days, 0.3 kW and 429 g/kWh appear in "
         "danielhers/climate-awareness-nlp model_cards/gpt3.md citing the paper, PUE ~1.1 for Microsoft in "
         "Epoch AI's code citing Table 4; facts.md marks PUE and GPU count UNVERIFIED")
_BROWN = Source("Brown et al. 2020, Language Models are Few-Shot Learners (arXiv 2005.14165)",
                "Table 2.2 / section 2.2: 175B parameters, 300B training tokens", "SECONDARY")
_LLAMA2_CARD = Source("Meta, Llama 2 model card", "meta-llama/llama MODEL_CARD.md @0e3444bc, 'Carbon Footprint' table",
                      "PRIMARY", note="power is 'peak power capacity per GPU device ... adjusted for power usage "
                                      "efficiency'; 400 W is also the A100-80GB SXM board power")
_LLAMA2_PAPER = Source("Touvron et al. 2023, Llama 2 (arXiv 2307.09288)", "Table 2: 34B at 350 W", "SECONDARY",
                       note="via facts.md section 10; 34B was trained but not released")
_LLAMA2_TOKENS = Source("Meta, Llama 2 model card", "meta-llama/llama MODEL_CARD.md @0e3444bc: 2.0T tokens", "PRIMARY")
_LLAMA_PARAMS = Source("shared/reference/facts.md section 1", "exact parameter counts from the released configs",
                       "DERIVED")
_BLOOM = Source("Luccioni, Viguier, Ligozat 2022, Estimating the Carbon Footprint of BLOOM (arXiv 2211.02001)",
                "1,082,990 GPU-hours, 433 MWh, 24.7 t dynamic, 50.5 t life cycle, 57 gCO2e/kWh", "SECONDARY",
                note="via facts.md section 13")
_BLOOM_POWER = Source("derived", "433,196 kWh / 1,082,990 GPU-hours = 400 W (the A100-80GB board power)", "DERIVED")
_BLOOM_SIZE = Source("BigScience 2022, BLOOM (arXiv 2211.05100)", "176B parameters, 366B tokens", "SECONDARY")
_LLAMA31_CARD = Source("Meta, Llama 3.1 model card",
                       "meta-llama/llama-models models/llama3_1/MODEL_CARD.md @1b28708f, 'Training Energy Use' table",
                       "PRIMARY", note="H100-80GB, TDP 700 W; location-based emissions; market-based 0 t")
_LLAMA31_TOKENS = Source("Meta, Llama 3.1 model card", "same file: '15T+' / '~15 trillion tokens'", "PRIMARY",
                         note="15e12 used for 6ND; the Llama 3 paper gives 15.6T for the 405B model")

_CARD = {"accelerator_hours": _LLAMA2_CARD, "power_w": _LLAMA2_CARD, "reported_tco2e": _LLAMA2_CARD,
         "n_params": _LLAMA_PARAMS, "n_tokens": _LLAMA2_TOKENS}


def _llama2(size: str, hours: float, t: float, n_params: float) -> TrainingRun:
    return TrainingRun(f"LLaMA-2 {size}", "A100-80GB", hours, 400.0, 1.0, None, None, t, n_params, 2.0e12,
                       dict(_CARD), "400 W 'adjusted for PUE' per the card; see llama2_readings in the lesson")


#: LLaMA-2 sizes in the model card's table (34B is not in it; see :func:`llama2_34b_by_difference`).
LLAMA2_SIZES: Dict[str, TrainingRun] = {
    "7B": _llama2("7B", 184_320, 31.22, 6_738_415_616),
    "13B": _llama2("13B", 368_640, 62.44, 13.0e9),
    "70B": _llama2("70B", 1_720_320, 291.42, 68_976_648_192),
}
#: The card's total row: GPU-hours and t CO2e of all four pretrained sizes, 34B included.
LLAMA2_TOTAL = {"accelerator_hours": 3_311_616, "tco2e": 539.00, "source": _LLAMA2_CARD}


def llama2_34b_by_difference() -> TrainingRun:
    """The unreleased 34B model: the card's total minus its three rows, at 350 W (Llama 2 paper, Table 2)."""
    hours = LLAMA2_TOTAL["accelerator_hours"] - sum(r.accelerator_hours for r in LLAMA2_SIZES.values())
    t = LLAMA2_TOTAL["tco2e"] - sum(r.reported_tco2e for r in LLAMA2_SIZES.values())
    diff = Source("derived", "Llama 2 card total minus the 7B, 13B and 70B rows", "DERIVED")
    return TrainingRun("LLaMA-2 34B", "A100-80GB", hours, 350.0, 1.0, None, None, round(t, 2), 34.0e9, 2.0e12,
                       {"accelerator_hours": diff, "reported_tco2e": diff, "power_w": _LLAMA2_PAPER,
                        "n_tokens": _LLAMA2_PAPER}, "not released; hours and t by difference")


def _llama31(size: str, hours: float, t: float, n_params: float) -> TrainingRun:
    return TrainingRun(f"Llama 3.1 {size}", "H100-80GB", hours, 700.0, 1.0, None, None, t, n_params, 15.0e12,
                       {"accelerator_hours": _LLAMA31_CARD, "power_w": _LLAMA31_CARD, "reported_tco2e": _LLAMA31_CARD,
                        "n_params": _LLAMA31_CARD, "n_tokens": _LLAMA31_TOKENS},
                       "700 W is the card's TDP 'adjusted for power usage efficiency'")


#: Llama 3.1 sizes from its model card: the frontier of 2024 among runs with published energy.
LLAMA31_SIZES: Dict[str, TrainingRun] = {
    "8B": _llama31("8B", 1.46e6, 420.0, 8.0e9),
    "70B": _llama31("70B", 7.0e6, 2_040.0, 70.0e9),
    "405B": _llama31("405B", 30.84e6, 8_930.0, 405.0e9),
}
#: The Llama 3.1 card's total row.
LLAMA31_TOTAL = {"accelerator_hours": 39.3e6, "tco2e": 11_390.0, "market_based_tco2e": 0.0, "source": _LLAMA31_CARD}

#: The published runs the lesson reproduces, by name.
PUBLISHED_RUNS: Dict[str, TrainingRun] = {
    "GPT-3 175B": TrainingRun(
        "GPT-3 175B", "V100", 10_000 * 14.8 * 24, 330.0, 1.10, 429.0, 1_287.0, 552.0, 175e9, 300e9,
        {"accelerator_hours": _PATTERSON_INPUTS, "power_w": _PATTERSON_INPUTS, "pue": _PATTERSON_INPUTS,
         "grid_g_per_kwh": _PATTERSON_TOTALS, "reported_energy_mwh": _PATTERSON_TOTALS,
         "reported_tco2e": _PATTERSON_TOTALS, "n_params": _BROWN, "n_tokens": _BROWN},
        "inputs as reported (SECONDARY); 14.8 days is rounded, so the product is 0.2% above 1,287 MWh"),
    **{r.name: r for r in LLAMA2_SIZES.values()},
    "LLaMA-2 34B": llama2_34b_by_difference(),
    "BLOOM 176B": TrainingRun(
        "BLOOM 176B", "A100-80GB", 1_082_990, 400.0, 1.0, 57.0, 433.0, 24.7, 176e9, 366e9,
        {"accelerator_hours": _BLOOM, "power_w": _BLOOM_POWER, "grid_g_per_kwh": _BLOOM,
         "reported_energy_mwh": _BLOOM, "reported_tco2e": _BLOOM, "n_params": _BLOOM_SIZE, "n_tokens": _BLOOM_SIZE},
        "dynamic (GPU) energy only; 50.5 t over the life cycle with idle power and manufacturing"),
    **{r.name: r for r in LLAMA31_SIZES.values()},
}

#: BLOOM's life-cycle total, which adds idle consumption and embodied emissions to the 24.7 t of dynamic power.
BLOOM_LIFECYCLE_TCO2E = 50.5


# ---------------------------------------------------------------------------------------------------------------
# One grid intensity fitted across runs
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GridFit:
    """A single grid intensity fitted to several runs by least squares through the origin.

    Attributes:
        g_per_kwh: the fitted intensity (gCO2e/kWh).
        names: the runs, in order.
        energy_kwh: ``(n,)`` energy of each run from its hours and power.
        reported_t: ``(n,)`` reported t CO2e.
        predicted_t: ``(n,)`` energy x fitted intensity.
        relative_error: ``(n,)`` (predicted - reported) / reported.
    """

    g_per_kwh: float
    names: List[str]
    energy_kwh: np.ndarray
    reported_t: np.ndarray
    predicted_t: np.ndarray
    relative_error: np.ndarray


def fit_grid_intensity(runs: Iterable[TrainingRun], pue: Optional[float] = None) -> GridFit:
    """Fit one intensity ``g`` minimising ``sum_i (E_i g - t_i)^2`` over runs with reported t CO2e.

    ``E_i`` is each run's energy from hours x power (x ``pue`` when given,
    else the run's own PUE).  The closed form is ``g = sum E_i t_i / sum E_i^2``.
    If one ``g`` reproduces every row, the source used one intensity for all of
    them; the residuals say how closely.
    """
    runs = list(runs)
    if len(runs) < 2:
        raise ValueError(f"fit_grid_intensity needs at least two runs, got {len(runs)}")
    for r in runs:
        if not isinstance(r, TrainingRun):
            raise TypeError(f"runs must be TrainingRun objects, got {type(r).__name__}")
        if r.reported_tco2e is None:
            raise ValueError(f"{r.name} reports no t CO2e to fit")
    e = np.array([r.energy_mwh(pue) * 1000.0 for r in runs])
    t = np.array([float(r.reported_tco2e) for r in runs])
    (g_t_per_kwh,), *_ = np.linalg.lstsq(e[:, None], t, rcond=None)
    pred = e * g_t_per_kwh
    return GridFit(float(g_t_per_kwh * 1e6), [r.name for r in runs], e, t, pred, (pred - t) / t)


# ---------------------------------------------------------------------------------------------------------------
# The chapter's table, checked
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChapterRow:
    """A row of the chapter's "Estimated training costs" table and the run(s) it should match."""

    label: str
    claimed_mwh: float
    claimed_tco2e: float
    kind: str                      # "approximately" or "at least"
    runs: Sequence[str]            # names in PUBLISHED_RUNS whose sum the row should match
    comment: str


CHAPTER_TABLE: List[ChapterRow] = [
    ChapterRow("GPT-3 175B", 1_300, 550, "approximately", ["GPT-3 175B"],
               "agrees with Patterson et al. 2021 (1,287 MWh, 552 t)"),
    ChapterRow("LLaMA-2 70B", 530, 220, "approximately", ["LLaMA-2 70B"],
               "the card gives 1,720,320 GPU-h x 400 W = 688 MWh and 291.42 t; 539 t is all four sizes together"),
    ChapterRow("Frontier models (2024)", 10_000, 4_000, "at least", [f"Llama 3.1 {s}" for s in LLAMA31_SIZES],
               "unsourced in the chapter; the Llama 3.1 card gives 39.3M H100-hours at 700 W and 11,390 t"),
]


# ---------------------------------------------------------------------------------------------------------------
# Inference over a model's lifetime
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueryEnergy:
    """A published estimate of the energy of one query."""

    label: str
    wh_per_query: float
    date: str
    source: Source


#: Per-query estimates with their dates; both are far below older figures (~3 Wh) that circulated before 2025.
QUERY_ENERGY: Dict[str, QueryEnergy] = {
    "epoch_gpt4o": QueryEnergy(
        "Epoch AI: typical GPT-4o query", 0.3, "2025-02",
        Source("Epoch AI (J. You), How much energy does ChatGPT use? (Gradient Updates, Feb 2025)",
               "estimate for a typical query with ~500 output tokens on H100s", "SECONDARY",
               note="an estimate from public parameters and utilisation assumptions, not a measurement; "
                    "facts.md section 13")),
    "google_gemini": QueryEnergy(
        "Google: median Gemini Apps text prompt", 0.24, "2025-08",
        Source("Elsworth et al. 2025, Measuring the environmental impact of delivering AI at Google scale "
               "(arXiv 2508.15734)", "median text prompt: 0.24 Wh, 0.03 gCO2e, 0.26 mL water", "SECONDARY",
               note="measured in Google's fleet, including idle machines and data-centre overhead; facts.md")),
}


def inference_energy_kwh(queries_per_day: float, wh_per_query: float, days: float) -> float:
    """Energy of serving ``queries_per_day`` queries of ``wh_per_query`` Wh each for ``days`` days, in kWh."""
    q = nonnegative_float("queries_per_day", queries_per_day)
    w = nonnegative_float("wh_per_query", wh_per_query)
    d = nonnegative_float("days", days)
    return q * w * d / 1000.0


def days_to_match_training(training_kwh: float, queries_per_day: float, wh_per_query: float) -> float:
    """Days of serving after which inference has used as much energy as training (``inf`` if nothing is served)."""
    e = nonnegative_float("training_kwh", training_kwh)
    per_day = inference_energy_kwh(queries_per_day, wh_per_query, 1.0)
    return float("inf") if per_day == 0 else e / per_day
