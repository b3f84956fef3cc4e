"""Figures and widgets for the course (the only part of ``frontier`` that imports plotly or ipywidgets).

* :mod:`frontier.viz.theme`        colours and the common layout
* :mod:`frontier.viz.controller`   :class:`InteractiveFigure`, the registry of controllers, control helpers
* :mod:`frontier.viz.start`        the widget check of the start-here notebook
* :mod:`frontier.viz.architecture` lesson 1.1, the attention cost explorer and measured timings
* :mod:`frontier.viz.attention`    lesson 1.2, tiles, traffic, Performer error, masks
* :mod:`frontier.viz.ssm`          lesson 1.3, the selective scan and the timing race
* :mod:`frontier.viz.moe`          lesson 1.4, the routing visualiser and expert usage
* :mod:`frontier.viz.long_context` lesson 1.5, RoPE scaling, KV cache, StreamingLLM, ring attention
* :mod:`frontier.viz.multimodal`   section 3, patches, token budgets, CLIP similarity, image-token generation
* :mod:`frontier.viz.alignment`    section 4: the bandit, the reward–KL frontier, the attack explorer, layered defences
* :mod:`frontier.viz.takeaways`    section 9: the course map with runtimes read from the runner's timing tables

Call :func:`setup_notebook` once at the top of a lesson.
"""
from __future__ import annotations

import importlib
import os
import pkgutil

from .controller import CONTROLLERS, InteractiveFigure, headless, register  # noqa: F401
from .theme import COLORS, METHOD_COLORS, apply_theme  # noqa: F401

__all__ = ["setup_notebook", "load_all_controllers", "InteractiveFigure", "register", "CONTROLLERS",
           "apply_theme", "COLORS", "METHOD_COLORS", "headless"]


def setup_notebook() -> str:
    """Pick the plotly renderer for where the notebook runs; return its name.

    Colab gets ``colab``, VS Code ``vscode``; everywhere else
    ``plotly_mimetype+notebook``: JupyterLab draws the first, and saved or
    exported notebooks (nbconvert HTML) carry the second with plotly.js
    embedded, so figures show offline.
    """
    import sys

    import plotly.io as pio

    if "google.colab" in sys.modules:
        name = "colab"
    elif "VSCODE_PID" in os.environ:
        name = "vscode"
    else:
        name = "plotly_mimetype+notebook"
    pio.renderers.default = name
    return name


def load_all_controllers() -> dict:
    """Import every ``frontier.viz`` module so that all registered controllers are known."""
    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")
    return CONTROLLERS
