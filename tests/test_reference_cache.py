"""The reference's observations cached on disk: a second session of the same course and seed does not run the
reference; an entry that does not read is ignored and computed again; a changed course is another entry; student
code cannot write there."""

from __future__ import annotations

import json
import os
import shutil
import stat

import pytest

from grader import assignment, reference_cache, sandbox, versions
from grader.engine import Session
from grader.reference_cache import CachedSolutions, ReferenceCache
from grader.reference import Solutions
from tests.conftest import ROOT, SEED, by_function

ONLY = ["activate"]


@pytest.fixture
def runs(monkeypatch, tmp_path):
    """The cache in a folder of the test's own; counts the reference's runs."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    counted = []
    original = reference_cache.run_trusted

    def counting(*args, **kwargs):
        counted.append(args[1])
        return original(*args, **kwargs)

    monkeypatch.setattr(reference_cache, "run_trusted", counting)
    return counted


def _reference(course, seed=SEED):
    with Session(course, seed=seed, only=ONLY, cache=True) as grading:
        return grading.reference()


def _evidence(course):
    """The evidence of seed ``SEED`` through the cache, without a session (no student worker)."""
    return CachedSolutions(Solutions(course, ONLY), ReferenceCache.open(course, ONLY, "cpu")).evidence(SEED)


def _values(evidence) -> dict:
    """What each observation's calls returned (their times differ from run to run)."""
    return {key: [call.result for call in observation.calls] for key, observation in evidence.reference.items()}


def test_a_second_session_of_the_same_course_and_seed_reads_the_cache(runs, course, tmp_path):
    first, second = _reference(course), _reference(course)
    assert runs == [SEED] and first == second and first.reference
    folder = tmp_path / "cache" / "autograde"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    (entry,) = folder.glob("*.json")
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600 and not list(folder.glob(".entry-*"))
    _reference(course, SEED + 1)
    assert runs == [SEED, SEED + 1]


@pytest.mark.parametrize("damage", ["not json", "truncated", "a forged time", "another seed", "a missing probe"])
def test_an_entry_that_does_not_read_is_ignored_and_computed_again(damage, runs, course, tmp_path):
    expected = _evidence(course)
    (entry,) = (tmp_path / "cache" / "autograde").glob("*.json")
    document = json.loads(entry.read_text())
    probe = next(key for key in document["observations"] if "|" not in key)
    if damage == "not json":
        entry.write_bytes(b"\x00garbage")
    elif damage == "truncated":
        entry.write_text(entry.read_text()[:1000])
    elif damage == "a forged time":
        document["observations"][probe]["calls"][0]["seconds"] = 10**400
        entry.write_text(json.dumps(document))
    elif damage == "another seed":
        entry.write_text(json.dumps({**document, "seed": SEED + 1}))
    else:
        del document["observations"][probe]
        entry.write_text(json.dumps(document))
    assert _values(_evidence(course)) == _values(expected) and runs == [SEED, SEED]
    assert _values(_evidence(course)) == _values(expected) and runs == [SEED, SEED]  # written again, whole


def _copy(tmp_path):
    for name in ("solutions", "mistakes", "exercises"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("assignment.toml", "inputs.py", "targets.py"):
        shutil.copy(ROOT / name, tmp_path / name)
    return assignment.load(tmp_path / "assignment.toml")


@pytest.mark.parametrize("changed", ["solutions/neuron.py", "mistakes/wrong_neuron.py", "inputs.py", "targets.py",
                                     "assignment.toml"])
def test_a_changed_file_of_the_course_changes_its_digest(changed, tmp_path):
    course = _copy(tmp_path)
    before = versions.course_digest(course)
    assert versions.course_digest(_copy(tmp_path / "again")) == before  # where the course lies does not count
    with open(tmp_path / changed, "a") as file:
        file.write("\n# changed\n")
    assert versions.course_digest(assignment.load(tmp_path / "assignment.toml")) != before
    (tmp_path / "exercises" / "neuron.py").write_text("# the stubs do not make the reference\n")
    after = versions.course_digest(assignment.load(tmp_path / "assignment.toml"))
    assert versions.course_digest(assignment.load(tmp_path / "assignment.toml")) == after


def test_without_a_seed_a_check_draws_one_of_the_cached_seeds_once_there_are_enough(course, tmp_path):
    cache = ReferenceCache.open(course, ONLY, "cpu", tmp_path / "cache")
    source = CachedSolutions(Solutions(course, ONLY), cache)
    seeds = [11, 22, 33, 44, 55][:reference_cache.POOL]
    for seed in seeds:
        cache.store(seed, {})
    assert cache.seeds() == seeds and {source.choose(None) for _ in range(20)} <= set(seeds)
    assert source.choose(7) == 7
    other = ReferenceCache.open(course, None, "cpu", tmp_path / "cache")  # another selection of functions
    assert other.course != cache.course and other.seeds() == []


def test_a_cache_folder_of_another_user_or_open_to_others_is_not_used(course, tmp_path):
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    assert ReferenceCache.open(course, ONLY, "cpu", folder) is not None
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    if os.geteuid() == 0:
        os.chown(folder, 12345, 12345)
        assert ReferenceCache.open(course, ONLY, "cpu", folder) is None


def test_the_cache_is_used_only_where_student_code_cannot_write_it(monkeypatch):
    monkeypatch.setattr(sandbox.landlock, "abi_version", lambda: 0)
    monkeypatch.setattr(sandbox.os, "geteuid", lambda: 1000)
    assert sandbox.confines_writes("bwrap") and not sandbox.confines_writes("process")
    monkeypatch.setattr(sandbox.landlock, "abi_version", lambda: 1)
    assert sandbox.confines_writes("process")


def test_student_code_cannot_write_the_cache(session, make_submission, course, tmp_path):
    """A student who knows where the cache lies cannot plant an entry there (another uid, Landlock)."""
    cache = ReferenceCache.open(course, ONLY, "cpu", tmp_path / "cache")
    planted = cache.folder / f"{cache.course}-{SEED}.json"
    result = session.grade(make_submission({"autograd_basics": {"detached": f"""
        def detached(a):
            try:
                open({str(planted)!r}, "w").write("{{}}")
            except OSError:
                pass
            return a.detach()
        """}}))
    assert all(t.status == "pass" for t in by_function(result, "detached"))
    assert not planted.exists() and list(cache.folder.iterdir()) == []
