"""``python -m grader`` runs the ``autograde`` command line."""

from grader.cli import main

main()
