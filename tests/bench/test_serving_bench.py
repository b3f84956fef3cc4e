"""``python -m frontier.bench serving``: the quantized-matmul table is right, and the whole command runs."""
from __future__ import annotations

import math

import pytest

from frontier.bench import BENCHMARKS
from frontier.bench import serving

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_registered():
    assert BENCHMARKS["serving"] == "frontier.bench.serving"


def test_matmul_rows_errors_follow_the_bits():
    rows = {r["format"].split(" ")[0]: r for r in serving.matmul_rows(64, repeat=1)}
    assert rows["fp32"]["rel_error"] == 0.0
    assert rows["int8"]["rel_error"] < 0.02
    assert rows["int8"]["rel_error"] < rows["int4"]["rel_error"] < 0.2
    assert rows["nf4"]["bits"] == rows["q4_0"]["bits"] == 4.5
    torch_row = [r for r in serving.matmul_rows(64, repeat=1) if r["format"].startswith("torch")][0]
    assert math.isnan(torch_row["rel_error"]) or torch_row["rel_error"] < 0.05


@pytest.mark.slow
def test_smoke_run_prints_both_tables(capsys):
    assert serving.main(["--smoke"]) == 0
    out = capsys.readouterr().out
    assert "tokens/call" in out and "Quantized matrix products" in out
