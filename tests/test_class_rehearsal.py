"""A whole class on one machine: JupyterHub, real Unix users, nbgrader's exchange, end to end (``make class-rehearsal``).

JupyterHub runs on 127.0.0.1 with ``deploy/jupyterhub/jupyterhub_config.py`` (the one-server configuration), the
dummy authenticator and the local process spawner, so each user's server runs as that user's Unix account
(created here with ``useradd``, removed afterwards). configurable-http-proxy comes from npm (``make hub-setup``).

Everything a person would do in the browser goes through HTTP, with each person's own hub API token, through the
hub's proxy: the instructor uses the Formgrader's API on their own server (generate, release, set the deadline,
collect, autograde, generate and release feedback); each student uses nbgrader's assignment-list endpoints on
their own server (fetch, submit, fetch feedback) and the Jupyter contents API to edit the notebook. Grades are
exported with ``nbgrader export`` run as the instructor.

Students: one correct (3/3), one who leaves the stubs (0/3), one whose first answer cell crashes (1/3: the second
part still runs and passes), one who submits the stubs on time and resubmits a correct answer after the deadline
(3/3, late, with the resubmission's timestamp). Then 30 more students fetch and submit at once; nothing may be lost.

It needs root (useradd) and runs only when ``FRONTIER_CLASS_REHEARSAL=1`` (``make class-rehearsal`` sets it), so
``make test`` skips it. Nothing but 127.0.0.1 is contacted.
"""
from __future__ import annotations

import csv
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy" / "jupyterhub"
ENV_BIN = Path(sys.executable).parent
COURSE = "llm-frontiers"
ASSIGNMENT = "hub_rehearsal"
PREFIX = "frt-"                      # every Unix user this test makes starts with it (and only those are removed)
INSTRUCTOR = f"{PREFIX}teacher"
STUDENTS = {f"{PREFIX}correct": 3.0, f"{PREFIX}blank": 0.0, f"{PREFIX}crash": 1.0, f"{PREFIX}late": 3.0}
N_LOAD = int(os.environ.get("FRONTIER_REHEARSAL_LOAD", "30"))
LOAD_STUDENTS = [f"{PREFIX}load{i:02d}" for i in range(1, N_LOAD + 1)]
RUNUSER = shutil.which("runuser") or "/usr/sbin/runuser"

pytestmark = [
    pytest.mark.slow, pytest.mark.rehearsal, pytest.mark.timeout(1800),
    pytest.mark.skipif(os.environ.get("FRONTIER_CLASS_REHEARSAL") != "1",
                       reason="the class rehearsal runs only with `make class-rehearsal` (root, useradd, npm)"),
]

# -- The assignment (instructor's source: solutions, tests with points) -----------------------------------------


def _cell(kind: str, source: str, grade_id: str = "", points: int = 0, solution: bool = False):
    import nbformat

    cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
    if grade_id:
        cell.metadata["nbgrader"] = {"grade": points > 0, "solution": solution, "locked": not solution,
                                     "grade_id": grade_id, "schema_version": 3, "task": False,
                                     **({"points": points} if points else {})}
    return cell


def source_notebook():
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        _cell("markdown", "# Hub rehearsal\n\nTwo small functions."),
        _cell("code", "def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION",
              "square", solution=True),
        _cell("code", "assert square(3) == 9\nassert square(-2) == 4", "test_square", points=2),
        _cell("code", "def total(xs):\n    ### BEGIN SOLUTION\n    return sum(xs)\n    ### END SOLUTION",
              "total", solution=True),
        _cell("code", "assert total([1, 2, 3]) == 6\nassert total([]) == 0", "test_total", points=1),
    ]
    return nb


ANSWERS = {
    "correct": {"square": "def square(x):\n    return x * x", "total": "def total(xs):\n    return sum(xs)"},
    "blank": {},
    "crash": {"square": "raise RuntimeError('this cell crashes')", "total": "def total(xs):\n    return sum(xs)"},
}

# -- Unix users and processes ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def add_user(name: str) -> None:
    assert name.startswith(PREFIX)
    try:
        pwd.getpwnam(name)
        subprocess.run(["userdel", "-r", "-f", name], capture_output=True)  # a leftover of an interrupted run
    except KeyError:
        pass
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", "-K", "UMASK=0077", name], check=True)
    os.chmod(pwd.getpwnam(name).pw_dir, 0o700)


def remove_user(name: str) -> None:
    assert name.startswith(PREFIX)
    subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True)  # only this user's processes
    subprocess.run(["userdel", "-r", "-f", name], capture_output=True)


def as_user(name: str, code: str, env: Dict[str, str] = None, cwd: str = None) -> subprocess.CompletedProcess:
    """Run Python code as a Unix user (runuser, no privileges)."""
    return subprocess.run([RUNUSER, "-u", name, "--", str(ENV_BIN / "python"), "-c", code], capture_output=True,
                          text=True, timeout=300, env={"PATH": f"{ENV_BIN}:/usr/bin:/bin",
                                                       "HOME": pwd.getpwnam(name).pw_dir, **(env or {})}, cwd=cwd)


# -- The hub --------------------------------------------------------------------------------------------------


class Hub:
    def __init__(self, url: str, token: str, exchange: Path, log: Path):
        import requests

        self.url, self.exchange, self.log = url, exchange, log
        self.admin = requests.Session()
        self.admin.headers["Authorization"] = f"token {token}"
        self.tokens: Dict[str, str] = {}
        self.sessions: Dict[str, "requests.Session"] = {}

    def api(self, method: str, path: str, **kw):
        r = self.admin.request(method, f"{self.url}/hub/api{path}", timeout=60, **kw)
        assert r.status_code < 400, f"{method} {path}: {r.status_code} {r.text[:500]}"
        return r.json() if r.text else None

    def add_users(self, names: List[str]) -> None:
        existing = {u["name"] for u in self.api("GET", "/users")}
        new = [n for n in names if n not in existing]
        if new:
            self.api("POST", "/users", json={"usernames": new})

    def start(self, name: str, timeout: float = 240) -> None:
        r = self.admin.post(f"{self.url}/hub/api/users/{name}/server", timeout=60)
        assert r.status_code in (201, 202, 400), f"start {name}: {r.status_code} {r.text[:300]}\n{tail(self.log)}"
        deadline = time.time() + timeout
        while time.time() < deadline:
            server = self.api("GET", f"/users/{name}").get("servers", {}).get("", {})
            if server.get("ready"):
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"{name}'s server did not start within {timeout:.0f} s:\n{tail(self.log)}")
        token = self.api("POST", f"/users/{name}/tokens", json={"note": "class rehearsal", "expires_in": 7200})
        self.tokens[name] = token["token"]

    def session(self, name: str, token_of: str = None):
        """A browser-like client for ``name``'s server, authenticated as ``token_of`` (default: ``name``)."""
        import requests

        s = requests.Session()
        s.headers["Authorization"] = f"token {self.tokens[token_of or name]}"
        s.base = f"{self.url}/user/{name}"
        return s


def tail(path: Path, n: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def call(s, method: str, path: str, expect: int = 200, **kw):
    r = s.request(method, f"{s.base}{path}", timeout=300, **kw)
    assert r.status_code == expect, f"{method} {s.base}{path}: {r.status_code} {r.text[:800]}"
    try:
        return r.json()
    except ValueError:
        return r.text


def open_paths_for_users(paths) -> Dict[Path, int]:
    """Give others search (x) permission on every folder above ``paths`` that lacks it, so that users' servers can
    run this Python environment (e.g. an interpreter under /root, mode 0700); return the modes to restore."""
    changed: Dict[Path, int] = {}
    for path in paths:
        for folder in Path(os.path.realpath(path)).parents:
            mode = folder.stat().st_mode & 0o7777
            if not mode & 0o001 and folder not in changed:
                changed[folder] = mode
                os.chmod(folder, mode | 0o001)
    if changed:
        print(f"\nrehearsal: o+x added for the run (restored afterwards): {', '.join(map(str, changed))}")
    return changed


@pytest.fixture(scope="module")
def hub():
    if os.geteuid() != 0:
        pytest.skip("the class rehearsal must run as root (it creates Unix users)")
    chp = os.environ.get("FRONTIER_CHP") or shutil.which("configurable-http-proxy")
    if not chp or not os.access(chp, os.X_OK):
        pytest.skip("configurable-http-proxy is missing: run `make hub-setup` (npm install into build/hub-npm)")
    restore = open_paths_for_users([sys.executable, sys.base_prefix + "/lib/x", ROOT / "lib", chp])
    work = Path(tempfile.mkdtemp(prefix="frontier-rehearsal-", dir="/tmp"))
    os.chmod(work, 0o755)
    exchange, state, extra = work / "exchange", work / "hub", work / "extra_config.py"
    exchange.mkdir()
    os.chmod(exchange, 0o777)       # as docs/deploy.md makes /srv/nbgrader/exchange; nbgrader sets the rest
    state.mkdir(mode=0o700)
    token = secrets.token_hex(32)
    extra.write_text(
        "c.JupyterHub.services = [{'name': 'rehearsal', 'api_token': %r}]\n"
        "c.JupyterHub.load_roles = [{'name': 'rehearsal', 'services': ['rehearsal'], 'scopes': "
        "['admin:users', 'admin:servers', 'tokens', 'list:users', 'read:users']}]\n" % token)
    users = [INSTRUCTOR, *STUDENTS, *LOAD_STUDENTS]
    for name in users:
        add_user(name)
    setup_course(pwd.getpwnam(INSTRUCTOR))
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "FRONTIER_HEADLESS"))},
           "FRONTIER_HUB_AUTH": "dummy", "FRONTIER_HUB_BIND_URL": f"http://127.0.0.1:{port}",
           "FRONTIER_HUB_STATE": str(state), "FRONTIER_INSTRUCTORS": INSTRUCTOR,
           "FRONTIER_STUDENTS": ",".join([*STUDENTS, *LOAD_STUDENTS]), "FRONTIER_ALLOWED_ONLY": "1",
           "NBGRADER_EXCHANGE_ROOT": str(exchange), "FRONTIER_CHP": chp, "FRONTIER_ENV_BIN": str(ENV_BIN),
           "FRONTIER_HUB_EXTRA_CONFIG": str(extra), "FRONTIER_SPAWN_LIMIT": "8",
           "PATH": f"{ENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    log = work / "hub.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([str(ENV_BIN / "jupyterhub"), "-f", str(DEPLOY / "jupyterhub_config.py"),
                                 f"--JupyterHub.hub_bind_url=http://127.0.0.1:{free_port()}",
                                 f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{free_port()}"],
                                cwd=state, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    h = Hub(f"http://127.0.0.1:{port}", token, exchange, log)
    try:
        deadline = time.time() + 120
        while True:
            assert proc.poll() is None, f"jupyterhub exited with {proc.returncode}:\n{tail(log)}"
            try:
                h.api("GET", "/")
                break
            except Exception:
                if time.time() > deadline:
                    raise AssertionError(f"the hub did not answer within 120 s:\n{tail(log)}")
                time.sleep(0.5)
        h.add_users(users)
        t0 = time.time()
        with ThreadPoolExecutor(5) as pool:
            list(pool.map(h.start, [INSTRUCTOR, *STUDENTS]))
        print(f"\nrehearsal: 5 servers ready in {time.time() - t0:.1f} s")
        h.report = {}
        yield h
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        for name in users:
            remove_user(name)
        shutil.rmtree(work, ignore_errors=True)
        for folder, mode in restore.items():
            os.chmod(folder, mode)
        assert not [u for u in users if _exists(u)], "users left behind"


def _exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def setup_course(instructor) -> None:
    """The instructor's course directory: the repository's nbgrader_config.py and the assignment's source."""
    import nbformat

    course = Path(instructor.pw_dir) / COURSE
    (course / "solutions" / ASSIGNMENT).mkdir(parents=True)
    shutil.copy2(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    nbformat.write(source_notebook(), course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    subprocess.run(["chown", "-R", f"{instructor.pw_uid}:{instructor.pw_gid}", str(course)], check=True)


# -- Student actions through their server's nbgrader endpoints ---------------------------------------------------

FORM = {"course_id": COURSE, "assignment_id": ASSIGNMENT}


def value_of(reply) -> list:
    """The assignment list inside nbgrader's ``{"success": ..., "value": [...]}`` reply; fail on an error reply."""
    assert isinstance(reply, dict) and reply.get("success"), f"nbgrader answered with an error: {reply}"
    return reply["value"]


def student_fetch(s) -> list:
    return value_of(call(s, "POST", "/assignments/fetch", data=FORM))


def student_edit(s, answers: Dict[str, str]) -> None:
    path = f"/api/contents/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
    model = call(s, "GET", path)
    for cell in model["content"]["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell["source"] = answers[grade_id]
    call(s, "PUT", path, json={"type": "notebook", "format": "json", "content": model["content"]})


def student_submit(s) -> dict:
    return value_of(call(s, "POST", "/assignments/submit", data=FORM))


def submitted_timestamps(listing: list) -> List[str]:
    return sorted(sub["timestamp"] for a in listing if a.get("status") == "submitted"
                  for sub in a.get("submissions", []))


# -- The rehearsal ----------------------------------------------------------------------------------------------


def test_class_rehearsal(hub):
    inst = hub.session(INSTRUCTOR)
    fg = "/formgrader/api"
    # The instructor generates and releases the assignment (Formgrader > Generate, Release).
    out = call(inst, "POST", f"{fg}/assignment/{ASSIGNMENT}/assign")
    assert out["success"], out
    out = call(inst, "POST", f"{fg}/assignment/{ASSIGNMENT}/release")
    assert out["success"], out
    outbound = hub.exchange / COURSE / "outbound" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert outbound.is_file() and "return x * x" not in outbound.read_text(), "the release must not hold solutions"

    # Each student fetches, edits and submits through their own server.
    sessions = {name: hub.session(name) for name in STUDENTS}
    first = {}
    for name, s in sessions.items():
        listing = student_fetch(s)
        assert any(a["assignment_id"] == ASSIGNMENT and a["status"] == "fetched" for a in listing), listing
        kind = name[len(PREFIX):]
        student_edit(s, ANSWERS.get(kind, {}))
        first[name] = submitted_timestamps(student_submit(s))
        assert len(first[name]) == 1, first[name]

    # The deadline passes; the late student resubmits a correct answer.
    time.sleep(1.5)
    deadline = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    call(inst, "PUT", f"{fg}/assignment/{ASSIGNMENT}",
         json={"duedate_notimezone": deadline, "duedate_timezone": "UTC"})
    time.sleep(1.5)
    late = sessions[f"{PREFIX}late"]
    student_edit(late, ANSWERS["correct"])
    resubmitted = submitted_timestamps(student_submit(late))
    assert len(resubmitted) == 2 and resubmitted[0] == first[f"{PREFIX}late"][0]
    late_timestamp = resubmitted[1]

    # Isolation, while submissions sit in the exchange.
    check_isolation(hub, sessions, feedback_released=False)

    # Collect, autograde, generate and release feedback (Formgrader).
    assert call(inst, "POST", f"{fg}/assignment/{ASSIGNMENT}/collect")["success"]
    for name in STUDENTS:
        out = call(inst, "POST", f"{fg}/submission/{ASSIGNMENT}/{name}/autograde")
        assert out["success"], out
    assert call(inst, "POST", f"{fg}/assignment/{ASSIGNMENT}/generate_feedback")["success"]
    assert call(inst, "POST", f"{fg}/assignment/{ASSIGNMENT}/release_feedback")["success"]
    check_isolation(hub, sessions, feedback_released=True)

    # Scores, as the Formgrader shows them.
    subs = {sub["student"]: sub for sub in call(inst, "GET", f"{fg}/submissions/{ASSIGNMENT}")}
    for name, score in STUDENTS.items():
        assert subs[name]["score"] == score, (name, subs[name])
        assert subs[name]["max_score"] == 3.0
    # Lateness, from the gradebook itself (read as root; the Formgrader's list does not carry it).
    from nbgrader.api import Gradebook

    db = Path(pwd.getpwnam(INSTRUCTOR).pw_dir) / COURSE / "grading" / "gradebook.db"
    with Gradebook(f"sqlite:///{db}", course_id=COURSE) as gb:
        seconds_late = {n: gb.find_submission(ASSIGNMENT, n).total_seconds_late for n in STUDENTS}
        assert len(gb.find_assignment(ASSIGNMENT).submissions) == len(STUDENTS)  # one per student, not per submit
    assert seconds_late[f"{PREFIX}late"] > 0, seconds_late
    assert all(seconds_late[n] == 0 for n in STUDENTS if n != f"{PREFIX}late"), seconds_late
    # The resubmission replaced the first one, with its own timestamp recorded.
    assert _same_time(subs[f"{PREFIX}late"]["timestamp"], late_timestamp), (subs[f"{PREFIX}late"], late_timestamp)

    # Each student fetches feedback and sees only their own.
    for name, s in sessions.items():
        value_of(call(s, "POST", "/assignments/fetch_feedback", data=FORM))
        folder = call(s, "GET", f"/api/contents/{ASSIGNMENT}/feedback")
        stamps = [item["name"] for item in folder["content"]]
        assert len(stamps) == 1, (name, stamps)  # the collected submission's feedback only
        html = call(s, "GET", f"/api/contents/{ASSIGNMENT}/feedback/{stamps[0]}/{ASSIGNMENT}.html")["content"]
        assert f"{ASSIGNMENT} (Score: {STUDENTS[name]:.1f} / 3.0)" in html, name
        assert "return x * x" not in html or name in (f"{PREFIX}correct", f"{PREFIX}late")
        for other in STUDENTS:
            if other != name:
                assert other not in html

    # Grades exported (nbgrader export, as the instructor, in the course directory).
    teacher = pwd.getpwnam(INSTRUCTOR)
    course = Path(teacher.pw_dir) / COURSE
    env = {"JUPYTER_CONFIG_PATH": str(DEPLOY / "roles" / "instructor"), "NBGRADER_EXCHANGE_ROOT": str(hub.exchange),
           "USER": INSTRUCTOR}
    done = subprocess.run([RUNUSER, "-u", INSTRUCTOR, "--", str(ENV_BIN / "nbgrader"), "export"], cwd=course,
                          env={"PATH": f"{ENV_BIN}:/usr/bin:/bin", "HOME": teacher.pw_dir, **env},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    with open(course / "grading" / "grades.csv") as fh:
        rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    for name, score in STUDENTS.items():
        assert float(rows[name]["score"]) == score and float(rows[name]["max_score"]) == 3.0
    assert _same_time(rows[f"{PREFIX}late"]["timestamp"], late_timestamp)
    print(f"rehearsal: scores {({n: subs[n]['score'] for n in STUDENTS})}, late by "
          f"{seconds_late[f'{PREFIX}late']:.1f} s")


def _same_time(a: str, b: str) -> bool:
    """nbgrader writes timestamps with or without a zone; compare them to the second."""
    from dateutil.parser import parse

    ta, tb = parse(a), parse(b)
    if ta.tzinfo is None:
        ta = ta.replace(tzinfo=timezone.utc)
    if tb.tzinfo is None:
        tb = tb.replace(tzinfo=timezone.utc)
    return abs((ta - tb).total_seconds()) < 1.0


def check_isolation(hub, sessions, feedback_released: bool) -> None:
    names = list(sessions)
    me, other = names[1], names[0]
    teacher_home = pwd.getpwnam(INSTRUCTOR).pw_dir
    inbound = hub.exchange / COURSE / "inbound"
    assert len(os.listdir(inbound)) == len(STUDENTS) + 1          # root sees them all: they are there
    probe = f"""
import json, os, glob
r = {{}}
def tryit(key, fn):
    try:
        fn(); r[key] = "allowed"
    except PermissionError:
        r[key] = "denied"
    except FileNotFoundError:
        r[key] = "absent"
tryit("list_inbound", lambda: os.listdir({str(inbound)!r}))
tryit("list_feedback", lambda: os.listdir({str(hub.exchange / COURSE / 'feedback')!r}))
tryit("read_source", lambda: open({teacher_home + '/' + COURSE + '/solutions/' + ASSIGNMENT + '/' + ASSIGNMENT + '.ipynb'!r}).read())
tryit("list_teacher_home", lambda: os.listdir({teacher_home!r}))
tryit("list_other_home", lambda: os.listdir({pwd.getpwnam(other).pw_dir!r}))
tryit("read_other_fetched", lambda: open({pwd.getpwnam(other).pw_dir + '/' + ASSIGNMENT + '/' + ASSIGNMENT + '.ipynb'!r}).read())
tryit("list_outbound", lambda: os.listdir({str(hub.exchange / COURSE / 'outbound' / ASSIGNMENT)!r}))
print(json.dumps(r))
"""
    done = as_user(me, probe)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen == {"list_inbound": "denied", "list_feedback": "denied" if feedback_released else "absent",
                    "read_source": "denied",
                    "list_teacher_home": "denied", "list_other_home": "denied", "read_other_fetched": "denied",
                    "list_outbound": "allowed"}, seen
    # The same through the HTTP APIs: another user's server, the instructor's Formgrader, a student's own formgrader.
    assert hub.session(other, token_of=me).get(f"{hub.url}/user/{other}/api/contents", timeout=30).status_code == 403
    assert hub.session(INSTRUCTOR, token_of=me).get(
        f"{hub.url}/user/{INSTRUCTOR}/formgrader/api/submissions/{ASSIGNMENT}", timeout=30).status_code == 403
    assert sessions[me].get(f"{sessions[me].base}/formgrader/api/assignments", timeout=30).status_code == 404
    listing = value_of(call(sessions[me], "GET", "/assignments", params={"course_id": COURSE}))
    mine = [a for a in listing if a["status"] == "submitted"]
    assert mine and all(a.get("student_id", me) == me for a in mine), mine
    # A student's submission list holds only their own submissions (nbgrader lists inbound by name prefix).
    assert all(len(a["submissions"]) == 1 for a in mine)


def test_load_check_30_students_fetch_and_submit_at_once(hub):
    """Bounded load on loopback: N_LOAD students' servers, then every one fetches and submits at the same moment."""
    t0 = time.time()
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(hub.start, LOAD_STUDENTS))
    spawn_s = time.time() - t0
    latencies: Dict[str, float] = {}

    def one(name: str) -> str:
        s = hub.session(name)
        t = time.time()
        listing = student_fetch(s)
        assert any(a["status"] == "fetched" for a in listing if a["assignment_id"] == ASSIGNMENT), (name, listing)
        student_edit(s, ANSWERS["correct"])
        stamps = submitted_timestamps(student_submit(s))
        latencies[name] = time.time() - t
        return stamps[-1]

    t1 = time.time()
    with ThreadPoolExecutor(N_LOAD) as pool:
        stamps = dict(zip(LOAD_STUDENTS, pool.map(one, LOAD_STUDENTS)))
    wall = time.time() - t1
    # Nothing lost: one inbound submission per student, each complete, and the instructor collects them all.
    inbound = hub.exchange / COURSE / "inbound"
    for name in LOAD_STUDENTS:
        entries = [p for p in inbound.iterdir() if p.name.startswith(f"{name}+{ASSIGNMENT}+")]
        assert len(entries) == 1, (name, entries)
        nb = json.loads((entries[0] / f"{ASSIGNMENT}.ipynb").read_text())
        assert any("return x * x" in "".join(c["source"]) for c in nb["cells"]), name
        assert (entries[0] / "timestamp.txt").read_text().strip()[:19] == stamps[name][:19]
    inst = hub.session(INSTRUCTOR)
    assert call(inst, "POST", f"/formgrader/api/assignment/{ASSIGNMENT}/collect")["success"]
    course = Path(pwd.getpwnam(INSTRUCTOR).pw_dir) / COURSE / "grading" / "submitted"
    collected = {p.name for p in course.iterdir() if (p / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").is_file()}
    assert set(LOAD_STUDENTS) <= collected
    lat = sorted(latencies.values())
    p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]
    print(f"rehearsal load check: {N_LOAD} servers started in {spawn_s:.1f} s (6 at a time); {N_LOAD} students "
          f"fetched, edited and submitted at once in {wall:.1f} s wall; per student median "
          f"{statistics.median(lat):.1f} s, p95 {p95:.1f} s, max {lat[-1]:.1f} s; {len(collected)} collected, 0 lost")
