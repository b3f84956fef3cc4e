"""A light replacement for ``plotly.subplots.make_subplots`` (which costs tens of ms per call).

Slider moves must re-render in well under 50 ms, so the lesson figures with
several panels lay out their axes directly: :class:`Panels` computes the axis
domains once and hands out the ``xaxis``/``yaxis`` names for each panel.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence


class Panels:
    """A ``rows x cols`` grid of axes, numbered row by row like ``make_subplots``.

    ``layout`` is a dict to pass to ``go.Figure(layout=...)``; ``ref(r, c)``
    gives the trace arguments ``{"xaxis": "x2", "yaxis": "y2"}`` of the panel
    in row ``r``, column ``c`` (1-based); ``x(r, c)`` and ``y(r, c)`` the
    layout keys (``"xaxis2"``) for styling.
    """

    def __init__(self, rows: int = 1, cols: int = 1, titles: Sequence[str] = (),
                 row_heights: Optional[Sequence[float]] = None, col_widths: Optional[Sequence[float]] = None,
                 hspace: float = 0.08, vspace: float = 0.12):
        self.rows, self.cols = rows, cols
        xd = self._domains(cols, col_widths, hspace, reverse=False)
        yd = self._domains(rows, row_heights, vspace, reverse=True)
        self.layout: Dict[str, object] = {}
        annotations = []
        for r in range(1, rows + 1):
            for c in range(1, cols + 1):
                i = self._index(r, c)
                suffix = "" if i == 1 else str(i)
                self.layout[f"xaxis{suffix}"] = dict(domain=xd[c - 1], anchor=f"y{suffix}")
                self.layout[f"yaxis{suffix}"] = dict(domain=yd[r - 1], anchor=f"x{suffix}")
                if i - 1 < len(titles) and titles[i - 1]:
                    annotations.append(dict(text=titles[i - 1], x=sum(xd[c - 1]) / 2, y=yd[r - 1][1],
                                            xref="paper", yref="paper", xanchor="center", yanchor="bottom",
                                            showarrow=False, font=dict(size=13)))
        self.layout["annotations"] = annotations

    @staticmethod
    def _domains(n: int, sizes, space: float, reverse: bool):
        sizes = list(sizes) if sizes is not None else [1.0] * n
        free = 1.0 - space * (n - 1)
        total = sum(sizes)
        out, start = [], 0.0
        for s in sizes:
            width = free * s / total
            out.append([start, start + width])
            start += width + space
        if reverse:
            out = [[1.0 - b, 1.0 - a] for a, b in out]
        return out

    def _index(self, r: int, c: int) -> int:
        if not (1 <= r <= self.rows and 1 <= c <= self.cols):
            raise ValueError(f"no panel at row {r}, column {c}")
        return (r - 1) * self.cols + c

    def ref(self, r: int = 1, c: int = 1) -> Dict[str, str]:
        i = self._index(r, c)
        suffix = "" if i == 1 else str(i)
        return {"xaxis": f"x{suffix}", "yaxis": f"y{suffix}"}

    def x(self, r: int = 1, c: int = 1) -> str:
        i = self._index(r, c)
        return "xaxis" if i == 1 else f"xaxis{i}"

    def y(self, r: int = 1, c: int = 1) -> str:
        i = self._index(r, c)
        return "yaxis" if i == 1 else f"yaxis{i}"

    def axis(self, r: int, c: int, which: str = "x", **props) -> None:
        """Set properties (``title_text=...`` becomes ``title=dict(text=...)``) of one panel's axis."""
        key = self.x(r, c) if which == "x" else self.y(r, c)
        if "title_text" in props:
            props["title"] = dict(text=props.pop("title_text"))
        self.layout[key].update(props)
