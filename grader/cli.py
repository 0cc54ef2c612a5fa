"""The ``autograde`` command line: thin glue over the engine and the reporters."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from grader import __version__, assignment, batch, gradebook, sandbox
from grader.engine import Session
from grader.reporters import json_report, summary as summary_report, terminal

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


def _load_assignment(path: Path | None) -> assignment.Assignment:
    try:
        return assignment.load(path or assignment.find())
    except assignment.AssignmentError as error:
        raise click.UsageError(str(error)) from error


def _shard(ctx, param, value: str | None) -> batch.Shard | None:
    if value is None:
        return None
    try:
        index, count = (int(part) for part in value.split("/"))
        return batch.Shard(index, count)
    except ValueError as error:
        raise click.BadParameter(f"expected K/N with 1 <= K <= N, got {value!r} ({error})") from error


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


@main.command()
@click.argument("submissions", type=click.Path(exists=True, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("grades"), show_default=True,
              help="Folder for grades.csv, results.json and feedback/.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Parallel workers (default: all cores).")
@click.option("--seed", type=int, default=None, help="Seed of the random inputs, the same for every student.")
@click.option("--resume", is_flag=True, help="Keep the finished grades in --out and grade only what is missing.")
@click.option("--shard", callback=_shard, default=None, metavar="K/N", help="Grade only the K-th of N parts of the class.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--sandbox", "sandbox_mode", type=click.Choice(sandbox.MODES), default="auto", show_default=True)
@click.option("--assignment", "assignment_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
def grade(submissions: Path, out: Path, workers: int | None, seed: int | None, resume: bool, shard: batch.Shard | None,
          output_format: str, sandbox_mode: str, assignment_path: Path | None) -> None:
    """Grade every student's submission in SUBMISSIONS (a folder or a .zip download).

    Writes OUT/grades.csv, OUT/results.json and OUT/feedback/<student>.md as grades land, then
    prints the class summary.
    """
    course = _load_assignment(assignment_path)
    if shard is not None and seed is None and not resume:
        raise click.UsageError("--shard needs --seed, so that every shard grades with the same inputs")
    mode = _sandbox_mode(sandbox_mode)
    bar = None

    def start(total: int) -> None:
        nonlocal bar
        bar = click.progressbar(length=total, label="grading", show_eta=True, show_pos=True, file=sys.stderr)
        bar.__enter__()

    try:
        summary = batch.grade_class(submissions, course, out, seed, workers or os.cpu_count() or 1, mode, shard, resume,
                                    on_start=start, on_result=lambda student: bar.update(1))
    except batch.ResumeMismatch as error:
        raise click.UsageError(str(error)) from error
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    click.echo(json.dumps(summary.as_dict(), indent=2) if output_format == "json" else summary_report.render(summary))
    click.echo(f"gradebook: {out / 'grades.csv'}", err=True)
    sys.exit(EXIT_INTERNAL if summary.errors else EXIT_OK)


@main.command()
@click.argument("shards", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("grades"), show_default=True)
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--assignment", "assignment_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
def merge(shards: tuple[Path, ...], out: Path, output_format: str, assignment_path: Path | None) -> None:
    """Combine the --out folders of `autograde grade --shard` runs into one gradebook in OUT."""
    course = _load_assignment(assignment_path)
    seeds = {gradebook.run_seed(folder) for folder in shards}
    if len(seeds) != 1:
        raise click.UsageError(f"the shards were graded with different seeds ({sorted(map(str, seeds))}); re-grade with one --seed")
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    records = {}
    for folder in shards:
        records.update(gradebook.load(folder))
        for feedback in (folder / "feedback").glob("*.md"):
            (out / "feedback" / feedback.name).write_bytes(feedback.read_bytes())
    gradebook.write_all(out, records, [spec.name for spec in course.functions])
    (out / gradebook.RUN_FILE).write_text(json.dumps({"seed": seeds.pop(), "assignment": course.name}))
    summary = gradebook.summarise(records, course, [])
    click.echo(json.dumps(summary.as_dict(), indent=2) if output_format == "json" else summary_report.render(summary))
