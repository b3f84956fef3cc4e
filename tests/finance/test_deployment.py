"""On-premises sizing and latency: the arithmetic reproduces facts.md and the roofline shape."""
import pytest

from frontier.finance import deployment as dep


def test_70b_at_4_5_bits_is_38_8_gb():
    r = dep.size_deployment("LLaMA-2 70B", "q4_0", context=1, users=1, device="A100-80GB")
    assert r.weights_bytes / 1e9 == pytest.approx(38.8, abs=0.05)        # facts.md 13, "Will it fit"
    fp16 = dep.size_deployment("LLaMA-2 70B", "fp16", context=1, device="H100-SXM")
    assert fp16.weights_bytes / 1e9 == pytest.approx(138, abs=0.5)
    assert fp16.gpus_needed == 2                                         # 138 GB / (80 GB x 0.9)
    mix = dep.size_deployment("Mixtral 8x7B", "q4_0", context=1)
    assert mix.weights_bytes / 1e9 == pytest.approx(26.3, abs=0.05)


def test_kv_cache_grows_with_users_and_context():
    a = dep.size_deployment("LLaMA-2 70B", "q4_0", context=4096, users=1)
    b = dep.size_deployment("LLaMA-2 70B", "q4_0", context=4096, users=8)
    assert a.kv_bytes == 327_680 * 4096                                  # facts.md 13, GQA 70B
    assert b.kv_bytes == pytest.approx(8 * a.kv_bytes)
    assert b.total_tokens_per_s > a.total_tokens_per_s                   # batching amortises the weights
    assert b.user_tokens_per_s < a.user_tokens_per_s


def test_decode_is_weight_bytes_over_bandwidth_at_batch_one():
    lat = dep.latency("LLaMA-2 7B", "bf16", "H100-SXM", prompt_tokens=1, output_tokens=2, batch=1)
    weights = 6_738_415_616 * 2
    assert lat.decode_binding == "memory"
    assert lat.per_token == pytest.approx(weights / 3.35e12, rel=0.01)
    long = dep.latency("LLaMA-2 7B", "bf16", "H100-SXM", prompt_tokens=8000, output_tokens=2)
    flops = 8000 * 2 * 6_738_415_616 + 2 * 32 * 4096 * 8000 ** 2 / 2     # 2N per token + causal QK^T term
    assert long.prefill_binding == "compute" and long.ttft == pytest.approx(flops / 989.4e12, rel=1e-6)


def test_more_gpus_divide_the_bounds():
    one = dep.latency("LLaMA-2 70B", "q4_0", "A100-80GB", n_gpus=1)
    two = dep.latency("LLaMA-2 70B", "q4_0", "A100-80GB", n_gpus=2)
    assert two.per_token == pytest.approx(one.per_token / 2) and two.ttft == pytest.approx(one.ttft / 2)


def test_models_that_fit_a_single_a100():
    rows = {(r["model"], r["precision"]): r for r in dep.models_that_fit("A100-80GB", 1, context=4096)}
    assert not rows["LLaMA-2 70B", "bf16"]["fits"] and rows["LLaMA-2 70B", "q4_0"]["fits"]
    assert rows["Mistral 7B", "bf16"]["fits"]


def test_streaming_budget_utilisation_is_linear_in_the_rate():
    a = dep.streaming_budget(10, 400, model="Mistral 7B")
    b = dep.streaming_budget(20, 400, model="Mistral 7B")
    assert b["utilisation"] == pytest.approx(2 * a["utilisation"])
    huge = dep.streaming_budget(1e6, 400, model="LLaMA-2 70B", precision="q4_0", device="L4")
    assert huge["keeps_up"] == 0.0 and huge["utilisation"] > 1


def test_measured_tiny_latency_reports_both_quantities(one_torch_thread):
    """Timings are never asserted on (frontier.timing); only what is measured and that it is sane."""
    from frontier.models import TinyLM, TinyLMConfig
    m = TinyLM(TinyLMConfig(vocab_size=32, d_model=32, n_layers=1, n_heads=2, d_ff=64, max_seq_len=128))
    rows = dep.measure_tiny_latency(m, (8, 64), new_tokens=4, repeat=2)
    assert [r["prompt_tokens"] for r in rows] == [8, 64]
    assert all(0 < r["ttft"] < 10 and 0 < r["per_token"] < 10 for r in rows)
    with pytest.raises(ValueError, match="max_seq_len"):
        dep.measure_tiny_latency(m, (200,), new_tokens=4)


@pytest.mark.parametrize("call, match", [
    (lambda: dep.size_deployment("GPT-5", "bf16"), "unknown model"),
    (lambda: dep.size_deployment("LLaMA-2 7B", "bf16", context=0), "context"),
    (lambda: dep.size_deployment("LLaMA-2 7B", "bf17"), "precision"),
    (lambda: dep.latency("LLaMA-2 7B", device="TPU v9"), "accelerator"),
    (lambda: dep.streaming_budget(-1, 100), "items_per_second"),
    (lambda: dep.models_that_fit(n_gpus=0), "n_gpus"),
])
def test_bad_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
