"""The memory store: survives a restart, overwrites on contradiction, forgets on expiry; HNSW recall measured."""
from __future__ import annotations

import numpy as np
import pytest

from frontier.knowledge.memory import MemoryStore, extract_facts, index_benchmark


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@pytest.mark.parametrize("index", ["flat", "hnsw"])
def test_store_survives_a_restart(tmp_path, index):
    path = tmp_path / "mem.sqlite"
    with MemoryStore(path, dim=128, index=index) as m:
        ids = [m.write("user", f"fact {i}", f"value {i}", f"the user's fact number {i} is value {i}")
               for i in range(30)]
        before = m.records()
        hits_before = [r.id for r in m.search("fact number 7", 3)]
    with MemoryStore(path, index=index) as m2:
        assert m2.dim == 128 and len(m2) == 30
        assert m2.records() == before and [r.id for r in m2.records()] == ids
        assert [r.id for r in m2.search("fact number 7", 3)] == hits_before
        assert m2.get("user", "fact 7").value == "value 7"


def test_contradiction_overwrites_and_keeps_history(tmp_path):
    with MemoryStore(tmp_path / "m.sqlite") as m:
        m.observe("Hi! I live in Lisbon and my favourite colour is green.")
        assert m.get("user", "home city").value == "Lisbon"
        m.observe("I moved last month, now I live in Porto.")
        assert m.get("user", "home city").value == "Porto"
        assert len(m.records()) == 2 and len(m.records(include_superseded=True)) == 3
        top = m.search("where does the user live?", 1)[0]
        assert top.value == "Porto"


def test_ttl_forgets(tmp_path):
    clock = Clock()
    with MemoryStore(tmp_path / "m.sqlite", clock=clock) as m:
        m.write("user", "mood", "tired", ttl=60)
        m.write("user", "name", "Ana")
        assert {r.attribute for r in m.search("user mood name", 5)} == {"mood", "name"}
        clock.t += 61
        assert [r.attribute for r in m.search("user mood name", 5)] == ["name"]
        assert m.get("user", "mood") is None
        assert m.expire() == 1 and len(m) == 1


def test_extract_facts():
    assert extract_facts("My name is Ana. I work at Acme Labs, and I'm allergic to peanuts.") == [
        ("user", "name", "Ana"), ("user", "employer", "Acme Labs"), ("user", "allergy", "peanuts")]


def test_hnsw_recall_is_measured_not_assumed():
    out = index_benchmark([500, 4000], dim=32, k=10, n_queries=100, ef_search=16)
    assert out["recall"].shape == (2,) and ((0 < out["recall"]) & (out["recall"] <= 1)).all()
    assert out["recall"][0] >= 0.8                  # small index: HNSW finds nearly everything
    strong = index_benchmark([4000], dim=32, k=10, n_queries=100, ef_search=128)
    assert strong["recall"][0] >= out["recall"][1]  # a wider search never finds less here
    assert (out["exact_s"] > 0).all() and (out["hnsw_s"] > 0).all()


def test_bad_input(tmp_path):
    with MemoryStore(tmp_path / "m.sqlite") as m:
        with pytest.raises(ValueError, match="k"):
            m.search("x", 0)
        with pytest.raises(ValueError, match="value"):
            m.write("user", "a", "")
        with pytest.raises(ValueError, match="ttl"):
            m.write("user", "a", "b", ttl=-1)
    with pytest.raises(ValueError, match="index"):
        MemoryStore(tmp_path / "n.sqlite", index="ivf")
