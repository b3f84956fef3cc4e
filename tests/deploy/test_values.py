"""deploy/jupyterhub: the Zero to JupyterHub values against the chart's schema, and the course policy they carry."""
from __future__ import annotations

import importlib.util
import json
import re
import sys
import types
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "jupyterhub"
_spec = importlib.util.spec_from_file_location("course_hub", DEPLOY / "course_hub.py")
course_hub = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(course_hub)


@pytest.fixture(scope="module")
def values():
    return yaml.safe_load((DEPLOY / "values.yaml").read_text())


@pytest.fixture(scope="module")
def validator():
    """The chart's schema, minus ``required``: helm validates the chart's defaults merged with our values, and the
    defaults (not kept here) supply the required keys; every other rule (types, enums, no unknown keys) applies."""
    schema = json.loads((DEPLOY / "chart" / "values.schema.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    overlay = jsonschema.validators.extend(cls, {"required": lambda *args: None})
    return overlay(schema)


def test_values_validate_against_the_chart_schema(values, validator):
    errors = sorted(validator.iter_errors(values), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors)


@pytest.mark.parametrize("path, bad", [
    (("singleuser", "memroy"), {"limit": "4G"}),              # a typo the chart would silently ignore without a schema
    (("cull", "timeout"), "one hour"),                      # wrong type
    (("singleuser", "storage", "type"), "floppy"),           # not one of the chart's storage types
])
def test_the_schema_catches_mistakes(values, validator, path, bad):
    broken = json.loads(json.dumps(values))
    node = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = bad
    assert list(validator.iter_errors(broken)), f"{'.'.join(path)}={bad!r} was accepted"


def test_chart_version_is_stated_everywhere(values):
    version = (DEPLOY / "chart" / "CHART_VERSION").read_text().strip()
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert f"chart jupyterhub {version}" in (DEPLOY / "values.yaml").read_text()
    assert f"--version {version}" in (ROOT / "docs" / "deploy.md").read_text()
    assert version in (DEPLOY / "chart" / "README.md").read_text()


def test_values_set_what_the_course_needs(values):
    su = values["singleuser"]
    assert su["image"]["name"] and su["image"]["tag"]
    assert su["memory"]["limit"] and su["cpu"]["limit"] and values["cull"]["enabled"]
    assert su["extraEnv"]["NBGRADER_EXCHANGE_ROOT"] == course_hub.EXCHANGE_ROOT
    mounts = {m["name"]: m["mountPath"] for m in su["storage"]["extraVolumeMounts"]}
    assert mounts["nbgrader-exchange"] == course_hub.EXCHANGE_ROOT
    claim = yaml.safe_load_all((DEPLOY / "exchange.yaml").read_text())
    pvc = next(d for d in claim if d["kind"] == "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert {v["persistentVolumeClaim"]["claimName"] for v in su["storage"]["extraVolumes"]} == {pvc["metadata"]["name"]}
    groups = values["hub"]["config"]["JupyterHub"]["load_groups"]
    assert set(groups) >= {"instructors", "students"}


class _Spawner:
    def __init__(self, name, uid, groups):
        self.user = types.SimpleNamespace(name=name, id=uid, groups=[types.SimpleNamespace(name=g) for g in groups])
        self.environment = {}


def _extra_config(values):
    """Run the chart's hub.extraConfig the way the hub does (a traitlets config ``c`` in its namespace)."""
    from traitlets.config import Config

    c = Config()
    ns = {"c": c}
    for code in values["hub"]["extraConfig"].values():
        exec(compile(code, "values.yaml:hub.extraConfig", "exec"), ns)
    return c, ns


@pytest.mark.parametrize("groups, role", [([], "student"), (["students"], "student"), (["instructors"], "instructor"),
                                          (["tas", "students"], "instructor")])
def test_extra_config_applies_the_same_policy_as_course_hub(values, groups, role):
    c, ns = _extra_config(values)
    assert ns["role_of"](groups) == course_hub.role_of(groups) == role
    spawner = _Spawner("alice", 7, groups)
    c.KubeSpawner.pre_spawn_hook(spawner)
    expected = course_hub.server_environment("alice", groups, "/etc/jupyter/roles")
    assert spawner.environment == expected
    assert spawner.environment["JUPYTER_CONFIG_PATH"] == f"/etc/jupyter/roles/{role}"
    # Per-user UIDs: distinct users never share one (the exchange's permissions depend on it).
    uids = {c.KubeSpawner.uid(_Spawner(f"u{i}", i, groups)) for i in range(1, 501)}
    assert len(uids) == 500 and min(uids) == course_hub.UID_BASE + 1 == ns["uid_for"](1)
    assert c.KubeSpawner.gid == course_hub.COURSE_GID


@pytest.mark.parametrize("bad", [0, -3, 1.5, True, "7"])
def test_uid_for_rejects_what_is_not_a_hub_user_id(values, bad):
    _, ns = _extra_config(values)
    for fn in (course_hub.uid_for, ns["uid_for"]):
        with pytest.raises(ValueError, match="user_id"):
            fn(bad)


def test_role_folders_enable_the_right_extensions():
    roles = DEPLOY / "roles"
    student = json.loads((roles / "student" / "labconfig" / "page_config.json").read_text())["disabledExtensions"]
    assert {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:course-list",
            "@jupyter/nbgrader:create-assignment"} <= {k for k, v in student.items() if v}
    assert not any(json.loads((roles / "instructor" / "labconfig" / "page_config.json").read_text())
                   ["disabledExtensions"].values())
    server = {r: json.loads((roles / r / "jupyter_server_config.json").read_text())["ServerApp"]["jpserver_extensions"]
              for r in ("student", "instructor")}
    assert server["student"]["nbgrader.server_extensions.formgrader"] is False
    assert server["student"]["nbgrader.server_extensions.assignment_list"] is True
    assert all(server["instructor"].values())


def test_role_nbgrader_configs_point_at_the_exchange(tmp_path, monkeypatch):
    from traitlets.config.loader import PyFileConfigLoader

    monkeypatch.setenv("NBGRADER_EXCHANGE_ROOT", str(tmp_path / "ex"))
    monkeypatch.setenv("FRONTIER_COURSE_ROOT", str(ROOT))
    for role in ("student", "instructor"):
        cfg = PyFileConfigLoader("nbgrader_config.py", path=str(DEPLOY / "roles" / role)).load_config()
        assert cfg.Exchange.root == str(tmp_path / "ex") and cfg.CourseDirectory.course_id == "llm-frontiers"
    # The instructor's loads the course repository's config (folders, gradebook, preprocessors).
    assert cfg.CourseDirectory.source_directory == "solutions" and cfg.CourseDirectory.root == str(ROOT)


def test_dockerfile_copies_only_what_the_repository_has():
    text = (DEPLOY / "Dockerfile").read_text()
    sources = [line.split()[1:-1] for line in text.splitlines() if line.startswith("COPY ")]
    assert sources
    for src in (s for group in sources for s in group):
        assert (ROOT / src).exists(), f"Dockerfile copies {src}, which the repository lacks"
    assert '".[course,all,hub]"' in text and "-c .ci/constraints.txt" in text
    assert "jupyterhub-singleuser" in text


def test_one_server_config_loads_with_the_rehearsal_overrides(tmp_path, monkeypatch):
    from traitlets.config.loader import PyFileConfigLoader

    monkeypatch.setenv("FRONTIER_HUB_AUTH", "dummy")
    monkeypatch.setenv("FRONTIER_HUB_STATE", str(tmp_path))
    monkeypatch.setenv("FRONTIER_INSTRUCTORS", "teach")
    monkeypatch.setenv("FRONTIER_TAS", "ta1,ta2")
    cfg = PyFileConfigLoader("jupyterhub_config.py", path=str(DEPLOY)).load_config()
    assert cfg.JupyterHub.authenticator_class == "dummy"
    assert cfg.JupyterHub.load_groups["tas"]["users"] == ["ta1", "ta2"]
    assert cfg.Authenticator.admin_users == {"teach"}
    spawner = _Spawner("ta1", 3, ["tas"])
    cfg.Spawner.pre_spawn_hook(spawner)
    assert spawner.environment["JUPYTER_CONFIG_PATH"] == str(DEPLOY / "roles" / "instructor")
    assert any("shutdown_no_activity_timeout" in a for a in cfg.Spawner.args)
    sys.modules.pop("course_hub", None)
