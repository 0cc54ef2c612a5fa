"""Grade submissions: read the code, run it in a worker, run the reference beside it, judge, report.

A ``Session`` owns the processes of one run: a reference source (the solutions run in a trusted
process, or an answer key) gives the expected observations once (same seed for everyone), and sandboxed
workers run the students' code, each importing torch once and forking per submission.
"""

from __future__ import annotations

import ast
import functools
import os
import pwd
import re
import secrets
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from grader import checks, footprint, plan, pyparse, records, repair, submission, tamper, timelimits
from grader.records import read_observations
from grader.assignment import Assignment, FunctionSpec
from grader.protocol import Event, EventKind, Request, Response
from grader.reference import ReferenceSource, Solutions
from grader.reference_cache import CachedSolutions, ReferenceCache
from grader.results import (CALLS_A_STUB, ERROR, FAIL, INTERNAL, INTERNAL_NOTE, NOT_FOUND, PASS, SubmissionResult,
                            TestResult)
from grader.runner import STARTUP_SECONDS, Worker, WorkerDied, deadline_seconds
from grader import sandbox as sandbox_modes
from grader.worker import privileges

OUT_OF_TIME = "the time left to this submission"  # what stops the functions left when the code kept killing its worker
UID_BLOCKS = 2**24  # as root, each session draws a block of 64 uids at random from 61000 up: one per worker


def student_uid_base() -> int:
    """The first uid of a new session's workers (worker i's children run as this uid + i): a block of its own,
    so that no two grading runs on one machine share a uid, and killing what one left kills nothing of another's.
    A block that holds a uid with an account, a running process, or a range given out for user namespaces
    (``/etc/subuid``, ``/etc/subgid``) is drawn again."""
    running = _running_uids()
    delegated = _delegated(Path("/etc/subuid")) + _delegated(Path("/etc/subgid"))
    for _ in range(1000):
        base = 61000 + 64 * secrets.randbelow(UID_BLOCKS)
        if not any(uid in running or _has_account(uid) or any(start <= uid < end for start, end in delegated)
                   for uid in range(base, base + 64)):
            return base
    raise RuntimeError("no free block of 64 uids to run student code as")


def _has_account(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def _running_uids() -> set[int]:
    """The uids of the processes this machine runs (as far as ``/proc`` shows)."""
    uids = set()
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if entry.isdigit():
            try:
                uids.add(os.stat(f"/proc/{entry}").st_uid)
            except OSError:
                continue
    return uids


def _delegated(path: Path) -> list[tuple[int, int]]:
    """The uid ranges ``path`` (``/etc/subuid``) gives out, as [start, end): from its ``name:start:count`` lines."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    fields = [line.strip().split(":") for line in lines]
    return [(int(f[1]), int(f[1]) + int(f[2])) for f in fields if len(f) == 3 and f[1].isdigit() and f[2].isdigit()]


class Session:
    """The workers and the reference observations of one grading run."""

    def __init__(self, assignment: Assignment, seed: int | None = None, sandbox: str = "process",
                 only: list[str] | None = None, workers: int = 1, key: ReferenceSource | None = None,
                 device: str = "cpu", cache: bool = False):
        """``cache``: keep the solutions' evidence on disk and reuse its seeds (``check``), where student code
        cannot write the cache (``confines_writes``)."""
        privileges.hide_process()  # no student process of this uid can read this one's environment or descriptors
        self.assignment = assignment
        self.uid_base = student_uid_base()
        source = key if key is not None else Solutions(assignment, only, device)
        kept = ReferenceCache.open(assignment, only, device) if cache and key is None and sandbox_modes.confines_writes(sandbox) else None
        source = CachedSolutions(source, kept) if kept is not None else source
        self.seed = source.choose(seed)
        self.only = only
        self.specs = [spec for spec in assignment.functions if only is None or spec.name in only]
        self.scratch = Path(tempfile.mkdtemp(prefix="autograde-stage-"))
        self.scratch.chmod(0o711)
        self.inputs = _stage_inputs(assignment, self.scratch)
        self.sandbox, self.device = sandbox, device
        self.workers = [Worker(sandbox, [self.scratch], device) for _ in range(workers)]
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._reference: Future = self._pool.submit(source.evidence, self.seed)

    def reference(self) -> checks.Evidence:
        """The reference and variant observations (computed once, in the background)."""
        return self._reference.result()

    def grade(self, path: Path, worker_index: int = 0,
              read: Callable[[submission.Submission], None] = lambda code: None) -> SubmissionResult:
        """Grade one submission with one of the session's workers; ``read`` is given the code as it was read."""
        stage = Path(tempfile.mkdtemp(prefix="s-", dir=self.scratch))
        try:
            return self._grade(path, stage, self.workers[worker_index], worker_index, read)
        except checks.GraderBug as bug:
            return SubmissionResult(str(path), self.seed, [], internal_error=str(bug))
        except Exception as bug:  # noqa: BLE001 - one submission's grader failure must not end a class run
            return SubmissionResult(str(path), self.seed, [], internal_error=_bug_report(bug))
        finally:
            submission.clear(stage)

    def _grade(self, path: Path, stage: Path, worker: Worker, worker_index: int,
               read: Callable[[submission.Submission], None]) -> SubmissionResult:
        code = submission.load(path, {spec.name for spec in self.assignment.functions}, stage,
                               {spec.name: spec.module for spec in self.assignment.functions})
        read(code)
        uid = self.uid_base + worker_index
        if os.geteuid() == 0:
            _give(stage, uid)
        preflight = {spec.name: _preflight(spec, code) for spec in self.specs}
        runnable = [spec.name for spec in self.specs if preflight[spec.name] is None]
        evidence = self.reference()  # its times make the student's time limits
        probes = plan.student_probes(self.assignment, runnable)
        policy = self.assignment.time_policy.on(self.device)
        limits = timelimits.for_functions(probes, evidence.reference, policy, self.assignment.timeout)
        response = self._run(worker, path, code, runnable, uid, limits)
        observed = read_observations(response.observations, probes)
        evidence = checks.Evidence(observed, evidence.reference, evidence.variants)
        events = {event.function: event for event in response.events}
        tests = []
        for spec in self.specs:
            for check in spec.checks:
                if preflight[spec.name]:
                    status, message = preflight[spec.name]
                    test = TestResult(f"{spec.name}: {check.title}", spec.name, check.kind, check.points, status, message)
                elif spec.name in events and not _observed(spec, check, evidence):
                    test = _event_result(spec, check, events[spec.name], self.assignment, limits.get(spec.name),
                                         set(code.module_files()))
                else:
                    test = _judged(spec, check, evidence, self.assignment)
                _locate(test, code)
                tests.append(test)
        _note_dependencies(tests, code)
        repair_problem = self._locate_repairs(tests, code, worker, stage, uid, set(events), evidence)
        raised = _note_load_errors(tests, code, response.load_errors)
        load_problems = [source.problem for source in code.problems] + raised
        warnings = [source.problem for source in code.problems] + code.repetition_notes + repair_problem
        fingerprints, trajectories = _class_view_data(self.specs, observed, evidence.reference)
        return SubmissionResult(str(path), self.seed, [_unstage(test, code) for test in tests], warnings,
                                fingerprints=fingerprints, trajectories=trajectories, course=self.assignment.name,
                                flags=tamper.scan(code), load_problems=load_problems)

    def _request(self, code: submission.Submission, functions: list[str], uid: int, label: str,
                 limits: dict[str, timelimits.TimeLimit] | None = None) -> Request:
        """The worker's request to run ``functions`` of the submission on their probes, within the course's limits
        (each function's own, where ``limits`` gives it)."""
        return Request(label, code.module_files(),
                       {name: (code.definitions[name].source.module, name) for name in functions},
                       tuple(plan.student_probes(self.assignment, functions)), self.seed,
                       self.assignment.timeout, self.assignment.memory_mb, uid=uid, inputs=self.inputs,
                       private_tmp=self.sandbox == "bwrap", gpu=self.device == "cuda",
                       limits={name: limit.seconds for name, limit in (limits or {}).items() if name in functions})

    def _run(self, worker: Worker, path: Path, code: submission.Submission, runnable: list[str], uid: int,
             limits: dict[str, timelimits.TimeLimit]) -> Response:
        """Run the functions in the worker. When the code kills the worker itself, that costs only the
        function that was running: the others run again in the restarted worker, within what is left of the
        first request's deadline (so a submission that keeps killing its worker cannot multiply it)."""
        response = Response(str(path))
        crashed: list[Event] = []
        pending = list(runnable)
        until = None
        while pending:
            request = self._request(code, pending, uid, str(path), limits)
            if until is None:
                until = time.monotonic() + deadline_seconds(request) + STARTUP_SECONDS
            elif time.monotonic() >= until:
                crashed += [Event(name, EventKind.TIMEOUT, OUT_OF_TIME) for name in pending]
                break
            try:
                response = worker.request(request, until)
            except WorkerDied as died:
                culprits = [died.function] if died.function in pending else pending
                crashed += [Event(name, EventKind.CRASH, str(died)) for name in culprits]
                pending = [name for name in pending if name not in culprits]
                continue
            if response.internal_error:
                raise checks.GraderBug(f"the worker failed: {response.internal_error}")
            break
        response.events += crashed
        return response

    def _locate_repairs(self, tests: list[TestResult], code: submission.Submission, worker: Worker, stage: Path,
                        uid: int, events: set[str], evidence: checks.Evidence) -> list[str]:
        """Search single edits of each failing function in the worker (``grader.repair``). Only a hint: a worker
        that dies or runs out of time here costs the hint, and a failure of the search itself (a grader bug,
        returned as a warning that says so) costs nothing else."""
        functions = repair.searched(tests, code, events) if self.assignment.repair_hints != "off" else []
        if not functions:
            return []
        try:
            screen = repair.screens(tests, self.assignment, evidence, functions)
            functions = [function for function in functions if function in screen]
            folder = Path(tempfile.mkdtemp(prefix="repairs-", dir=stage))
            found = repair.candidates(code, functions, folder)
            if not found:
                return []
            owner = uid if os.geteuid() == 0 else None
            repair.give(folder, found, owner)
            base = self._request(code, functions, uid, str(code.root))  # the course's timeout: one box for all copies
            budget = self.assignment.timeout * len(functions)  # one time limit per function, for both phases
            started = time.monotonic()
            for phase in (screen, None):  # the screen for every copy, then every check for the rest
                searched = len({candidate.function for candidate in found})
                limit = min(self.assignment.timeout, (budget - (time.monotonic() - started)) / searched)
                if limit < repair.SHORTEST_LIMIT:
                    return []
                request = replace(repair.request(base, self.assignment, found, folder, phase), timeout=limit)
                response = worker.request(request, time.monotonic() + deadline_seconds(request) + STARTUP_SECONDS)
                found = repair.passing(response, self.assignment, found, evidence, phase)
                found = repair.reproduced(found) if phase else found
                if not found:
                    return []
            repair.attach(tests, repair.located(found, code, self.assignment.repair_hints))
        except WorkerDied:
            return []
        except Exception as bug:  # noqa: BLE001 - the hint is optional: its failure must not cost the grade
            return [f"{INTERNAL_NOTE}: the search for a one-edit repair failed: {_bug_report(bug)}"]
        return []

    def close(self) -> None:
        """Stop every process and remove the staged code."""
        for worker in self.workers:
            worker.close()
        self._pool.shutdown(wait=False, cancel_futures=True)
        submission.clear(self.scratch)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _stage_inputs(assignment: Assignment, scratch: Path) -> str | None:
    """A copy of the course's input builders where every sandboxed worker can read it."""
    if assignment.inputs is None:
        return None
    staged = scratch / "course_inputs.py"
    shutil.copyfile(assignment.inputs, staged)
    staged.chmod(0o644)
    return str(staged)


def _give(stage: Path, uid: int) -> None:
    """Make a staged submission readable by its worker's uid only."""
    for path in (stage, *stage.rglob("*")):
        os.chown(path, uid, uid)
    stage.chmod(0o700)


def _preflight(spec: FunctionSpec, code: submission.Submission) -> tuple[str, str] | None:
    """Why a function cannot be run at all (missing, wrong signature), or None."""
    definition = code.definitions.get(spec.name)
    if definition is None:
        broken = "; ".join(source.problem for source in code.problems)
        where = f" ({broken})" if broken else ""
        return ERROR, f"{spec.name}{NOT_FOUND}{spec.signature} (in {spec.module}.py){where}"
    problem = signature_problem(spec, definition.node)
    return (FAIL, problem) if problem else None


def signature_problem(spec: FunctionSpec, node: ast.AST | None) -> str | None:
    """A message naming the expected signature when the student's cannot be called the contract's way."""
    if spec.kind == "class" or not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    arguments = node.args
    positional = [a.arg for a in arguments.posonlyargs + arguments.args]
    required = positional[: len(positional) - len(arguments.defaults)]
    needed = len(spec.required_parameters)
    keyword_names = set(positional[needed:]) | {a.arg for a in arguments.kwonlyargs}
    required_keywords = [a.arg for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults) if d is None]
    fits = (len(required) <= needed and (len(positional) >= needed or arguments.vararg)
            and not required_keywords
            and (arguments.kwarg or all(name in keyword_names for name in spec.optional_parameters)))
    if fits:
        return None
    written = pyparse.unparse(arguments) or ", ".join(positional)
    return f"{spec.name}({written}) does not match the exercise: write {spec.signature}"


def _judged(spec: FunctionSpec, check, evidence: checks.Evidence, course: Assignment) -> TestResult:
    """The check's verdict; a failure of the judging itself becomes this check's internal error (a grader
    bug, reported as such), never the student's mistake and never the end of the run."""
    try:
        return checks.judge(spec, check, evidence, course.catalogue)
    except Exception as bug:  # noqa: BLE001 - contained to this check
        return TestResult(f"{spec.name}: {check.title}", spec.name, check.kind, check.points, INTERNAL,
                          f"judging this check failed: {_bug_report(bug)}")


def _class_view_data(specs: list[FunctionSpec], observed: dict[str, records.Observation],
                     reference: dict[str, records.Observation]) -> tuple[dict, dict]:
    """The digests and trajectories of the class view; none when the student's observations are too
    malformed to read (the grade does not depend on them)."""
    try:
        return footprint.fingerprints(specs, observed), footprint.trajectories(specs, observed, reference)
    except Exception:  # noqa: BLE001 - a forged observation must not cost the grade
        return {}, {}


def _bug_report(bug: BaseException) -> str:
    """The exception and where in the grader it was raised."""
    frames = traceback.extract_tb(bug.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(bug).__name__}: {bug}{where}"


def _observed(spec: FunctionSpec, check, evidence: checks.Evidence) -> bool:
    return all(probe.id in evidence.student for probe in plan.probes_for_check(spec, check))


def _event_result(spec: FunctionSpec, check, event: Event, course: Assignment,
                  limit: timelimits.TimeLimit | None, own_modules: set[str]) -> TestResult:
    if event.kind == EventKind.TIMEOUT:
        named = f"{event.module}.py" if event.module in own_modules else event.module  # a file of theirs, or a library
        module = f" while importing {named}" if event.module else ""
        within = event.detail  # the worker's "5 s", or the time left to the submission
        if limit is not None and event.detail != OUT_OF_TIME:
            within = limit.describe() if not event.module else f"{limit.ceiling:g} s (the course's time limit)"
        message = f"{spec.name} did not finish within {within}{module}"
        return TestResult(f"{spec.name}: {check.title}", spec.name, check.kind, check.points, ERROR, message, "timeout",
                          hint=course.catalogue.advice("timeout", spec.hints))
    return TestResult(f"{spec.name}: {check.title}", spec.name, check.kind, check.points, ERROR,
                      f"{spec.name} crashed: {event.detail}")


def _locate(test: TestResult, code: submission.Submission) -> None:
    definition = code.definitions.get(test.function)
    if definition:
        test.file, test.line = str(definition.source.path), definition.line
        test.location = definition.source.locate(definition.line)


def _note_dependencies(tests: list[TestResult], code: submission.Submission) -> None:
    """A failing function that uses another failing one says so. A diagnosis measured on its result is then
    withdrawn (what was measured stays): the slip it would name is likely the other function's, and the
    class summary would count it as a mistake of its own."""
    failing = {test.function for test in tests if test.status != PASS}
    stubs = {name for name, definition in code.definitions.items()  # read from the code: --only may not run them
             if definition.node is not None and _raises_not_implemented(definition.node)}
    for test in tests:
        definition = code.definitions.get(test.function)
        if test.status == PASS or definition is None:
            continue
        uses = sorted(definition.calls & failing)
        unwritten = sorted(definition.calls & stubs)
        if test.not_implemented and unwritten and definition.node is not None and not _raises_not_implemented(definition.node):
            test.message, test.hint = f"{test.function}{CALLS_A_STUB}{unwritten[0]}, which is not implemented yet", ""
            test.details = [line for line in test.details if not line.startswith("hint:")]
            continue
        if uses and test.mistake and any(line.startswith("measured:") for line in test.details):
            test.mistake, test.hint = None, ""
            test.details = [line for line in test.details if not line.startswith("diagnosis:")]
        for name in uses:
            test.details.append(f"note: {test.function} uses your {name}, which fails its own checks: fix {name} first")


def _raises_not_implemented(node: ast.AST) -> bool:
    """Whether a definition is (still) a stub: it raises NotImplementedError itself."""
    return any(isinstance(child, ast.Raise) and "NotImplementedError" in (pyparse.unparse(child) or "")
               for child in ast.walk(node))


def _note_load_errors(tests: list[TestResult], code: submission.Submission, load_errors: list[dict]) -> list[str]:
    """Note under each failing function what raised while its file was loaded; return those statements, as
    ``file:line raised ...`` (for the class view: code that could not load)."""
    seen, raised = set(), []
    for error in load_errors:
        if not (isinstance(error, dict) and isinstance(error.get("file"), str) and isinstance(error.get("line"), int)
                and isinstance(error.get("error"), str)):
            continue  # the student's process reports these: a malformed one is ignored
        source = code.by_staged_path(error["file"])
        key = (error["file"], error["line"])
        if source is None or key in seen:
            continue
        seen.add(key)
        note = (f"note: loading {source.locate(error['line'])} raised {error['error'][:300]} (the rest of the file "
                "was still loaded)")
        raised.append(f"{source.locate(error['line'])} raised {error['error'][:300]}")
        for test in tests:
            definition = code.definitions.get(test.function)
            if test.status != PASS and definition and definition.source is source:
                test.details.append(note)
    return raised


def _unstage(test: TestResult, code: submission.Submission) -> TestResult:
    """Show the student's own file names (and notebook cells) instead of the staged copies."""
    def replace(text: str) -> str:
        for source in code.files:
            if source.staged and str(source.staged) in text:
                frame = re.compile(re.escape(f'"{source.staged}", line ') + r"(\d+)")
                text = frame.sub(functools.partial(_frame_location, source), text)
                text = text.replace(str(source.staged), source.path.name)
        return text

    test.message = replace(test.message)
    test.details = [replace(line) for line in test.details]
    return test


def _frame_location(source: submission.SourceFile, frame: re.Match) -> str:
    """A traceback frame's '"file", line N' as the student knows it (notebooks by cell)."""
    line = int(frame.group(1))
    where = source.notebook.locate(line) if source.notebook else f"line {line}"
    return f'"{source.path.name}", {where}'
