"""The delegation guard: library functions raise inside it, wherever the student holds them, and come back after."""
from __future__ import annotations

import pytest

import frontier.architecture.params as params
from frontier.exercises.guard import DelegationError, library_functions, no_delegation

MODULES = ("frontier.architecture.params",)


def test_module_attributes_and_imported_names_raise_inside_and_work_after():
    ns = {"total_parameters": params.total_parameters, "params": params, "other": len}
    original = params.total_parameters
    with no_delegation(ns, MODULES, part="Part B") as calls:
        with pytest.raises(DelegationError, match=r"frontier\.architecture\.params\.total_parameters.*\(Part B\)"):
            ns["total_parameters"](params.LLAMA2_7B)
        with pytest.raises(DelegationError):
            ns["params"].active_parameters(params.LLAMA2_7B)
        from frontier.architecture.params import weight_bytes  # imported inside: still blocked
        with pytest.raises(DelegationError):
            weight_bytes(params.LLAMA2_7B)
        assert ns["other"] is len and params.ModelConfig is not None  # classes and foreign callables stay
    assert calls == ["frontier.architecture.params.total_parameters", "frontier.architecture.params.active_parameters",
                     "frontier.architecture.params.weight_bytes"]
    assert params.total_parameters is original and ns["total_parameters"] is original
    assert params.total_parameters(params.LLAMA2_70B) == 68_976_648_192


def test_functions_that_do_the_work_themselves_pass():
    def honest(cfg):
        return cfg.d_model * 2

    def lazy(cfg):
        return params.total_parameters(cfg)

    ns = {"honest": honest, "lazy": lazy}
    with no_delegation(ns, MODULES) as calls:
        assert honest(params.LLAMA2_7B) == 8192
        with pytest.raises(DelegationError):
            lazy(params.LLAMA2_7B)
    assert calls == ["frontier.architecture.params.total_parameters"]


def test_restored_even_when_the_block_raises():
    original = params.kv_cache_bytes
    with pytest.raises(RuntimeError):
        with no_delegation(None, MODULES):
            raise RuntimeError("student code crashed")
    assert params.kv_cache_bytes is original


def test_only_functions_defined_in_the_module_are_listed():
    names = {q for q, _ in library_functions(MODULES).values()}
    assert "frontier.architecture.params.total_parameters" in names
    assert not any(n.endswith(".replace") or n.endswith(".ModelConfig") for n in names)
