"""``python -m grader.worker``: serve probe requests on stdin (see ``grader.worker.server``)."""

from grader.worker.server import main

main()
