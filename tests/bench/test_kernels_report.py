"""The static kernel report: parsing ptxas and SASS, occupancy, and (where nvcc is installed) the report itself.

The full report compiles every kernel variant for sm_80 and sm_90 (about half
a minute on two cores, cached afterwards), so it is marked ``slow``; it fails
when any variant the library launches spills registers.
"""
from __future__ import annotations

import pytest

from frontier.bench import kernels as K

PTXAS = """ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function 'selective_scan_fwd' for 'sm_90'
ptxas info    : Function properties for selective_scan_fwd
    0 bytes stack frame, 8 bytes spill stores, 12 bytes spill loads
ptxas info    : Used 201 registers, used 1 barriers, 40960 bytes smem, 464 bytes cmem[0]
ptxas info    : Compiling entry function 'selective_scan_carry' for 'sm_90'
ptxas info    : Function properties for selective_scan_carry
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 32 registers, used 0 barriers, 400 bytes cmem[0]
"""

SASS = """
        .text.k:
        /*0000*/                   MOV R1, c[0x0][0x28] ;
.L_x_0:
        /*0010*/                   LDG.E.128 R4, desc[UR4][R2.64] ;
.L_x_1:
        /*0020*/                   MUFU.EX2 R5, R5 ;
        /*0030*/                   FFMA R6, R5, R6, R7 ;
        /*0040*/               @P0 BRA `(.L_x_1) ;
        /*0050*/                   STG.E [R2.64], R6 ;
        /*0060*/              @!P1 BRA `(.L_x_0) ;
        /*0070*/                   EXIT ;
        /*0080*/                   BRA `(.L_x_2);
.L_x_2:
        /*0090*/                   NOP;
"""


def test_parse_ptxas_reads_registers_spills_and_shared_memory():
    info = K.parse_ptxas(PTXAS)
    assert info["selective_scan_fwd"] == {"registers": 201, "spill_stores": 8, "spill_loads": 12, "stack": 0,
                                          "smem": 40960}
    assert info["selective_scan_carry"]["registers"] == 32 and info["selective_scan_carry"]["smem"] == 0


def test_parse_sass_and_loops():
    instrs = K.parse_sass(SASS)["k"]
    assert [op for _, op, _ in instrs][:3] == ["MOV", "LDG.E.128", "MUFU.EX2"]
    assert K.find_loops(instrs) == [(0x10, 0x60), (0x20, 0x40)]       # the forward BRA is not a loop


def test_occupancy_from_the_limits():
    # 255 registers round to 256 per thread: a 4-warp block needs 32,768 of 65,536 registers
    assert K.occupancy("sm_90", 255, 0, 128)["blocks"] == 2
    # shared memory binds: 40 KiB (+1 KiB reserved) per block in 228 KiB
    occ = K.occupancy("sm_90", 64, 40960, 64)
    assert occ["blocks"] == 5 and occ["warps"] == 10 and occ["occupancy"] == pytest.approx(10 / 64)
    assert K.occupancy("sm_80", 32, 0, 1024)["blocks"] == 2           # 2048 threads per SM


def test_ceilings_follow_from_the_counts():
    row = {"arch": "sm_90", "kind": "scan", "warp_instr_per_unit": 4.0, "warp_mufu_per_unit": 0.5,
           "bytes_per_unit": 16}
    (h100, h200) = K.ceilings(row)
    from frontier import hardware

    acc = hardware.ACCELERATORS["H200"]
    assert h200["issue_units"] == pytest.approx(acc.sm_count * acc.clock_hz * 4 / 4.0)
    assert h200["mufu_units"] == pytest.approx(acc.sm_count * acc.clock_hz * 16 / 32 / 0.5)
    assert h200["issue_over_bw"] == pytest.approx(h200["issue_bytes"] / acc.memory_bandwidth)


def test_main_without_static_flag_says_what_exists(capsys):
    assert K.main([]) == 2
    assert "--static" in capsys.readouterr().out


@pytest.fixture(scope="module")
def report():
    if K.find_tool("nvcc") is None:
        pytest.skip("nvcc is not installed")
    return K.static_report()


@pytest.mark.slow
def test_no_variant_the_library_launches_spills(report):
    spilled = [(r["variant"], r["arch"], r["spills"]) for r in report["rows"] if r["spills"]]
    assert not spilled, f"register spills: {spilled}"
    assert report["targets"]["no_spills"]
    assert all(r["registers"] > 0 for r in report["rows"])


@pytest.mark.slow
def test_instruction_counts_are_consistent_with_the_source(report):
    if report["tools"]["nvdisasm"] is None:
        pytest.skip("nvdisasm is not installed (pip install nvidia-cuda-nvdisasm, the gpu-dev extra)")
    by = {(r["variant"], r["arch"]): r for r in report["rows"]}
    for arch in K.ARCHS:
        mamba = by[("scan n=16 softplus+z (Mamba)", arch)]
        cheap = by[("scan n=16 cheap (no softplus)", arch)]
        # one lane per channel: the recurrence loop (4 steps) holds one exp2 per state and step
        assert 16 <= mamba["mufu_per_unit"] <= 16 + 4 and cheap["mufu_per_unit"] < mamba["mufu_per_unit"]
        # at least 5 instructions per state and step (exp2, its multiply, two multiply-adds, one multiply)
        assert mamba["instr_per_unit"] >= 5 * 16 and mamba["inner_loop"] >= 4 * 5 * 16
        for d in (32, 64, 128):
            att = by[(f"attention tiled d={d}", arch)]
            per_thread = d // (2 if d > 64 else 1)
            # the dot products and P V are FFMAs only: the FMULs left are the accumulator rescale
            assert att["ffma"] >= 2 * 16 * per_thread and att["fmul"] <= per_thread + 4
    text = K.format_report(report)
    assert "H200" in text and "target: no spills in any variant -> met" in text
