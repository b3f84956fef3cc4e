"""The guard the hidden tests put around a student's function: the course library must not do the work.

Every autograded function in Exercises 1 and 5 could be passed by calling the course library
(``params.total_parameters``, ``ssm.selective_scan_ref``, ``timing.fit_power_law``). Inside
:func:`no_delegation`, every function of the listed modules is replaced by one that raises
:class:`DelegationError`, wherever the student may hold it: as a module attribute (``params.total_parameters``),
re-exported by another ``frontier`` module, or imported by name into the notebook (``from ... import``). A student
who delegates scores zero on that part, and the error message says why; one who writes the function passes.
Everything is restored on exit.
"""
from __future__ import annotations

import contextlib
import importlib
import inspect
import sys
from typing import Dict, Iterator, List, MutableMapping, Optional, Sequence, Tuple

__all__ = ["DelegationError", "no_delegation", "library_functions"]


class DelegationError(AssertionError):
    """A graded function called a course-library function it was asked to write itself.

    An ``AssertionError``, so nbgrader reports it like any failed test (message only, in feedback).
    """


def library_functions(modules: Sequence[str]) -> Dict[int, Tuple[str, object]]:
    """``{id(fn): (qualified name, fn)}`` for the public functions defined in ``modules`` (dotted names)."""
    out: Dict[int, Tuple[str, object]] = {}
    for name in modules:
        mod = importlib.import_module(name)
        for attr, value in vars(mod).items():
            if attr.startswith("__") or not callable(value) or inspect.isclass(value) or inspect.ismodule(value):
                continue
            if getattr(value, "__module__", None) != mod.__name__:
                continue  # imported from elsewhere (numpy, math): not the library's work
            out[id(value)] = (f"{mod.__name__}.{attr}", value)
    return out


def _stub(qualname: str, part: str, calls: List[str]):
    def blocked(*args, **kwargs):
        calls.append(qualname)
        where = f" ({part})" if part else ""
        raise DelegationError(f"your code called {qualname} from the course library{where}; this part asks you "
                              f"to write that computation yourself (the notebook's 'What you may call' list says "
                              f"which library functions are allowed)")
    blocked.__name__ = blocked.__qualname__ = qualname.rsplit(".", 1)[-1]
    blocked.__wrapped_library__ = qualname
    return blocked


@contextlib.contextmanager
def no_delegation(namespace: Optional[MutableMapping[str, object]], modules: Sequence[str], *,
                  part: str = "") -> Iterator[List[str]]:
    """Make every function of ``modules`` raise :class:`DelegationError` for the duration of the block.

    ``namespace`` is the student's global namespace (``globals()`` in a notebook cell): names bound there to one
    of the functions are swapped too, and so is any ``frontier`` module that re-exports one. ``part`` goes into
    the error message. Yields the list of blocked names that were called (empty when the student wrote it all).
    """
    originals = library_functions(modules)
    calls: List[str] = []
    stubs = {fid: _stub(q, part, calls) for fid, (q, _) in originals.items()}
    patched: List[Tuple[MutableMapping, str, object]] = []
    holders: List[MutableMapping] = [vars(m) for n, m in list(sys.modules.items())
                                     if m is not None and (n == "frontier" or n.startswith("frontier."))]
    if namespace is not None:
        holders.append(namespace)
    try:
        for holder in holders:
            for key, value in list(holder.items()):
                if callable(value) and id(value) in originals and originals[id(value)][1] is value:
                    patched.append((holder, key, value))
                    holder[key] = stubs[id(value)]
        yield calls
    finally:
        for holder, key, value in reversed(patched):
            holder[key] = value
