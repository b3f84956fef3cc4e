"""Execute notebooks with papermill, in parallel, into ``build/`` (never in place).

Kernels talk to the runner over Unix-domain sockets in a private temporary
folder (``transport="ipc"``), not over TCP ports: with TCP, two kernels
started at the same moment can pick the same free port, the race behind
papermill's intermittent "kernel died before replying" failures.  Each
notebook runs in its own worker process, and its kernel is the runner's own
Python (``sys.executable``), whatever kernelspecs the machine has.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from . import REPO_ROOT
from .hygiene import find_notebooks

__all__ = ["NotebookResult", "run_notebook", "run_notebooks", "format_table", "output_path"]


@dataclass
class NotebookResult:
    """What happened to one notebook."""

    path: str
    output: str
    seconds: float
    ok: bool
    error: str = ""
    cell_index: Optional[int] = None
    cell_id: str = ""


def _kernel_manager_class():
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import KernelManager

    class IsolatedKernelManager(KernelManager):
        """A kernel on private Unix sockets, running this interpreter."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if os.name != "nt":
                self.transport = "ipc"
                self.ip = os.path.join(tempfile.mkdtemp(prefix="frontier-kernel-"), "kernel")

        @property
        def kernel_spec(self):
            return KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                              display_name="Python (frontier)", language="python")

    return IsolatedKernelManager


def output_path(nb: Path, out_dir: Path) -> Path:
    """Where the executed copy of ``nb`` goes: its path relative to the repo, under ``out_dir``."""
    nb = nb.resolve()
    try:
        rel = nb.relative_to(REPO_ROOT.resolve())
    except ValueError:
        rel = Path(nb.name)
    return out_dir / rel


def run_notebook(path: str | Path, out_dir: str | Path = "build/executed", smoke: bool = True,
                 parameters: Optional[Dict[str, object]] = None, timeout: int = 600,
                 threads: Optional[int] = None) -> NotebookResult:
    """Execute one notebook with papermill; never raises for a failing cell, reports it instead."""
    import papermill as pm

    nb = Path(path).resolve()
    out = output_path(nb, Path(out_dir).resolve())
    out.parent.mkdir(parents=True, exist_ok=True)
    params = dict(parameters or {})
    params.setdefault("SMOKE", bool(smoke))
    os.environ["FRONTIER_HEADLESS"] = "1"
    if threads:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
            os.environ[var] = str(threads)
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(str(nb), str(out), parameters=params, cwd=str(nb.parent),
                            kernel_name="python3", language="python",
                            kernel_manager_class=_kernel_manager_class(),
                            progress_bar=False, log_output=False, execution_timeout=timeout,
                            request_save_on_cell_execute=False)
    except Exception as exc:  # papermill's execution error, a timeout, a dead kernel
        seconds = time.perf_counter() - t0
        index, cell_id, where = None, "", ""
        if out.exists():
            import nbformat

            # papermill puts a banner cell at the top of a failed notebook, so its cell_index is shifted;
            # the failing cell is the one whose output is an error.
            cells = nbformat.read(out, as_version=4).cells
            index = next((i for i, c in enumerate(cells) if c.cell_type == "code"
                          and any(o.get("output_type") == "error" for o in c.get("outputs", []))), None)
            if index is not None:
                cell_id = cells[index].get("id", "")
                first = cells[index].source.strip().splitlines()[:1]
                where = f" (cell id {cell_id}: {first[0][:60] if first else ''!r})"
        ename = getattr(exc, "ename", type(exc).__name__)
        evalue = getattr(exc, "evalue", str(exc))
        msg = f"{ename}: {evalue}".strip().splitlines()[0][:300]
        return NotebookResult(str(path), str(out), seconds, False, f"failed{where}: {msg}", index, cell_id)
    return NotebookResult(str(path), str(out), time.perf_counter() - t0, True)


def run_notebooks(paths: Iterable[str | Path], out_dir: str | Path = "build/executed", smoke: bool = True,
                  jobs: int = 2, parameters: Optional[Dict[str, object]] = None, timeout: int = 600,
                  progress: bool = True) -> List[NotebookResult]:
    """Execute every notebook under ``paths`` with ``jobs`` worker processes; results in input order."""
    notebooks = find_notebooks(paths)
    if not notebooks:
        raise ValueError(f"no notebooks found under {list(map(str, paths))}")
    jobs = max(1, min(int(jobs), len(notebooks)))
    threads = max(1, (os.cpu_count() or 1) // jobs)
    results: Dict[Path, NotebookResult] = {}
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(notebooks), desc="notebooks", unit="nb", file=sys.stderr)
    import multiprocessing as mp
    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
        futures = {pool.submit(run_notebook, nb, out_dir, smoke, parameters, timeout, threads): nb
                   for nb in notebooks}
        for fut in as_completed(futures):
            nb = futures[fut]
            res = fut.result()
            res.path = _display(nb)
            results[nb] = res
            if bar is not None:
                bar.set_postfix_str(f"{Path(res.path).name} {'ok' if res.ok else 'FAILED'} {res.seconds:.1f}s")
                bar.update(1)
    if bar is not None:
        bar.close()
    return [results[nb] for nb in notebooks]


def _display(nb: Path) -> str:
    try:
        return nb.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return nb.as_posix()


def format_table(results: List[NotebookResult]) -> str:
    """A plain-text table: notebook, status, wall time; failures explained underneath."""
    width = max([len(r.path) for r in results] + [8])
    lines = [f"{'notebook':<{width}}  status  seconds", f"{'-' * width}  ------  -------"]
    for r in results:
        lines.append(f"{r.path:<{width}}  {'ok' if r.ok else 'FAILED':<6}  {r.seconds:7.1f}")
    lines.append(f"{'total':<{width}}  {sum(r.ok for r in results)}/{len(results)} ok  "
                 f"{sum(r.seconds for r in results):7.1f}")
    for r in results:
        if not r.ok:
            lines.append(f"\n{r.path} {r.error}\n  executed copy with the traceback: {r.output}")
    return "\n".join(lines)
