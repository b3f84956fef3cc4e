"""Exercise 1's support: configs, unseen cases, frozen values that agree with the library, reference counts."""
from __future__ import annotations

import json

import pytest

import frontier.architecture.params as params
from frontier.exercises import ex1_efficiency as ex1


def test_course_config_and_hf_config_round_trip_the_published_models():
    for m in (params.LLAMA2_70B, params.MIXTRAL_8X7B, params.LLAMA2_7B):
        cfg = ex1.course_config(m)
        assert tuple(cfg) == ex1.COURSE_KEYS
        assert params.ModelConfig("again", **cfg, rope_theta=m.rope_theta) == m.with_(name="again")
        hf = ex1.hf_config(m)
        assert hf["hidden_size"] == m.d_model and "head_dim" not in hf  # n_heads * head_dim == d_model here
        assert ("num_local_experts" in hf) == (m.n_experts > 1)
    assert "num_key_value_heads" not in ex1.hf_config(params.LLAMA2_7B, drop=("num_key_value_heads",))
    with pytest.raises(TypeError, match="cfg must be a ModelConfig"):
        ex1.course_config({"d_model": 1})


def test_unseen_configs_are_reproducible_varied_and_catch_d_model_for_attention_width():
    a, b = ex1.unseen_configs(30, seed=7), ex1.unseen_configs(30, seed=7)
    assert a == b and a != ex1.unseen_configs(30, seed=8)
    assert any(c.n_heads * c.head_dim != c.d_model for c in a)
    assert {c.n_experts > 1 for c in a} == {True, False} and {c.tied_embeddings for c in a} == {True, False}
    with pytest.raises(ValueError, match="n"):
        ex1.unseen_configs(0)


def test_frozen_values_are_literals_and_agree_with_the_library():
    values = ex1.frozen_values()
    assert json.loads(json.dumps(values)) == values  # plain literals only (tuples would not survive)
    pub = values["_PUBLISHED_TOTALS"]
    assert pub["LLaMA-2 70B"][1:] == [68_976_648_192, 68_976_648_192]  # the published numbers (Touvron et al.)
    assert pub["Mixtral 8x7B"][1:] == [46_702_792_704, 12_879_925_248]  # (Jiang et al., 46.7B / 12.9B)
    for cfg, total, active in values["_UNSEEN_TOTALS"]:
        m = params.ModelConfig("x", **cfg)
        assert (total, active) == (params.total_parameters(m), params.active_parameters(m))
    for cfg, total, active, precision, ctx, gb, want in values["_MAX_BATCH_CASES"]:
        m = params.ModelConfig("x", **cfg)
        free = gb * 1e9 - params.weight_bytes(m, precision)
        # an independent check of the derived quantity: want fits, want + 1 does not
        assert want == 0 or want * params.kv_cache_bytes(m, ctx) <= free
        assert (want + 1) * params.kv_cache_bytes(m, ctx) > free


def test_reference_counts_swap_in_and_restore():
    rows = [[ex1.course_config(params.MIXTRAL_8X7B), 1, 2]]
    ns = {"total_parameters": "mine"}
    with ex1.reference_counts(ns, rows):
        assert ns["total_parameters"](ex1.course_config(params.MIXTRAL_8X7B)) == 1
        assert ns["active_parameters"](ex1.course_config(params.MIXTRAL_8X7B)) == 2
        with pytest.raises(KeyError, match="no reference count"):
            ns["total_parameters"](ex1.course_config(params.LLAMA2_7B))
    assert ns == {"total_parameters": "mine"}


def test_gaming_students_differ_from_the_solution_and_name_real_cells():
    import nbformat

    from frontier.notebooks import REPO_ROOT

    nb = nbformat.read(REPO_ROOT / "solutions" / "ex1_efficiency" / "ex1_efficiency.ipynb", as_version=4)
    answer_ids = {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells
                  if c.metadata.get("nbgrader", {}).get("solution")}
    students = ex1.gaming_students()
    assert set(students) == {"delegates", "hardcodes"}
    for spec in students.values():
        assert set(spec["answers"]) <= answer_ids
        for source in spec["answers"].values():
            compile(source, "<answer>", "exec")
