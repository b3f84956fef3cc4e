"""Reference parameter counting against published totals (facts.md section 1)."""
import pytest

from frontier.architecture import params as P


def test_llama2_70b_total():
    assert P.total_parameters(P.LLAMA2_70B) == 68_976_648_192


def test_llama2_7b_total():
    assert P.total_parameters(P.LLAMA2_7B) == 6_738_415_616


def test_mixtral_total_and_active():
    assert P.total_parameters(P.MIXTRAL_8X7B) == 46_702_792_704
    assert P.active_parameters(P.MIXTRAL_8X7B) == 12_879_925_248


def test_dense_models_are_all_active():
    assert P.active_parameters(P.LLAMA2_70B) == P.total_parameters(P.LLAMA2_70B)


def test_forward_flops_per_token_matches_kaplan_terms():
    # facts.md: attention term at 4k context = 5.37e9 (2 * 80 * 4096 * 8192); the embedding lookup is a
    # gather, so 2N counts every active parameter except the input embedding (the untied head is a matmul)
    f = P.forward_flops_per_token(P.LLAMA2_70B, 4096)
    assert f - 2 * (68_976_648_192 - 32_000 * 8192) == 2 * 80 * 4096 * 8192
    assert P.training_flops(P.LLAMA2_70B, 2e12) == pytest.approx(8.28e23, rel=1e-3)
    mixtral = P.forward_flops_per_token(P.MIXTRAL_8X7B, 1) - 2 * 32 * 4096
    assert mixtral == 2 * (12_879_925_248 - 32_000 * 4096)
    assert mixtral == pytest.approx(2.55e10, rel=2e-3)


@pytest.mark.parametrize("cfg, share", [(P.MIXTRAL_8X7B, 0.010), (P.LLAMA2_7B, 0.019)])
def test_the_lookup_would_be_one_to_two_percent_of_forward_flops(cfg, share):
    lookup = 2 * cfg.vocab_size * cfg.d_model
    assert lookup / (2 * P.active_parameters(cfg)) == pytest.approx(share, abs=1e-3)


def test_a_tied_head_still_multiplies():
    tied = P.LLAMA2_7B.with_(tied_embeddings=True)
    # the head reuses the embedding matrix but is still a (h, V) product; only the lookup is free
    assert P.matmul_parameters(tied) == P.matmul_parameters(P.LLAMA2_7B) == 6_607_343_616
    assert P.matmul_parameters(tied) == P.active_parameters(tied)


def test_kv_cache_llama2_70b():
    assert P.kv_cache_bytes(P.LLAMA2_70B, 4096) == 1_342_177_280


def test_tied_embeddings_drop_the_head():
    tied = P.LLAMA2_7B.with_(tied_embeddings=True)
    assert P.total_parameters(P.LLAMA2_7B) - P.total_parameters(tied) == 32000 * 4096


def test_weight_bytes_by_precision():
    n = P.total_parameters(P.MIXTRAL_8X7B)
    assert P.weight_bytes(P.MIXTRAL_8X7B, "int4") == n / 2
    with pytest.raises(ValueError, match="precision"):
        P.weight_bytes(P.MIXTRAL_8X7B, "int3")


@pytest.mark.parametrize("changes, match", [(dict(n_kv_heads=7), "multiple"), (dict(experts_per_token=9), "exceed"),
                                            (dict(d_model=0), "d_model"), (dict(n_layers=2.0), "n_layers")])
def test_bad_configs_raise(changes, match):
    with pytest.raises((ValueError, TypeError), match=match):
        P.MIXTRAL_8X7B.with_(**changes)
