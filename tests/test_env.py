"""The environment report never fails for lack of a GPU and says why a GPU path is off."""
from frontier import env


def test_report_has_the_facts_a_learner_needs():
    r = env.report()
    for key in ("python", "torch", "torch_device", "cupy", "cupy_detail", "ipywidgets", "plotly", "numpy"):
        assert key in r
    assert isinstance(r["cupy"], bool) and r["cupy_detail"]
    text = env.describe()
    assert "Python" in text and "GPU kernels" in text


def test_gpu_can_be_disabled_with_a_reason(monkeypatch):
    env.cupy_status.cache_clear()
    monkeypatch.setenv("FRONTIER_DISABLE_GPU", "1")
    try:
        ok, reason = env.cupy_status()
        assert ok is False and "FRONTIER_DISABLE_GPU" in reason
    finally:
        env.cupy_status.cache_clear()
