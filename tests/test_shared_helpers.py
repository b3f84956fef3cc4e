"""frontier.validation.rng and frontier.env.torch_threads: the one seed helper and the one thread limiter."""
import numpy as np
import pytest
import torch

from frontier.env import torch_threads
from frontier.validation import rng


def test_rng_accepts_int_none_and_generator():
    assert rng(7).integers(1 << 30) == np.random.default_rng(7).integers(1 << 30)
    g = np.random.default_rng(0)
    assert rng(g) is g                      # shared, not copied: successive calls advance one stream
    assert isinstance(rng(None), np.random.Generator)
    assert rng(np.int64(3)).random() == np.random.default_rng(3).random()


@pytest.mark.parametrize("seed, exc", [(1.5, TypeError), ("0", TypeError), (True, TypeError), (-1, ValueError)])
def test_rng_rejects_bad_seeds_naming_the_argument(seed, exc):
    with pytest.raises(exc, match="seed"):
        rng(seed)
    with pytest.raises(exc, match="my_seed"):
        rng(seed, name="my_seed")


def test_torch_threads_restores_the_setting_even_after_an_error():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError):
        with torch_threads(1):
            raise RuntimeError("boom")
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before


@pytest.mark.parametrize("n, exc", [(0, ValueError), (1.0, TypeError), (True, TypeError)])
def test_torch_threads_rejects_bad_counts(n, exc):
    with pytest.raises(exc, match="threads"):
        with torch_threads(n):
            pass


def test_lookup_passes_objects_through_and_names_what_it_refuses():
    from dataclasses import dataclass

    from frontier.validation import lookup

    @dataclass(frozen=True)
    class Thing:
        name: str

    table = {"a": Thing("a"), "b": Thing("b")}
    own = Thing("mine")
    assert lookup("thing", own, table, Thing) is own
    assert lookup("thing", "b", table, Thing) is table["b"]
    with pytest.raises(ValueError, match=r"thing must be one of \['a', 'b'\], got 'c'"):
        lookup("thing", "c", table, Thing)
    with pytest.raises(TypeError, match="thing must be a name in .* or a Thing, got int"):
        lookup("thing", 3, table, Thing)
