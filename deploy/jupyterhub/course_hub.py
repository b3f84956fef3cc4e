"""The course's JupyterHub policy, shared by every target: roles, per-user UIDs, the exchange, per-role extensions.

Used by ``jupyterhub_config.py`` (one server: The Littlest JupyterHub or plain JupyterHub with Unix users) and by
the class rehearsal (tests/test_class_rehearsal.py). ``values.yaml`` (Zero to JupyterHub) carries the same
functions in ``hub.extraConfig`` because the chart's hub image cannot import this file;
tests/deploy/test_values.py checks that both give the same answers.

Roles. Members of the hub groups ``instructors`` or ``tas`` get the instructor role, everyone else the student role.
A role is a Jupyter configuration folder (``roles/<role>/`` here, ``/etc/jupyter/roles/<role>/`` in the image)
put first on ``JUPYTER_CONFIG_PATH`` of the user's server: it enables nbgrader's lab and server extensions for the
role (students: the assignment list and validation; instructors and TAs: also the formgrader, the course list and
the create-assignment toolbar) and holds the role's ``nbgrader_config.py`` (the exchange and the course id).

Separation. nbgrader's exchange relies on Unix permissions (inbound is write-only for students, files carry their
owner), so each user's server must run under its own UID. One server: every user is a Unix user. Kubernetes: the
spawner gives each pod ``UID_BASE + <the hub's user id>`` (stable while the hub database lives).
"""
from __future__ import annotations

import os
from typing import Dict, Iterable

#: Hub groups whose members get the instructor role.
INSTRUCTOR_GROUPS = ("instructors", "tas")
#: First UID handed out to pods on Kubernetes (above any system or image user).
UID_BASE = 10000
#: Shared group of every course user on Kubernetes (the home volume's fsGroup).
COURSE_GID = 100
#: Where the exchange lives (a volume every server mounts; 0777 at its root, nbgrader sets the rest).
EXCHANGE_ROOT = "/srv/nbgrader/exchange"
COURSE_ID = "llm-frontiers"


def role_of(group_names: Iterable[str]) -> str:
    """``'instructor'`` for members of :data:`INSTRUCTOR_GROUPS`, else ``'student'``."""
    return "instructor" if set(group_names) & set(INSTRUCTOR_GROUPS) else "student"


def uid_for(user_id: int) -> int:
    """The pod UID of the hub user with database id ``user_id`` (Kubernetes only)."""
    if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id < 1:
        raise ValueError(f"user_id must be a positive int (the hub's user id), got {user_id!r}")
    return UID_BASE + user_id


def server_environment(username: str, group_names: Iterable[str], roles_dir: str,
                       exchange_root: str = EXCHANGE_ROOT) -> Dict[str, str]:
    """Environment variables the user's server gets: its role's config folder first, the exchange, the user name."""
    role = role_of(group_names)
    return {
        "JUPYTER_CONFIG_PATH": os.path.join(roles_dir, role),
        "NBGRADER_EXCHANGE_ROOT": exchange_root,
        "FRONTIER_COURSE_ROLE": role,
        # nbgrader names submissions after the user; a pod with an arbitrary UID has no /etc/passwd entry.
        "USER": username,
        "LOGNAME": username,
    }


def make_pre_spawn_hook(roles_dir: str, exchange_root: str = EXCHANGE_ROOT):
    """A ``Spawner.pre_spawn_hook`` that sets :func:`server_environment` on the spawner."""

    def pre_spawn_hook(spawner) -> None:
        groups = [g.name for g in spawner.user.groups]
        spawner.environment.update(server_environment(spawner.user.name, groups, roles_dir, exchange_root))

    return pre_spawn_hook
