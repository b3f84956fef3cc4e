"""frontier.models.layers: the building blocks below the sections, and their re-export from section 1."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import frontier.models as models_pkg
from frontier.architecture import attention, long_context, masks, moe, ssm
from frontier.models import layers

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_section_one_re_exports_the_same_objects():
    for mod, names in ((moe, ["MoELayer", "MoEOutput", "SwiGLUExpert", "route", "expert_capacity",
                              "assign_to_capacity", "load_balancing_loss", "router_z_loss", "routing_statistics"]),
                       (long_context, ["rope_inv_freq", "rope_cos_sin", "apply_rope", "streaming_attention_mask"]),
                       (attention, ["window_mask", "sink_mask"]),
                       (ssm, ["associative_scan", "selective_scan_parallel", "selective_scan_torch_loop",
                              "selective_scan_autograd"])):
        for name in names:
            assert getattr(mod, name) is getattr(layers, name), (mod.__name__, name)
            assert name in mod.__all__


def test_models_package_imports_no_section():
    """Shared code stands below the sections: no module of frontier.models imports one."""
    sections = {"architecture", "reasoning", "multimodal", "alignment", "efficiency", "knowledge", "society",
                "finance"}
    for path in Path(models_pkg.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                parts = (node.module or "").split(".")
                target = parts[0] if node.level >= 2 else (parts[1] if parts[0] == "frontier" and len(parts) > 1
                                                           else None)
                assert target not in sections, f"{path.name} imports {node.module} (level {node.level})"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[1:2] not in [[s] for s in sections], (path.name, alias.name)


def test_rms_norm_matches_torch():
    x = torch.randn(3, 5, 8, generator=torch.Generator().manual_seed(0))
    norm = layers.RMSNorm(8, eps=1e-6)
    with torch.no_grad():
        norm.weight.copy_(torch.linspace(0.5, 2.0, 8))
    torch.testing.assert_close(norm(x), F.rms_norm(x, (8,), norm.weight, eps=1e-6))


def test_masks_agree_with_the_numpy_patterns():
    for T in (1, 5, 12):
        np.testing.assert_array_equal(layers.causal_mask(T).numpy(), masks.dense_mask(T, causal=True))
        np.testing.assert_array_equal(layers.window_mask(T, 3).numpy(), masks.longformer_mask(T, min(3, T), 0,
                                                                                               causal=True))
    np.testing.assert_array_equal(layers.sink_mask(12, 4, 2).numpy(), layers.streaming_attention_mask(12, 4, 2))
    np.testing.assert_array_equal(layers.sink_mask(12, 4, 0).numpy(), layers.window_mask(12, 4).numpy())


def test_repeat_kv_is_repeat_interleave_over_heads():
    x = torch.randn(2, 3, 5, 4)
    torch.testing.assert_close(layers.repeat_kv(x, 2), x.repeat_interleave(2, dim=1))
    assert layers.repeat_kv(x, 1) is x
    with pytest.raises(ValueError, match="n_rep"):
        layers.repeat_kv(x, 0)
