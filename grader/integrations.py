"""Ready-made integration files: the GitHub Classroom workflow and the Gradescope autograder zip.

Both grade the student release (see ``autograde release --out``): the stubs, the declarations and
the answer key, never the solutions.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import grader

RUNNER_ID = "autograde"  # the reporter accepts letters and digits only
DEFAULT_TORCH = "torch==2.13.0"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"

CLASSROOM_WORKFLOW = """\
# GitHub Classroom autograding with autograde: one check step, then Classroom's reporter.
# The reporter reads {runner_upper}_RESULTS (base64 JSON written by `--format classroom` to the
# step output), shows "Points x/y" and fails the job when a check fails.
name: Autograding
on: [push, workflow_dispatch, repository_dispatch]
permissions:
  checks: write
  actions: read
  contents: read
jobs:
  run-autograding-tests:
    runs-on: ubuntu-latest
    if: github.actor != 'github-classroom[bot]'
    timeout-minutes: 15
    steps:
      - name: Checkout code
        uses: actions/checkout@v4
      - name: Set up Python
        uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install the sandbox (bubblewrap), PyTorch (CPU build) and autograde
        run: |
          if ! (sudo apt-get update -q && sudo apt-get install -y -q bubblewrap); then
            echo "::warning title=autograde::bubblewrap could not be installed: the checks run without the sandbox"
            echo "**autograde**: bubblewrap could not be installed, so the checks ran without the sandbox." >> "$GITHUB_STEP_SUMMARY"
          fi
          python -m pip install "{torch}" --index-url {torch_index}
          python -m pip install "{install}"
      - name: Grade
        id: {runner}
        run: autograde check {exercises} --format classroom --no-server
      - name: Autograding Reporter
        if: always()
        uses: classroom-resources/autograding-grading-reporter@v1
        env:
          {runner_upper}_RESULTS: "${{{{ steps.{runner}.outputs.result }}}}"
        with:
          runners: {runner}
"""

GRADESCOPE_SETUP = """\
#!/usr/bin/env bash
# Gradescope runs this once to build the autograder image. autograde needs Python 3.11+; the
# default base image (Ubuntu 22.04) has 3.10, so there uv provides a 3.11 for the venv.
# TORCH_INDEX may name a mirror of PyTorch's CPU wheels.
set -euo pipefail
TORCH_INDEX="${{TORCH_INDEX:-{torch_index}}}"
apt-get update -q && apt-get install -y -q python3 python3-venv python3-pip bubblewrap
if python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  python3 -m venv /autograder/venv
else
  python3 -m pip install -q uv
  python3 -m uv venv --seed --python 3.11 /autograder/venv
fi
/autograder/venv/bin/pip install -q "{torch}" --index-url "$TORCH_INDEX"
/autograder/venv/bin/pip install -q /autograder/source/autograde
"""

GRADESCOPE_RUN = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission: the student's files are in /autograder/submission.
cd /autograder/source/course
/autograder/venv/bin/autograde check /autograder/submission --format gradescope --no-server > /autograder/results/results.json || true
"""


VENDORED = ".autograde"  # where the template repository carries autograde's own source


def classroom_workflow(install: str = f"./{VENDORED}", torch: str = DEFAULT_TORCH, exercises: str = "exercises") -> str:
    """The workflow file for the assignment's template repository."""
    return CLASSROOM_WORKFLOW.format(runner=RUNNER_ID, runner_upper=RUNNER_ID.upper(), install=install, torch=torch,
                                     torch_index=TORCH_CPU_INDEX, exercises=exercises)


def write_classroom(bundle: Path, install: str | None, torch: str) -> Path:
    """Write ``.github/workflows/classroom.yml`` into the release folder (the template repository).

    Without ``install`` the workflow installs the copy of autograde's source written beside it,
    so the repository grades with exactly this version and needs no package index for it.
    """
    if install is None:
        for source, name in source_files():
            target = bundle / VENDORED / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
        install = f"./{VENDORED}"
    workflow = bundle / ".github" / "workflows" / "classroom.yml"
    workflow.parent.mkdir(parents=True, exist_ok=True)
    workflow.write_text(classroom_workflow(install, torch), encoding="utf-8")
    return workflow


def source_files() -> list[tuple[Path, str]]:
    """autograde's own source, as (file, name relative to the project): what ``pip install`` of it needs."""
    package = Path(grader.__file__).resolve().parent
    project = package.parent
    return ([(path, f"grader/{path.relative_to(package)}") for path in sorted(package.rglob("*.py"))]
            + [(project / name, name) for name in ("pyproject.toml", "README.md")])


def write_gradescope(bundle: Path, out: Path, torch: str) -> Path:
    """The autograder zip: setup.sh, run_autograder, the release (as course/) and autograde's own source."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in (("setup.sh", GRADESCOPE_SETUP.format(torch=torch, torch_index=TORCH_CPU_INDEX)),
                           ("run_autograder", GRADESCOPE_RUN)):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            archive.writestr(info, text)
        for path in sorted(p for p in bundle.rglob("*") if p.is_file() and not {".github", VENDORED} & set(p.parts)):
            archive.write(path, f"course/{path.relative_to(bundle)}")
        for source, name in source_files():
            archive.write(source, f"autograde/{name}")
    return out
