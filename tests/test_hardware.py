"""frontier.hardware against published figures (shared/reference/facts.md) and roofline invariants."""
import math

import pytest

from frontier import hardware as hw

LLAMA2_70B = 68_976_648_192      # facts.md section 1
MIXTRAL = 46_702_792_704


def test_will_it_fit_figures_from_facts():
    # facts.md section 13 (Efficiency): 70B at fp16 ~ 138 GB, at 4.5 bits ~ 38.8 GB; Mixtral at 4.5 bits ~ 26.3 GB.
    assert hw.memory_required(LLAMA2_70B, "fp16").total / 1e9 == pytest.approx(138.0, abs=0.05)
    assert hw.memory_required(LLAMA2_70B, "q4_0").total / 1e9 == pytest.approx(38.8, abs=0.05)
    assert hw.memory_required(MIXTRAL, "q4_0").total / 1e9 == pytest.approx(26.3, abs=0.05)


def test_bits_per_weight_include_scales():
    # NF4: 4 bits + one fp32 absmax per 64 weights = 0.5 bits; double quantisation -> 0.127 bits (QLoRA).
    assert hw.bits_per_weight("nf4") == pytest.approx(4.5)
    assert hw.bits_per_weight("nf4-dq") - 4 == pytest.approx(0.127, abs=5e-4)
    # GGUF Q4_0: block of 32 = fp16 scale (2 bytes) + 16 bytes of nibbles = 18 bytes.
    assert hw.bits_per_weight("q4_0") == pytest.approx(18 * 8 / 32)
    assert hw.bytes_per_param("bf16") == 2.0 and hw.bytes_per_param("fp32") == 4.0
    assert hw.bytes_per_param("int4") == 0.5
    for p in hw.PRECISIONS.values():
        assert p.bits_per_weight >= p.element_bits
        assert p.compute_dtype in hw.DTYPES


def test_llama2_70b_kv_cache_per_token():
    # facts.md Exercise 2 reference: 80 layers x 8 KV heads x 128 x 2 (K, V) x 2 bytes = 327,680 bytes.
    assert hw.kv_cache_bytes_per_token(80, 8, 128, "bf16") == 327_680
    m = hw.memory_required(LLAMA2_70B, "bf16", n_layers=80, n_kv_heads=8, head_dim=128, context=80_000)
    assert m.kv_cache / 1e9 == pytest.approx(26.2, abs=0.05)
    # Without GQA (64 KV heads): 210 GB.
    no_gqa = hw.memory_required(LLAMA2_70B, "bf16", n_layers=80, n_kv_heads=64, head_dim=128, context=80_000)
    assert no_gqa.kv_cache / 1e9 == pytest.approx(210, abs=0.5)
    assert m.total == pytest.approx(m.weights + m.kv_cache + m.activations)


def test_fits_and_gpus_needed():
    assert not hw.fits("H100-SXM", LLAMA2_70B, "fp16")
    assert hw.fits("H200", LLAMA2_70B, "fp16")
    assert not hw.fits("H200", LLAMA2_70B, "fp16", margin=0.1)      # 138 GB > 0.9 x 141 GB
    assert hw.fits("RTX 4090", MIXTRAL / 2, "q4_0") and not hw.fits("RTX 4090", MIXTRAL, "q4_0")
    assert hw.fits(40e9, LLAMA2_70B, "q4_0")
    assert hw.gpus_needed("A100-80GB", LLAMA2_70B, "fp16") == 2
    assert hw.gpus_needed("A100-40GB", LLAMA2_70B, "fp16") == 4
    assert hw.gpus_needed("H200", LLAMA2_70B, "q4_0") == 1


def test_decode_bound_switches_from_memory_to_compute_at_the_ridge_point():
    h100 = hw.accelerator("H100-SXM")
    one = hw.decode_time_bound(LLAMA2_70B, "fp16", h100)
    assert one.binding == "memory"
    assert one.seconds == pytest.approx(LLAMA2_70B * 2 / 3.35e12)       # ~41 ms per token
    # Weights are read once per step whatever the batch; FLOPs grow with it. At 2 bytes per weight and
    # 2 FLOPs per weight per token, compute binds once batch > peak / bandwidth.
    crossover = h100.flops("fp16") / h100.memory_bandwidth
    below = hw.decode_time_bound(LLAMA2_70B, "fp16", h100, batch=int(crossover * 0.9))
    above = hw.decode_time_bound(LLAMA2_70B, "fp16", h100, batch=int(crossover * 1.1))
    assert below.binding == "memory" and above.binding == "compute"
    assert below.seconds == pytest.approx(one.seconds)
    # The KV cache adds bytes per sequence and per token of context.
    kv = hw.decode_time_bound(LLAMA2_70B, "fp16", h100, context=4096, kv_bytes_per_token=327_680)
    assert kv.bytes_moved - one.bytes_moved == 4096 * 327_680


def test_h200_scan_time_from_facts():
    # facts.md section 2: 0.81 GB at H200's 4.8 TB/s ~ 0.17 ms.
    assert 0.81e9 / hw.accelerator("H200").memory_bandwidth * 1e3 == pytest.approx(0.17, abs=0.005)


def test_prefill_is_compute_bound_for_long_prompts():
    b = hw.prefill_time_bound(LLAMA2_70B, "bf16", "A100-80GB", tokens=4096)
    assert b.binding == "compute"
    assert b.seconds == pytest.approx(2 * LLAMA2_70B * 4096 / 312e12)


def test_table_is_consistent_and_sourced():
    for name, a in hw.ACCELERATORS.items():
        assert a.name == name and a.source
        assert a.memory_bytes > 0 and a.memory_bandwidth > 0 and a.board_power_w > 0
        assert "fp32" in a.peak_flops
        # Tensor-core 16-bit rates are at least the fp32 rate on every device listed.
        assert a.peak_flops.get("bf16", a.peak_flops.get("fp16")) >= a.peak_flops["fp32"]
    # Same GH100 die: the H200 differs from the H100 SXM in memory only.
    h100, h200 = hw.accelerator("H100-SXM"), hw.accelerator("H200")
    assert dict(h100.peak_flops) == dict(h200.peak_flops) and h200.memory_bandwidth > h100.memory_bandwidth
    # Peak fp32 = SMs x FP32 lanes per SM x 2 (FMA) x boost clock: 64 lanes on Turing and GA100, 128 on
    # Hopper and Ada (the architecture whitepapers). A check that SM counts, clocks and rates agree.
    lanes = {"T4": 64, "A100-40GB": 64, "A100-80GB": 64, "H100-SXM": 128, "H200": 128, "L4": 128, "RTX 4090": 128}
    for name, per_sm in lanes.items():
        a = hw.accelerator(name)
        assert a.sm_count * per_sm * 2 * a.clock_hz == pytest.approx(a.peak_flops["fp32"], rel=0.015), name
    assert len({a.name for a in hw.ACCELERATORS.values()}) == len(hw.ACCELERATORS)


def test_old_names_are_derived_aliases():
    from frontier.architecture import costs, long_context, params
    assert params.BYTES_PER_PARAM == {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "int8": 1.0, "int4": 0.5}
    assert long_context.KV_PRECISIONS["fp8"] == 1.0
    assert costs.GPUS == {"T4 16 GB": 16e9, "A100 80 GB": 80e9, "H100 80 GB": 80e9, "H200 141 GB": 141e9}
    assert costs.DEFAULT_SRAM_BYTES == 192 * 1024


@pytest.mark.parametrize("call, exc, word", [
    (lambda: hw.accelerator("B200"), ValueError, "accelerator"),
    (lambda: hw.accelerator(3), TypeError, "accelerator"),
    (lambda: hw.bits_per_weight("fp12"), ValueError, "precision"),
    (lambda: hw.memory_required(-1, "bf16"), ValueError, "n_params"),
    (lambda: hw.memory_required("7e9", "bf16"), TypeError, "n_params"),
    (lambda: hw.memory_required(7e9, "bf16", context=10), ValueError, "n_layers"),
    (lambda: hw.memory_required(7e9, "bf16", kv_precision="fp9"), ValueError, "precision"),
    (lambda: hw.memory_required(7e9, "bf16", batch=0), ValueError, "batch"),
    (lambda: hw.fits("H200", 7e9, margin=1.0), ValueError, "margin"),
    (lambda: hw.decode_time_bound(7e9, "bf16", "T4"), ValueError, "bf16"),
    (lambda: hw.decode_time_bound(7e9, "bf16", "H200", compute_dtype="fp64"), ValueError, "dtype"),
    (lambda: hw.prefill_time_bound(7e9, "bf16", "H200", tokens=0), ValueError, "tokens"),
])
def test_bad_input_raises_naming_the_argument(call, exc, word):
    with pytest.raises(exc, match=word):
        call()


def test_t4_bf16_fails_but_fp16_runs():
    assert math.isfinite(hw.decode_time_bound(7e9, "fp16", "T4").seconds)
