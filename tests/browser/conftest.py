"""Fixtures for the browser tests: a JupyterLab server, Debian's Chromium driven by Playwright, and a driver that
moves every control of every interactive figure on a page and checks that its figure changed.

Everything runs on this machine: JupyterLab on 127.0.0.1 with a token, a fresh settings and workspace folder, and
Chromium with a fresh profile. There is no network, so requests to CDNs (fonts, MathJax, badges) fail; those
failures are the only console errors the tests forgive (see :func:`is_offline_noise`).

The lessons are served as copies with ``SMOKE = True`` injected after their ``parameters`` cell (the same way the
notebook runner does it, with papermill), so the browser runs them with the small sizes CI uses.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 1000}

#: JupyterLab user settings for the test server: every cell attached to the page (windowing off, so cells far
#: down a long lesson render too), and nothing that would call the internet.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"checkForUpdates": False, "fetchNews": "false"},
    "@jupyterlab/extensionmanager-extension/plugin": {"enabled": False},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
}


def lessons() -> List[Path]:
    """Every lesson notebook, found afresh at each run (new lessons are covered without editing the tests)."""
    return sorted(p for p in (ROOT / "course").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def chromium_path() -> str:
    for exe in ("/usr/bin/chromium", shutil.which("chromium") or ""):
        if exe and os.access(exe, os.X_OK):
            return exe
    pytest.skip("Chromium is not installed (apt-get install chromium)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def isolated_env(tmp: Path) -> Dict[str, str]:
    """The environment for servers the tests start: no user config, and not headless (widgets must be live)."""
    env = {k: v for k, v in os.environ.items() if k != "FRONTIER_HEADLESS"}
    env.update(JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
               JUPYTER_DATA_DIR=str(tmp / "data"), JUPYTER_PLATFORM_DIRS="1", PYTHONUNBUFFERED="1")
    return env


def wait_for_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except urllib.error.HTTPError:
            return  # the server answers (a login redirect or a 404 still means it is up)
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"server did not answer {url} within {timeout:.0f} s:\n{tail(log)}")


def tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def stop(proc: subprocess.Popen) -> None:
    """Stop a server started with ``start_new_session=True`` and everything it started (its kernels)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)


def write_smoke_copies(dest: Path) -> List[str]:
    """Copy ``course/`` to ``dest/course`` with ``SMOKE=True`` injected into every lesson; return their paths."""
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook
    import nbformat

    shutil.copytree(ROOT / "course", dest / "course", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    rels = []
    for nb_path in lessons():
        rel = nb_path.relative_to(ROOT).as_posix()
        nb = parameterize_notebook(load_notebook_node(str(nb_path)), {"SMOKE": True},
                                   kernel_name="python3", language="python")
        nbformat.write(nb, dest / rel)
        rels.append(rel)
    return rels


# --------------------------------------------------------------------------------------------------------------
# Servers and the browser


@dataclass
class Server:
    base: str
    token: str
    root: Path
    log: Path

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base}{path}{sep}token={self.token}"


@pytest.fixture(scope="session")
def served_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("served")
    write_smoke_copies(root)
    return root


def launch_lab(root: Path, tmp: Path, env: Dict[str, str], launcher: List[str]) -> "tuple[subprocess.Popen, Server]":
    """Start JupyterLab (``launcher + ['lab'-options]``) on a free port of 127.0.0.1 with a token, fresh settings and
    workspaces under ``tmp``, serving ``root`` (also its working directory); wait until it answers."""
    settings = tmp / "settings"
    for plugin, values in LAB_SETTINGS.items():
        target = settings / f"{plugin}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))
    port, token = free_port(), secrets.token_hex(16)
    cmd = [*launcher, "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", f"--LabApp.user_settings_dir={settings}",
           f"--LabApp.workspaces_dir={tmp / 'workspaces'}", "--LabApp.expose_app_in_browser=True"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = tmp / "lab.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", token, root, log)
    try:
        wait_for_http(server.url("/api/status"), proc, log)
    except BaseException:
        stop(proc)
        raise
    return proc, server


@pytest.fixture(scope="session")
def lab_server(served_root, tmp_path_factory):
    """JupyterLab on a free port of 127.0.0.1 with a token, fresh settings and workspaces, serving the copies."""
    tmp = tmp_path_factory.mktemp("lab")
    proc, server = launch_lab(served_root, tmp, isolated_env(tmp), [sys.executable, "-m", "jupyterlab"])
    try:
        yield server
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium (never a downloaded build), headless, with a fresh temporary profile."""
    exe = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(30_000)
    pg = context.new_page()
    pg.console_log = ConsoleLog(pg)
    try:
        yield pg
    finally:
        context.close()


@pytest.fixture(scope="session")
def screenshots():
    """``screenshots("lab")`` -> ``build/screenshots/lab/``, emptied of the previous run's pictures the first time
    this session asks for it (so a run of only the Voilà test keeps the lab pictures, and the other way round)."""
    cleaned = set()

    def folder(kind: str) -> Path:
        path = SCREENSHOTS / kind
        if kind not in cleaned:
            shutil.rmtree(path, ignore_errors=True)
            cleaned.add(kind)
        path.mkdir(parents=True, exist_ok=True)
        return path

    return folder


# --------------------------------------------------------------------------------------------------------------
# Console errors


_LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1", ""}


def is_offline_noise(kind: str, text: str, url: str) -> bool:
    """A console error caused only by having no internet: a failed fetch of a resource on another host.

    Chromium reports a failed subresource as ``Failed to load resource: net::ERR_...`` with the resource's URL as
    the message's location; the lessons' Colab badge, MathJax and web fonts come from CDNs. Anything from the
    local servers, and every uncaught exception, is real.
    """
    if kind != "error":
        return False
    host = urlparse(url or "").hostname or ""
    if host in _LOCAL_HOSTS:
        return False
    if text.startswith("Failed to load resource: net::ERR_"):
        return True
    # A <script src> or font on a CDN that could not be fetched, reported with the CDN's address in the text.
    return bool(re.search(r"net::ERR_(NAME_NOT_RESOLVED|INTERNET_DISCONNECTED|CONNECTION_REFUSED|"
                          r"ADDRESS_UNREACHABLE|PROXY_CONNECTION_FAILED|TIMED_OUT)", text))


class ConsoleLog:
    """Console errors and uncaught exceptions of one page."""

    def __init__(self, page):
        self.entries: List[dict] = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.entries.append(
            {"kind": "pageerror", "text": f"{exc.name}: {exc.message}\n{exc.stack or ''}"[:2000], "url": ""}))

    def _on_console(self, msg) -> None:
        if msg.type == "error":
            self.entries.append({"kind": "error", "text": msg.text[:2000], "url": (msg.location or {}).get("url", "")})

    def real_errors(self) -> List[str]:
        return [f"[{e['kind']}] {e['text']} (at {e['url'] or '?'})" for e in self.entries
                if not is_offline_noise(e["kind"], e["text"], e["url"])]

    def noise(self) -> List[str]:
        return [f"{e['text']} ({e['url']})" for e in self.entries if is_offline_noise(e["kind"], e["text"], e["url"])]


# --------------------------------------------------------------------------------------------------------------
# Interactive figures in the DOM

#: Controls the driver knows how to move (ipywidgets 8 class names, as JupyterLab and Voilà render them).
CONTROL_SELECTOR = (".widget-slider, .widget-dropdown, .widget-checkbox, .widget-toggle-buttons, .widget-radio, "
                    ".widget-text, .widget-play, .widget-button, .widget-select, .widget-toggle-button")

_JS_HELPERS = r"""
window.__frontier = window.__frontier || (() => {
  const CONTROL = %(controls)s;
  const outputsOf = (block) => [...block.querySelectorAll('.widget-output')].filter(
      (o) => { const outer = o.parentElement.closest('.widget-output'); return !outer || !block.contains(outer); });
  const ownControls = (block) => [...block.querySelectorAll(CONTROL)].filter((c) => {
      const out = c.closest('.widget-output'); return !out || !block.contains(out); })
      .filter((c) => !c.parentElement.closest(CONTROL));
  const hash = (s) => { let h = 0x811c9dc5; for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0; } return h.toString(16) + ':' + s.length; };
  const replacer = (k, v) => (ArrayBuffer.isView(v) ? Array.from(v) : v);
  const kindOf = (c) => {
    if (c.classList.contains('widget-slider')) return c.querySelectorAll('.noUi-handle').length > 1 ? 'range' : 'slider';
    if (c.classList.contains('widget-dropdown')) return 'dropdown';
    if (c.classList.contains('widget-checkbox')) return 'checkbox';
    if (c.classList.contains('widget-toggle-buttons')) return 'toggle-buttons';
    if (c.classList.contains('widget-radio')) return 'radio';
    return [...c.classList].filter((x) => x.startsWith('widget-')).join(' ') || 'unknown';
  };
  const clean = (t) => (t || '').replace(/[\u200b\s]+/g, ' ').trim();
  const labelOf = (c) => { for (const l of c.querySelectorAll('label, .widget-label, .widget-label-basic')) {
      const t = clean(l.textContent); if (t) return t; } return clean(c.textContent).slice(0, 40); };
  const valueOf = (c) => {
    const k = kindOf(c);
    if (k === 'slider' || k === 'range') { const r = c.querySelector('.widget-readout');
      return r ? r.textContent.trim() : [...c.querySelectorAll('.noUi-handle')].map((h) => h.getAttribute('aria-valuenow')).join(','); }
    if (k === 'dropdown') { const s = c.querySelector('select'); return s ? s.options[s.selectedIndex]?.text : null; }
    if (k === 'checkbox') { const i = c.querySelector('input[type=checkbox]'); return i ? String(i.checked) : null; }
    if (k === 'toggle-buttons') { const b = c.querySelector('button.mod-active'); return b ? b.textContent.trim() : null; }
    if (k === 'radio') { const i = c.querySelector('input:checked'); return i ? i.value : null; }
    return null;
  };
  return {
    // Mark every interactive figure (the innermost widget box holding an Output and controls outside it).
    scan(rootSel) {
      const root = document.querySelector(rootSel) || document.body;
      const blocks = [];
      for (const out of root.querySelectorAll('.widget-output')) {
        let b = out.parentElement && out.parentElement.closest('.widget-box');
        while (b && !ownControls(b).length) b = b.parentElement && b.parentElement.closest('.widget-box');
        if (b && root.contains(b) && !blocks.includes(b)) blocks.push(b);
      }
      const innermost = blocks.filter((b) => !blocks.some((o) => o !== b && b.contains(o)));
      const claimed = new Set();
      const result = innermost.map((b, k) => {
        b.setAttribute('data-fb', String(k));
        const controls = ownControls(b).map((c, j) => { c.setAttribute('data-fc', k + ':' + j); claimed.add(c);
          return {j, kind: kindOf(c), label: labelOf(c), value: valueOf(c)}; });
        return {k, controls, outputs: outputsOf(b).length};
      });
      const orphans = [...root.querySelectorAll(CONTROL)].filter((c) => !claimed.has(c) && !c.parentElement.closest(CONTROL))
          .map((c) => kindOf(c) + ' ' + labelOf(c));
      return {blocks: result, orphans};
    },
    // What the figure(s) of block k show now; null while any of them is still rendering.
    signature(k) {
      const b = document.querySelector('[data-fb="' + k + '"]');
      if (!b) return null;
      const sig = [];
      for (const o of outputsOf(b)) {
        const plots = o.querySelectorAll('.js-plotly-plot');
        if (!plots.length) return null;
        for (const gd of plots) {
          if (!gd._fullLayout || !gd.data || !gd.layout) return null;
          const t = gd.layout.title;
          sig.push({title: typeof t === 'string' ? t : (t && t.text) || '',
                    meta: JSON.stringify(gd.layout.meta === undefined ? null : gd.layout.meta),
                    traces: gd.data.length, data: hash(JSON.stringify(gd.data, replacer))});
        }
      }
      return sig.length ? sig : null;
    },
    status(k) {
      const b = document.querySelector('[data-fb="' + k + '"]');
      return b ? [...b.querySelectorAll('.widget-html-content')].filter((h) => !h.closest('.widget-output'))
          .map((h) => h.textContent.trim()).filter(Boolean).join(' | ') : '';
    },
    value(k, j) { const c = document.querySelector('[data-fc="' + k + ':' + j + '"]'); return c ? valueOf(c) : null; },
    // Error outputs anywhere under root: tracebacks, widgets that failed to render.
    domErrors(rootSel) {
      const root = document.querySelector(rootSel) || document.body;
      const found = [];
      for (const el of root.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"], .jp-RenderedText, .output_error')) {
        const text = el.textContent || '';
        if (/Traceback \(most recent call last\)|^\s*[A-Za-z_.]*(Error|Exception)\b/m.test(text)) found.push(text.trim().slice(0, 800));
      }
      for (const el of root.querySelectorAll('.jp-OutputArea-output, .widget-output, .jupyter-widgets')) {
        const text = (el.textContent || '').trim();
        if (/^(Error displaying widget|Error rendering|Failed to display|Model not found)/i.test(text)) found.push(text.slice(0, 300));
      }
      return [...new Set(found)];
    },
  };
})();
""" % {"controls": json.dumps(CONTROL_SELECTOR)}


@dataclass
class ControlResult:
    figure: int
    kind: str
    label: str
    before_value: Optional[str]
    after_value: Optional[str] = None
    changed: List[str] = field(default_factory=list)
    problem: str = ""

    @property
    def visible(self) -> bool:
        """Did something a learner can see change (title, data, traces), not only ``layout.meta``?"""
        return any(c != "meta" for c in self.changed)

    def __str__(self) -> str:
        what = ", ".join(self.changed) if self.changed else self.problem
        return (f"figure {self.figure}, {self.kind} {self.label!r}: {self.before_value!r} -> {self.after_value!r}: "
                f"{what}")


class FigureDriver:
    """Moves every control of every interactive figure under ``root`` and records what each move did."""

    def __init__(self, page, root: str = "body", timeout_s: float = 30.0):
        self.page, self.root, self.timeout_ms = page, root, int(timeout_s * 1000)
        page.evaluate(_JS_HELPERS)

    def js(self, expr: str, arg=None):
        self.page.evaluate("() => { if (!window.__frontier) {" + _JS_HELPERS + "} }")
        return self.page.evaluate(expr, arg)

    def scan(self) -> dict:
        return self.js("(r) => window.__frontier.scan(r)", self.root)

    def signature(self, k: int):
        return self.js("(k) => window.__frontier.signature(k)", k)

    def settled_signature(self, k: int, timeout_s: float = 10.0, quiet_s: float = 0.3):
        """The figure's signature once it has stopped changing (re-renders after a sync settle within ms)."""
        deadline, last = time.time() + timeout_s, self.signature(k)
        while time.time() < deadline:
            time.sleep(quiet_s)
            now = self.signature(k)
            if now is not None and now == last:
                return now
            last = now
        return last

    def dom_errors(self) -> List[str]:
        return self.js("(r) => window.__frontier.domErrors(r)", self.root)

    def wait_for_figures(self, timeout_s: float = 45.0) -> dict:
        """Widget views render after their cells ran: wait until the set of figures stops growing and each shows
        a plot (or the time is up); return the layout (see ``scan``)."""
        deadline, last, stable = time.time() + timeout_s, None, 0
        layout = self.scan()
        while time.time() < deadline:
            layout = self.scan()
            count = (len(layout["blocks"]), sum(len(b["controls"]) for b in layout["blocks"]))
            rendered = all(self.signature(b["k"]) is not None for b in layout["blocks"])
            stable = stable + 1 if (count == last and rendered) else 0
            if stable >= 2:
                break
            last = count
            time.sleep(0.75)
        return layout

    def wait_rendered(self, n_blocks: int) -> List[int]:
        """Wait until every figure shows a plot; return the figures that never did."""
        missing = []
        for k in range(n_blocks):
            try:
                self.page.wait_for_function("(k) => window.__frontier && window.__frontier.signature(k) !== null", arg=k,
                                            timeout=self.timeout_ms)
            except Exception:
                missing.append(k)
        return missing

    def exercise(self) -> tuple[dict, List[ControlResult]]:
        """Move every control of every figure once, in page order; return the layout and one result per control."""
        layout = self.scan()
        results: List[ControlResult] = []
        for block in layout["blocks"]:
            k = block["k"]
            current = self.settled_signature(k)
            for ctl in block["controls"]:
                res, current = self._move_and_check(k, ctl, current)
                results.append(res)
        return layout, results

    # -- one control -----------------------------------------------------------------------------------------
    def _move_and_check(self, k: int, ctl: dict, before):
        res = ControlResult(k, ctl["kind"], ctl["label"], ctl["value"])
        if before is None:
            res.problem = "its figure never rendered"
            return res, self.settled_signature(k)
        loc = self.page.locator(f'[data-fc="{k}:{ctl["j"]}"]')
        loc.scroll_into_view_if_needed()
        try:
            moved = self._move(loc, ctl["kind"], k, ctl["j"])
        except Exception as exc:  # a control the driver cannot operate is a failure to report, not a crash
            res.problem = f"could not be operated: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            return res, self.settled_signature(k)
        res.after_value = self.js("([k, j]) => window.__frontier.value(k, j)", [k, ctl["j"]])
        if not moved:
            res.problem = f"the control did not move ({ctl['kind']} is not supported by the driver)" \
                if moved is None else "the control's value did not change"
            return res, self.settled_signature(k)
        try:
            self.page.wait_for_function(
                """([k, before]) => { const s = window.__frontier.signature(k);
                     return (s !== null && JSON.stringify(s) !== JSON.stringify(before))
                            || window.__frontier.status(k) !== ''; }""",
                arg=[k, before], timeout=self.timeout_ms)
        except Exception:
            pass
        after = self.settled_signature(k, timeout_s=5)
        status = self.js("(k) => window.__frontier.status(k)", k)
        if status:
            res.problem = f"the figure shows a message instead: {status[:300]}"
        elif after is None:
            res.problem = f"the figure disappeared and did not come back within {self.timeout_ms // 1000} s"
        elif after == before:
            res.problem = f"the figure did not change within {self.timeout_ms // 1000} s"
        else:
            for a, b in zip(after, before):
                for key in ("title", "meta", "traces", "data"):
                    if a[key] != b[key] and key not in res.changed:
                        res.changed.append(key)
            if len(after) != len(before):
                res.changed.append("number of plots")
        return res, after

    def _move(self, loc, kind: str, k: int, j: int) -> Optional[bool]:
        value = lambda: self.js("([k, j]) => window.__frontier.value(k, j)", [k, j])  # noqa: E731
        start = value()
        if kind in ("slider", "range"):
            return self._drag_slider(loc, value, start)
        if kind == "dropdown":
            sel = loc.locator("select")
            n, cur = sel.evaluate("(s) => [s.options.length, s.selectedIndex]")
            if n < 2:
                return False
            sel.select_option(index=(cur + 1) % n)
        elif kind == "checkbox":
            loc.locator("input[type=checkbox]").click()
        elif kind == "toggle-buttons":
            buttons = loc.locator("button")
            active = [i for i in range(buttons.count()) if "mod-active" in (buttons.nth(i).get_attribute("class") or "")]
            buttons.nth(((active[0] if active else 0) + 1) % buttons.count()).click()
        elif kind == "radio":
            radios = loc.locator("input[type=radio]")
            checked = [i for i in range(radios.count()) if radios.nth(i).is_checked()]
            radios.nth(((checked[0] if checked else 0) + 1) % radios.count()).check()
        else:
            return None
        return self._changed(value, start)

    def _changed(self, value, start, wait_ms: int = 1500) -> bool:
        deadline = time.time() + wait_ms / 1000
        while time.time() < deadline:
            if value() != start:
                return True
            time.sleep(0.05)
        return False

    def _drag_slider(self, loc, value, start) -> bool:
        """Drag the (first) handle a quarter of the track, the way a learner would; the other way if it is at the end;
        arrow keys as a last resort."""
        handle = loc.locator(".noUi-handle").first
        track = loc.locator(".noUi-base").first
        handle.scroll_into_view_if_needed()
        now = float(handle.get_attribute("aria-valuenow") or 0)
        hi = float(handle.get_attribute("aria-valuemax") or 0)
        directions = (1, -1) if now < hi else (-1, 1)
        for direction in directions:
            hb, tb = handle.bounding_box(), track.bounding_box()
            if not hb or not tb:
                break
            x, y = hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2
            dx = direction * max(tb["width"] * 0.25, 12)
            self.page.mouse.move(x, y)
            self.page.mouse.down()
            self.page.mouse.move(x + dx, y, steps=8)
            self.page.mouse.up()
            if self._changed(value, start):
                return True
        for key in ("ArrowRight", "ArrowLeft"):
            handle.focus()
            handle.press(key)
            if self._changed(value, start):
                return True
        return False


@pytest.fixture
def figure_driver():
    return FigureDriver


# --------------------------------------------------------------------------------------------------------------
# Voilà, started the documented way: `make app NB=...`


@pytest.fixture
def voila_app(served_root, tmp_path):
    """A factory: serve one lesson copy with ``make app NB=...`` on a free port with a token; return its Server."""
    procs = []

    def start(rel: str) -> Server:
        port, token = free_port(), secrets.token_hex(16)
        nb = served_root / rel
        args = (f"--no-browser --port={port} --Voila.ip=127.0.0.1 --Voila.port_retries=0 --token={token}")
        log = tmp_path / "voila.log"
        with open(log, "w") as fh:
            # Without the environment on PATH, as from a shell that never activated it: `make app` must add it.
            env = {**isolated_env(tmp_path), "PATH": path_without_env_bin(os.environ.get("PATH", os.defpath))}
            # -o: a test never reinstalls the environment, even when pyproject.toml is newer than its stamp.
            proc = subprocess.Popen(["make", "--no-print-directory", "-C", str(ROOT), "-o", str(ENV_STAMP), "app",
                                     f"VENV={ENV_BIN.parent}", f"NB={nb}",
                                     f"APP_ARGS={args}"], cwd=ROOT, env=env, stdout=fh,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(proc)
        server = Server(f"http://127.0.0.1:{port}", token, nb.parent, log)
        wait_for_http(server.url("/api/status"), proc, log)
        return server

    yield start
    for proc in procs:
        stop(proc)


# --------------------------------------------------------------------------------------------------------------
# The TA's JupyterLab (tests/browser/test_ta_*.py): one server on a fresh copy of the course, started the way a TA
# who never activated the environment starts it: `.venv/bin/jupyter lab` with a PATH that lacks `.venv/bin`.

#: What a fresh clone holds for grading (tracked files, and new ones not ignored by git); `grading/` is never copied.
TA_COPY = ("nbgrader_config.py", "solutions", "assignments")
#: The environment's bin/ (what `source .venv/bin/activate` would put on PATH).
ENV_BIN = Path(sysconfig.get_path("scripts"))
#: `make setup`'s stamp for that environment (the Makefile's $(STAMP) when VENV is its absolute path).
ENV_STAMP = ENV_BIN.parent / ".frontier-installed"
COURSE_ID = "llm-frontiers"


def path_without_env_bin(path: str) -> str:
    """A PATH value without this Python environment's bin/: what a shell that never activated it has."""
    env_bin = os.path.realpath(ENV_BIN)
    return os.pathsep.join(p for p in path.split(os.pathsep) if p and os.path.realpath(p) != env_bin)


def copy_course_for_ta(dest: Path) -> Path:
    """Copy what a fresh clone has of :data:`TA_COPY` to ``dest`` (git's view of the working tree)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *TA_COPY],
                             cwd=ROOT, capture_output=True, check=True).stdout.decode()
        rels = [r for r in out.split("\0") if r]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: everything but caches
        rels = [p.relative_to(ROOT).as_posix() for name in TA_COPY for p in
                ([ROOT / name] if (ROOT / name).is_file() else (ROOT / name).rglob("*"))
                if p.is_file() and ".ipynb_checkpoints" not in p.parts and "__pycache__" not in p.parts]
    for rel in rels:
        if (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    return dest


@dataclass
class TACourse:
    """A fresh copy of the course and the environment a TA's commands run in (no `.venv/bin` on PATH)."""
    root: Path
    env: Dict[str, str]
    tmp: Path

    def run(self, command: str, *args: str, timeout: float = 300) -> str:
        """Run one of the environment's commands (``nbgrader``, ``python``) by its full path in the course root,
        as `.venv/bin/nbgrader ...` without activation; return its output, fail the test if it fails."""
        res = subprocess.run([str(ENV_BIN / command), *args], cwd=self.root, env=self.env, capture_output=True,
                             text=True, timeout=timeout)
        if res.returncode:
            raise AssertionError(f"{command} {' '.join(args)} exited with {res.returncode}:\n"
                                 f"{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
        return res.stdout + res.stderr

    def run_together(self, *commands: List[str], timeout: float = 300) -> None:
        """Run independent commands of the environment at once (e.g. several students submitting)."""
        procs = [subprocess.Popen([str(ENV_BIN / c[0]), *c[1:]], cwd=self.root, env=self.env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for c in commands]
        failed = []
        for command, proc in zip(commands, procs):
            out, _ = proc.communicate(timeout=timeout)
            if proc.returncode:
                failed.append(f"{' '.join(command)} exited with {proc.returncode}:\n{out[-3000:]}")
        assert not failed, "\n".join(failed)

    @property
    def exchange(self) -> Path:
        return self.root / "grading" / "exchange" / COURSE_ID

    def gradebook(self):
        """nbgrader's Gradebook API on the copy's database (use it as a context manager)."""
        from nbgrader.api import Gradebook

        return Gradebook(f"sqlite:///{self.root / 'grading' / 'gradebook.db'}", course_id=COURSE_ID)

    def assignments(self) -> List[str]:
        return sorted(p.name for p in (self.root / "solutions").iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


@pytest.fixture(scope="session")
def ta_course(tmp_path_factory) -> TACourse:
    tmp = tmp_path_factory.mktemp("ta")
    root = copy_course_for_ta(tmp / "course")
    assert not (root / "grading").exists()
    env = isolated_env(tmp)
    env["PATH"] = path_without_env_bin(env.get("PATH", os.defpath))
    env.pop("VIRTUAL_ENV", None)
    return TACourse(root, env, tmp)


@pytest.fixture(scope="session")
def ta_lab(ta_course):
    """`.venv/bin/jupyter lab` in the copy's root, with a PATH lacking `.venv/bin` (nbgrader_config.py must fix it)."""
    assert str(ENV_BIN) not in ta_course.env["PATH"].split(os.pathsep)
    (ta_course.tmp / "lab").mkdir(exist_ok=True)
    proc, server = launch_lab(ta_course.root, ta_course.tmp / "lab", ta_course.env, [str(ENV_BIN / "jupyter"), "lab"])
    try:
        yield server
    finally:
        stop(proc)


@pytest.fixture
def open_lab(ta_lab):
    """``open_lab(page, "name")``: JupyterLab in a fresh workspace, logged in (cookie set for the formgrader too)."""

    def go(page, workspace: str):
        page.goto(ta_lab.url(f"/lab/workspaces/ta-{workspace}?reset"))
        page.wait_for_function("() => !!(window.jupyterapp && window.jupyterapp.shell)", timeout=90_000)
        page.wait_for_selector(".lm-MenuBar-item", timeout=60_000)
        return page

    return go


@pytest.fixture(scope="session")
def released(ta_course):
    """The first assignment generated and released to the copy's local exchange with nbgrader's own commands."""
    name = ta_course.assignments()[0]
    ta_course.run("nbgrader", "generate_assignment", name, "--force")
    ta_course.run("nbgrader", "release_assignment", name, "--force")
    assert (ta_course.exchange / "outbound" / name).is_dir()
    return name
