"""One look for every figure in the course."""
from __future__ import annotations

from typing import Dict, Mapping, Optional

import plotly.graph_objects as go
import plotly.io as pio

__all__ = ["COLORS", "METHOD_COLORS", "TEMPLATE", "apply_theme", "themed_figure", "format_params"]

#: A colour-blind-friendly palette (Okabe-Ito, plus two greys).
COLORS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
          "#000000", "#7F7F7F", "#BBBBBB"]

#: Fixed colours for the sequence-mixing methods, so a method looks the same in every lesson.
METHOD_COLORS: Dict[str, str] = {
    "dense": "#000000", "flash": "#7F7F7F", "longformer": "#0072B2", "bigbird": "#56B4E9",
    "sparse_transformer": "#CC79A7", "performer": "#E69F00", "mamba": "#009E73", "hybrid": "#D55E00",
}


_AXIS = dict(gridcolor="#E5ECF6", linecolor="#C8D4E3", zerolinecolor="#C8D4E3", ticks="outside",
             tickcolor="#C8D4E3", automargin=True)

#: The course's plotly template, kept small on purpose: the stock templates are
#: large, and plotly copies a template into every figure that names it, which
#: alone costs ~10 ms per figure and would eat the 50 ms re-render budget.
TEMPLATE = go.layout.Template(layout=dict(
    colorway=COLORS, paper_bgcolor="white", plot_bgcolor="white",
    font=dict(family="Arial, sans-serif", size=13, color="#2a3f5f"),
    hovermode="closest", xaxis=_AXIS, yaxis=_AXIS,
))
pio.templates["frontier"] = TEMPLATE
# Figures built anywhere in the course (and by the learner) use it by default.
pio.templates.default = "frontier"


def format_params(params: Mapping[str, object], keys: Optional[list] = None) -> str:
    """``"a=1, b=2"`` for the chosen keys, with floats shortened."""
    out = []
    for k in keys or list(params):
        v = params[k]
        if isinstance(v, float):
            v = f"{v:.3g}"
        out.append(f"{k}={v}")
    return ", ".join(out)


def _theme_layout(title: str, meta, height: int, legend_below: Optional[float] = None) -> dict:
    legend = dict(font=dict(size=11))
    if legend_below is not None:          # a horizontal legend under the plot, at paper height ``legend_below``
        legend.update(orientation="h", x=0, y=legend_below)
    return dict(height=height, title=dict(text=title, x=0.01, xanchor="left", font=dict(size=15)),
                margin=dict(l=60, r=20, t=70, b=50), legend=legend, meta=dict(meta or {}))


def themed_figure(data: list, layout: Optional[dict], title: str, meta: Optional[Mapping[str, object]] = None,
                  height: int = 460) -> go.Figure:
    """Build a themed figure from plain trace and layout dicts in one validated step.

    The fast path for figures behind sliders: constructing a figure from
    dicts at once costs a few milliseconds, while ``make_subplots`` plus
    ``add_trace`` plus ``update_layout`` calls cost tens.
    """
    lay = _theme_layout(title, meta, height)
    for key, value in (layout or {}).items():
        if isinstance(value, dict) and isinstance(lay.get(key), dict):
            lay[key] = {**lay[key], **value}
        else:
            lay[key] = value
    return go.Figure(dict(data=data, layout=lay))


def apply_theme(fig: go.Figure, title: str, meta: Optional[Mapping[str, object]] = None,
                height: int = 460, legend_below: Optional[float] = None) -> go.Figure:
    """Set the course template, a title and ``layout.meta`` (the parameters that made the figure).

    ``legend_below`` puts a horizontal legend under the plot at that paper height (e.g. ``-0.2``).
    """
    fig.update_layout(_theme_layout(title, meta, height, legend_below))
    return fig
