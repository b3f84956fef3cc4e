"""Where every number in :mod:`frontier.society` comes from.

Each published figure the section uses carries a :class:`Source`: the
document, the place in it (table, section, file), how far it was checked and
when.  ``status`` is one of

* ``"PRIMARY"``   read in the document itself (or a verbatim copy of it) on ``checked``;
* ``"SECONDARY"`` taken from a summary, a later paper or the course's reference sheet
  (``shared/reference/facts.md``) without reading the primary table; a lesson says
  "as reported by" when it quotes one;
* ``"DERIVED"``   computed here from other sourced inputs.

Rules and dates that change (laws, guidance, executive orders) are shown with
``checked``, the date this course last confirmed them.  Nothing here is legal
advice: regulation is summarised so that a learner can reason about it, and the
authoritative text is the one cited.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Source", "STATUSES", "CHECKED", "cite"]

#: The allowed values of :attr:`Source.status`.
STATUSES = ("PRIMARY", "SECONDARY", "DERIVED")

#: The date on which this section's sources were last checked (ISO 8601).
CHECKED = "2026-12-01"


@dataclass(frozen=True)
class Source:
    """A reference for one figure or rule.

    Attributes:
        citation: author, year and title (or the issuing body and instrument).
        locator: where in it: a table, an article, a file path and commit, a URL.
        status: ``"PRIMARY"``, ``"SECONDARY"`` or ``"DERIVED"`` (see the module docstring).
        checked: ISO date on which the figure was last checked against ``locator``.
        note: anything a reader should know (a caveat, a disagreement).
    """

    citation: str
    locator: str
    status: str = "PRIMARY"
    checked: str = CHECKED
    note: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        if not self.citation or not self.locator:
            raise ValueError("a Source needs both a citation and a locator")

    def short(self) -> str:
        """One line for tables and figure captions: ``citation, locator [STATUS, checked DATE]``."""
        return f"{self.citation}, {self.locator} [{self.status}, checked {self.checked}]"


def cite(source: Source) -> str:
    """The one-line form of ``source`` (see :meth:`Source.short`)."""
    if not isinstance(source, Source):
        raise TypeError(f"source must be a Source, got {type(source).__name__}")
    return source.short()
