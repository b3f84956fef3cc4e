"""The widget check of the start-here notebook: proof that sliders reach the kernel."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .controller import InteractiveFigure, register, slider
from .theme import apply_theme

__all__ = ["make_wave_figure", "wave_check"]


def make_wave_figure(frequency: float = 1.0, damping: float = 0.2) -> go.Figure:
    """A damped sine wave ``exp(-damping t) sin(2 pi frequency t)`` over ``t`` in [0, 5] seconds."""
    if frequency <= 0:
        raise ValueError(f"frequency must be positive, got {frequency}")
    if damping < 0:
        raise ValueError(f"damping must be >= 0, got {damping}")
    t = np.linspace(0.0, 5.0, 400)
    y = np.exp(-damping * t) * np.sin(2 * np.pi * frequency * t)
    fig = go.Figure(go.Scatter(x=t, y=y, mode="lines", name="signal"))
    fig.update_xaxes(title_text="t (s)")
    fig.update_yaxes(title_text="amplitude", range=[-1.05, 1.05])
    return apply_theme(fig, f"Widget check: frequency={frequency:g} Hz, damping={damping:g}",
                       {"frequency": frequency, "damping": damping}, height=320)


@register("widget_check")
def wave_check() -> InteractiveFigure:
    """Two sliders driving :func:`make_wave_figure`."""
    return InteractiveFigure(make_wave_figure, {
        "frequency": slider(1.0, 0.25, 4.0, 0.25, "frequency (Hz)"),
        "damping": slider(0.2, 0.0, 2.0, 0.1, "damping"),
    }, name="widget_check")
