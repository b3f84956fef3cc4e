"""The interactive-figure pattern every lesson uses.

A pure builder ``make_..._figure(**params) -> go.Figure`` draws; an
:class:`InteractiveFigure` wires ipywidgets controls to it::

    ctl = InteractiveFigure(make_cost_figure, {
        "window": widgets.IntSlider(value=512, min=64, max=8192, continuous_update=False),
    }, fixed={"T_max": 1_000_000})
    ctl            # in a notebook: the controls and the figure

On every change of a control the builder is called again with the current
values and the new figure replaces the old one inside an ``Output`` widget
(``clear_output(wait=True)``, so nothing flickers).  ``ctl.figure`` keeps the
last figure, so tests set controls and inspect it without a browser.  We do
not use ``go.FigureWidget``: it fails in Colab and VS Code and stores
megabytes of JavaScript in executed notebooks.

Headless (papermill, nbconvert; the course's runner sets
``FRONTIER_HEADLESS=1``) the controller also displays the default figure as
a static plot, so executed notebooks and their HTML show it.

Controllers that the benchmark (``python -m frontier.bench viz``) and the
browser tests should know about are registered with :func:`register`.
"""
from __future__ import annotations

import os
from typing import Callable, Dict, Mapping, Optional

import ipywidgets as widgets
import plotly.graph_objects as go
from IPython.display import clear_output, display

__all__ = ["InteractiveFigure", "register", "CONTROLLERS", "headless", "widget_renderer", "slider", "log_slider",
           "dropdown", "checkbox", "range_slider"]

#: name -> zero-argument factory returning an :class:`InteractiveFigure` with default values.
CONTROLLERS: Dict[str, Callable[[], "InteractiveFigure"]] = {}


def register(name: str):
    """Decorator: make a controller factory known to the benchmark and the browser tests."""
    def deco(factory):
        if name in CONTROLLERS and CONTROLLERS[name] is not factory:
            raise ValueError(f"a controller named {name!r} is already registered")
        CONTROLLERS[name] = factory
        return factory
    return deco


def headless() -> bool:
    """True when notebooks are executed without a browser (``FRONTIER_HEADLESS=1``)."""
    return os.environ.get("FRONTIER_HEADLESS", "") not in ("", "0", "false", "False")


def widget_renderer() -> str:
    """The plotly renderer for figures shown *inside* an ``Output`` widget.

    The default renderer outside Colab is ``plotly_mimetype+notebook``.  Its
    ``notebook`` part embeds plotly.js as HTML, which saved notebooks need, but
    inside an ``Output`` widget it makes nbconvert's and nbgrader's executor
    (nbclient with TCP kernels) hang until the cell timeout.  The widget only
    needs the mimetype part, which JupyterLab (the ``jupyterlab-plotly``
    extension), Colab and VS Code draw; ``notebook`` parts are dropped.
    """
    import plotly.io as pio

    parts = [p for p in str(pio.renderers.default).split("+")
             if p and p not in ("notebook", "notebook_connected")]
    return "+".join(parts) or "plotly_mimetype"


def _layout(width: str = "auto"):
    return widgets.Layout(width=width)


_STYLE = {"description_width": "initial"}


def slider(value, lo, hi, step=1, description="", fmt=None):
    """An int or float slider that updates on release (``continuous_update=False``)."""
    cls = widgets.IntSlider if all(isinstance(v, int) for v in (value, lo, hi, step)) else widgets.FloatSlider
    kw = {"readout_format": fmt} if fmt else {}
    return cls(value=value, min=lo, max=hi, step=step, description=description,
               continuous_update=False, style=_STYLE, layout=_layout("320px"), **kw)


def log_slider(value, lo_exp, hi_exp, step=0.1, description="", base=10, fmt=".3g"):
    """A slider over ``base**lo_exp .. base**hi_exp`` on a log scale."""
    return widgets.FloatLogSlider(value=value, base=base, min=lo_exp, max=hi_exp, step=step,
                                  description=description, continuous_update=False, readout_format=fmt,
                                  style=_STYLE, layout=_layout("320px"))


def range_slider(value, lo, hi, step=1, description=""):
    """A two-handled int or float range slider that updates on release."""
    cls = widgets.IntRangeSlider if all(isinstance(v, int) for v in (*value, lo, hi, step)) else widgets.FloatRangeSlider
    return cls(value=value, min=lo, max=hi, step=step, description=description, continuous_update=False,
               style=_STYLE, layout=_layout("320px"))


def dropdown(options, value=None, description=""):
    """A dropdown; ``options`` is a list of values or of ``(label, value)`` pairs."""
    opts = list(options)
    if value is None:
        value = opts[0][1] if isinstance(opts[0], tuple) else opts[0]
    return widgets.Dropdown(options=opts, value=value, description=description, style=_STYLE,
                            layout=_layout("320px"))


def checkbox(value: bool, description=""):
    return widgets.Checkbox(value=value, description=description, style=_STYLE, indent=False)


class InteractiveFigure:
    """Controls + an ``Output`` that shows ``builder(**fixed, **control values)``.

    Parameters
    ----------
    builder:  a pure function returning a ``plotly.graph_objects.Figure``.
    controls: ``{parameter name: ipywidgets control}``; each control's value
              is passed to the builder under its name.
    fixed:    parameters passed unchanged on every call.
    columns:  how many controls per row.
    """

    def __init__(self, builder: Callable[..., go.Figure], controls: Mapping[str, widgets.Widget],
                 fixed: Optional[Mapping[str, object]] = None, columns: int = 3, name: str = ""):
        if not callable(builder):
            raise TypeError("builder must be callable")
        for key, w in controls.items():
            if not hasattr(w, "value"):
                raise TypeError(f"control {key!r} has no value: {type(w).__name__}")
        self.builder = builder
        self.controls = dict(controls)
        self.fixed = dict(fixed or {})
        self.name = name or getattr(builder, "__name__", "figure")
        self.output = widgets.Output()
        self.status = widgets.HTML()
        self.figure: Optional[go.Figure] = None
        self.error: Optional[Exception] = None
        self.renders = 0
        for w in self.controls.values():
            w.observe(self._on_change, names="value")
        boxes = list(self.controls.values())
        rows = [widgets.HBox(boxes[i:i + columns]) for i in range(0, len(boxes), columns)]
        self.widget = widgets.VBox([*rows, self.status, self.output])
        self.render()

    # -- state -------------------------------------------------------------
    def params(self) -> Dict[str, object]:
        """The keyword arguments the builder gets now."""
        return {**self.fixed, **{k: w.value for k, w in self.controls.items()}}

    def set(self, **values) -> go.Figure:
        """Set controls by name (each change re-renders) and return the resulting figure."""
        for k, v in values.items():
            if k not in self.controls:
                raise KeyError(f"no control named {k!r}; controls are {sorted(self.controls)}")
            self.controls[k].value = v
        return self.figure

    # -- rendering ---------------------------------------------------------
    def build(self) -> go.Figure:
        """Call the builder with the current parameters, without displaying anything."""
        return self.builder(**self.params())

    def render(self) -> Optional[go.Figure]:
        """Rebuild the figure and show it in the ``Output`` widget.

        A builder that rejects the current combination of values (a
        ``ValueError``) leaves the last good figure in place and says why.
        """
        try:
            fig = self.build()
        except ValueError as exc:
            self.error = exc
            self.status.value = f"<span style='color:#D55E00'>Cannot draw this combination: {exc}</span>"
            return self.figure
        self.error = None
        self.status.value = ""
        self.figure = fig
        self.renders += 1
        with self.output:
            clear_output(wait=True)
            fig.show(renderer=widget_renderer())
        return fig

    def _on_change(self, change) -> None:
        self.render()

    def _ipython_display_(self) -> None:
        display(self.widget)
        if headless() and self.figure is not None:
            display(self.figure)
