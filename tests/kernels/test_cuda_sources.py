"""The CUDA sources compile to PTX for an older (sm_75) and a recent (sm_90) GPU.

Skipped where ``nvcc`` is not installed.  This checks syntax and types, not
results; ``tests/kernels/test_gpu.py`` runs the kernels on a GPU.
"""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from frontier.kernels.cuda import COMPILE_OPTIONS, cuda_source

NVCC = shutil.which("nvcc")
pytestmark = pytest.mark.skipif(NVCC is None, reason="nvcc is not installed")

# (file, kernels it must define, -D macros): the configurations the wrappers use
CONFIGS = [
    ("selective_scan.cu", ["selective_scan_fwd", "selective_scan_carry"],
     {"DSTATE": 16, "SPLIT": 1, "CH_PER_BLOCK": 64, "TCHUNK": 32}),
    ("selective_scan.cu", ["selective_scan_fwd"], {"DSTATE": 16, "SOFTPLUS": 0, "HAS_Z": 0, "VEC4": 0}),
    ("selective_scan.cu", ["selective_scan_fwd"], {"DSTATE": 16, "MODE": 1}),
    ("selective_scan.cu", ["selective_scan_fwd"], {"DSTATE": 64, "SPLIT": 4, "CH_PER_BLOCK": 16}),
    ("selective_scan.cu", ["selective_scan_fwd"], {"DSTATE": 1, "SPLIT": 1}),
    ("attention.cu", ["softmax_rows", "flash_attention_fwd"], {"HEAD_DIM": 64, "BLOCK_N": 16}),
    ("attention.cu", ["flash_attention_fwd"], {"HEAD_DIM": 128, "BLOCK_M": 64, "ROW_SPLIT": 2}),
]


def _compile(tmp_path, filename, defines, arch):
    src = tmp_path / filename
    src.write_text(cuda_source(filename))
    out = tmp_path / f"{filename}.{arch}.ptx"
    cmd = [NVCC, "--ptx", f"-arch={arch}", *COMPILE_OPTIONS, *[f"-D{k}={v}" for k, v in defines.items()],
           "-o", str(out), str(src)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120), out


@pytest.mark.parametrize("arch", ["sm_75", "sm_90"])
@pytest.mark.parametrize("filename, kernels, defines", CONFIGS,
                         ids=[f"{c[0]}-{'-'.join(f'{k}{v}' for k, v in c[2].items())}" for c in CONFIGS])
def test_compiles_to_ptx(tmp_path, arch, filename, kernels, defines):
    res, out = _compile(tmp_path, filename, defines, arch)
    assert res.returncode == 0, res.stderr
    ptx = out.read_text()
    for k in kernels:
        assert re.search(rf"\.entry\s+{k}\b", ptx), f"{k} missing from the PTX"


def test_invalid_configuration_is_rejected_at_compile_time(tmp_path):
    res, _ = _compile(tmp_path, "selective_scan.cu", {"DSTATE": 6, "TCHUNK": 30}, "sm_90")
    assert res.returncode != 0 and "TCHUNK must be a multiple of 4" in res.stderr


@pytest.mark.parametrize("filename", ["selective_scan.cu", "attention.cu"])
def test_sources_are_self_contained_for_nvrtc(filename):
    # NVRTC has no system headers: no includes, no INFINITY/size_t from <cmath>/<cstddef>
    src = cuda_source(filename)
    code = "\n".join(line.split("//")[0] for line in src.splitlines())
    assert "#include" not in code
    assert not re.search(r"\bINFINITY\b|\bsize_t\b", code)
    assert 'extern "C"' in code
