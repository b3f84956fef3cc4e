"""Slow, seeded experiments behind the sentences the section-5 lessons state about what we measured."""
from __future__ import annotations

import pytest

from frontier.efficiency import experiments as ex
from frontier.efficiency import merging as mg
from frontier.efficiency import quantization as q
from frontier.efficiency import speculative as sp
from frontier.efficiency.distillation import distillation_loss_fn, eval_loss, held_out_tokens
from frontier.models import TinyLM, TinyLMConfig, train
from frontier.models.tasks import batches, next_token_loss_fn

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture(scope="module")
def models():
    target, _ = ex.target_model()
    draft, _ = ex.draft_model()
    return target, draft, held_out_tokens(ex.corpus(), 48, 999)


def test_trained_target_approaches_the_entropy_rate_and_beats_the_draft(models):
    target, draft, held = models
    lt, ld = eval_loss(target, held)["loss"], eval_loss(draft, held)["loss"]
    assert ex.corpus_entropy() < lt < ld
    assert lt - ex.corpus_entropy() < 0.15


def test_speculative_tokens_per_call_follow_the_formula_with_measured_alpha(models):
    target, draft, held = models
    res = sp.speculative_generate(target, draft, held[:1, :8], 160, gamma=4, seed=0)
    assert 0.5 < res.alpha < 0.95
    assert res.tokens_per_call == pytest.approx(sp.expected_tokens_per_call(res.alpha, 4), rel=0.15)


def test_outlier_features_hurt_4bit_formats_more_than_per_row_int8(models):
    target, _, held = models
    base = eval_loss(target, held)["loss"]
    out = q.inject_outlier_features(target, 2, 30.0)
    d = {f: eval_loss(q.quantize_model(out, f, 32 if f == "int4" else None)[0], held)["loss"] - base
         for f in ("int8", "int4", "nf4")}
    clean = {f: eval_loss(q.quantize_model(target, f, 32 if f == "int4" else None)[0], held)["loss"] - base
             for f in ("int4", "nf4")}
    assert abs(d["int8"]) < 0.005
    assert d["int4"] > 2 * clean["int4"] and d["nf4"] > 2 * clean["nf4"]


def test_merging_half_weights_keeps_both_tasks_better_than_either_finetune(models):
    target, _, _ = models
    fa, _ = ex.finetune("s5-ft-a", target, ex.new_task(0))
    fb, _ = ex.finetune("s5-ft-b", target, ex.new_task(1))
    ha, hb = held_out_tokens(ex.new_task(0), 48, 1), held_out_tokens(ex.new_task(1), 48, 1)
    base = target.state_dict()
    tvs = [mg.task_vector(fa.state_dict(), base), mg.task_vector(fb.state_dict(), base)]
    merged = mg.load_merged(target, mg.task_arithmetic(base, tvs, [0.5, 0.5]))

    def worst(m):
        return min(eval_loss(m, ha)["accuracy"], eval_loss(m, hb)["accuracy"])
    assert worst(merged) > max(worst(fa), worst(fb)) + 0.2


def test_soft_label_distillation_beats_hard_labels_at_equal_steps(models):
    target, _, held = models
    cfg = TinyLMConfig(vocab_size=32, d_model=32, n_layers=2, n_heads=4, d_ff=64, max_seq_len=256)
    gaps = []
    for seed in (0, 1):
        losses = {}
        for name, fn in (("hard", next_token_loss_fn()), ("soft", distillation_loss_fn(target, temperature=2.0))):
            m = TinyLM(cfg, seed=seed)
            train(m, fn, batches(ex.corpus(), 16), 60, lr=3e-3, warmup=6, schedule="cosine", progress=False, seed=seed)
            losses[name] = eval_loss(m, held)["loss"]
        gaps.append(losses["hard"] - losses["soft"])
    assert min(gaps) > 0.01


def test_early_exit_at_half_confidence_saves_layers_and_keeps_accuracy(models):
    target, _, held = models
    r = sp.early_exit(target, held, 0.5)
    assert r["layers_used"] < 0.8
    assert r["full_accuracy"] - r["accuracy"] < 0.01
    low = sp.early_exit(target, held, 0.3)
    assert low["accuracy"] < r["accuracy"]


ALL_LINEAR = ("attn.q", "attn.k", "attn.v", "attn.o", "ffn.w1", "ffn.w2", "ffn.w3")


def test_lora_rank4_matches_full_finetuning_and_prefix_beats_prompt_tuning(models):
    base, _, _ = models
    task = ex.new_task(0)
    held_a = held_out_tokens(task, 48, seed=20_000)
    full, _ = ex.finetune("s5-ft-a", base, task)
    ad, _ = ex.lora_adapter("s5-lora-a-r4", base, task, 4, targets=ALL_LINEAR)
    ad.attach(base)
    try:
        lora_acc = eval_loss(base, held_a)["accuracy"]
    finally:
        ad.detach()
    assert lora_acc > eval_loss(full, held_a)["accuracy"] - 0.02
    prompt, _ = ex.soft_prompt("s5-prompt-a-long", base, task, 16, kind="prompt", steps=300, lr=0.05)
    prefix, _ = ex.soft_prompt("s5-prefix-a-long", base, task, 16, kind="prefix", steps=300, lr=0.05)
    assert eval_loss(prefix, held_a)["accuracy"] > 0.6 > 0.2 > eval_loss(prompt, held_a)["accuracy"]


def test_router_picks_the_right_adapter(models):
    from frontier.efficiency import lora as lo

    base, _, _ = models
    ads = [ex.lora_adapter(f"s5-lora-{n}-r4", base, ex.new_task(i), 4, targets=ALL_LINEAR)[0]
           for i, n in enumerate("ab")]
    router = lo.NearestCentroidRouter().fit(base, [held_out_tokens(ex.new_task(i), 32, seed=30_000 + i)
                                                   for i in (0, 1)])
    r = lo.routed_accuracy(base, ads, router, [held_out_tokens(ex.new_task(i), 48, seed=20_000 + i) for i in (0, 1)])
    assert r["routing_accuracy"] > 0.9
    assert r["accuracy"] > r["oracle_accuracy"] - 0.03


@pytest.fixture(scope="module")
def held_corpus():
    return held_out_tokens(ex.corpus(), 64, seed=10_000)


def test_small_grid_smallest_model_wins_and_alpha_is_poorly_determined(held_corpus):
    from frontier.efficiency import scaling

    grid = ex.run_grid(ex.scaling_grid([8, 16, 32], [1e9, 3e9]), held_corpus, progress=False)
    minima = scaling.isoflop_minima(grid["n_params"], grid["n_tokens"], grid["loss"])
    assert all(m["n_opt"] == grid["n_params"].min() for m in minima.values())
    boot = scaling.bootstrap_fit(grid["n_params"], grid["n_tokens"], grid["loss"], E=ex.sequence_entropy(),
                                 n_boot=20, seed=0)
    lo, hi = boot.intervals["alpha"]
    assert hi > 2 * lo


def test_curriculum_does_not_speed_up_training(held_corpus):
    cur = ex.curriculum_runs(held_corpus, steps=100)
    rnd, cl = cur["random order"], cur["easy to hard"]
    for target in (1.5, 1.3, 1.15):
        assert ex.steps_to_loss(cl, target) >= ex.steps_to_loss(rnd, target)
    assert cl["loss"][-1] >= rnd["loss"][-1] - 0.005


def test_synthetic_data_has_errors_but_trains_about_as_well(models, held_corpus):
    teacher, _, _ = models
    syn = ex.synthetic_data_runs(teacher, held_corpus, n_sequences=256, steps=100)
    assert syn["quality"]["real data"]["invalid"] == 0.0 < syn["quality"]["teacher samples"]["invalid"]
    assert syn["quality"]["teacher samples"]["true_nll"] > syn["quality"]["real data"]["true_nll"]
    c = syn["curves"]
    assert abs(c["teacher samples"]["loss"][-1] - c["real data"]["loss"][-1]) < 0.03


def test_continued_pretraining_helps_on_a_related_domain_only_and_forgets(models, held_corpus):
    teacher, _, _ = models
    res = {}
    for label, task in (("unrelated", ex.new_task(0)), ("related", ex.related_task())):
        res[label] = ex.continued_pretraining(teacher, task, held_corpus, held_out_tokens(task, 64, seed=20_000),
                                              label=label, steps=40)
    rel, unrel = res["related"], res["unrelated"]
    assert rel["continued pretraining"]["new_loss"] < rel["from scratch"]["new_loss"] - 0.02
    assert abs(unrel["continued pretraining"]["new_loss"] - unrel["from scratch"]["new_loss"]) < 0.03
    for r in res.values():
        assert r["continued pretraining"]["old_loss"] > r["base (before)"]["old_loss"] + 0.5


def test_distillation_runs_soft_below_hard_with_similar_accuracy(models, held_corpus):
    teacher, _, _ = models
    curves = ex.distillation_runs(teacher, held_corpus, steps=100)
    hard, soft = curves["hard labels"], curves["soft labels (T=2)"]
    assert all(s < h for s, h in zip(soft["loss"][2:], hard["loss"][2:]))
    assert abs(soft["accuracy"][-1] - hard["accuracy"][-1]) < 0.02


def test_wider_trees_emit_more_tokens_per_target_pass(models):
    target, draft, held = models
    tree = sp.measure_tree(target, draft, held[:32, :12], gamma=4, widths=[1, 2, 8], seed=0)
    tpc = tree["tokens_per_call"]
    assert tpc[2] > tpc[1] > tpc[0] and tpc[2] > tpc[0] + 1
    assert tpc[0] == pytest.approx(sp.tree_expected_tokens(tree["alpha_greedy"], 4, 1), abs=0.4)
