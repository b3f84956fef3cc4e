"""The attention cost explorer: controls change the figure in the ways the lesson promises."""
import plotly.graph_objects as go
import pytest
from IPython.utils.capture import capture_output

from frontier.architecture import costs
from frontier.viz.architecture import (cost_explorer, cost_table, make_cost_figure, make_cost_table_figure,
                                       make_timing_figure)


@pytest.fixture(scope="module")
def explorer():
    with capture_output():
        return cost_explorer()


def _trace(fig, startswith, axis="x"):
    return next(t for t in fig.data if t.name.startswith(startswith) and t.xaxis == axis)


def test_default_figure_has_every_method_on_three_panels_and_the_wall(explorer):
    fig = explorer.figure
    assert len(fig.data) == 3 * len(costs.METHODS) + 1
    wall = fig.data[-1]
    assert wall.name == "H100 80 GB memory" and set(wall.y) == {80e9}
    go.Figure(fig.to_dict())                      # valid plotly


def test_gpu_picker_moves_the_wall(explorer):
    with capture_output():
        fig = explorer.set(gpu="T4 16 GB")
    assert set(fig.data[-1].y) == {16e9} and fig.layout.meta["gpu"] == "T4 16 GB"
    with capture_output():
        explorer.set(gpu="H100 80 GB")


def test_mixing_only_reveals_the_sparse_transformer_slope(explorer):
    with capture_output():
        explorer.set(log10_T=(4.0, 7.0), mixing_only=True)
    slopes = explorer.figure.layout.meta["slopes"]
    assert slopes["sparse_transformer"]["flops"] == pytest.approx(1.5, abs=0.05)
    assert slopes["dense"]["flops"] == pytest.approx(2.0, abs=0.02)
    assert slopes["longformer"]["flops"] == pytest.approx(1.0, abs=0.02)
    assert "T^1.5" in _trace(explorer.figure, "Sparse Transformer").name
    with capture_output():
        explorer.set(log10_T=(3.0, 6.0), mixing_only=False)


def test_window_slider_changes_longformer_only(explorer):
    before = explorer.figure
    with capture_output():
        after = explorer.set(window=4096)
    assert list(_trace(before, "Longformer").y) != list(_trace(after, "Longformer").y)
    assert list(_trace(before, "Dense").y) == list(_trace(after, "Dense").y)
    with capture_output():
        explorer.set(window=512)


def test_on_chip_memory_changes_only_flash_traffic(explorer):
    before = explorer.figure
    with capture_output():
        after = explorer.set(sram_kib=48)
    assert list(_trace(before, "FlashAttention", "x3").y) != list(_trace(after, "FlashAttention", "x3").y)
    assert list(_trace(before, "FlashAttention", "x2").y) == list(_trace(after, "FlashAttention", "x2").y)
    assert list(_trace(before, "Dense", "x3").y) == list(_trace(after, "Dense", "x3").y)
    with capture_output():
        explorer.set(sram_kib=192)


def test_hybrid_ratio_one_lands_on_flash():
    fig = make_cost_figure(attention_ratio=1.0)
    assert list(_trace(fig, "Hybrid").y) == pytest.approx(list(_trace(fig, "FlashAttention").y))


def test_bad_range_and_gpu_are_rejected():
    with pytest.raises(ValueError, match="range"):
        make_cost_figure(log10_T=(4.0, 4.0))
    with pytest.raises(ValueError, match="gpu"):
        make_cost_figure(gpu="RTX 9090")


def test_table_reports_relative_flops_and_fit():
    fig = make_cost_table_figure(T=1_000_000, gpu="H200 141 GB")
    rows = {r[0]: r for r in fig.layout.meta["rows"]}
    assert rows["Dense"][2] == "1.000" and rows["FlashAttention"][2] == "1.000"
    assert rows["Dense"][-1] == "no" and rows["Mamba (selective SSM)"][-1] == "yes"
    with capture_output():
        t = cost_table()
        t.set(T=4096)
    assert t.figure.layout.meta["T"] == 4096


def test_timing_figure_fits_slopes_from_records():
    recs = [{"label": "dense", "n": n, "seconds": 1e-6 * n ** 2, "min": 1e-6 * n ** 2, "max": 1e-6 * n ** 2}
            for n in (256, 512, 1024)]
    recs += [{"label": "sliding window", "n": n, "seconds": 1e-5 * n, "min": 1e-5 * n, "max": 1e-5 * n}
             for n in (256, 512, 1024)]
    fig = make_timing_figure(recs, predicted={"dense": 2, "sliding window": 1})
    assert fig.layout.meta["slopes"] == {"dense": pytest.approx(2.0), "sliding window": pytest.approx(1.0)}
    with pytest.raises(ValueError):
        make_timing_figure([])
