"""`make lab` starts JupyterLab serving the course, and the TA's Formgrader works from a fresh clone without activating
the environment: ``nbgrader_config.py`` puts the environment's ``bin/`` on ``PATH`` (nbgrader runs ``alembic``) and
creates ``grading/``, its sub-folders and the local exchange, never touching what is there."""
import json
import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pytest

from frontier.env import ensure_env_bin_on_path

ROOT = Path(__file__).resolve().parents[1]
ENV_BIN = Path(sysconfig.get_path("scripts"))
#: What `make lab` and the Formgrader need from a fresh clone.
CLONE = ("Makefile", "pyproject.toml", ".ci/constraints.txt", "nbgrader_config.py", "course", "solutions",
         "assignments")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _path_without_env_bin() -> str:
    env_bin = os.path.realpath(ENV_BIN)
    return os.pathsep.join(p for p in os.environ.get("PATH", os.defpath).split(os.pathsep)
                           if p and os.path.realpath(p) != env_bin)


def _unactivated_env(tmp: Path) -> dict:
    """The environment of a shell that never ran `source .venv/bin/activate`, with private Jupyter folders."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "NBGRADER_EXCHANGE_ROOT")}
    env.update(PATH=_path_without_env_bin(), JUPYTER_CONFIG_DIR=str(tmp / "config"),
               JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), JUPYTER_DATA_DIR=str(tmp / "data"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"), JUPYTER_PLATFORM_DIRS="1")
    return env


def _fresh_clone(dest: Path, parts=CLONE) -> Path:
    """The files of ``parts`` as a fresh clone has them (git's view of the working tree; no `grading/`)."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *parts],
                         cwd=ROOT, capture_output=True, check=True).stdout.decode()
    for rel in filter(None, out.split("\0")):
        if (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    return dest


_LOAD = """
import json, os, shutil, sys
from traitlets.config.loader import PyFileConfigLoader
out = []
for course, exchange_root in json.loads(sys.argv[1]):
    os.environ.pop("NBGRADER_EXCHANGE_ROOT", None)
    if exchange_root:
        os.environ["NBGRADER_EXCHANGE_ROOT"] = exchange_root
    os.chdir(course)
    cfg = PyFileConfigLoader("nbgrader_config.py", path=".").load_config()
    out.append({"path": os.environ["PATH"], "alembic": shutil.which("alembic"), "exchange": cfg.Exchange.root})
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def configs(tmp_path_factory):
    """Three fresh clones, each with nbgrader_config.py loaded the way nbgrader loads it, in one fresh interpreter
    started without the environment on PATH: ``{case: (course folder, what the config saw)}``.

    ``fresh``: nothing under grading/; ``existing``: grading/ folders already there, with their own permissions and
    a student's file; ``shared``: NBGRADER_EXCHANGE_ROOT points at a shared exchange (that does not exist yet).
    """
    tmp = tmp_path_factory.mktemp("configs")
    courses = {case: _fresh_clone(tmp / case, ("nbgrader_config.py",)) for case in ("fresh", "existing", "shared")}
    exchange = courses["existing"] / "grading" / "exchange"
    (exchange / "llm-frontiers" / "inbound").mkdir(parents=True)
    (exchange / "llm-frontiers" / "inbound" / "keep.txt").write_text("a student's file")
    os.chmod(exchange, 0o750)
    (courses["existing"] / "grading" / "submitted").mkdir()
    os.chmod(courses["existing"] / "grading" / "submitted", 0o700)
    shared = str(tmp / "srv" / "exchange")
    cases = [[str(courses["fresh"]), None], [str(courses["existing"]), None], [str(courses["shared"]), shared]]
    env = _unactivated_env(tmp)
    assert shutil.which("alembic", path=env["PATH"]) != str(ENV_BIN / "alembic")
    res = subprocess.run([sys.executable, "-c", _LOAD, json.dumps(cases)], env=env, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    seen = json.loads(res.stdout.strip().splitlines()[-1])
    return {case: (courses[case], s) for case, s in zip(courses, seen)}


# -- the environment on PATH ------------------------------------------------------------------------------------


def test_ensure_env_bin_on_path_prepends_once(monkeypatch):
    monkeypatch.setenv("PATH", os.pathsep.join(["/usr/bin", "/bin"]))
    assert ensure_env_bin_on_path() == str(ENV_BIN)
    first = os.environ["PATH"]
    assert first.split(os.pathsep) == [str(ENV_BIN), "/usr/bin", "/bin"]
    ensure_env_bin_on_path()
    assert os.environ["PATH"] == first, "a second call must not add it again"
    monkeypatch.setenv("PATH", os.pathsep.join(["/usr/bin", str(ENV_BIN)]))
    ensure_env_bin_on_path()
    assert os.environ["PATH"] == os.pathsep.join(["/usr/bin", str(ENV_BIN)]), "already there: left alone"


def test_config_puts_the_environment_on_path_and_creates_the_grading_folders(configs):
    course, seen = configs["fresh"]
    assert seen["path"].split(os.pathsep)[0] == str(ENV_BIN)
    assert seen["alembic"] == str(ENV_BIN / "alembic"), "nbgrader runs `alembic` to create the gradebook"
    grading = course / "grading"
    for sub in ("submitted", "autograded", "feedback", "exchange"):
        assert (grading / sub).is_dir(), sub
    assert seen["exchange"] == str(grading / "exchange")
    # nbgrader's release_assignment makes the exchange root rwx for everyone; the others need to write there.
    assert stat.S_IMODE((grading / "exchange").stat().st_mode) == 0o777


def test_config_never_touches_existing_grading_folders(configs):
    course, _ = configs["existing"]
    exchange = course / "grading" / "exchange"
    assert stat.S_IMODE(exchange.stat().st_mode) == 0o750, "an existing exchange keeps its permissions"
    assert stat.S_IMODE((course / "grading" / "submitted").stat().st_mode) == 0o700
    assert (exchange / "llm-frontiers" / "inbound" / "keep.txt").read_text() == "a student's file"
    assert (course / "grading" / "autograded").is_dir(), "missing folders are still made"


def test_config_leaves_a_shared_exchange_alone(configs):
    """With NBGRADER_EXCHANGE_ROOT (a shared machine) no local exchange is made; the shared one is the admin's job."""
    course, seen = configs["shared"]
    assert seen["exchange"].endswith(os.path.join("srv", "exchange"))
    assert not (course / "grading" / "exchange").exists() and not Path(seen["exchange"]).exists()
    assert (course / "grading" / "submitted").is_dir()


# -- make lab from a fresh clone --------------------------------------------------------------------------------


def _get(url: str):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, r.read()


@pytest.mark.slow
def test_make_lab_serves_the_course_and_the_formgrader_without_activation(tmp_path):
    """`make lab` in a fresh clone, from a shell without the environment on PATH: the lessons are served and the
    Formgrader's first request (which creates the gradebook with `alembic`) lists every assignment."""
    clone = _fresh_clone(tmp_path / "clone")
    assert not (clone / "grading").exists()
    venv = ENV_BIN.parent
    stamp = venv / ".frontier-installed"
    port, token = _free_port(), secrets.token_hex(16)
    args = (f"--no-browser --port {port} --ServerApp.ip=127.0.0.1 --IdentityProvider.token={token} "
            f"--ServerApp.port_retries=0")
    # -o: never reinstall the environment from a test, even if pyproject.toml is newer than its stamp.
    proc = subprocess.Popen(["make", "--no-print-directory", "-o", str(stamp), "lab", f"VENV={venv}",
                             f"LAB_ARGS={args}"], cwd=clone, env=_unactivated_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/api/contents/course?token={token}"
        deadline, listing = time.time() + 90, None
        while time.time() < deadline and proc.poll() is None:
            try:
                listing = json.loads(_get(url)[1])
                break
            except OSError:
                time.sleep(0.5)
        assert listing is not None, proc.stdout.read1().decode(errors="replace") if proc.poll() is not None else \
            "JupyterLab did not answer within 90 s"
        names = {c["name"] for c in listing["content"]}
        assert {"00_start_here.ipynb", "01_architecture"} <= names
        status, body = _get(f"http://127.0.0.1:{port}/lab?token={token}")
        assert status == 200 and b"JupyterLab" in body

        status, body = _get(f"http://127.0.0.1:{port}/formgrader/api/assignments?token={token}")
        assert status == 200
        expected = sorted(p.name for p in (clone / "solutions").iterdir() if p.is_dir())
        assert sorted(a["name"] for a in json.loads(body)) == expected
        assert (clone / "grading" / "gradebook.db").is_file()
        assert stat.S_IMODE((clone / "grading" / "exchange").stat().st_mode) == 0o777
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
