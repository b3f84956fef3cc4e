"""nbgrader settings for an instructor's or TA's server: the course repository's own nbgrader_config.py.

The course directory is a clone of the repository in the instructor's home (``FRONTIER_COURSE_ROOT``, default
``~/llm-frontiers``); its nbgrader_config.py sets the folders, the gradebook, the release and feedback
preprocessors, and reads NBGRADER_EXCHANGE_ROOT for the shared exchange. Without a clone, only the exchange is set.
"""
import os
from pathlib import Path

c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "llm-frontiers"
c.Exchange.root = os.environ.get("NBGRADER_EXCHANGE_ROOT", "/srv/nbgrader/exchange")
_course = Path(os.environ.get("FRONTIER_COURSE_ROOT", Path.home() / "llm-frontiers"))
if (_course / "nbgrader_config.py").is_file():
    load_subconfig("nbgrader_config.py", path=str(_course))  # noqa: F821
