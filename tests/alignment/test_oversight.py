"""Red-teaming, layered defences, the backdoor probe and the debate simulation."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontier.alignment import debate, defences, redteam

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def classifier():
    texts, labels = redteam.make_requests(1200, seed=0)
    return redteam.train_classifier(texts, labels)


def test_classifier_separates_the_base_requests(classifier):
    texts, labels = redteam.make_requests(300, seed=1)
    assert (classifier.flags(texts) == labels.astype(bool)).mean() > 0.97


@given(seed=st.integers(0, 10_000), budget=st.integers(1, 80), per_step=st.sampled_from([None, 3, 12]))
@settings(max_examples=25, deadline=None)
def test_attack_never_reports_success_on_an_input_the_classifier_flags(classifier, seed, budget, per_step):
    texts, labels = redteam.make_requests(3, seed=seed, harmful_share=1.0)
    for t in texts:
        before = classifier.queries
        res = redteam.attack(classifier, t, budget=budget, seed=seed, candidates_per_step=per_step)
        assert classifier.queries - before == res.queries <= max(budget, 1)
        if res.success:
            assert not classifier.flags([res.final])[0]
            assert res.first_success == res.queries
        else:
            assert all(s >= classifier.threshold for _, _, s in res.steps)


def test_edits_preserve_the_harmful_verb_or_a_synonym():
    text = "help me steal a wallet"
    verbs = ("steal",) + redteam.HARMFUL_VERBS["steal"]

    def disguises(word, verb):  # the same word up to look-alike characters
        return len(word) == len(verb) and all(a == b or redteam.LOOKALIKE.get(b) == a for a, b in zip(word, verb))

    for desc, new in redteam.candidate_edits(text):
        assert any(disguises(w, v) for w in new.split() for v in verbs), (desc, new)
        assert new.startswith("help me") or "m3" in new or "he1p" in new or "h3lp" in new, (desc, new)


def test_attack_success_grows_with_the_query_budget(classifier):
    texts, _ = redteam.make_requests(30, seed=2, harmful_share=1.0)
    curve, _ = redteam.attack_success_curve(classifier, texts, [1, 20, 200], seed=0)
    assert curve[0] == 0.0 and curve[1] <= curve[2] and curve[2] > 0.8


@pytest.mark.slow
def test_adversarial_training_cuts_held_out_attack_success_without_false_positives():
    tr, ytr = redteam.make_requests(1200, seed=0)
    te, yte = redteam.make_requests(300, seed=5)
    harmful = [t for t, y in zip(te, yte) if y][:30]
    benign = [t for t, y in zip(te, yte) if not y][:100]
    res = redteam.adversarial_training(tr, ytr, harmful, benign, rounds=2, attacks_per_round=30, budget=100, seed=0)
    assert res.success_before > 0.8 and res.success_after < 0.3
    assert res.false_positive_after <= res.false_positive_before + 0.05


@pytest.mark.parametrize("rates", [[0.2, 0.3], [0.1, 0.4, 0.5], [0.3, 0.3, 0.3, 0.3]])
def test_independent_layers_miss_jointly_at_the_product_rate(rates):
    n = 40_000
    misses = defences.simulate_misses(rates, 0.0, n, seed=1)
    k = int(misses.all(axis=1).sum())
    lo, hi = defences.binomial_interval(k, n, z=4.0)
    assert lo <= float(np.prod(rates)) <= hi
    assert defences.joint_miss_rate(rates, 0.0) == pytest.approx(np.prod(rates))


def test_correlated_layers_miss_jointly_more_often_up_to_the_minimum():
    rates = [0.2, 0.3, 0.4]
    values = [defences.joint_miss_rate(rates, r) for r in (0.0, 0.3, 0.6, 0.9, 1.0)]
    assert all(a < b for a, b in zip(values, values[1:]))
    assert values[-1] == pytest.approx(0.2)
    sim = defences.simulate_misses(rates, 0.6, 40_000, seed=2).all(axis=1)
    lo, hi = defences.binomial_interval(int(sim.sum()), len(sim), z=4.0)
    assert lo <= values[2] <= hi


def test_measured_layers_that_share_features_are_correlated():
    tr, ytr = redteam.make_requests(1200, seed=0)
    te, yte = redteam.make_requests(400, seed=3)
    layers = [redteam.train_classifier(tr, ytr), redteam.train_classifier(tr, ytr, analyzer="word", ngram_range=(1, 1)),
              redteam.KeywordFilter(list(redteam.HARMFUL_VERBS))]
    variants = redteam.random_variants([t for t, y in zip(te, yte) if y], seed=0)
    d = defences.measured_dependence(redteam.layer_misses(layers, variants))
    assert d["joint"] > 3 * d["product"]
    assert min(d["phi"][0][1], d["phi"][1][2]) > 0.1


def test_defence_inputs_are_checked():
    with pytest.raises(ValueError, match="miss_rates"):
        defences.joint_miss_rate([0.2, 1.2], 0.0)
    with pytest.raises(ValueError, match="rho"):
        defences.joint_miss_rate([0.2, 0.3, 0.4], -0.9)
    with pytest.raises(ValueError, match="threshold"):
        redteam.SafetyClassifier(None, threshold=1.5)


def test_debate_helps_only_as_far_as_the_judge_checks_quotes():
    weak = debate.debate_accuracy(0.0, n=20_000, seed=0)
    strong = debate.debate_accuracy(1.0, n=20_000, seed=0)
    assert abs(weak["debate"] - 0.5) < 0.02 and abs(weak["no_transcript"] - 0.5) < 0.02
    assert strong["debate"] == pytest.approx(0.5 + 0.5 * strong["liar_fabricates"], abs=0.02)
    curve = debate.accuracy_by_strength([0.0, 0.25, 0.5, 1.0], n=20_000, seed=1)["debate"]
    assert np.all(np.diff(curve) > 0)
    with pytest.raises(ValueError, match="n_bits"):
        debate.debate_accuracy(0.5, n_bits=10)


@pytest.mark.slow
def test_a_probe_on_hidden_states_finds_the_trigger_the_output_hides():
    from frontier.alignment import probe

    task = probe.TriggerTask()
    model = probe.backdoored_lm(task, progress=False)
    stats = probe.answer_stats(model, task, 1000, seed=3)
    assert stats["clean_correct"] > 0.95 and stats["triggered_correct"] < 0.05
    assert abs(stats["clean_confidence"] - stats["triggered_confidence"]) < 0.05
    res = probe.probe_by_layer(model, task, n_train=1000, n_test=500)
    assert res["layers"][0] < 0.65 and max(res["layers"][1:]) > 0.95 and res["output_only"] < 0.65
