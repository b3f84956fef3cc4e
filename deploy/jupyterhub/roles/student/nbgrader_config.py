"""nbgrader settings for a student's server: the course and the shared exchange (nothing else is needed).

Found through JUPYTER_CONFIG_PATH (deploy/jupyterhub/course_hub.py puts this folder first).
"""
import os

c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "llm-frontiers"
c.Exchange.root = os.environ.get("NBGRADER_EXCHANGE_ROOT", "/srv/nbgrader/exchange")
