"""Section 6 figures: set controls, check the figure that results; re-renders stay fast."""
from __future__ import annotations

import time

import numpy as np
import pytest

from frontier.viz import knowledge as vk
from frontier.viz import load_all_controllers


def test_controllers_are_registered():
    names = {"knowledge_retrieval_explorer", "knowledge_hallucination_vs_k", "knowledge_reliability_explorer",
             "knowledge_editing_explorer", "knowledge_index_explorer"}
    assert names <= set(load_all_controllers())


def test_retrieval_explorer_marks_the_answer_chunk():
    ctl = vk.retrieval_explorer()
    fig = ctl.set(question=3, k=10, method="section")
    meta = fig.layout.meta
    assert len(fig.data[0].x) == 10 and meta["found_rank"] is not None    # sections: the answer is found
    scores = list(fig.data[0].x)
    assert scores == sorted(scores, reverse=True)
    fig = ctl.set(method="sentence", size=1, overlap=8)                    # impossible overlap is dropped
    assert fig.layout.meta["n_chunks"] > 0
    t = time.perf_counter()
    ctl.set(question=5)
    assert time.perf_counter() - t < 0.25


def test_reliability_slider_changes_ece_not_accuracy():
    ctl = vk.reliability_explorer()
    hot = ctl.set(temperature=1.0).layout.meta
    cooled = ctl.set(temperature=3.0).layout.meta
    assert cooled["ece"] < hot["ece"]
    logits, labels = vk.demo_calibration_data()
    acc = lambda t: (vk.cal.softmax(logits, t).argmax(1) == labels).mean()   # noqa: E731
    assert acc(1.0) == acc(3.0)
    t = time.perf_counter()
    ctl.set(temperature=2.0)
    assert time.perf_counter() - t < 0.05 * 4


def test_editing_explorer_covariance_reduces_interference():
    ctl = vk.editing_explorer()
    with_c = ctl.set(key=4, use_covariance=True).layout.meta["mean_other_change"]
    without = ctl.set(key=4, use_covariance=False).layout.meta["mean_other_change"]
    assert with_c < without


def test_hallucination_vs_k_plot_draws_each_retriever():
    table = {"bm25": {1: {"hallucination_rate": 0.2, "hallucination_ci": (0.1, 0.3), "accuracy": 0.5,
                          "recall": 0.4, "abstention_rate": 0.1},
                      3: {"hallucination_rate": 0.3, "hallucination_ci": (0.2, 0.4), "accuracy": 0.6,
                          "recall": 0.7, "abstention_rate": 0.1}},
             "dense": {1: {"hallucination_rate": 0.25, "accuracy": 0.4, "recall": 0.3, "abstention_rate": 0.2}}}
    fig = vk.hallucination_vs_k_plot(table).set(metric="hallucination_rate")
    assert [t.name for t in fig.data] == ["bm25", "dense"]
    assert list(fig.data[0].y) == [0.2, 0.3]
    with pytest.raises(ValueError):
        vk.make_hallucination_vs_k_figure(table, metric="f1")


def test_index_figure_reports_measured_recall():
    fig = vk.make_index_figure(sizes=(300, 1200), ef_search=16)
    rec = fig.layout.meta["recall"]
    assert len(rec) == 2 and all(0 < r <= 1 for r in rec)


def test_paraphrase_edit_table_shows_the_given_shares_and_marks_held_out_phrasings():
    success = {"C⁻¹, from 0-3": [1.0, 1.0, 0.9, 1.0, 0.8], "no C, from 0": [1.0, 0.5, 0.5, 0.25, 0.0]}
    kept = {"C⁻¹, from 0-3": {"same company": 1.0, "other companies": 0.95},
            "no C, from 0": {"same company": 0.75, "other companies": 0.9}}
    fig = vk.make_paraphrase_edit_figure(success, kept, held_out=[4])
    hm = fig.data[0]
    assert list(hm.y) == list(success)
    assert list(hm.x)[4] == "phrasing 4 (held out)" and "held out" not in "".join(hm.x[:4])
    assert [list(r) for r in hm.z] == [success[r] + [kept[r]["same company"], kept[r]["other companies"]]
                                       for r in success]
    with pytest.raises(ValueError, match="success"):
        vk.make_paraphrase_edit_figure({})


def test_score_comparison_reports_each_scores_auroc_and_ece_and_ends_selection_at_full_coverage():
    rng = np.random.default_rng(0)
    correct = rng.random(400) < 0.6
    good = np.clip(np.where(correct, 0.8, 0.3) + rng.normal(0, 0.1, 400), 0, 1)      # ranks well
    flat = np.full(400, 0.9)                                                           # ranks nothing
    fig = vk.make_score_comparison_figure({"good": good, "flat": flat}, correct)
    meta = fig.layout.meta
    assert meta["good"]["auroc"] > 0.95 and meta["flat"]["auroc"] == pytest.approx(0.5)
    assert meta["flat"]["ece"] == pytest.approx(0.9 - correct.mean(), abs=1e-9)        # one bin: |0.9 - accuracy|
    assert meta["good"]["ece"] == pytest.approx(vk.cal.expected_calibration_error(good, correct, 10))
    sel = [t for t in fig.data if t.xaxis == "x2"]
    assert len(sel) == 2 and all(t.x[-1] == pytest.approx(1.0) and t.y[-1] == pytest.approx(correct.mean()) for t in sel)
