"""A code tool: evaluate one Python expression in a separate, locked-down process.

Layers, each of which refuses something (and each is exercised by a test):

1. **Parse**: the code must be a single expression (``ast.parse(mode="eval")``);
   statements (``import os``, assignments, loops) are refused before anything runs.
2. **Process**: a fresh interpreter (``python -I -S``: isolated, no site
   packages, empty environment) in an empty temporary working directory.
3. **Resource limits** (``resource.setrlimit``, set in the child before the
   expression runs): CPU seconds, address space (memory), the size of any
   file it could write (0 bytes) and the number of processes.
4. **Audit hook** (PEP 578, ``sys.addaudithook``, installed after the
   interpreter's own imports and before the expression): refuses every
   ``open`` (no file reads or writes), socket creation and connection (no
   network), process creation (``os.system``, ``subprocess``, ``exec``,
   ``fork``), file-system changes, ``ctypes`` and imports of modules other
   than a small allow-list (``math``, ``statistics``, ``fractions``,
   ``decimal``, ``itertools``, ``functools``, ``collections``, ``json``, ``re``).
5. **Wall-clock timeout** in the parent, and a cap on the returned text.

The result is a :class:`CodeResult`; nothing the code does raises in the
caller.  This is a teaching sandbox for a trusted machine, not a security
boundary for hostile code: use containers or VMs for that.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Optional

from ..validation import positive_float, positive_int

__all__ = ["CodeResult", "run_python_expression", "ALLOWED_MODULES"]

ALLOWED_MODULES = ("math", "statistics", "fractions", "decimal", "itertools", "functools", "collections", "json",
                   "re", "operator", "random")

_RUNNER = r'''
import sys, json, resource, signal, io, os
import math, statistics, fractions, decimal, itertools, functools, collections, re, operator, random
cfg = json.loads(sys.stdin.readline())
out_fd = os.dup(1)
resource.setrlimit(resource.RLIMIT_CPU, (cfg["cpu"], cfg["cpu"] + 1))
resource.setrlimit(resource.RLIMIT_AS, (cfg["mem"], cfg["mem"]))
resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
try:
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
except (ValueError, OSError):
    pass
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
ALLOWED = set(cfg["allowed"])
DENY = ("open", "socket.", "subprocess.", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
        "os.forkpty", "os.kill", "os.killpg", "os.remove", "os.unlink", "os.rename", "os.rmdir", "os.mkdir",
        "os.chmod", "os.chown", "os.truncate", "os.symlink", "os.link", "os.listdir", "os.scandir", "os.chdir",
        "os.startfile", "os.putenv", "os.unsetenv", "ctypes.", "shutil.", "urllib.", "http.", "ftplib.",
        "smtplib.", "telnetlib.", "webbrowser.", "sys.addaudithook", "sys.settrace", "sys.setprofile",
        "os.add_dll_directory", "pty.", "mmap.", "resource.setrlimit", "sqlite3.")
class Refused(Exception):
    pass
def hook(event, args):
    if event == "import":
        root = str(args[0]).split(".")[0]
        if root not in ALLOWED and args[0] not in sys.modules:
            raise Refused(f"import of {args[0]!r} is not allowed")
        return
    if event.startswith(DENY):
        raise Refused(f"{event} is not allowed in the sandbox")
sys.stdout = io.StringIO()
sys.addaudithook(hook)
def send(d):
    data = json.dumps(d).encode()
    os.write(out_fd, data)
env = {name: __import__(name) for name in cfg["allowed"] if name in sys.modules}
try:
    value = eval(compile(cfg["code"], "<expression>", "eval"), env)
    text = repr(value)
    send({"ok": True, "value": text[: cfg["max_chars"]], "truncated": len(text) > cfg["max_chars"],
          "stdout": sys.stdout.getvalue()[: cfg["max_chars"]]})
except Refused as e:
    send({"ok": False, "kind": "refused", "message": str(e), "stdout": ""})
except MemoryError:
    send({"ok": False, "kind": "memory", "message": "memory limit exceeded", "stdout": ""})
except BaseException as e:
    kind = "refused" if isinstance(e, PermissionError) else "error"
    send({"ok": False, "kind": kind, "message": f"{type(e).__name__}: {e}"[:500], "stdout": ""})
'''


@dataclass(frozen=True)
class CodeResult:
    """What the code tool returns.

    Attributes:
        ok: the expression was evaluated.
        value: ``repr`` of its value (cut to ``max_chars``), when ok.
        stdout: what it printed.
        error_kind: ``"syntax"`` (not a single expression), ``"refused"``
            (the audit hook said no), ``"timeout"`` (CPU or wall-clock limit),
            ``"memory"``, ``"error"`` (it raised), ``"crashed"`` (the process died).
        error: a readable message.
        seconds: wall-clock time of the whole call.
    """

    ok: bool
    value: Optional[str] = None
    stdout: str = ""
    error_kind: Optional[str] = None
    error: Optional[str] = None
    seconds: float = 0.0
    truncated: bool = False

    def observation(self) -> dict:
        """A JSON-ready dict for an agent's observation."""
        if self.ok:
            return {"value": self.value, "stdout": self.stdout} if self.stdout else {"value": self.value}
        return {"error": self.error_kind, "message": self.error}


def run_python_expression(code: str, *, timeout_s: float = 2.0, cpu_s: int = 1, memory_mb: int = 256,
                          max_chars: int = 2000) -> CodeResult:
    """Evaluate one Python expression in a sandboxed subprocess (see the module docstring).

    Args:
        code: a single expression, e.g. ``"sum(i*i for i in range(10))"``;
            the allowed modules are available by name (``math.sqrt(2)``).
        timeout_s: wall-clock limit (seconds) enforced by the parent.
        cpu_s: CPU-time limit (seconds) enforced by the kernel.
        memory_mb: address-space limit of the child (MiB).
        max_chars: the value's ``repr`` and the printed output are cut to this.

    Returns:
        A :class:`CodeResult`; never raises for anything the code does.

    Raises:
        TypeError / ValueError: for bad arguments (not a string, non-positive limits).
    """
    if not isinstance(code, str):
        raise TypeError(f"code must be a str, got {type(code).__name__}")
    timeout_s = positive_float("timeout_s", timeout_s)
    cpu_s = positive_int("cpu_s", cpu_s)
    memory_mb = positive_int("memory_mb", memory_mb)
    max_chars = positive_int("max_chars", max_chars)
    t0 = time.perf_counter()
    try:
        ast.parse(code, mode="eval")
    except SyntaxError as e:
        return CodeResult(False, error_kind="syntax",
                          error=f"only a single Python expression is allowed ({e.msg})",
                          seconds=time.perf_counter() - t0)
    cfg = {"code": code, "cpu": cpu_s, "mem": memory_mb * 2**20, "allowed": list(ALLOWED_MODULES),
           "max_chars": max_chars}
    with tempfile.TemporaryDirectory(prefix="frontier-sandbox-") as tmp:
        try:
            proc = subprocess.run([sys.executable, "-I", "-S", "-c", _RUNNER], input=json.dumps(cfg) + "\n",
                                  capture_output=True, text=True, timeout=timeout_s, cwd=tmp,
                                  env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
        except subprocess.TimeoutExpired:
            return CodeResult(False, error_kind="timeout", error=f"wall-clock limit of {timeout_s:g} s exceeded",
                              seconds=time.perf_counter() - t0)
    dt = time.perf_counter() - t0
    out = proc.stdout.strip()
    if out:
        try:
            d = json.loads(out)
        except json.JSONDecodeError:
            d = None
        if isinstance(d, dict):
            if d.get("ok"):
                return CodeResult(True, d["value"], d.get("stdout", ""), seconds=dt, truncated=d.get("truncated", False))
            return CodeResult(False, error_kind=d.get("kind", "error"), error=d.get("message"), seconds=dt)
    rc = proc.returncode
    if rc in (-24, -9) or "MemoryError" in proc.stderr:      # SIGXCPU / SIGKILL from the CPU limit
        kind = "memory" if "MemoryError" in proc.stderr else "timeout"
        msg = "memory limit exceeded" if kind == "memory" else f"CPU limit of {cpu_s} s exceeded"
        return CodeResult(False, error_kind=kind, error=msg, seconds=dt)
    return CodeResult(False, error_kind="crashed", error=f"the sandbox process exited with {rc}: "
                                                         f"{proc.stderr.strip()[-300:]}", seconds=dt)


