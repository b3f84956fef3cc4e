"""The course directory and the nbgrader steps on it: generate, lint, validate, import, autograde, feedback, export.

:class:`Course` is the object behind ``python -m frontier.grading`` and the grading tests: a course
directory (the repository root or a temporary copy of it) whose ``nbgrader_config.py`` says where everything
lives. nbgrader is imported by the calls that need it, never at import time.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence

from . import cells as _cells

__all__ = ["Course", "GradingError", "StudentResult", "copy_course", "log"]

log = logging.getLogger("frontier.grading")

_STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
#: Imports of the course library in hidden tests, other than the exercises' support (cases, guard, frozen values).
_LIVE_LIBRARY = re.compile(r"(?m)^\s*(?:from|import)\s+(frontier\.(?!exercises\b)[\w.]+|frontier(?=\s))")


class GradingError(RuntimeError):
    """An nbgrader step failed; the message carries nbgrader's log."""


@dataclass
class StudentResult:
    """What autograding did with one student's submission (points are floats)."""

    student: str
    ok: bool
    auto_score: float = 0.0          # points from autograded (code) test cells
    max_auto_score: float = 0.0
    written_score: float = 0.0       # points from written answers graded so far
    max_written_score: float = 0.0
    needs_manual_grade: bool = False
    error: str = ""

    @property
    def score(self) -> float:
        return self.auto_score + self.written_score

    @property
    def max_score(self) -> float:
        return self.max_auto_score + self.max_written_score


class Course:
    """An nbgrader course directory: ``nbgrader_config.py``, ``solutions/``, ``assignments/``, ``grading/``.

    Parameters
    ----------
    root:      the directory holding ``nbgrader_config.py`` (default: the repository root).
    overrides: extra nbgrader configuration, a ``traitlets.config.Config`` or a
               nested dict such as ``{"Execute": {"timeout": 10}}``; it wins over
               the file.
    """

    def __init__(self, root: str | os.PathLike | None = None, overrides: Mapping | None = None):
        if root is None:
            from ..notebooks import REPO_ROOT
            root = REPO_ROOT
        self.root = Path(root).resolve()
        if not (self.root / "nbgrader_config.py").is_file():
            raise FileNotFoundError(f"no nbgrader_config.py in {self.root}; pass the course root "
                                    f"(the repository root)")
        self._overrides = overrides or {}
        self._config = None
        _ensure_alembic_on_path()

    # -- configuration ---------------------------------------------------
    @property
    def config(self):
        """The course's nbgrader configuration, loaded strictly (an error in the file raises)."""
        if self._config is None:
            from traitlets.config import Config
            from traitlets.config.loader import PyFileConfigLoader

            cfg = PyFileConfigLoader("nbgrader_config.py", path=str(self.root)).load_config()
            cfg.merge(Config(self._overrides) if not isinstance(self._overrides, Config) else self._overrides)
            self._config = cfg
        return self._config

    def with_overrides(self, overrides: Mapping) -> "Course":
        """The same course with extra configuration (merged over this one's overrides)."""
        from traitlets.config import Config

        merged = Config(self._overrides) if not isinstance(self._overrides, Config) else self._overrides.copy()
        merged.merge(Config(overrides) if not isinstance(overrides, Config) else overrides)
        return Course(self.root, overrides=merged)

    def api(self):
        """A fresh :class:`nbgrader.apps.NbGraderAPI` for this course."""
        from nbgrader.apps import NbGraderAPI

        # The API lists the exchange when it starts and logs CRITICAL if the
        # exchange directory does not exist, which is normal until a release.
        with _quiet_nbgrader(drop_all=True):
            return NbGraderAPI(config=self.config)

    def coursedir(self):
        from nbgrader.coursedir import CourseDirectory

        return CourseDirectory(config=self.config)

    def _step(self, name: str) -> Path:
        return self.root / getattr(self.coursedir(), f"{name}_directory")

    @property
    def db_url(self) -> str:
        return self.coursedir().db_url

    @property
    def course_id(self) -> str:
        return self.coursedir().course_id

    # -- paths -----------------------------------------------------------
    def assignments(self) -> List[str]:
        """Names of the assignments under the source directory (``solutions/``)."""
        src = self._step("source")
        return sorted(p.name for p in src.iterdir() if p.is_dir() and any(p.glob("*.ipynb"))) if src.is_dir() else []

    def _check_assignment(self, assignment: str) -> str:
        if assignment not in self.assignments():
            raise ValueError(f"no assignment {assignment!r} under {self._step('source')}; "
                             f"known: {self.assignments()}")
        return assignment

    def source_notebooks(self, assignment: str) -> List[Path]:
        return sorted((self._step("source") / assignment).glob("*.ipynb"))

    def release_dir(self, assignment: str) -> Path:
        return self._step("release") / assignment

    def release_notebooks(self, assignment: str) -> List[Path]:
        return sorted(self.release_dir(assignment).glob("*.ipynb"))

    def submitted_dir(self, assignment: str, student: str) -> Path:
        return self._step("submitted") / student / assignment

    def autograded_dir(self, assignment: str, student: str) -> Path:
        return self._step("autograded") / student / assignment

    def feedback_dir(self, assignment: str, student: str) -> Path:
        return self._step("feedback") / student / assignment

    def submitted_students(self, assignment: str) -> List[str]:
        sub = self._step("submitted")
        return sorted(p.parent.name for p in sub.glob(f"*/{assignment}") if p.is_dir()) if sub.is_dir() else []

    # -- generate ----------------------------------------------------------
    def generate(self, assignment: str) -> str:
        """``nbgrader generate_assignment``: write the release and record the assignment in the gradebook.

        Returns nbgrader's log; raises :class:`GradingError` if it failed.
        """
        self._check_assignment(assignment)
        self.release_dir(assignment).parent.mkdir(parents=True, exist_ok=True)
        Path(self.db_url.replace("sqlite:///", "", 1)).parent.mkdir(parents=True, exist_ok=True)
        with _quiet_nbgrader():
            result = self.api().generate_assignment(assignment, force=True, create=True)
        return _check(result, f"generate_assignment {assignment}")

    def has_assignment_in_gradebook(self, assignment: str) -> bool:
        from nbgrader.api import Gradebook, MissingEntry

        db = Path(self.db_url.replace("sqlite:///", "", 1))
        if not db.exists():
            return False
        with Gradebook(self.db_url, self.course_id) as gb:
            try:
                gb.find_assignment(assignment)
            except MissingEntry:
                return False
            return True

    # -- check the sources ------------------------------------------------------
    def lint(self, assignment: str, min_auto_share: float = 0.6) -> List[str]:
        """Problems with an assignment's source notebooks (empty: none).

        Checks nbgrader's metadata (its own validator, unique grade ids, points
        on every graded cell), where the regions sit (solutions in answer
        cells, hidden tests in test cells, rubrics in read-only cells), that
        every autograded answer has a test after it, that every written answer
        has a rubric in the cell above it, that at least ``min_auto_share`` of
        the points are autograded, and the course's notebook conventions
        (nbformat 4.5 with unique ids, no outputs, a ``parameters`` cell with
        ``SMOKE = False``, a Colab badge for the release path). Hidden tests
        may import only :mod:`frontier.exercises` from the course library:
        their expected values are frozen into the cell, never computed live.
        """
        import nbformat
        from nbgrader.nbgraderformat import MetadataValidator, ValidationError

        from ..notebooks import colab_url
        from .cells import DELIMITERS

        self._check_assignment(assignment)
        problems: List[str] = []
        release_root = self.coursedir().release_directory
        for path in self.source_notebooks(assignment):
            name = f"{assignment}/{path.name}"
            nb = nbformat.read(path, as_version=4)
            try:
                MetadataValidator().validate_nb(nb)
            except ValidationError as exc:
                problems.append(f"{name}: nbgrader metadata: {exc}")
            if (nb.nbformat, nb.nbformat_minor) < (4, 5):
                problems.append(f"{name}: nbformat {nb.nbformat}.{nb.nbformat_minor}, expected 4.5")
            ids = [c.get("id") for c in nb.cells]
            if None in ids or len(set(ids)) != len(ids):
                problems.append(f"{name}: cell ids missing or not unique")
            if nb.metadata.get("kernelspec", {}).get("name") != "python3":
                problems.append(f"{name}: kernelspec should be python3")
            grade_ids: Dict[str, int] = {}
            seen_test_after: Dict[str, bool] = {}
            last_answer: Optional[str] = None
            for i, cell in enumerate(nb.cells):
                meta = cell.metadata.get("nbgrader", {})
                where = f"{name} cell {i} ({cell.get('id')})"
                if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count")):
                    problems.append(f"{where}: has outputs; clean the notebook")
                gid = meta.get("grade_id")
                if gid:
                    if gid in grade_ids:
                        problems.append(f"{where}: grade id {gid!r} also used by cell {grade_ids[gid]}")
                    grade_ids[gid] = i
                if _cells.is_graded(cell) and not float(meta.get("points", 0) or 0) > 0:
                    problems.append(f"{where}: graded cell without positive points")
                for kind, allowed, what in (("solution", _cells.is_answer_cell(cell), "an answer cell"),
                                            ("hidden_tests", _cells.is_test_cell(cell), "a test cell"),
                                            ("mark_scheme", bool(meta.get("locked")) or bool(meta.get("task")),
                                             "a read-only cell")):
                    if DELIMITERS[kind][0] in cell.source and not allowed:
                        problems.append(f"{where}: {kind.replace('_', ' ')} region outside {what}")
                for module in _LIVE_LIBRARY.findall(_cells.hidden_test_source(cell)):
                    problems.append(f"{where}: hidden test imports {module}; compare with frozen values instead "
                                    f"(frontier.exercises + `python -m frontier.grading freeze`), not live library "
                                    f"calls a student could make too")
                if _cells.is_code_answer(cell):
                    last_answer = gid
                    seen_test_after[gid] = False
                elif _cells.is_test_cell(cell) and last_answer is not None:
                    seen_test_after[last_answer] = True
                if _cells.is_written_answer(cell):
                    prev = nb.cells[i - 1] if i else None
                    if prev is None or not _cells.is_rubric_cell(prev):
                        problems.append(f"{where}: written answer without a rubric (a BEGIN MARK SCHEME region "
                                        f"in the read-only cell above it)")
            for gid, tested in seen_test_after.items():
                if not tested:
                    problems.append(f"{name}: answer cell {gid!r} has no test cell after it")
            first = nb.cells[0] if nb.cells else None
            badge = colab_url(f"{release_root}/{assignment}/{path.name}")
            if first is None or first.cell_type != "markdown" or badge not in first.source:
                problems.append(f"{name}: the first cell should be markdown with an Open-in-Colab badge for {badge}")
            params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
            if len(params) != 1 or not re.search(r"(?m)^SMOKE\s*=\s*False\b", params[0].source):
                problems.append(f"{name}: needs exactly one cell tagged 'parameters' that sets SMOKE = False")
        pts = self.points(assignment)
        total = pts["auto"] + pts["manual"]
        if total and pts["auto"] / total < min_auto_share:
            problems.append(f"{assignment}: only {pts['auto']:g} of {total:g} points are autograded "
                            f"(at least {min_auto_share:.0%} expected)")
        return problems

    # -- validate ----------------------------------------------------------
    def validate(self, notebook: str | os.PathLike, invert: bool = False) -> Dict[str, list]:
        """Run nbgrader's :class:`~nbgrader.validator.Validator` on one notebook.

        ``invert=False`` (a solution): the result lists failing test cells
        under ``"failed"``.  ``invert=True`` (a blank release): it lists the
        test cells that pass anyway under ``"passed"``.  An empty dict means
        all is well.  (``nbgrader validate`` exits 0 either way, hence the API.)
        """
        from nbgrader.validator import Validator

        v = Validator(config=self.config)
        v.invert = invert
        with _quiet_nbgrader():
            return v.validate(str(Path(notebook).resolve()))

    # -- submissions -------------------------------------------------------
    def import_submissions(self, assignment: str, folder: str | os.PathLike) -> List[str]:
        """Copy a folder of submissions into the submitted directory; return the student ids.

        Accepted layouts (the student id is the folder or file name):

        * ``folder/<student>/<assignment>/<notebook>.ipynb`` (nbgrader's own layout),
        * ``folder/<student>/<notebook>.ipynb``,
        * ``folder/<student>.ipynb`` (assignments with a single notebook).

        A student folder with one notebook under another name (``Copy of ...``)
        is renamed when the assignment has a single notebook.  A
        ``timestamp.txt`` next to the notebooks is kept (late penalties).
        """
        self._check_assignment(assignment)
        folder = Path(folder).resolve()
        if not folder.is_dir():
            raise FileNotFoundError(f"submissions folder {folder} does not exist")
        if folder == self._step("submitted").resolve():
            return self.submitted_students(assignment)
        expected = [p.name for p in self.source_notebooks(assignment)]
        students: List[str] = []
        for entry in sorted(folder.iterdir()):
            if entry.name.startswith("."):
                continue
            if entry.is_file() and entry.suffix == ".ipynb":
                if len(expected) != 1:
                    raise ValueError(f"{entry}: a bare notebook per student only works for single-notebook "
                                     f"assignments; {assignment} has {expected}")
                student, files = entry.stem, [entry]
            elif entry.is_dir():
                student = entry.name
                inner = entry / assignment if (entry / assignment).is_dir() else entry
                files = sorted(inner.glob("*.ipynb")) + sorted(inner.glob("timestamp.txt"))
            else:
                continue
            if not _STUDENT_ID.match(student):
                raise ValueError(f"{entry}: {student!r} is not a usable student id (letters, digits, "
                                 f"'_', '.', '@', '-'; no spaces or '+')")
            dest = self.submitted_dir(assignment, student)
            if dest.exists():
                log.info("replacing the earlier submission of %s", student)
                shutil.rmtree(dest)
            dest.mkdir(parents=True)
            notebooks = [f for f in files if f.suffix == ".ipynb"]
            for f in files:
                name = f.name
                if (f.suffix == ".ipynb" and name not in expected and len(expected) == 1
                        and len(notebooks) == 1):
                    (log.info if f.parent == folder else log.warning)(
                        "%s: renaming %s to %s", student, name, expected[0])
                    name = expected[0]
                shutil.copy2(f, dest / name)
            if not notebooks:
                log.warning("%s: no notebook found in %s", student, entry)
            students.append(student)
        return students

    # -- autograde, feedback, grades -------------------------------------------
    def autograde(self, assignment: str, students: Optional[Iterable[str]] = None) -> Dict[str, StudentResult]:
        """Autograde each student's submission in turn; one failure never stops the others.

        The assignment is recorded in the gradebook first if it is not there
        yet (``generate_assignment``).
        """
        self._check_assignment(assignment)
        if not self.has_assignment_in_gradebook(assignment):
            self.generate(assignment)
        students = list(students) if students is not None else self.submitted_students(assignment)
        from .autograde import ensure_zero_submission, summarise_failure

        api = self.api()
        errors: Dict[str, str] = {}
        for student in students:
            with _quiet_nbgrader():
                result = api.autograde(assignment, student, force=True, create=True)
            if not result.get("success"):
                errors[student] = summarise_failure(result)
                log.error("autograding %s failed: %s", student, errors[student])
                ensure_zero_submission(self, assignment, student)
        return {s: self.result(assignment, s, error=errors.get(s, "")) for s in students}

    def result(self, assignment: str, student: str, error: str = "") -> StudentResult:
        """Scores of one submission from the gradebook."""
        from nbgrader.api import Gradebook, MissingEntry

        with _quiet_nbgrader(), Gradebook(self.db_url, self.course_id) as gb:
            try:
                sub = gb.find_submission(assignment, student)
            except MissingEntry:
                return StudentResult(student, ok=False, error=error or "no submission in the gradebook")
            asg = gb.find_assignment(assignment)
            return StudentResult(
                student, ok=not error and self.autograded_dir(assignment, student).is_dir(),
                auto_score=float(sub.code_score or 0), max_auto_score=float(asg.max_code_score or 0),
                written_score=float(sub.written_score or 0), max_written_score=float(asg.max_written_score or 0),
                needs_manual_grade=bool(sub.needs_manual_grade), error=error)

    def cell_scores(self, assignment: str, student: str) -> Dict[str, Dict[str, object]]:
        """Per graded cell: ``{grade_id: {"score", "max_score", "auto": bool}}`` of one submission."""
        from nbgrader.api import Gradebook

        out: Dict[str, Dict[str, object]] = {}
        with Gradebook(self.db_url, self.course_id) as gb:
            for nb in gb.find_submission(assignment, student).notebooks:
                for g in nb.grades:
                    out[g.name] = {"score": g.score, "max_score": g.max_score,
                                   "auto": g.cell.cell_type == "code", "needs_manual_grade": g.needs_manual_grade}
        return out

    def feedback(self, assignment: str, students: Optional[Iterable[str]] = None) -> Dict[str, str]:
        """Generate HTML feedback for autograded submissions; ``{student: error}`` for failures.

        Feedback goes through :class:`~frontier.grading.sanitize.HideHiddenTests`
        (configured in ``nbgrader_config.py``), and is then checked: a file
        that still quotes a hidden test or a rubric is deleted and reported.
        """
        from .autograde import summarise_failure
        from .leaks import find_leaks

        students = list(students) if students is not None else self.submitted_students(assignment)
        api = self.api()
        errors: Dict[str, str] = {}
        for student in students:
            if not self.autograded_dir(assignment, student).is_dir():
                errors[student] = "not autograded"
                continue
            with _quiet_nbgrader():
                result = api.generate_feedback(assignment, student, force=True)
            if not result.get("success"):
                errors[student] = summarise_failure(result)
                continue
            leaks = find_leaks(self, assignment, self.feedback_dir(assignment, student).glob("*.html"),
                               kinds=("hidden_tests", "mark_scheme"), allowed=self.visible_text(assignment, student),
                               skip_frozen=True)
            if leaks:
                for f in self.feedback_dir(assignment, student).glob("*.html"):
                    f.unlink()
                errors[student] = f"feedback quoted hidden material, deleted: {leaks[:3]}"
        for student, err in errors.items():
            log.error("feedback for %s: %s", student, err)
        return errors

    def visible_text(self, assignment: str, student: Optional[str] = None) -> List[str]:
        """Text nobody needs to hide: the release, and the student's own answers (when ``student`` is given)."""
        import nbformat

        texts = [c.source for p in self.release_notebooks(assignment)
                 for c in nbformat.read(p, as_version=4).cells]
        if student is not None:
            for p in sorted(self.autograded_dir(assignment, student).glob("*.ipynb")):
                texts += [c.source for c in nbformat.read(p, as_version=4).cells
                          if c.metadata.get("nbgrader", {}).get("solution")]
        return texts

    def export_grades(self, to: str | os.PathLike | None = None) -> Path:
        """Write every student's score on every assignment to a CSV file (nbgrader's CSV exporter)."""
        from nbgrader.api import Gradebook
        from nbgrader.plugins import CsvExportPlugin

        plugin = CsvExportPlugin(config=self.config)
        if to is not None:
            plugin.to = str(Path(to).resolve())
        elif not plugin.to:
            plugin.to = str(self.root / "grading" / "grades.csv")
        Path(plugin.to).parent.mkdir(parents=True, exist_ok=True)
        with _quiet_nbgrader(), Gradebook(self.db_url, self.course_id) as gb:
            plugin.export(gb)
        return Path(plugin.to)

    def points(self, assignment: str) -> Dict[str, float]:
        """``{"auto": ..., "manual": ...}`` points of an assignment, read from its source notebooks."""
        import nbformat

        auto = manual = 0.0
        for path in self.source_notebooks(assignment):
            for cell in nbformat.read(path, as_version=4).cells:
                if _cells.is_autograded(cell):
                    auto += _cells.cell_points(cell)
                elif _cells.is_graded(cell):
                    manual += _cells.cell_points(cell)
        return {"auto": auto, "manual": manual}



def copy_course(src: str | os.PathLike, dest: str | os.PathLike,
                assignments: Optional[Sequence[str]] = None) -> Course:
    """Copy the course files (configuration, solutions, releases) to ``dest``; no grading state.

    ``assignments`` limits the copy to those assignments.  Returns the copy as a :class:`Course`.
    """
    src, dest = Path(src).resolve(), Path(dest).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / "nbgrader_config.py", dest / "nbgrader_config.py")
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc")
    for tree in ("solutions", "assignments"):
        if not (src / tree).is_dir():
            (dest / tree).mkdir(exist_ok=True)
            continue
        for sub in sorted((src / tree).iterdir()):
            if sub.is_dir() and (assignments is None or sub.name in assignments):
                shutil.copytree(sub, dest / tree / sub.name, ignore=ignore, dirs_exist_ok=True)
    return Course(dest)



def _check(result: Mapping, what: str) -> str:
    if not result.get("success"):
        raise GradingError(f"nbgrader {what} failed:\n{result.get('log', '')}\n{result.get('error', '')}")
    return result.get("log", "")




def _ensure_alembic_on_path() -> None:
    """nbgrader creates a gradebook by running the ``alembic`` command found on PATH.

    Called as ``.venv/bin/python`` without activating the environment, PATH
    lacks the environment's ``bin``; add the directory of this interpreter.
    """
    import sys

    if shutil.which("alembic") is None:
        bindir = str(Path(sys.executable).parent)
        if (Path(bindir) / "alembic").exists():
            os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


class _BelowError(logging.Filter):
    """Drop nbgrader's routine messages (INFO, and WARNINGs such as restored test cells)."""

    def __init__(self, drop_all: bool = False):
        super().__init__()
        self.drop_all = drop_all

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.drop_all and record.levelno >= logging.ERROR


@contextlib.contextmanager
def _quiet_nbgrader(drop_all: bool = False):
    """nbgrader logs every step on the ``traitlets`` logger; keep the console for our summary.

    With ``-v`` (``frontier.grading`` logger at INFO) nothing is filtered.
    Only console output is filtered: ``capture_log`` still records everything
    for error messages.
    """
    import warnings

    logger = logging.getLogger("traitlets")
    verbose = log.isEnabledFor(logging.INFO)
    filt = _BelowError(drop_all)
    handlers = [] if verbose else list(logger.handlers) + list(logging.getLogger().handlers)
    for h in handlers:
        h.addFilter(filt)
    try:
        with warnings.catch_warnings():
            # nbgrader's gradebook code trips SQLAlchemy 2 "not in session" warnings; they are harmless
            warnings.filterwarnings("ignore", message=".*not in session.*")
            yield
    finally:
        for h in handlers:
            h.removeFilter(filt)
