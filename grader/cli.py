"""The ``autograde`` command line: thin glue over the engine and the reporters."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from grader import __version__, assignment, sandbox
from grader.engine import Session
from grader.reporters import json_report, terminal

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


def _load_assignment(path: Path | None) -> assignment.Assignment:
    try:
        return assignment.load(path or assignment.find())
    except assignment.AssignmentError as error:
        raise click.UsageError(str(error)) from error


def _sandbox_mode(requested: str) -> str:
    try:
        mode = sandbox.resolve(requested)
    except sandbox.SandboxUnavailable as error:
        raise click.UsageError(str(error)) from error
    if requested == "auto" and mode == "process":
        click.echo("warning: bubblewrap is not available: student code runs in plain processes with resource "
                   "limits only (see SECURITY.md)", err=True)
    return mode


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="autograde")
def main() -> None:
    """Grade PyTorch autograd exercises: precise feedback for students, gradebooks for instructors."""


@main.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--only", "only", multiple=True, metavar="NAME", help="Grade only this function (repeatable).")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--seed", type=int, default=None, help="Seed of the random inputs (default: a fresh one).")
@click.option("--sandbox", "sandbox_mode", type=click.Choice(sandbox.MODES), default="auto", show_default=True,
              help="Isolation of student code.")
@click.option("--assignment", "assignment_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="The assignment.toml (default: found from the working folder).")
def check(path: Path, only: tuple[str, ...], output_format: str, seed: int | None, sandbox_mode: str,
          assignment_path: Path | None) -> None:
    """Grade one submission PATH (a folder, a .py file or a notebook) against the reference.

    Exit status: 0 all checks pass, 1 some check fails, 2 usage error, 3 internal grader error.
    """
    course = _load_assignment(assignment_path)
    unknown = [name for name in only if name not in {spec.name for spec in course.functions}]
    if unknown:
        raise click.BadParameter(f"no function {', '.join(unknown)} in {course.name}; known: "
                                 + ", ".join(spec.name for spec in course.functions), param_hint="--only")
    with Session(course, seed=seed, sandbox=_sandbox_mode(sandbox_mode), only=list(only) or None) as session:
        result = session.grade(path)
    click.echo(json_report.render(result) if output_format == "json" else terminal.render(result), nl=False)
    sys.exit(EXIT_INTERNAL if result.internal_error else EXIT_OK if result.passed else EXIT_FAILED)
