"""Section 6, knowledge and grounding: RAG and hallucination, calibration and abstention, editing, memory.

* :mod:`frontier.knowledge.qa`           question sets over the synthetic corpus (``frontier.data``) with exact
  answers, split into facts the reader saw (at long-tailed frequencies), was taught to abstain on, or never saw
* :mod:`frontier.knowledge.reader`       a TinyLM reader that answers closed-book or from retrieved chunks and
  learns to answer ``unknown``
* :mod:`frontier.knowledge.evaluation`   grading, hallucination rate, attribution, Wilson intervals, McNemar's test
* :mod:`frontier.knowledge.calibration`  ECE, reliability curves, NLL, Brier, temperature scaling, selective prediction
* :mod:`frontier.knowledge.editing`      ROME's rank-one edit with the key covariance, on a linear memory and a TinyLM
* :mod:`frontier.knowledge.memory`       a persistent memory store (SQLite records, FAISS flat or HNSW index)
* :mod:`frontier.knowledge.experiments`  the lessons' pipelines (world, retrieval contexts, graded runs)

Retrieval itself lives in the shared :mod:`frontier.retrieval`; the corpus in :mod:`frontier.data`.
"""
from . import calibration, editing, evaluation, experiments, memory, qa, reader
from .calibration import expected_calibration_error
from .evaluation import mcnemar_exact, wilson_interval

__all__ = ["calibration", "editing", "evaluation", "experiments", "memory", "qa", "reader",
           "expected_calibration_error", "mcnemar_exact", "wilson_interval"]
