"""The interactive-figure pattern, tested without a browser."""
import plotly.graph_objects as go
import pytest
from IPython.utils.capture import capture_output

from frontier.viz import CONTROLLERS, InteractiveFigure, load_all_controllers
from frontier.viz.controller import checkbox, dropdown, slider


def make_line(slope=1.0, label="line", show=True):
    if slope == 0:
        raise ValueError("slope must not be zero")
    return go.Figure(go.Scatter(x=[0, 1], y=[0, slope], name=label, visible=show),
                     layout=dict(title=dict(text=f"slope={slope}"), meta={"slope": slope}))


@pytest.fixture
def ctl():
    with capture_output():
        return InteractiveFigure(make_line, {"slope": slider(1.0, -2.0, 2.0, 0.5),
                                             "label": dropdown(["line", "other"]),
                                             "show": checkbox(True)})


def test_default_figure_is_built_at_once(ctl):
    assert ctl.figure.layout.meta["slope"] == 1.0
    assert ctl.renders == 1


def test_moving_a_control_rebuilds_the_figure(ctl):
    with capture_output():
        fig = ctl.set(slope=2.0)
    assert fig.layout.title.text == "slope=2.0"
    assert list(fig.data[0].y) == [0, 2.0]
    with capture_output():
        ctl.set(label="other", show=False)
    assert ctl.figure.data[0].name == "other" and ctl.figure.data[0].visible is False
    assert ctl.renders == 4


def test_a_rejected_combination_keeps_the_last_figure_and_says_why(ctl):
    with capture_output():
        ctl.set(slope=0.0)
    assert ctl.figure.layout.meta["slope"] == 1.0
    assert "slope must not be zero" in ctl.status.value
    with capture_output():
        ctl.set(slope=-1.0)
    assert ctl.status.value == "" and ctl.figure.layout.meta["slope"] == -1.0


def test_unknown_control_is_a_clear_error(ctl):
    with pytest.raises(KeyError, match="slope"):
        ctl.set(slop=1.0)


def test_fixed_parameters_reach_the_builder():
    with capture_output():
        c = InteractiveFigure(make_line, {"slope": slider(1.0, 0.5, 2.0, 0.5)}, fixed={"label": "fixed"})
    assert c.figure.data[0].name == "fixed"


def test_headless_display_shows_the_static_figure(ctl, monkeypatch):
    import frontier.viz.controller as controller

    shown = []
    monkeypatch.setattr(controller, "display", shown.append)
    monkeypatch.setenv("FRONTIER_HEADLESS", "1")
    ctl._ipython_display_()
    assert shown == [ctl.widget, ctl.figure]     # the widget, then the static figure
    shown.clear()
    monkeypatch.setenv("FRONTIER_HEADLESS", "0")
    ctl._ipython_display_()
    assert shown == [ctl.widget]


def test_sliders_update_on_release_only():
    assert slider(1, 0, 2).continuous_update is False


def test_every_registered_controller_builds_its_default_figure():
    load_all_controllers()
    assert {"attention_cost_explorer", "attention_cost_table", "widget_check"} <= set(CONTROLLERS)
    for name, factory in CONTROLLERS.items():
        with capture_output():
            c = factory()
        assert isinstance(c.figure, go.Figure), name
        assert c.figure.layout.title.text, f"{name}: figures carry their parameters in the title"


def test_widget_renderer_drops_the_notebook_part(monkeypatch):
    """plotly's 'notebook' renderer inside an Output widget hangs nbconvert/nbgrader execution until the timeout."""
    import plotly.io as pio

    from frontier.viz.controller import widget_renderer

    for default, want in [("plotly_mimetype+notebook", "plotly_mimetype"), ("notebook", "plotly_mimetype"),
                          ("colab", "colab"), ("vscode", "vscode"),
                          ("plotly_mimetype+notebook_connected", "plotly_mimetype")]:
        monkeypatch.setattr(pio.renderers, "default", default)
        assert widget_renderer() == want
