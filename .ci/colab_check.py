"""`make colab-check`, step 2: execute every lesson in SMOKE mode with the course's runner, in .venv-colab.

    .venv-colab/bin/python .ci/colab_check.py [runner options]

The same as ``python -m frontier.notebooks run course/ --smoke`` plus one workaround for the harness, not for the
lessons: to mimic a browser, nbclient sends an Output widget's captured outputs back to the kernel over the shell
channel while it waits for the cell's reply. Under Colab's kernel stack (ipykernel 6.17, ipywidgets 7.7) that reply
is then not seen until the cell's timeout runs out, so every cell whose figure lands in an Output widget stalls for
the whole timeout (and then passes). Colab itself never runs nbclient, so learners are not affected. Turning that
echo off changes nothing the check looks at (the kernel never reads the echoed outputs back).
"""
from __future__ import annotations

import sys

import nbclient.output_widget

# At import time, so that it also applies in the runner's worker processes: with the "spawn" start method each
# worker imports this main module again (without running the block under ``__name__ == "__main__"``).
nbclient.output_widget.OutputWidget.sync_state = lambda self: None

if __name__ == "__main__":
    from frontier.notebooks.__main__ import main

    sys.exit(main(["run", "course/", "--smoke", *sys.argv[1:]]))
