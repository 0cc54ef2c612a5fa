"""The ``autograde`` command line: thin glue over the engine and the reporters.

What only some commands need is imported in them: a check answered by the warm server must start in a blink."""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from grader import __version__, assignment, integrations, sandbox, submission
from grader.daemon import client, place
from grader.daemon.place import Settings
from grader.reporters import classroom, github, gradescope, json_report, junit, terminal
from grader.reporters.workflow_commands import neutralise
from grader.results import SubmissionResult

if TYPE_CHECKING:
    from grader.batch import Shard
    from grader.class_summary import Summary

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
NO_SERVER = "AUTOGRADE_NO_SERVER"  # set (to anything): no check server, as --no-server
CHECK_FORMATS = {
    "text": lambda result, course: terminal.render(result),
    "json": lambda result, course: json_report.render(result),
    "classroom": lambda result, course: classroom.render(result),
    "gradescope": lambda result, course: gradescope.render(result),
    "junit": junit.render,
}


ASSIGNMENT_OPTION = click.option(
    "--assignment", "assignment_path", type=click.Path(exists=True, path_type=Path), default=None, metavar="COURSE",
    help="The course: its folder or its assignment.toml (default: the one in the working folder or above).")


def _load_assignment(path: Path | None) -> assignment.Assignment:
    """The course named by --assignment (a folder or its assignment.toml), or found from the working folder."""
    try:
        if path is not None and path.is_dir():
            path = path / "assignment.toml"
        return assignment.load(path or assignment.find())
    except assignment.AssignmentError as error:
        raise click.UsageError(str(error)) from error


def _answer_key(course: assignment.Assignment):
    """None when the solutions are here; else the release's answer key."""
    from grader import answer_key
    if course.has_solutions:
        return None
    if course.answer_key is None:
        raise click.UsageError(f"{course.root} has neither solutions/ nor an answer key: nothing to grade against")
    try:
        return answer_key.load(course.answer_key)
    except answer_key.AnswerKeyError as error:
        raise click.UsageError(str(error)) from error


def _shard(ctx, param, value: str | None) -> Shard | None:
    from grader import batch
    if value is None:
        return None
    try:
        index, count = (int(part) for part in value.split("/"))
        return batch.Shard(index, count)
    except ValueError as error:
        raise click.BadParameter(f"expected K/N with 1 <= K <= N, got {value!r} ({error})") from error


def _write_report(out: Path, course: assignment.Assignment, summary: Summary | None = None) -> None:
    from grader.reporters import html  # only the class commands load the report and its figures
    click.echo(f"report: {html.write(out, course, summary)}", err=True)


def _sandbox_mode(requested: str, many_students: bool = False) -> str:
    """The isolation to use. Grading many students' code without a sandbox must be asked for by name."""
    try:
        mode = sandbox.resolve(requested)
    except sandbox.SandboxUnavailable as error:
        raise click.UsageError(str(error)) from error
    if requested == "auto" and mode == "process":
        if many_students:
            raise click.UsageError(f"no sandbox here: {sandbox.INSTALL_HINT}. To grade without one (student code in "
                                   "plain processes with limits only, see SECURITY.md), pass --sandbox process")
        click.echo(f"warning: no sandbox ({sandbox.INSTALL_HINT}): student code runs in plain processes with "
                   "resource limits only (see SECURITY.md)", err=True)
        github.note("no sandbox could be had here (bubblewrap is missing or cannot create namespaces): the code "
                    "ran in plain processes, confined by Landlock and seccomp where the kernel has them.")
    return mode


DEVICE_OPTION = click.option(
    "--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
    help="Where the code runs: cpu hides every GPU (deterministic; the torch.cuda.is_available() idiom "
         "takes its CPU branch); cuda lets the code use the GPU.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="autograde")
def main() -> None:
    """Grade PyTorch autograd exercises: precise feedback for students, gradebooks for instructors."""


@main.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--only", "only", multiple=True, metavar="NAME", help="Grade only this function (repeatable).")
@click.option("--format", "output_format", type=click.Choice(list(CHECK_FORMATS)), default="text", show_default=True,
              help="text for people; json; classroom (GitHub Classroom); gradescope (results.json); junit (XML).")
@click.option("--seed", type=int, default=None,
              help="Seed of the random inputs (default: the check server's, else one of the course's cached ones "
                   "or a fresh one; the report names it).")
@click.option("--sandbox", "sandbox_mode", type=click.Choice(sandbox.MODES), default="auto", show_default=True,
              help="Isolation of student code.")
@ASSIGNMENT_OPTION
@click.option("--watch", is_flag=True, help="Stay running; re-grade (same inputs) whenever a file of PATH changes.")
@click.option("--server/--no-server", "use_server", default=None,
              help="Check on this course's warm check server, started by the first check and gone after a few idle "
                   f"minutes (default: on, except where {NO_SERVER} or CI is set).")
@DEVICE_OPTION
def check(path: Path, only: tuple[str, ...], output_format: str, seed: int | None, sandbox_mode: str,
          assignment_path: Path | None, watch: bool, use_server: bool | None, device: str) -> None:
    """Grade one submission PATH (a folder, a .py file or a notebook) against the reference.

    Exit status: 0 all checks pass, 1 some check fails, 2 usage error, 3 internal grader error.
    """
    course = _load_assignment(assignment_path)
    unknown = [name for name in only if name not in {spec.name for spec in course.functions}]
    if unknown:
        raise click.BadParameter(f"no function {', '.join(unknown)} in {course.name}; known: "
                                 + ", ".join(spec.name for spec in course.functions), param_hint="--only")
    if not only and path.is_file():
        only = _defined_in_file(path, course)
    if not course.has_solutions and course.answer_key is None:
        raise click.UsageError(f"{course.root} has neither solutions/ nor an answer key: nothing to grade against")
    mode = _sandbox_mode(sandbox_mode)
    served = _wants_server(use_server, mode) and (seed is None or course.has_solutions)  # a key's seeds: checked here
    settings = Settings(course.declarations, mode, device, seed, only) if served else None
    checker = client.Checker(settings, course, lambda: _local_session(course, seed, mode, only, device),
                             lambda line: click.echo(line, err=True))
    try:
        if watch:
            _watch(checker.grade, path, lambda result: CHECK_FORMATS[output_format](result, course))
        result = checker.grade(path)
    finally:
        checker.close()
    click.echo(CHECK_FORMATS[output_format](result, course), nl=False)
    github.publish(result)
    sys.exit(EXIT_INTERNAL if result.internal_errors else EXIT_OK if result.passed else EXIT_FAILED)


def _wants_server(asked: bool | None, mode: str) -> bool:
    """Whether to check on the warm server: asked, or by default outside CI; and only where student code cannot
    reach the server's socket (the same sandboxes that may use the reference cache)."""
    wanted = asked if asked is not None else not (os.environ.get(NO_SERVER) or os.environ.get("CI"))
    return wanted and sandbox.confines_writes(mode)


def _local_session(course: assignment.Assignment, seed: int | None, mode: str, only: tuple[str, ...], device: str):
    """A grading session in this process (no server, or it failed)."""
    from grader import answer_key
    from grader.engine import Session  # a check on the server never needs the engine here
    try:
        return Session(course, seed=seed, sandbox=mode, only=list(only) or None, key=_answer_key(course),
                       device=device, cache=True)
    except answer_key.AnswerKeyError as error:
        raise click.BadParameter(str(error), param_hint="--seed") from error


def _defined_in_file(path: Path, course: assignment.Assignment) -> tuple[str, ...]:
    """The exercise's functions that a single file defines (all of them, when it defines none: then each is
    reported missing); the others are listed once, on stderr."""
    contract = [spec.name for spec in course.functions]
    with tempfile.TemporaryDirectory(prefix="autograde-names-") as stage:
        defined = set(submission.load(path, set(contract), Path(stage)).definitions)
    if not defined or defined == set(contract):
        return ()
    missing = [name for name in contract if name not in defined]
    click.echo(f"not in {path.name}, so not graded: {', '.join(missing)}", err=True)
    return tuple(name for name in contract if name in defined)


def _watch(grade: Callable[[Path], SubmissionResult], path: Path, render) -> None:
    """Grade, then re-grade each time the submission's files change, until Ctrl-C (exit 0). When the inputs change
    (the check server was replaced, or a course file edited), it says so."""
    seed = None
    try:
        while True:
            started = time.perf_counter()
            graded = submission.fingerprint(path)  # taken first, so an edit saved while grading is not missed
            result = grade(path)
            if seed is not None and result.seed != seed:
                click.echo(f"note: new inputs (seed {result.seed}, was {seed}): the check server was replaced", err=True)
            seed = result.seed
            click.echo(render(result), nl=False)
            click.echo(f"[graded in {time.perf_counter() - started:.2f} s; watching {path} for changes, Ctrl-C to stop]",
                       err=True)
            submission.wait_for_change(path, since=graded)
            click.echo("\n" + "=" * 78 + "\n")
    except KeyboardInterrupt:
        sys.exit(EXIT_OK)


@main.group()
def server() -> None:
    """This user's warm check servers ('check' starts them; each leaves after a few idle minutes)."""


@server.command("status")
def server_status() -> None:
    """List the running check servers: course, seed, sandbox, device, process id."""
    found = [(path, client.ask(path, {"status": True})) for path in _server_sockets()]
    running = [answer["status"] for _, answer in found if isinstance(answer, dict) and isinstance(answer.get("status"), dict)]
    for entry in running:
        stale = "" if entry.get("current") is True else " (its course changed since: it leaves at the next check)"
        click.echo(f"{entry.get('course')} ({entry.get('folder')}) functions={entry.get('functions')} "
                   f"seed={entry.get('seed')} ({entry.get('seed_from')}) sandbox={entry.get('sandbox')} "
                   f"device={entry.get('device')} pid={entry.get('pid')} idle={entry.get('idle')} s{stale}")
    click.echo(f"{len(running)} check server(s) running")


@server.command("stop")
def server_stop() -> None:
    """Stop every running check server of this user (the next check starts a fresh one)."""
    stopped = sum(isinstance(client.ask(path, {"stop": True}), dict) for path in _server_sockets())
    click.echo(f"stopped {stopped} check server(s)")


def _server_sockets() -> list[Path]:
    folder = place.runtime_folder()
    return place.servers(folder) if folder is not None else []


@main.command()
@click.argument("submissions", type=click.Path(exists=True, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("grades"), show_default=True,
              help="Folder for grades.csv, results.json and feedback/.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Parallel workers (default: all cores).")
@click.option("--seed", type=int, default=None, help="Seed of the random inputs, the same for every student.")
@click.option("--resume", is_flag=True, help="Keep the finished grades in --out and grade only what is missing.")
@click.option("--shard", callback=_shard, default=None, metavar="K/N", help="Grade only the K-th of N parts of the class.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--sandbox", "sandbox_mode", type=click.Choice(sandbox.MODES), default="auto", show_default=True,
              help="auto needs bubblewrap; grading without a sandbox needs --sandbox process.")
@ASSIGNMENT_OPTION
@DEVICE_OPTION
def grade(submissions: Path, out: Path, workers: int | None, seed: int | None, resume: bool, shard: Shard | None,
          output_format: str, sandbox_mode: str, assignment_path: Path | None, device: str) -> None:
    """Grade every student's submission in SUBMISSIONS (a folder or a .zip download).

    Writes OUT/grades.csv, OUT/results.json and OUT/feedback/<student>.md as grades land, then
    prints the class summary and writes the class report, OUT/report.html.
    """
    from grader import batch, gradebook
    from grader.reporters import summary as summary_report
    course = _load_assignment(assignment_path)
    if not course.has_solutions:
        raise click.UsageError(f"grading a class needs the solutions ({course.solutions} has none): run it in the "
                               "instructor's course, not in a student release")
    if shard is not None and seed is None and not resume:
        raise click.UsageError("--shard needs --seed, so that every shard grades with the same inputs")
    mode = _sandbox_mode(sandbox_mode, many_students=True)
    if batch.looks_like_exercises(submissions, course):
        click.echo(f"warning: {submissions} looks like the course's exercises/ folder: each of its files is taken for "
                   "a student; grade a folder of students' submissions", err=True)
    bar = None

    def start(total: int) -> None:
        nonlocal bar
        bar = click.progressbar(length=total, label="grading", show_eta=True, show_pos=True, file=sys.stderr)
        bar.__enter__()

    try:
        summary = batch.grade_class(submissions, course, out, seed, workers or os.cpu_count() or 1, mode, shard, resume,
                                    on_start=start, on_result=lambda student: bar.update(1), device=device)
    except (batch.ResumeMismatch, batch.UnreadableDownload, batch.NoSubmissions) as error:
        raise click.UsageError(str(error)) from error
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    click.echo(neutralise(json.dumps(summary.as_dict(), indent=2), "json") if output_format == "json"
               else summary_report.render(summary))
    click.echo(f"gradebook: {out / 'grades.csv'}", err=True)
    gradebook.write_summary(out, summary.as_dict())
    _write_report(out, course, summary)
    sys.exit(EXIT_INTERNAL if summary.errors else EXIT_OK)


@main.command()
@click.argument("shards", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("grades"), show_default=True)
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@ASSIGNMENT_OPTION
def merge(shards: tuple[Path, ...], out: Path, output_format: str, assignment_path: Path | None) -> None:
    """Combine the --out folders of `autograde grade --shard` runs into one gradebook and report in OUT."""
    from grader import gradebook
    from grader.reporters import summary as summary_report
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
    summary = _summary(records, course, list(shards))
    click.echo(neutralise(json.dumps(summary.as_dict(), indent=2), "json") if output_format == "json"
               else summary_report.render(summary))
    gradebook.write_summary(out, summary.as_dict())
    _write_report(out, course, summary)


def _summary(records: dict[str, dict], course: assignment.Assignment, folders: list[Path]) -> Summary:
    """The class summary of ``records``, with the similar code and unrecognised entries that the grading
    runs in ``folders`` found (each shard compares only its own students' code)."""
    from grader import class_summary, gradebook
    from grader.similarity import SimilarPair
    unrecognised, similar = gradebook.saved_findings(folders)
    pairs = sorted((SimilarPair.from_dict(entry) for entry in similar), key=lambda pair: (-pair.similarity, pair.students))
    return class_summary.summarise(records, course, unrecognised, pairs)


@main.command()
@click.argument("out", type=click.Path(exists=True, file_okay=False, path_type=Path))
@ASSIGNMENT_OPTION
def report(out: Path, assignment_path: Path | None) -> None:
    """Rebuild the class report OUT/report.html from a graded output folder OUT, without re-grading."""
    from grader import gradebook
    if not (out / gradebook.RESULTS_LINES).exists():
        raise click.UsageError(f"{out} has no {gradebook.RESULTS_LINES}: not an output folder of `autograde grade`")
    course = _load_assignment(assignment_path)
    _write_report(out, course, _summary(gradebook.load(out), course, [out]))


@main.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write the student bundle here (stubs, declarations, answer key; no solution code).")
@click.option("--seeds", type=click.IntRange(min=1), default=5, show_default=True, help="Seeded input sets in the answer key.")
@click.option("--force", is_flag=True, help="Overwrite stubs in exercises/ that were edited since release generated them.")
@ASSIGNMENT_OPTION
def release(out: Path | None, seeds: int, force: bool, assignment_path: Path | None) -> None:
    """Generate exercises/ from solutions/; with --out, also write the student bundle.

    A stub in exercises/ edited since release generated it is not overwritten: release stops before
    writing anything and names it (exit 2), unless --force.
    """
    from grader import release as releases
    course = _load_assignment(assignment_path)
    if not course.has_solutions:
        raise click.UsageError(f"no solutions in {course.solutions}")
    if out is not None and out.exists() and any(out.iterdir()):
        raise click.UsageError(f"{out} is not empty: give --out a new or empty folder (a release is written whole)")
    try:
        written = releases.release_exercises(course.solutions, course.exercises, force)
        click.echo(f"wrote {len(written)} stubs to {course.exercises}")
        if out is not None:
            releases.write_bundle(course, out, [random.randrange(2**31) for _ in range(seeds)])
            click.echo(f"wrote the student bundle to {out} (answer key with {seeds} seeds, no solution code)")
    except releases.EditedFiles as error:
        raise click.UsageError(str(error)) from error
    except releases.MarkerError as error:
        raise click.ClickException(str(error)) from error


@main.command()
@click.option("--sandbox", "sandbox_mode", type=click.Choice(sandbox.MODES), default="auto", show_default=True)
@ASSIGNMENT_OPTION
@click.option("--seed", "fixed_seeds", type=int, multiple=True, help="Validate on this seed (repeatable).")
@click.option("--seeds", "seed_count", type=click.IntRange(min=1), default=1, show_default=True,
              help="Validate on this many random seeds (each is printed, to repeat it with --seed).")
def validate(sandbox_mode: str, assignment_path: Path | None, fixed_seeds: tuple[int, ...], seed_count: int) -> None:
    """Pre-flight an assignment: stubs in sync, solutions 100%, stubs 0, every mistake caught, on each seed.

    An input case that only sometimes exercises a branch shows up as a failure on some seeds.
    """
    from grader import validate as validation
    course = _load_assignment(assignment_path)
    seeds = list(fixed_seeds) or [random.randrange(2**31) for _ in range(seed_count)]
    report = validation.validate(course, _sandbox_mode(sandbox_mode), seeds)
    for ok, line in report:
        click.echo(f"{'ok  ' if ok else 'FAIL'} {line}")
    failed = sum(not ok for ok, _ in report)
    click.echo(f"{len(report) - failed} ok, {failed} failed")
    sys.exit(EXIT_OK if not failed else EXIT_FAILED)


@main.command("new")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def new(folder: Path) -> None:
    """Create a course in FOLDER with one working exercise: declarations, solutions, stubs, inputs,
    finite-difference targets and a wrong variant. Then: autograde validate --assignment FOLDER/assignment.toml"""
    from grader import scaffold
    try:
        written = scaffold.new_course(folder)
    except scaffold.CourseExists as error:
        raise click.UsageError(str(error)) from error
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"next: autograde validate --assignment {folder / 'assignment.toml'}")


@main.group()
def init() -> None:
    """Write ready integration files for a student release (made with `autograde release --out`)."""


@init.command("classroom")
@click.argument("bundle", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--install", default=None, metavar="REQUIREMENT",
              help="pip requirement that installs autograde in the workflow (e.g. a git URL with a tag); "
                   "default: a copy of this autograde's source, written to BUNDLE/.autograde.")
@click.option("--torch", "torch_requirement", default=integrations.DEFAULT_TORCH, show_default=True)
def init_classroom(bundle: Path, install: str | None, torch_requirement: str) -> None:
    """Write BUNDLE/.github/workflows/classroom.yml for the GitHub Classroom template repository."""
    click.echo(f"wrote {integrations.write_classroom(bundle, install, torch_requirement)}")


@init.command("gradescope")
@click.argument("bundle", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("autograder.zip"), show_default=True)
@click.option("--torch", "torch_requirement", default=integrations.DEFAULT_TORCH, show_default=True)
def init_gradescope(bundle: Path, out: Path, torch_requirement: str) -> None:
    """Build the Gradescope autograder zip (setup.sh, run_autograder) that grades with BUNDLE."""
    click.echo(f"wrote {integrations.write_gradescope(bundle, out, torch_requirement)}")
