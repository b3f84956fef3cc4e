"""nbgrader configuration for the LLM Frontiers course.

nbgrader reads this file from the directory it is started in, so run
``nbgrader ...``, ``python -m frontier.grading ...`` and the formgrader
(``jupyter lab``) from the repository root.  docs/ta_guide.md explains the
workflow.

Layout (paths relative to the repository root)::

    solutions/<assignment>/      instructor versions: solutions, hidden tests, rubrics  (committed)
    assignments/<assignment>/    student versions generated from solutions/             (committed)
    grading/                     everything produced while grading; git-ignored:
        gradebook.db             the nbgrader database
        submitted/<student>/<assignment>/    collected or imported submissions
        autograded/<student>/<assignment>/   executed and scored copies
        feedback/<student>/<assignment>/     HTML feedback for students
        exchange/                a local exchange, for trying the release/collect
                                 round trip on one machine
        grades.csv               exported grades

On a shared machine or JupyterHub the exchange must be a directory every
student can write to: set the environment variable ``NBGRADER_EXCHANGE_ROOT``
(for example ``/srv/nbgrader/exchange``) or override ``Exchange.root`` in a
system-wide ``/etc/jupyter/nbgrader_config.py``.
"""
import os
import stat
from pathlib import Path

try:
    from frontier.env import ensure_env_bin_on_path
    from frontier.grading import sanitize as _sanitize
except ImportError as exc:  # pragma: no cover - only without the course package
    raise ImportError(
        "nbgrader_config.py needs the course package `frontier` (it hides hidden tests in feedback "
        "and normalises generated releases). Install it with `make lab` or "
        "`pip install -e '.[course]'` from the repository root."
    ) from exc

c = get_config()  # noqa: F821  (provided by traitlets when it loads this file)

ROOT = Path(__file__).resolve().parent
GRADING = "grading"

# -- No activation needed ----------------------------------------------------------
# nbgrader creates the gradebook by running the `alembic` command, found on PATH.
# Started as `.venv/bin/jupyter lab` or `.venv/bin/nbgrader` without activating the
# environment, PATH lacks `.venv/bin`: put this interpreter's bin/ first (the server
# that loads this file, and every kernel it starts, inherit it).
ensure_env_bin_on_path()

#: Folders nbgrader expects to exist (it fails with "Unwritable directory" on a missing
#: exchange), made on first use.  Existing folders are never touched.
GRADING_FOLDERS = ("submitted", "autograded", "feedback")
#: nbgrader's permissions for an exchange root (rwx for everyone, as `release_assignment` sets them).
EXCHANGE_MODE = stat.S_IRWXU | stat.S_IRWXG | stat.S_IRWXO


def _make_grading_folders(root: Path, local_exchange: bool) -> None:
    """Create grading/, its sub-folders and, if it is the one in use, the local exchange, when missing."""
    try:
        for name in GRADING_FOLDERS:
            (root / GRADING / name).mkdir(parents=True, exist_ok=True)
        exchange = root / GRADING / "exchange"
        if local_exchange and not exchange.exists():
            exchange.mkdir(parents=True, exist_ok=True)
            os.chmod(exchange, EXCHANGE_MODE)  # mkdir's mode is cut by the umask
    except OSError:  # a read-only checkout: nbgrader reports what it cannot write, with the path
        pass


_make_grading_folders(ROOT, local_exchange="NBGRADER_EXCHANGE_ROOT" not in os.environ)

# -- Where things live ---------------------------------------------------------
c.CourseDirectory.course_id = "llm-frontiers"
c.CourseDirectory.root = str(ROOT)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
c.CourseDirectory.submitted_directory = f"{GRADING}/submitted"
c.CourseDirectory.autograded_directory = f"{GRADING}/autograded"
c.CourseDirectory.feedback_directory = f"{GRADING}/feedback"
c.CourseDirectory.solution_directory = f"{GRADING}/solution"
c.CourseDirectory.source_with_tests_directory = f"{GRADING}/source_with_tests"
c.CourseDirectory.db_url = f"sqlite:///{ROOT / GRADING / 'gradebook.db'}"
c.Exchange.root = os.environ.get("NBGRADER_EXCHANGE_ROOT", str(ROOT / GRADING / "exchange"))
# Never copy caches, checkpoints or earlier feedback into releases or submissions.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".DS_Store"]

# -- Student versions ------------------------------------------------------------
# What replaces a solution region in the release.  Both say what to do.
c.ClearSolutions.code_stub = {
    "python": "# YOUR CODE HERE: replace this line with your implementation.\n"
              "raise NotImplementedError()",
}
c.ClearSolutions.text_stub = "_YOUR ANSWER HERE: replace this line with your answer (a few sentences)._"
# Rubrics for written answers sit in BEGIN/END MARK SCHEME regions of the read-only
# question cell just above each answer cell.  The release drops them; autograding
# restores read-only cells from the gradebook, so graders see the rubric next to
# the answer in the formgrader; feedback drops them again.  nbgrader would insist
# that mark schemes live in "task" cells, which we do not use.
c.ClearMarkScheme.enforce_metadata = False
# The release is normalised after nbgrader writes it (no outputs, no execution
# counts, no volatile metadata, stable cell ids), so regenerating it gives the
# committed files back exactly.
c.GenerateAssignment.preprocessors = _sanitize.generate_assignment_preprocessors()

# -- Autograding -----------------------------------------------------------------
# Seconds one cell may run before the kernel is interrupted and the cell counts
# as failed; the rest of the notebook still runs.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True
# nbgrader scores a test cell zero when anything appears on stderr.  Python
# warnings (DeprecationWarning from a library, a RuntimeWarning from numpy) are
# not errors: drop stderr chunks that are warnings, so correct answers that warn
# still score.  Errors are still errors: they are outputs of type "error".
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = _sanitize.WARNING_PATTERN
# A student's very long printout should not make the autograded copy huge.
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 60

# -- Feedback --------------------------------------------------------------------
# nbgrader's feedback shows the autograded notebook, which contains the source of
# the hidden tests (restored from the gradebook to run them).  Strip hidden tests
# and rubrics, and cut tracebacks from hidden tests down to the error message.
c.GenerateFeedback.preprocessors = _sanitize.generate_feedback_preprocessors()

# -- Grades ----------------------------------------------------------------------
# `nbgrader export` (CSV) writes here unless given --to.
c.ExportPlugin.to = str(ROOT / GRADING / "grades.csv")
