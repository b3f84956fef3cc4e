"""JupyterHub for a small class on one server: every user a Unix user, nbgrader's exchange on the local disk.

    sudo /srv/llm-frontiers/.venv/bin/jupyterhub -f /srv/llm-frontiers/deploy/jupyterhub/jupyterhub_config.py

docs/deploy.md gives the whole procedure (and The Littlest JupyterHub's variant). The class rehearsal
(`make class-rehearsal`) runs this file with the environment overrides below: DummyAuthenticator, 127.0.0.1.

Environment overrides (all optional):
    FRONTIER_HUB_BIND_URL     where the hub listens (default http://:8000; put TLS in front, see docs/deploy.md)
    FRONTIER_HUB_AUTH         'pam' (default: Unix passwords) or 'dummy' (any password; rehearsals only)
    FRONTIER_HUB_SPAWNER      'local' (default; limits are advisory) or 'systemd' (jupyterhub-systemdspawner:
                              memory and CPU limits enforced)
    FRONTIER_INSTRUCTORS      comma-separated instructor user names (default: instructor)
    FRONTIER_TAS              comma-separated TA user names (default: none)
    FRONTIER_STUDENTS         comma-separated student names for the `students` group (optional; any Unix user who
                              logs in is a student unless FRONTIER_ALLOWED_ONLY=1)
    NBGRADER_EXCHANGE_ROOT    the exchange (default /srv/nbgrader/exchange, created 0777 by docs/deploy.md)
    FRONTIER_HUB_STATE        folder for the hub's database and cookie secret (default /srv/jupyterhub)
    FRONTIER_CHP              configurable-http-proxy executable (default: the one on PATH)
"""
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import course_hub  # noqa: E402

c = get_config()  # noqa: F821


def _names(var: str, default: str = "") -> list:
    return [n.strip() for n in os.environ.get(var, default).split(",") if n.strip()]


ENV_BIN = Path(os.environ.get("FRONTIER_ENV_BIN", Path(sys.executable).parent))
ROLES_DIR = os.environ.get("FRONTIER_ROLES_DIR", str(HERE / "roles"))
EXCHANGE = os.environ.get("NBGRADER_EXCHANGE_ROOT", course_hub.EXCHANGE_ROOT)
STATE = Path(os.environ.get("FRONTIER_HUB_STATE", "/srv/jupyterhub"))
INSTRUCTORS, TAS, STUDENTS = _names("FRONTIER_INSTRUCTORS", "instructor"), _names("FRONTIER_TAS"), \
    _names("FRONTIER_STUDENTS")

# -- Network and state ------------------------------------------------------------------------------------------
c.JupyterHub.bind_url = os.environ.get("FRONTIER_HUB_BIND_URL", "http://:8000")
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")
if os.environ.get("FRONTIER_CHP"):
    c.ConfigurableHTTPProxy.command = [os.environ["FRONTIER_CHP"]]

# -- Who may log in, and the groups that give roles ---------------------------------------------------------------
if os.environ.get("FRONTIER_HUB_AUTH", "pam") == "dummy":
    c.JupyterHub.authenticator_class = "dummy"   # any password: only for rehearsals on 127.0.0.1
else:
    c.JupyterHub.authenticator_class = "pam"     # the server's Unix accounts
c.Authenticator.admin_users = set(INSTRUCTORS)
if os.environ.get("FRONTIER_ALLOWED_ONLY") == "1":
    c.Authenticator.allowed_users = set(INSTRUCTORS + TAS + STUDENTS)
else:
    c.Authenticator.allow_all = True
c.JupyterHub.load_groups = {"instructors": {"users": INSTRUCTORS}, "tas": {"users": TAS},
                            "students": {"users": STUDENTS}}

# -- Each user's server: their own Unix user, the course environment, their role's extensions ---------------------
if os.environ.get("FRONTIER_HUB_SPAWNER", "local") == "systemd":
    c.JupyterHub.spawner_class = "systemdspawner.SystemdSpawner"
    c.SystemdSpawner.dynamic_users = False       # real Unix users: nbgrader's exchange needs their UIDs
else:
    c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"
c.Spawner.cmd = [str(ENV_BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.environment = {"PATH": f"{ENV_BIN}:/usr/local/bin:/usr/bin:/bin"}
c.Spawner.pre_spawn_hook = course_hub.make_pre_spawn_hook(ROLES_DIR, EXCHANGE)
# Limits (enforced by SystemdSpawner; LocalProcessSpawner only passes them on as MEM_LIMIT/CPU_LIMIT).
c.Spawner.mem_limit = os.environ.get("FRONTIER_MEM_LIMIT", "3G")
c.Spawner.cpu_limit = float(os.environ.get("FRONTIER_CPU_LIMIT", "1"))
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 90
# Idle culling inside each server (jupyter_server's own): kernels idle for 20 minutes are stopped, and a server with
# no kernels, terminals or requests for an hour shuts itself down (the hub then shows it as stopped).
c.Spawner.args = ["--MappingKernelManager.cull_idle_timeout=1200", "--MappingKernelManager.cull_interval=120",
                  "--ServerApp.shutdown_no_activity_timeout=3600"]
c.JupyterHub.concurrent_spawn_limit = int(os.environ.get("FRONTIER_SPAWN_LIMIT", "20"))

# -- Site additions -------------------------------------------------------------------------------------------------
# A further config file of your own (services, TLS, another authenticator), loaded last:
#   FRONTIER_HUB_EXTRA_CONFIG=/etc/jupyterhub/local_config.py
if os.environ.get("FRONTIER_HUB_EXTRA_CONFIG"):
    _extra = Path(os.environ["FRONTIER_HUB_EXTRA_CONFIG"])
    load_subconfig(_extra.name, path=str(_extra.parent))  # noqa: F821
