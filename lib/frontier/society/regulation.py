"""Rules a finance team deploying a language model meets, as data a learner can apply.

* the **EU AI Act** (Regulation (EU) 2024/1689): risk tiers with the articles
  they come from (:data:`TIERS`), the Annex III points relevant to finance, a
  yes/no questionnaire that classifies a use case and cites an article for every
  answer (:func:`classify`), the general-purpose-model systemic-risk presumption
  above 10^25 training FLOPs (:func:`systemic_risk_presumed`), penalty ceilings
  (:func:`penalty_ceiling`) and application dates (:data:`AI_ACT_DATES`);
* **SR 11-7**, the US banking supervisors' model-risk guidance (:data:`SR_11_7`);
* the US **Executive Order 14110** row of the chapter, brought up to date (:data:`US_EXECUTIVE_ORDERS`);
* **ECOA / Regulation B** adverse-action notices and what they ask of a model's
  explanations (:data:`REG_B_ADVERSE_ACTION`, :func:`principal_reasons`).

Everything is a *summary* for teaching, with the article or section it
summarises and the date it was checked (:mod:`frontier.society.sources`).  It
is not legal advice, and the cited texts, not these summaries, are what apply.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Dict, List, Mapping, Tuple

import numpy as np

from ..validation import nonnegative_float, positive_int
from .sources import CHECKED, Source

__all__ = [
    "DISCLAIMER", "AI_ACT", "TIERS", "TIER_ORDER", "Tier", "ANNEX_III_FINANCE", "Question", "QUESTIONS", "Step",
    "Classification", "classify", "FINANCE_CASES", "FinanceCase", "SYSTEMIC_RISK_FLOPS", "systemic_risk_presumed",
    "PENALTIES", "Penalty", "PenaltyCeiling", "penalty_ceiling", "AI_ACT_DATES", "SR_11_7", "US_EXECUTIVE_ORDERS",
    "REG_B_ADVERSE_ACTION", "principal_reasons",
]

#: Shown wherever a rule is summarised.
DISCLAIMER = ("A teaching summary of the cited texts, checked on {checked}; not legal advice. "
              "Rules and dates change: read the official text before relying on any of it.").format(checked=CHECKED)

#: The Act itself.
AI_ACT = Source("Regulation (EU) 2024/1689 (Artificial Intelligence Act), OJ L, 12.7.2024",
                "https://eur-lex.europa.eu/eli/reg/2024/1689/oj", "SECONDARY",
                note="articles summarised from the course's reference sheet (facts.md section 13) and the Act's "
                     "structure; re-read the articles before relying on them")


# ---------------------------------------------------------------------------------------------------------------
# Risk tiers
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tier:
    """A risk tier of the AI Act: where it comes from and what it obliges."""

    name: str
    articles: Tuple[str, ...]
    meaning: str
    obligations: Tuple[Tuple[str, str], ...]       # (obligation, article)


#: From most to least restrictive.
TIER_ORDER = ("prohibited", "high-risk", "limited", "minimal")

TIERS: Dict[str, Tier] = {
    "prohibited": Tier(
        "prohibited", ("Art. 5",),
        "practices banned outright, e.g. social scoring, manipulation that exploits vulnerabilities, "
        "untargeted scraping of facial images, emotion recognition at work or school",
        (("may not be placed on the market, put into service or used", "Art. 5(1)"),)),
    "high-risk": Tier(
        "high-risk", ("Art. 6(1)", "Art. 6(2)", "Annex III"),
        "safety components of regulated products (Art. 6(1)) and the uses listed in Annex III (Art. 6(2)), "
        "which include credit scoring of natural persons and life and health insurance pricing",
        (("risk-management system over the whole life cycle", "Art. 9"),
         ("data governance: relevant, representative, examined for bias", "Art. 10"),
         ("technical documentation", "Art. 11"),
         ("automatic logging of events (record-keeping)", "Art. 12"),
         ("instructions and transparency for deployers", "Art. 13"),
         ("effective human oversight", "Art. 14"),
         ("accuracy, robustness and cybersecurity", "Art. 15"),
         ("quality-management system, conformity assessment, registration (providers)", "Art. 16, 17, 43, 49"),
         ("deployers: use as instructed, human oversight, monitoring, keep logs", "Art. 26"),
         ("deployers of Annex III 5(b)/5(c) systems: fundamental-rights impact assessment", "Art. 27"),
         ("affected persons: right to an explanation of individual decisions", "Art. 86"))),
    "limited": Tier(
        "limited", ("Art. 50",),
        "systems that interact with people or generate content: transparency duties only",
        (("tell people they are interacting with an AI system", "Art. 50(1)"),
         ("mark synthetic text, audio, images and video as machine-generated", "Art. 50(2)"),
         ("disclose deep fakes and AI-generated text published to inform the public", "Art. 50(4)"))),
    "minimal": Tier(
        "minimal", ("Art. 95",),
        "everything else: no obligations from the Act beyond AI literacy; voluntary codes of conduct",
        (("staff who operate AI systems have sufficient AI literacy", "Art. 4"),
         ("voluntary codes of conduct", "Art. 95"))),
}

#: Annex III points that concern finance (point 5, access to essential private services).
ANNEX_III_FINANCE: Dict[str, str] = {
    "5(b)": "evaluating the creditworthiness of natural persons or establishing their credit score, "
            "EXCEPT systems used to detect financial fraud",
    "5(c)": "risk assessment and pricing in relation to natural persons for life and health insurance",
}


# ---------------------------------------------------------------------------------------------------------------
# The questionnaire
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Question:
    """One yes/no question, the article it applies, and what a *yes* means."""

    key: str
    text: str
    article: str
    if_yes: str
    if_no: str


QUESTIONS: List[Question] = [
    Question("prohibited_practice",
             "Does it do something Art. 5 bans (social scoring, exploiting vulnerabilities, manipulation, "
             "emotion recognition at work, untargeted facial scraping, ...)?",
             "Art. 5", "prohibited practice: it may not be used in the EU", "no prohibited practice"),
    Question("safety_component",
             "Is it a safety component of a product under the EU product legislation of Annex I "
             "(machinery, medical devices, ...) that needs third-party conformity assessment?",
             "Art. 6(1)", "high-risk as a regulated product's safety component", "not a regulated safety component"),
    Question("credit_scoring",
             "Does it evaluate the creditworthiness of natural persons or establish their credit score?",
             "Annex III 5(b)", "high-risk use listed in Annex III 5(b)", "not credit scoring of natural persons"),
    Question("fraud_detection",
             "Is detecting financial fraud its purpose?",
             "Annex III 5(b)", "fraud detection is excluded from 5(b): not high-risk on that ground",
             "the fraud-detection exception does not apply"),
    Question("life_health_insurance",
             "Does it assess risk or set prices for natural persons in life or health insurance?",
             "Annex III 5(c)", "high-risk use listed in Annex III 5(c)", "not life or health insurance pricing"),
    Question("other_annex_iii",
             "Is it used in another Annex III area (biometrics, critical infrastructure, education, employment, "
             "public benefits, law enforcement, migration, justice, elections)?",
             "Art. 6(2), Annex III", "high-risk use listed in Annex III", "no other Annex III use"),
    Question("profiling",
             "Does it profile natural persons (evaluate personal aspects from their data)?",
             "Art. 6(3)", "an Annex III system that profiles people is always high-risk",
             "no profiling: the Art. 6(3) exemption may be available"),
    Question("narrow_procedural",
             "Does it only perform a narrow procedural or preparatory task, without materially influencing "
             "the outcome of a decision?",
             "Art. 6(3)", "Art. 6(3) exemption: not high-risk if it does not profile (document the assessment, "
                          "Art. 6(4))", "no Art. 6(3) exemption"),
    Question("interacts_with_people",
             "Does it interact directly with people (a chatbot, an assistant)?",
             "Art. 50(1)", "transparency: people must be told they are talking to an AI",
             "no direct interaction with people"),
    Question("generates_content",
             "Does it generate synthetic text, images, audio or video?",
             "Art. 50(2)", "transparency: outputs marked as machine-generated", "no synthetic content"),
]
_QUESTION = {q.key: q for q in QUESTIONS}


@dataclass(frozen=True)
class Step:
    """One answered question: the answer, the article behind it, and what it implied."""

    key: str
    question: str
    answer: bool
    article: str
    consequence: str


@dataclass(frozen=True)
class Classification:
    """The tier a use case falls in, and the reasoning that got there.

    Attributes:
        tier: ``"prohibited"``, ``"high-risk"``, ``"limited"`` or ``"minimal"``.
        steps: every question answered, in order, each with its article.
        decisive: the articles that set the tier.
        transparency: Art. 50 duties that apply on top of the tier (a high-risk chatbot has both).
        obligations: ``(obligation, article)`` pairs of the tier, then of the transparency duties.
    """

    tier: str
    steps: Tuple[Step, ...]
    decisive: Tuple[str, ...]
    transparency: Tuple[str, ...]
    obligations: Tuple[Tuple[str, str], ...]

    def explain(self) -> str:
        lines = [f"tier: {self.tier} (because of {', '.join(self.decisive)})"]
        lines += [f"  {'yes' if s.answer else 'no ':>3} | {s.article:<20} | {s.consequence}" for s in self.steps]
        return "\n".join(lines)


def classify(answers: Mapping[str, bool]) -> Classification:
    """Classify a use case under the AI Act from yes/no answers to :data:`QUESTIONS`.

    Args:
        answers: ``{question key: bool}``; a key left out counts as *no*.
            Unknown keys raise ``KeyError`` so that a typo cannot go unnoticed.

    The logic: an Art. 5 practice is prohibited; an Annex I safety component
    (Art. 6(1)) is high-risk; an Annex III use (5(b) credit scoring unless it is
    fraud detection, 5(c) life/health insurance, or another Annex III area) is
    high-risk unless the Art. 6(3) exemption applies (a narrow procedural task
    *and* no profiling); otherwise interaction with people or generated content
    makes it limited-risk (Art. 50), and anything else is minimal.
    """
    if not isinstance(answers, Mapping):
        raise TypeError(f"answers must be a mapping of question keys to bools, got {type(answers).__name__}")
    unknown = sorted(set(answers) - set(_QUESTION))
    if unknown:
        raise KeyError(f"unknown question keys {unknown}; known: {[q.key for q in QUESTIONS]}")
    a: Dict[str, bool] = {}
    for q in QUESTIONS:
        v = answers.get(q.key, False)
        if not isinstance(v, (bool, np.bool_)):
            raise TypeError(f"answer to {q.key!r} must be a bool, got {type(v).__name__}")
        a[q.key] = bool(v)
    steps = tuple(Step(q.key, q.text, a[q.key], q.article, q.if_yes if a[q.key] else q.if_no) for q in QUESTIONS)

    annex_iii: List[str] = []
    if a["credit_scoring"] and not a["fraud_detection"]:
        annex_iii.append("Annex III 5(b)")
    if a["life_health_insurance"]:
        annex_iii.append("Annex III 5(c)")
    if a["other_annex_iii"]:
        annex_iii.append("Art. 6(2), Annex III")
    exempt = bool(annex_iii) and a["narrow_procedural"] and not a["profiling"]
    transparency = tuple(art for key, art in (("interacts_with_people", "Art. 50(1)"),
                                               ("generates_content", "Art. 50(2)")) if a[key])
    if a["prohibited_practice"]:
        tier, decisive = "prohibited", ("Art. 5",)
    elif a["safety_component"]:
        tier, decisive = "high-risk", ("Art. 6(1)",)
    elif annex_iii and not exempt:
        decisive = tuple(annex_iii) + (("Art. 6(3)",) if a["profiling"] else ())
        tier = "high-risk"
    elif transparency:
        tier, decisive = "limited", transparency + (("Art. 6(3)",) if exempt else ())
    else:
        tier = "minimal"
        decisive = ("Art. 6(3)",) if exempt else (("Annex III 5(b)",) if a["fraud_detection"] else ("Art. 95",))
    obligations = TIERS[tier].obligations
    if tier != "prohibited" and tier != "limited" and transparency:
        obligations += tuple(o for o in TIERS["limited"].obligations if o[1] in transparency)
    return Classification(tier, steps, decisive, transparency, obligations)


@dataclass(frozen=True)
class FinanceCase:
    """A finance use case, its answers to the questionnaire, and the tier a reading of the Act documents."""

    name: str
    description: str
    answers: Mapping[str, bool]
    documented_tier: str
    basis: str


FINANCE_CASES: Dict[str, FinanceCase] = {
    "credit_scoring_assistant": FinanceCase(
        "credit-scoring assistant", "an LLM that reads loan applications and proposes a credit score for each person",
        {"credit_scoring": True, "profiling": True, "interacts_with_people": False},
        "high-risk", "Annex III 5(b): creditworthiness / credit score of natural persons"),
    "fraud_detector": FinanceCase(
        "fraud detector", "a model that flags card transactions that look fraudulent for an analyst to review",
        {"fraud_detection": True, "profiling": True},
        "minimal", "Annex III 5(b) excludes systems used to detect financial fraud"),
    "research_chatbot": FinanceCase(
        "research chatbot", "an assistant that answers analysts' questions about filings and earnings calls",
        {"interacts_with_people": True, "generates_content": True},
        "limited", "Art. 50: transparency for systems that interact with people and generate text"),
    "insurance_pricing": FinanceCase(
        "life and health insurance pricing model",
        "a model that sets premiums for individual life-insurance applicants",
        {"life_health_insurance": True, "profiling": True},
        "high-risk", "Annex III 5(c): risk assessment and pricing for life and health insurance"),
}


# ---------------------------------------------------------------------------------------------------------------
# General-purpose models, penalties, dates
# ---------------------------------------------------------------------------------------------------------------
#: Art. 51(2): a general-purpose model is presumed to have systemic risk when its cumulative training compute
#: exceeds 10^25 floating-point operations.
SYSTEMIC_RISK_FLOPS = 1e25


def systemic_risk_presumed(training_flops: float) -> bool:
    """True when ``training_flops`` is greater than 10^25 (Art. 51(2) presumption for general-purpose models)."""
    return nonnegative_float("training_flops", training_flops) > SYSTEMIC_RISK_FLOPS


@dataclass(frozen=True)
class Penalty:
    """A penalty ceiling: a fixed amount or a share of worldwide annual turnover."""

    infringement: str
    fixed_eur: float
    turnover_share: float
    article: str


PENALTIES: Dict[str, Penalty] = {
    "prohibited": Penalty("prohibited practices (Art. 5)", 35e6, 0.07, "Art. 99(3)"),
    "obligations": Penalty("other obligations (high-risk, transparency, operators)", 15e6, 0.03, "Art. 99(4)"),
    "information": Penalty("incorrect, incomplete or misleading information to authorities", 7.5e6, 0.01,
                           "Art. 99(5)"),
    "gpai": Penalty("providers of general-purpose AI models", 15e6, 0.03, "Art. 101"),
}


@dataclass(frozen=True)
class PenaltyCeiling:
    """The maximum fine for one infringement and turnover."""

    infringement: str
    fixed_eur: float
    turnover_eur: float
    share_eur: float
    ceiling_eur: float
    rule: str
    article: str


def penalty_ceiling(infringement: str, worldwide_turnover_eur: float, sme: bool = False) -> PenaltyCeiling:
    """The fine ceiling: the fixed amount or the turnover share, *whichever is higher* (Art. 99(3)-(5)).

    For SMEs and start-ups the ceiling is whichever is *lower* (Art. 99(6)).
    ``worldwide_turnover_eur`` is total worldwide annual turnover of the
    preceding financial year.  These are maxima; authorities set actual fines
    case by case (Art. 99(7)).
    """
    if infringement not in PENALTIES:
        raise ValueError(f"infringement must be one of {list(PENALTIES)}, got {infringement!r}")
    turnover = nonnegative_float("worldwide_turnover_eur", worldwide_turnover_eur)
    if not isinstance(sme, (bool, np.bool_)):
        raise TypeError(f"sme must be a bool, got {type(sme).__name__}")
    p = PENALTIES[infringement]
    share = p.turnover_share * turnover
    ceiling = min(p.fixed_eur, share) if sme else max(p.fixed_eur, share)
    rule = "whichever is lower (SME, Art. 99(6))" if sme else "whichever is higher"
    return PenaltyCeiling(p.infringement, p.fixed_eur, turnover, share, ceiling, rule, p.article)


#: When the Act's parts apply (Art. 113), with the date they were checked and what may change them.
AI_ACT_DATES: List[Dict[str, str]] = [
    {"date": "2024-08-01", "what": "entry into force", "article": "Art. 113"},
    {"date": "2025-02-02", "what": "prohibitions (Art. 5) and AI literacy (Art. 4) apply", "article": "Art. 113(a)"},
    {"date": "2025-08-02", "what": "general-purpose AI model obligations, governance and penalties apply",
     "article": "Art. 113(b)"},
    {"date": "2026-08-02", "what": "general application, including Annex III high-risk systems", "article": "Art. 113"},
    {"date": "2027-08-02", "what": "high-risk systems under Art. 6(1) (Annex I products)", "article": "Art. 113(c)"},
]
AI_ACT_DATES_NOTE = Source(
    "shared/reference/facts.md section 13 (application dates of the AI Act)", "Art. 113", "SECONDARY",
    note="the Commission has proposed adjusting the high-risk dates; whether and how that was adopted was not "
         "verified here: check the Official Journal for the current dates")


# ---------------------------------------------------------------------------------------------------------------
# SR 11-7, US executive orders, Regulation B
# ---------------------------------------------------------------------------------------------------------------
SR_11_7: Dict[str, object] = {
    "title": "Supervisory Guidance on Model Risk Management (SR 11-7; OCC Bulletin 2011-12)",
    "issued": "2011-04-04",
    "by": "Board of Governors of the Federal Reserve System and the Office of the Comptroller of the Currency",
    "model": ("a quantitative method, system or approach that applies statistical, economic, financial or "
              "mathematical theories, techniques and assumptions to turn input data into quantitative estimates; "
              "it has an input, a processing and a reporting component"),
    "pillars": {
        "development, implementation and use": "sound design and theory, data checked, tested, used within its limits",
        "validation": "independent of development: conceptual soundness, ongoing monitoring (including benchmarking "
                      "and process verification) and outcomes analysis (including back-testing)",
        "governance, policies and controls": "board and senior-management oversight, roles, a firm-wide model "
                                             "inventory, documentation, internal audit",
    },
    "effective_challenge": "critical analysis by objective, informed parties who can identify model limitations "
                           "and get changes made (with the competence, incentives and influence to do so)",
    "for_an_llm": [
        "the LLM application (prompt, retrieval, post-processing) enters the model inventory with an owner",
        "validation by a team independent of the builders, before use and periodically",
        "effective challenge: documented limits, benchmarks against simpler alternatives, outcome tracking",
        "vendor models are covered too: the bank must understand and validate what it buys",
        "ongoing monitoring for drift, with thresholds that trigger review",
    ],
    "qualitative_inputs": "approaches whose inputs are partly or wholly qualitative or expert judgement are models "
                          "too, provided the output is quantitative",
    "source": Source("Federal Reserve SR 11-7", "sections III-VI (definition; development; validation; governance)",
                     "SECONDARY", note="facts.md section 13 and several summaries quoting the definition verbatim; the "
                                       "Federal Reserve's PDF was not read; the bank-specific list is this course's "
                                       "reading, not text of the guidance"),
}

US_EXECUTIVE_ORDERS: List[Dict[str, object]] = [
    {"order": "EO 14110, Safe, Secure, and Trustworthy Development and Use of Artificial Intelligence",
     "signed": "2023-10-30", "status": "revoked", "revoked": "2025-01-20",
     "chapter_says": "'US Executive Orders: safety testing, bias auditing for federal use'",
     "now": "the chapter's row describes an order that no longer applies: EO 14148 (Initial Rescissions of Harmful "
            "Executive Orders and Actions, 20 January 2025) revoked it",
     "checked": CHECKED,
     "source": Source("facts.md section 13; National Law Review and other summaries of EO 14148",
                      "EO 14148 of 2025-01-20 lists EO 14110 of 2023-10-30 among the revoked orders", "SECONDARY",
                      note="the Federal Register text of EO 14148 was not read in this session")},
    {"order": "EO 14179, Removing Barriers to American Leadership in Artificial Intelligence",
     "signed": "2025-01-23", "status": "issued; current status not verified", "revoked": "",
     "chapter_says": "(not in the chapter)",
     "now": "the follow-up order on federal AI policy; its purpose section aims at US leadership in AI with "
            "systems 'free from ideological bias'",
     "checked": CHECKED,
     "source": Source("Federal Register Vol. 90, No. 20 (31 January 2025), pp. 8741-8742", "FR Doc 2025-02172",
                      "SECONDARY", note="title, number, date and purpose section read on govinfo.gov; later orders "
                                        "may have changed US federal AI policy since")},
]

REG_B_ADVERSE_ACTION: Dict[str, object] = {
    "law": "Equal Credit Opportunity Act (15 U.S.C. 1691 et seq.), implemented by Regulation B (12 CFR part 1002)",
    "when": "a creditor takes adverse action on a credit application (denial, worse terms, account closure)",
    "notice_within_days": 30,
    "must_give": [
        "a statement of the action taken, and the creditor's name and address",
        "the specific principal reasons for it, or the applicant's right to request them within 60 days "
        "(12 CFR 1002.9(a)(2))",
        "the ECOA anti-discrimination notice and the creditor's supervising agency",
    ],
    "reasons_must_be": [
        "specific and the principal ones actually used (12 CFR 1002.9(b)(2)); 'internal standards' or "
        "'insufficient score' is not enough",
        "accurate for this applicant even when the model is complex (CFPB Circular 2022-03): no exemption for "
        "algorithms the creditor cannot explain",
        "not picked from a sample checklist when those reasons are not the real ones (CFPB Circular 2023-03)",
        "few: the official commentary says more than four reasons is not likely to be helpful",
    ],
    "for_a_model": "per-applicant attributions mapped to reason statements, computed from the model that "
                   "decided; a model that cannot produce them cannot be used for the decision",
    "source": Source("12 CFR 1002.9 and its official interpretation; CFPB Circulars 2022-03 and 2023-03",
                     "ecfr.gov, consumerfinance.gov", "SECONDARY",
                     note="checked against quotations of 1002.9(a)(2) and comment 9(b)(2) in credit-union "
                          "compliance guides and a 2022 summary of Circular 2022-03; eCFR itself was not read. "
                          "Fair-lending law also forbids discrimination on protected characteristics"),
}


def principal_reasons(contributions: Mapping[str, float], k: int = 4) -> List[Tuple[str, float]]:
    """The up to ``k`` features that lowered an applicant's score the most, most harmful first.

    Args:
        contributions: ``{feature: contribution to the score}`` for one
            applicant, e.g. ``w_j (x_j - x_ref_j)`` for a linear scorecard or
            SHAP values; negative numbers push towards denial.
        k: how many reasons at most (Regulation B's commentary: more than four
            is unlikely to help).

    Returns:
        ``[(feature, contribution), ...]`` with negative contributions only.

    Raises:
        ValueError: no feature lowered the score (then adverse action has no
            model-based reason to state, which is itself worth investigating).
    """
    k = positive_int("k", k)
    if not isinstance(contributions, Mapping) or not contributions:
        raise ValueError("contributions must be a non-empty mapping of feature -> contribution")
    items = []
    for name, v in contributions.items():
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(v):
            raise TypeError(f"contribution of {name!r} must be a finite number, got {v!r}")
        items.append((str(name), float(v)))
    negative = sorted((it for it in items if it[1] < 0), key=lambda it: it[1])
    if not negative:
        raise ValueError("no feature lowered the score: there is no model-based reason for an adverse action")
    return negative[:k]
