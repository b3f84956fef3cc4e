#!/usr/bin/env bash
# The GPU check of issue 19, as one script for a machine with an NVIDIA GPU (about 5 minutes at most):
#   1. what the machine has (Python, GPU, the modules the checks import);
#   2. pytest -m gpu on the kernel tests (every CuPy kernel variant against the NumPy/torch references);
#   3. python -m frontier.bench ssm --gpu-only (copy bandwidth, the scan the Mamba way and the cheap way,
#      attention against torch SDPA), printed with the device's name.
# It uses the machine's own Python with PYTHONPATH=lib (no virtual environment, no network). Wheels the
# machine lacks (cupy-cuda12x, hypothesis, ...) can be carried in .whl/ (git-ignored): they are installed
# from there into .gpu-site/ without the network.
#
#   bash scripts/gpu_check.sh                 # on the GPU machine
#   GPU_CHECK_DRY_RUN=1 bash scripts/gpu_check.sh   # anywhere: same steps with the GPU path disabled
#
# Output goes to stdout and to $OUT/gpu_check.log when $OUT is set. Exit status: 0 when every step passed.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
LOG=${OUT:-/tmp}/gpu_check.log
: > "$LOG"
say() { echo "$@" | tee -a "$LOG"; }
run() {  # run STEP_SECONDS COMMAND...: time-limited, logged
  local limit=$1; shift
  say "\$ $*"
  timeout "$limit" "$@" 2>&1 | tee -a "$LOG"
  local rc=${PIPESTATUS[0]}
  say "(exit $rc)"
  return "$rc"
}

export PYTHONPATH="$PWD/lib${PYTHONPATH:+:$PYTHONPATH}"
export NUMBA_CACHE_DIR=${NUMBA_CACHE_DIR:-/tmp/numba-cache}
if [ "${GPU_CHECK_DRY_RUN:-0}" = 1 ]; then
  export FRONTIER_DISABLE_GPU=1
  PY=${PYTHON:-.venv/bin/python}
  say "DRY RUN: FRONTIER_DISABLE_GPU=1, the GPU tests skip and the bench reports no GPU"
fi

# wheels carried in .whl/ (offline install into .gpu-site/, never the network)
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  run 120 "$PY" -m pip install --no-index --find-links .whl --target .gpu-site --quiet .whl/*.whl
  export PYTHONPATH="$PYTHONPATH:$PWD/.gpu-site"
fi

say "== machine"
run 60 "$PY" - <<'PYEOF'
import importlib, platform, shutil, subprocess
print("python", platform.python_version(), "on", platform.platform(terse=True))
if shutil.which("nvidia-smi"):
    print(subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                         capture_output=True, text=True).stdout.strip())
missing = []
for m in ("numpy", "scipy", "torch", "cupy", "numba", "pytest", "hypothesis", "tqdm"):
    try:
        mod = importlib.import_module(m)
        print(f"{m:11s}{getattr(mod, '__version__', '?')}")
    except Exception as exc:                          # noqa: BLE001 (report, do not stop)
        missing.append(m)
        print(f"{m:11s}MISSING ({exc.__class__.__name__}: {exc})")
from frontier.env import describe
print(describe())
if missing:
    print("missing modules (carry their wheels in .whl/):", ", ".join(missing))
PYEOF
status=0

say "== pytest -m gpu (kernels)"
run 200 "$PY" -m pytest -m gpu tests/kernels -q -p no:cacheprovider -x || status=1

say "== python -m frontier.bench ssm --gpu-only"
run 150 "$PY" -m frontier.bench ssm --gpu-only || status=1

say "== done: status $status (log: $LOG)"
exit $status
