"""Table serialisations and their token cost; sinusoidal geo features."""
from __future__ import annotations

import json

import numpy as np
import pytest

from frontier.models import Tokenizer
from frontier.multimodal import geo_features, haversine_km, serialization_costs, serialize_table

ROWS = [{"city": "Paris", "lat": 48.86, "lon": 2.35, "population": 2102650},
        {"city": "Lyon", "lat": 45.76, "lon": 4.84, "population": 522250}]


def test_serialisations_hold_the_same_data():
    assert json.loads(serialize_table(ROWS, "json")) == ROWS
    md = serialize_table(ROWS, "markdown").splitlines()
    assert md[0] == "| city | lat | lon | population |" and len(md) == 2 + len(ROWS)
    sr = serialize_table(ROWS, "schema+rows").splitlines()
    assert sr[0] == "columns: city, lat, lon, population" and sr[1] == "Paris,48.86,2.35,2102650"


def test_token_costs_use_the_tokenizer_and_json_repeats_keys():
    tok = Tokenizer.char_level("".join(serialize_table(ROWS, f) for f in ("json", "markdown", "schema+rows")))
    costs = serialization_costs(ROWS * 10, tok)
    for fmt, c in costs.items():                              # characters = tokens for a char tokenizer
        assert c["tokens"] == c["chars"] == len(serialize_table(ROWS * 10, fmt))
    assert costs["json"]["tokens"] > costs["markdown"]["tokens"] > costs["schema+rows"]["tokens"]


def test_bad_tables_raise():
    with pytest.raises(TypeError):
        serialize_table(ROWS[0])
    with pytest.raises(ValueError, match="row 1"):
        serialize_table([{"a": 1}, {"b": 2}])
    with pytest.raises(ValueError, match="fmt"):
        serialize_table(ROWS, "csv")
    with pytest.raises(TypeError, match="count"):
        serialization_costs(ROWS, object())


def test_geo_features_shape_range_and_wraparound():
    f = geo_features([0.0, 45.0], [180.0, -180.0], n_frequencies=6)
    assert f.shape == (2, 24) and np.all(np.abs(f) <= 1)
    a, b = geo_features(10.0, 180.0), geo_features(10.0, -180.0)
    assert np.allclose(a[-16:], b[-16:], atol=1e-9)            # the longitude features wrap around


def test_geo_feature_distance_tracks_great_circle_distance():
    g = np.random.default_rng(0)
    lat, lon = g.uniform(-60, 60, 200), g.uniform(-180, 180, 200)
    f = geo_features(lat, lon, n_frequencies=4)
    i, j = g.integers(200, size=(2, 400))
    feat = np.linalg.norm(f[i] - f[j], axis=1)
    km = haversine_km(lat[i], lon[i], lat[j], lon[j])
    near = km < 1000
    assert feat[near].mean() < 0.5 * feat[~near].mean()
    assert haversine_km(0, 0, 0, 180) == pytest.approx(np.pi * 6371.0088)


@pytest.mark.parametrize("lat, lon", [(91, 0), (0, 181), ([1, 2], [1]), (float("nan"), 0)])
def test_geo_bad_input(lat, lon):
    with pytest.raises(ValueError):
        geo_features(lat, lon)
