"""What the CUDA kernels can reach, read from their machine code: ``python -m frontier.bench kernels --static``.

No GPU is needed, only ``nvcc`` (and ``nvdisasm``: the CUDA toolkit's, or the
``nvidia-cuda-nvdisasm`` wheel of the ``gpu-dev`` extra).  For every kernel
variant the library launches, and for ``sm_80`` (A100) and ``sm_90``
(H100, H200):

1. compile with the package's own flags (:data:`frontier.kernels.cuda.COMPILE_OPTIONS`
   and the ``-D`` macros the wrappers pass), reading ``ptxas -v``: registers,
   spill bytes, shared memory; from these, resident blocks and warps per SM;
2. disassemble the cubin and find the steady-state loop: for the scan, the
   loop over full time chunks (with the recurrence loop inside it, run
   ``TCHUNK / 4`` times per chunk); for attention, the loop over key tiles.
   Every instruction in that loop counts, including both sides of branches
   inside it, so the counts are upper bounds on what a warp issues;
3. turn the counts into ceilings: an SM issues at most 4 warp-instructions per
   clock (one per scheduler) and finishes 16 MUFU operations (exp2, log2,
   tanh, reciprocal) per clock, so ``rate <= SMs x clock x 4 / (warp-instructions
   per unit of work)`` and likewise for the MUFU.  For the scan the unit is a
   (channel, step) pair, which moves ``4 x (3 + has z)`` bytes (``u``, ``delta``,
   ``z``, ``out``; ``B`` and ``C`` are shared by all channels of a group and
   left out), so a ceiling in bytes/s sits beside each device's memory bandwidth
   (:mod:`frontier.hardware`; the datasheet peak, which a copy does not quite reach).

The targets (issue 19): the scan with softplus must have an issue ceiling of
at least 1.5x the H200's bandwidth, so that memory and not instruction issue
binds; no variant the library launches may spill.  These are static bounds
from counted instructions, not measurements: latency, bank conflicts and the
memory system can only make a kernel slower.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

__all__ = ["Variant", "VARIANTS", "find_tool", "compile_variant", "parse_ptxas", "parse_sass", "find_loops",
           "analyse", "static_report", "occupancy", "main"]

ARCHS = ("sm_80", "sm_90")
DEVICES = {"sm_80": ("A100-80GB",), "sm_90": ("H100-SXM", "H200")}
ISSUE_PER_CLOCK = 4          # warp-instructions per clock per SM (4 schedulers)
MUFU_PER_CLOCK = 16          # MUFU results per clock per SM (CUDA C++ Programming Guide, throughput table)
TARGET_ISSUE_OVER_BANDWIDTH = 1.5
# per-SM limits: registers, threads, blocks, shared memory a block may use (bytes), reserved per block
SM_LIMITS = {"sm_80": {"regs": 65536, "threads": 2048, "blocks": 32, "smem": 164 * 1024, "reserved": 1024},
             "sm_90": {"regs": 65536, "threads": 2048, "blocks": 32, "smem": 228 * 1024, "reserved": 1024}}


@dataclass(frozen=True)
class Variant:
    """One compiled configuration: ``kind`` is ``"scan"`` or ``"attention"``; ``defines`` the ``-D`` macros;
    ``function`` the kernel analysed; ``threads`` per block; ``target``: the issue target applies."""

    name: str
    kind: str
    filename: str
    function: str
    defines: Tuple[Tuple[str, int], ...]
    threads: int
    target: bool = False

    @property
    def macros(self) -> Dict[str, int]:
        return dict(self.defines)


def _scan_variant(name: str, d_state: int, target: bool = False, **opts) -> Variant:
    from ..kernels.selective_scan import scan_defines

    mode = opts.pop("mode", 0)
    dfs = scan_defines(d_state, mode=mode, **opts)
    return Variant(name, "scan", "selective_scan.cu", "selective_scan_fwd", tuple(sorted(dfs.items())),
                   dfs["CH_PER_BLOCK"] * dfs["SPLIT"], target)


def _attention_variant(head_dim: int) -> Variant:
    from ..kernels.attention import tiled_config

    cfg = tiled_config(head_dim)
    return Variant(f"attention tiled d={head_dim}", "attention", "attention.cu", "flash_attention_fwd",
                   tuple(sorted(cfg.items())), cfg["BLOCK_M"] * cfg["ROW_SPLIT"])


def _variants() -> List[Variant]:
    from ..kernels.attention import SOFTMAX_THREADS

    return [
        _scan_variant("scan n=16 softplus+z (Mamba)", 16, target=True),
        _scan_variant("scan n=16 cheap (no softplus)", 16, softplus=False),
        _scan_variant("scan n=16 softplus, no z", 16, has_z=False),
        _scan_variant("scan n=16 pass 1 (chunked)", 16, mode=1),
        _scan_variant("scan n=16 scalar (unaligned)", 16, vec4=False),
        _scan_variant("scan n=64 softplus+z", 64),
        _scan_variant("scan n=4 softplus+z", 4),
        _scan_variant("scan n=31 softplus+z", 31),     # two lanes per channel, one padding state
        _attention_variant(64),
        _attention_variant(128),
        _attention_variant(32),
        Variant("attention softmax_rows", "softmax", "attention.cu", "softmax_rows",
                (("SOFTMAX_THREADS", SOFTMAX_THREADS),), SOFTMAX_THREADS),
    ]


VARIANTS: List[Variant] = []   # filled on first use (needs the wrappers' constants)


def find_tool(name: str) -> Optional[str]:
    """Path of a CUDA tool (``nvcc``, ``nvdisasm``, ``cuobjdump``): on ``PATH``, in ``$CUDA_HOME/bin``,
    or in an ``nvidia-*`` wheel (``site-packages/nvidia/*/bin``); ``None`` if absent."""
    found = shutil.which(name)
    if found:
        return found
    for root in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if root and Path(root, "bin", name).is_file():
            return str(Path(root, "bin", name))
    try:
        import nvidia
        for base in getattr(nvidia, "__path__", []):
            for cand in sorted(Path(base).glob(f"*/bin/{name}")):
                if os.access(cand, os.X_OK):
                    return str(cand)
    except ImportError:
        pass
    return None


def _cache_dir() -> Path:
    d = Path(os.environ.get("FRONTIER_KERNEL_CACHE", Path(tempfile.gettempdir()) / "frontier-kernel-report"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def compile_variant(v: Variant, arch: str, nvcc: Optional[str] = None) -> Tuple[Path, str]:
    """Compile ``v`` for ``arch`` to a cubin with the package's flags; returns ``(cubin path, ptxas -v text)``.

    Results are cached by a hash of source, flags and compiler (``FRONTIER_KERNEL_CACHE`` or a temp dir).
    Raises ``RuntimeError`` with the compiler's message on failure.
    """
    from ..kernels.cuda import COMPILE_OPTIONS, cuda_source

    nvcc = nvcc or find_tool("nvcc")
    if nvcc is None:
        raise RuntimeError("nvcc is not installed")
    src = cuda_source(v.filename)
    flags = [*COMPILE_OPTIONS, *[f"-D{k}={val}" for k, val in v.defines]]
    key = hashlib.sha256("\0".join([src, arch, nvcc, *flags]).encode()).hexdigest()[:20]
    cache = _cache_dir()
    cubin, log = cache / f"{key}.cubin", cache / f"{key}.ptxas.txt"
    if cubin.is_file() and log.is_file():
        return cubin, log.read_text()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / v.filename
        path.write_text(src)
        out = Path(tmp) / "k.cubin"
        res = subprocess.run([nvcc, "--cubin", f"-arch={arch}", *flags, "-Xptxas", "-v", "-o", str(out), str(path)],
                             capture_output=True, text=True, timeout=600)
        if res.returncode != 0:
            raise RuntimeError(f"nvcc failed for {v.name} on {arch}:\n{res.stderr}")
        shutil.copyfile(out, cubin)
    log.write_text(res.stderr + res.stdout)
    return cubin, log.read_text()


def parse_ptxas(text: str) -> Dict[str, Dict[str, int]]:
    """``ptxas -v`` output -> ``{function: {"registers", "spill_stores", "spill_loads", "stack", "smem"}}``."""
    info: Dict[str, Dict[str, int]] = {}
    current = None
    for line in text.splitlines():
        m = re.search(r"(?:Compiling entry function|Function properties for) '?([A-Za-z_]\w*)'?", line)
        if m:
            current = m.group(1)
            info.setdefault(current, {"registers": 0, "spill_stores": 0, "spill_loads": 0, "stack": 0, "smem": 0})
            continue
        if current is None:
            continue
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m:
            info[current].update(stack=int(m.group(1)), spill_stores=int(m.group(2)), spill_loads=int(m.group(3)))
        m = re.search(r"Used (\d+) registers", line)
        if m:
            info[current]["registers"] = int(m.group(1))
            s = re.search(r"(\d+) bytes smem", line)
            info[current]["smem"] = int(s.group(1)) if s else 0
    return info


_INSTR = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(?:@!?U?P[T\d]+\s+)?([A-Z][A-Z0-9_.]*)([^;]*);")
_LABEL = re.compile(r"^\s*(\.L_x_\d+|\.L_\w+):")
_TARGET = re.compile(r"`\(([.\w]+)\)")


def parse_sass(text: str) -> Dict[str, List[Tuple[int, str, Optional[str]]]]:
    """``nvdisasm -c`` output -> ``{function: [(address, opcode, branch target address or None), ...]}``."""
    funcs: Dict[str, List[Tuple[int, str, Optional[str]]]] = {}
    labels: Dict[str, Dict[str, int]] = {}
    current = None
    pending: List[str] = []
    for line in text.splitlines():
        m = re.match(r"^\s*\.text\.([A-Za-z_]\w*):", line)
        if m:
            current = m.group(1)
            funcs[current], labels[current], pending = [], {}, []
            continue
        if current is None:
            continue
        m = _LABEL.match(line)
        if m:
            pending.append(m.group(1))
            continue
        m = _INSTR.search(line)
        if m:
            addr = int(m.group(1), 16)
            for lab in pending:
                labels[current][lab] = addr
            pending = []
            t = _TARGET.search(m.group(3)) if m.group(2).startswith("BRA") else None
            funcs[current].append((addr, m.group(2), t.group(1) if t else None))
    out = {}
    for fn, instrs in funcs.items():
        out[fn] = [(a, op, (labels[fn].get(t) if t else None)) for a, op, t in instrs]
    return out


def find_loops(instrs: Sequence[Tuple[int, str, Optional[int]]]) -> List[Tuple[int, int]]:
    """Loops as ``(first address, last address)``: every backward branch closes one."""
    loops = {(t, a) for a, op, t in instrs if op.startswith("BRA") and t is not None and t <= a}
    return sorted(loops)


def _inside(instrs, lo, hi) -> List[str]:
    return [op for a, op, _ in instrs if lo <= a <= hi and not op.startswith("NOP")]


def occupancy(arch: str, registers: int, smem: int, threads: int) -> Dict[str, float]:
    """Resident blocks and warps per SM, and occupancy (warps / 64), from registers, shared memory, threads."""
    lim = SM_LIMITS[arch]
    warps = -(-threads // 32)
    regs_per_warp = -(-max(registers, 1) * 32 // 256) * 256
    by_regs = lim["regs"] // (regs_per_warp * warps)
    by_smem = lim["smem"] // (smem + lim["reserved"]) if smem else lim["blocks"]
    blocks = int(min(by_regs, by_smem, lim["threads"] // threads, lim["blocks"]))
    return {"blocks": blocks, "warps": blocks * warps, "occupancy": blocks * warps / (lim["threads"] / 32)}


def analyse(v: Variant, arch: str, nvcc: Optional[str] = None, nvdisasm: Optional[str] = None) -> Dict[str, object]:
    """Compile, read ``ptxas -v``, disassemble and count one variant on one architecture (see the module doc)."""
    cubin, log = compile_variant(v, arch, nvcc)
    ptx = parse_ptxas(log).get(v.function, {})
    row: Dict[str, object] = {"variant": v.name, "kind": v.kind, "arch": arch, **ptx,
                              "spills": ptx.get("spill_stores", 0) + ptx.get("spill_loads", 0)}
    row.update(occupancy(arch, ptx.get("registers", 0), ptx.get("smem", 0), v.threads))
    nvdisasm = nvdisasm or find_tool("nvdisasm")
    if nvdisasm is None or v.kind == "softmax":
        return row
    res = subprocess.run([nvdisasm, "-c", str(cubin)], capture_output=True, text=True, timeout=300)
    if res.returncode != 0:
        row["note"] = f"nvdisasm failed: {res.stderr.strip()[:200]}"
        return row
    instrs = parse_sass(res.stdout).get(v.function, [])
    loops = find_loops(instrs)
    m = v.macros

    def ops(lo, hi):
        return _inside(instrs, lo, hi)

    if v.kind == "scan":
        inner = [(lo, hi) for lo, hi in loops
                 if any(o.startswith("MUFU.EX2") for o in ops(lo, hi)) and not any(o.startswith("LDG") for o in ops(lo, hi))
                 and not any(lo <= a and b <= hi and (a, b) != (lo, hi) for a, b in loops)]
        best = None
        for lo, hi in inner:
            outer = [(a, b) for a, b in loops if a <= lo and hi <= b and (a, b) != (lo, hi)
                     and any(o.startswith("LDG") for o in ops(a, b))]
            if outer:
                cand = (min(outer, key=lambda ab: ab[1] - ab[0]), (lo, hi))
                if best is None or cand[0][0] < best[0][0]:
                    best = cand
        if best is None:
            row["note"] = "steady-state loop not found"
            return row
        (clo, chi), (ilo, ihi) = best
        others = [(a, b) for a, b in loops if clo <= a and b <= chi and (a, b) not in ((clo, chi), (ilo, ihi))]
        trips = m["TCHUNK"] // 4
        chunk_ops, inner_ops = ops(clo, chi), ops(ilo, ihi)
        per_chunk = len(chunk_ops) + (trips - 1) * len(inner_ops)
        mufu = sum(o.startswith("MUFU") for o in chunk_ops) + (trips - 1) * sum(o.startswith("MUFU") for o in inner_ops)
        units = 32 * m["TCHUNK"] / m["SPLIT"]          # (channel, step) pairs one warp covers per chunk
        row.update(loop_instructions=per_chunk, mufu_per_unit=mufu / units * 32, instr_per_unit=per_chunk / units * 32,
                   warp_instr_per_unit=per_chunk / units, warp_mufu_per_unit=mufu / units,
                   inner_loop=len(inner_ops), unit="(channel, step)",
                   bytes_per_unit=4 * (3 + m.get("HAS_Z", 1)) if m.get("MODE", 0) == 0 else 8)
        if others:
            row["note"] = (f"{len(others)} further loop(s) inside the chunk loop (scalar loads) counted once, "
                           "so its counts are lower bounds")
    else:
        tile = [(lo, hi) for lo, hi in loops
                if any(o.startswith("LDS") for o in ops(lo, hi)) and any(o.startswith("MUFU.EX2") for o in ops(lo, hi))]
        if not tile:
            row["note"] = "key-tile loop not found"
            return row
        lo, hi = max(tile, key=lambda ab: ab[1] - ab[0])
        body = ops(lo, hi)
        rows_per_warp = 32 // m["ROW_SPLIT"]
        flops = rows_per_warp * m["BLOCK_N"] * 4 * m["HEAD_DIM"]      # QK^T and PV, 2 FLOPs per multiply-add
        row.update(loop_instructions=len(body), ffma=sum(o.startswith("FFMA") for o in body),
                   fmul=sum(o.startswith("FMUL") for o in body), mufu=sum(o.startswith("MUFU") for o in body),
                   flops_per_warp_tile=flops, unit="key tile", warp_instr_per_unit=float(len(body)),
                   warp_mufu_per_unit=sum(o.startswith("MUFU") for o in body) / 1.0)
    return row


def _accelerator(name: str):
    from .. import hardware

    get = getattr(hardware, "accelerator", None)
    return get(name) if get is not None else hardware.ACCELERATORS[name]


def ceilings(row: Dict[str, object]) -> List[Dict[str, object]]:
    """Issue- and MUFU-bound ceilings of one analysed row on each device of its architecture."""
    out = []
    if "warp_instr_per_unit" not in row:
        return out
    for dev in DEVICES[str(row["arch"])]:
        acc = _accelerator(dev)
        clk = acc.sm_count * acc.clock_hz
        issue = clk * ISSUE_PER_CLOCK / float(row["warp_instr_per_unit"])          # units per second
        mufu = clk * MUFU_PER_CLOCK / 32 / float(row["warp_mufu_per_unit"]) if row["warp_mufu_per_unit"] else float("inf")
        rec = {"device": dev, "bandwidth": acc.memory_bandwidth, "issue_units": issue, "mufu_units": mufu}
        if row["kind"] == "scan":
            rec["issue_bytes"] = issue * float(row["bytes_per_unit"])
            rec["mufu_bytes"] = mufu * float(row["bytes_per_unit"])
            rec["issue_over_bw"] = rec["issue_bytes"] / acc.memory_bandwidth
            rec["bound_over_bw"] = min(rec["issue_bytes"], rec["mufu_bytes"]) / acc.memory_bandwidth
        else:
            rec["issue_flops"] = issue * float(row["flops_per_warp_tile"])
            rec["fp32_peak"] = acc.peak_flops.get("fp32")
        out.append(rec)
    return out


def static_report(archs: Sequence[str] = ARCHS, variants: Optional[Sequence[Variant]] = None) -> Dict[str, object]:
    """Analyse every variant on every architecture.  Returns ``{"rows", "ceilings", "tools", "targets"}``.

    Raises ``RuntimeError`` when ``nvcc`` is missing.  Without ``nvdisasm``
    the rows carry ``ptxas`` figures only.
    """
    global VARIANTS
    if not VARIANTS:
        VARIANTS = _variants()
    variants = list(variants or VARIANTS)
    nvcc, nvdisasm = find_tool("nvcc"), find_tool("nvdisasm")
    if nvcc is None:
        raise RuntimeError("nvcc is not installed: the static report needs the CUDA compiler")
    rows, ceils = [], []
    for arch in archs:
        for v in variants:
            row = analyse(v, arch, nvcc, nvdisasm)
            rows.append(row)
            for c in ceilings(row):
                ceils.append({"variant": v.name, "arch": arch, **c})
    version = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout.strip().splitlines()[-1]
    targets = {"no_spills": all(r["spills"] == 0 for r in rows)}
    h200 = [c for c in ceils if c["device"] == "H200" and any(v.target and v.name == c["variant"] for v in variants)]
    if h200:
        targets["scan_issue_over_h200_bw"] = min(c["issue_over_bw"] for c in h200)
        targets["scan_bound_over_h200_bw"] = min(c["bound_over_bw"] for c in h200)
    return {"rows": rows, "ceilings": ceils, "tools": {"nvcc": nvcc, "nvcc_version": version, "nvdisasm": nvdisasm},
            "targets": targets}


def format_report(rep: Dict[str, object]) -> str:
    """The report as text tables."""
    from ..timing import format_table

    lines = [f"nvcc: {rep['tools']['nvcc']} ({rep['tools']['nvcc_version']}); "
             f"nvdisasm: {rep['tools']['nvdisasm'] or 'not found: no instruction counts'}",
             "", "ptxas -v and occupancy (resident warps per SM of 64):"]
    lines.append(format_table(rep["rows"], [
        ("variant", "variant", "{}"), ("arch", "arch", "{}"), ("registers", "regs", "{:d}"),
        ("spills", "spill B", "{:d}"), ("smem", "smem B", "{:d}"), ("blocks", "blocks/SM", "{:d}"),
        ("warps", "warps/SM", "{:d}"), ("occupancy", "occupancy", "{:.0%}")]))
    counted = [r for r in rep["rows"] if r["kind"] == "scan" and "instr_per_unit" in r]
    if counted:
        lines += ["", "scan, steady-state chunk loop; per (channel, step): instructions of its lane x lanes per "
                      "channel, warp-instructions, MUFU ops:"]
        lines.append(format_table(counted, [
            ("variant", "variant", "{}"), ("arch", "arch", "{}"), ("loop_instructions", "instr/chunk/warp", "{:d}"),
            ("instr_per_unit", "lane instr", "{:.1f}"), ("warp_instr_per_unit", "warp instr", "{:.2f}"),
            ("mufu_per_unit", "MUFU", "{:.1f}"), ("bytes_per_unit", "bytes", "{:d}")]))
    for r in rep["rows"]:
        if r.get("note"):
            lines.append(f"  note: {r['variant']} ({r['arch']}): {r['note']}")
    att = [r for r in rep["rows"] if r["kind"] == "attention" and "loop_instructions" in r]
    if att:
        lines += ["", "attention (tiled), key-tile loop per warp:"]
        lines.append(format_table(att, [
            ("variant", "variant", "{}"), ("arch", "arch", "{}"), ("loop_instructions", "instr/tile", "{:d}"),
            ("ffma", "FFMA", "{:d}"), ("fmul", "FMUL", "{:d}"), ("mufu", "MUFU", "{:d}"),
            ("flops_per_warp_tile", "FLOP/tile", "{:d}")]))
    sc = [dict(c, issue_tbs=c["issue_bytes"] / 1e12, mufu_tbs=c["mufu_bytes"] / 1e12, bw_tbs=c["bandwidth"] / 1e12)
          for c in rep["ceilings"] if "issue_bytes" in c]
    if sc:
        lines += ["", "scan ceilings (TB/s of u, delta, z, out) beside memory bandwidth (datasheet peak):"]
        lines.append(format_table(sc, [
            ("variant", "variant", "{}"), ("device", "device", "{}"), ("issue_tbs", "issue-bound", "{:.2f}"),
            ("mufu_tbs", "MUFU-bound", "{:.2f}"), ("bw_tbs", "bandwidth", "{:.2f}"),
            ("issue_over_bw", "issue/bw", "{:.2f}x"), ("bound_over_bw", "min/bw", "{:.2f}x")]))
    ac = [dict(c, issue_tf=c["issue_flops"] / 1e12, peak_tf=(c["fp32_peak"] or 0) / 1e12)
          for c in rep["ceilings"] if "issue_flops" in c]
    if ac:
        lines += ["", "tiled attention ceilings (TFLOP/s, fp32 CUDA cores):"]
        lines.append(format_table(ac, [("variant", "variant", "{}"), ("device", "device", "{}"),
                                       ("issue_tf", "issue-bound", "{:.1f}"), ("peak_tf", "fp32 peak", "{:.1f}")]))
    t = rep["targets"]
    lines.append("")
    lines.append(f"target: no spills in any variant -> {'met' if t['no_spills'] else 'NOT met'}")
    if "scan_issue_over_h200_bw" in t:
        r = t["scan_issue_over_h200_bw"]
        lines.append(f"target: scan with softplus, issue ceiling >= {TARGET_ISSUE_OVER_BANDWIDTH}x H200 bandwidth: "
                     f"{r:.2f}x -> {'met' if r >= TARGET_ISSUE_OVER_BANDWIDTH else 'NOT met'}")
        lines.append(f"binding ceiling (the lower of issue and MUFU) / H200 bandwidth: "
                     f"{t['scan_bound_over_h200_bw']:.2f}x")
    lines.append("Static bounds from counted instructions (upper bounds on speed), not measurements.")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m frontier.bench kernels", description=__doc__.split("\n")[0])
    p.add_argument("--static", action="store_true", help="compile and count; needs nvcc, not a GPU")
    p.add_argument("--arch", nargs="+", default=list(ARCHS), choices=ARCHS)
    args = p.parse_args(argv)
    if not args.static:
        print("only the static report exists so far: python -m frontier.bench kernels --static "
              "(GPU timings: python -m frontier.bench ssm)")
        return 2
    try:
        rep = static_report(args.arch)
    except RuntimeError as exc:
        print(f"static report not possible here: {exc}", file=sys.stderr)
        return 3
    print(format_report(rep))
    return 0 if rep["targets"]["no_spills"] else 1
