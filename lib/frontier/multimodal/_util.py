"""Small helpers shared by this section's modules."""
from __future__ import annotations

import dataclasses
from typing import Any, Dict


def log_dict(log: Any) -> Dict[str, Any]:
    """A training log as a plain dict, whether it is a fresh :class:`~frontier.models.TrainLog` or the dict the
    model cache stored (so a lesson reads ``log["loss"]`` either way)."""
    if dataclasses.is_dataclass(log) and not isinstance(log, type):
        return dataclasses.asdict(log)
    return dict(log or {})
