"""Structured data and coordinates for a language model: serialise, count tokens, encode positions.

A table has no native token form: the model reads whatever text we write it
as, and the choice costs tokens.  :func:`serialize_table` writes one table
three ways (a markdown grid, JSON records, a schema line followed by bare
rows) and :func:`serialization_costs` counts each with a course
:class:`~frontier.models.Tokenizer`.

Coordinates are numbers a tokenizer splits into arbitrary digit pieces;
geospatial models instead feed sinusoidal features of latitude and longitude
at several wavelengths (as Transformer positions are, Vaswani et al. 2017;
for the sphere, Mai et al. 2020 "Space2Vec", arXiv 2003.00824), so nearby
places get nearby vectors: :func:`geo_features`, :func:`haversine_km`.
"""
from __future__ import annotations

import json
from typing import Dict, List, Mapping, Sequence

import numpy as np

from ..validation import choice, positive_int

__all__ = ["TABLE_FORMATS", "serialize_table", "serialization_costs", "geo_features", "haversine_km",
           "EARTH_RADIUS_KM"]

#: The three serialisations :func:`serialize_table` writes.
TABLE_FORMATS = ("markdown", "json", "schema+rows")
EARTH_RADIUS_KM = 6371.0088  #: mean Earth radius (IUGG)


def _check_rows(rows: Sequence[Mapping[str, object]]) -> List[str]:
    if isinstance(rows, Mapping) or isinstance(rows, (str, bytes)):
        raise TypeError("rows must be a sequence of dicts (one per row)")
    rows = list(rows)
    if not rows or not all(isinstance(r, Mapping) for r in rows):
        raise TypeError("rows must be a non-empty sequence of dicts (one per row)")
    columns = list(rows[0])
    for i, r in enumerate(rows):
        if list(r) != columns:
            raise ValueError(f"row {i} has columns {list(r)}, expected {columns}")
    return columns


def _cell(v: object) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def serialize_table(rows: Sequence[Mapping[str, object]], fmt: str = "markdown") -> str:
    """One table (a list of dicts with the same keys, in the same order) as text.

    * ``"markdown"``: a header row, a ``---`` rule and one ``| a | b |`` line per row;
    * ``"json"``: a JSON list of objects, every key repeated in every row (compact separators);
    * ``"schema+rows"``: one line naming the columns, then comma-separated values, one row per line.
    """
    columns = _check_rows(rows)
    choice("fmt", fmt, TABLE_FORMATS)
    if fmt == "markdown":
        lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
        lines += ["| " + " | ".join(_cell(r[c]) for c in columns) + " |" for r in rows]
        return "\n".join(lines)
    if fmt == "json":
        return json.dumps([dict(r) for r in rows], separators=(",", ":"), default=str)
    lines = ["columns: " + ", ".join(columns)] + [",".join(_cell(r[c]) for c in columns) for r in rows]
    return "\n".join(lines)


def serialization_costs(rows: Sequence[Mapping[str, object]], tokenizer) -> Dict[str, Dict[str, float]]:
    """Tokens and characters of each of :data:`TABLE_FORMATS` under ``tokenizer`` (anything with ``count(text)``).

    Returns ``{fmt: {"tokens": n, "chars": c, "tokens_per_cell": n / cells}}``.
    """
    if not hasattr(tokenizer, "count"):
        raise TypeError(f"tokenizer must have a count(text) method, got {type(tokenizer).__name__}")
    columns = _check_rows(rows)
    cells = len(columns) * len(list(rows))
    out = {}
    for fmt in TABLE_FORMATS:
        text = serialize_table(rows, fmt)
        n = int(tokenizer.count(text))
        out[fmt] = {"tokens": n, "chars": len(text), "tokens_per_cell": n / cells}
    return out


def geo_features(lat, lon, n_frequencies: int = 8) -> np.ndarray:
    """Multi-scale sinusoidal features of latitude and longitude (degrees).

    Wavelengths halve from 360 degrees: ``360 / 2**k`` for ``k = 0 ..
    n_frequencies - 1`` (the finest is 2.8 degrees, about 300 km, at the
    default 8); for each the features are ``sin``/``cos`` of ``2 pi lat /
    wavelength`` and of ``2 pi lon / wavelength``.  Every wavelength divides
    360, so longitude -180 and 180 give the same vector (the date line is not
    an edge), and nearby places get nearby vectors at every scale coarser
    than their distance.

    Args:
        lat: ``(...)`` degrees in [-90, 90].
        lon: ``(...)`` degrees in [-180, 180].

    Returns:
        ``(..., 4 * n_frequencies)`` float64 features, each in [-1, 1]:
        ``[sin lat-terms, cos lat-terms, sin lon-terms, cos lon-terms]``.
    """
    la, lo = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
    if la.shape != lo.shape:
        raise ValueError(f"lat and lon must have the same shape, got {la.shape} and {lo.shape}")
    if not (np.all(np.isfinite(la)) and np.all(np.isfinite(lo))):
        raise ValueError("lat and lon must be finite")
    if np.any(np.abs(la) > 90):
        raise ValueError("lat must lie in [-90, 90] degrees")
    if np.any(np.abs(lo) > 180):
        raise ValueError("lon must lie in [-180, 180] degrees")
    n = positive_int("n_frequencies", n_frequencies)
    if n > 24:
        raise ValueError(f"n_frequencies must be at most 24 (wavelengths below a metre), got {n}")
    wavelengths = 360.0 / 2.0 ** np.arange(n)                               # (n,) degrees
    a = 2 * np.pi * la[..., None] / wavelengths
    b = 2 * np.pi * lo[..., None] / wavelengths
    return np.concatenate([np.sin(a), np.cos(a), np.sin(b), np.cos(b)], axis=-1)


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance (km) between points given in degrees, on a sphere of :data:`EARTH_RADIUS_KM`."""
    p1, p2 = np.radians(np.asarray(lat1, float)), np.radians(np.asarray(lat2, float))
    dl = np.radians(np.asarray(lon2, float) - np.asarray(lon1, float))
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
