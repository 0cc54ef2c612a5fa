"""How precisely wrong results are diagnosed and located: the wrong test variants over many seeds, and a fresh set
of single-edit mistakes generated from the solutions.

For each seed, grade every wrong submission of examples/variants.py (WRONG_VARIANTS and MEASURED_VARIANTS)
and count its failing checks (fail or error) and those that name a mistake; on the check each variant targets,
also the names that are wrong (another mistake than the variant's): a wrong name misleads, and should be 0.
Then count the variants whose function gets a located repair (one edit that makes every check pass).

The generated set (``--generated K``): K single edits of each solution function (grader.mutations, drawn with
the seed), each written into a copy of the solutions. The ones that fail a check are single-mistake submissions
whose mistake line is known; count those given a repair at that line. The edits come from the same families
the repair search tries, so this set measures the search's reach and its line accuracy, not its recall on
mistakes of other forms (the shipped variants are that).
Run: .venv/bin/python -m benchmarks.diagnosed [--seeds 5] [--first 1] [--generated 3]
"""

from __future__ import annotations

import argparse
import ast
import difflib
import random
import shutil
import tempfile
from pathlib import Path

from examples.variants import MEASURED_VARIANTS, WRONG_VARIANTS, build_submission
from grader import assignment, mutations
from grader.assignment import Assignment
from grader.engine import Session

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first", type=int, default=1)
    parser.add_argument("--generated", type=int, default=3, help="single edits drawn per solution function")
    options = parser.parse_args()
    course = assignment.load(ROOT / "assignment.toml")
    variants = {**WRONG_VARIANTS, **MEASURED_VARIANTS}
    failing = named = primary = primary_named = wrong_names = repaired = 0
    total_generated = wrong_generated = at_line = elsewhere = 0
    with tempfile.TemporaryDirectory() as scratch:
        folders = {label: build_submission(course.solutions, Path(scratch) / f"s{index}", spec[0])
                   for index, (label, spec) in enumerate(variants.items())}
        for seed in range(options.first, options.first + options.seeds):
            generated = _generated(course, Path(scratch) / f"g{seed}", options.generated, random.Random(seed))
            total_generated += len(generated)
            with Session(course, seed=seed, sandbox="process") as session:
                for label, folder in folders.items():
                    _, function, kind, mistake = variants[label]
                    result = session.grade(folder)
                    repaired += any(t.repair for t in result.tests if t.function == function)
                    for test in result.tests:
                        if test.status in ("fail", "error"):
                            failing, named = failing + 1, named + bool(test.mistake)
                            if test.function == function and test.check == kind:
                                primary, primary_named = primary + 1, primary_named + bool(test.mistake)
                                if test.mistake and test.mistake != mistake:
                                    wrong_names += 1
                                    print(f"seed {seed}, {label}: named {test.mistake}, not {mistake}")
                for folder, function, lines in generated:
                    tests = [t for t in session.grade(folder).tests if t.function == function and t.status != "pass"]
                    if not tests:
                        continue  # the edit did not change what the checks see
                    wrong_generated += 1
                    found = next((t.repair for t in tests if t.repair), None)
                    at_line += bool(found and found.line in lines)
                    elsewhere += bool(found and found.line not in lines)
    runs = options.seeds * len(variants)
    print(f"{options.seeds} seeds x {len(variants)} wrong submissions: {named}/{failing} failing checks diagnosed; "
          f"the check each variant targets: {primary_named}/{primary} named, {wrong_names}/{primary} named wrongly")
    print(f"located repairs (one edit passes every check of the variant's function): {repaired}/{runs}")
    print(f"generated single-edit mistakes: {wrong_generated} of {total_generated} fail a check; a repair at the "
          f"mistake's line for {at_line}/{wrong_generated}, at another line for {elsewhere}/{wrong_generated}")


def _generated(course: Assignment, root: Path, per_function: int,
               chooser: random.Random) -> list[tuple[Path, str, set[int]]]:
    """Copies of the solutions with one edit each: (folder, function, the lines the edit changed)."""
    made = []
    for spec in course.functions:
        path = course.solutions / f"{spec.module}.py"
        text = path.read_text()
        node = next((n for n in ast.parse(text).body if getattr(n, "name", None) == spec.name), None)
        if node is None:
            continue
        edits = mutations.single_edits(node)
        for edit in chooser.sample(edits, min(per_function, len(edits))):
            folder = root / f"{spec.name}-{len(made)}"
            shutil.copytree(course.solutions, folder, ignore=shutil.ignore_patterns("__pycache__"))
            (folder / path.name).write_text(_with_definition(text, node, edit.source))
            made.append((folder, spec.name, _changed_lines(ast.unparse(node), edit.source, node)))
    return made


def _with_definition(text: str, node: ast.stmt, source: str) -> str:
    """The file's text with the top-level definition ``node`` replaced by ``source``."""
    lines = text.splitlines(keepends=True)
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))]) - 1
    return "".join(lines[:start]) + source + "\n" + "".join(lines[node.end_lineno:])


def _changed_lines(original: str, edited: str, node: ast.stmt) -> set[int]:
    """The file lines of the edited definition that differ from the original's (both as ast.unparse writes them)."""
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    changed = set()
    for tag, _, _, first, last in difflib.SequenceMatcher(None, original.splitlines(), edited.splitlines()).get_opcodes():
        if tag != "equal":
            changed |= set(range(start + first, start + max(last, first + 1)))
    return changed


if __name__ == "__main__":
    main()
