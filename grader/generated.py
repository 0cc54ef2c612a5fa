"""What ``autograde release`` generated into a course's ``exercises/``, so that it never overwrites an edit.

After writing the stubs, release records each file's sha256 in ``exercises/.autograde-generated.json``.
The next release overwrites a stub only when it is still what release wrote (or already what it
would write now); one edited since, by hand or by another tool, stops it, unless it is forced.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

MANIFEST = ".autograde-generated.json"


class EditedFiles(Exception):
    """Generated files that were changed since: overwriting them would lose the change."""

    def __init__(self, folder: Path, names: list[str]):
        listed = "\n".join(f"  {folder / name}" for name in names)
        super().__init__(f"{len(names)} file(s) in {folder} changed since `autograde release` generated them:\n{listed}\n"
                         "release would overwrite them with the stubs of the solutions (edit the solutions instead); "
                         "pass --force to overwrite them")


def sha256(data: bytes) -> str:
    """The hex sha256 of a file's bytes."""
    return hashlib.sha256(data).hexdigest()


def recorded(folder: Path) -> dict[str, str]:
    """The sha256 of each file release last wrote into ``folder``, by name (none without a readable manifest)."""
    try:
        files = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {name: digest for name, digest in files.items() if isinstance(digest, str)} if isinstance(files, dict) else {}


def edited(folder: Path, planned: dict[str, str]) -> list[str]:
    """The files of ``planned`` (name to the text release will write) that exist in ``folder`` with other
    content, and whose content is not what release last wrote there (with no record of it: any other content)."""
    record = recorded(folder)
    names = []
    for name, text in planned.items():
        path = folder / name
        if path.is_file():
            current = path.read_bytes()
            changed = current != text.encode("utf-8") and sha256(current) != record.get(name)
        else:
            changed = path.exists()  # a folder or another non-file in the way
        if changed:
            names.append(name)
    return names


def record(folder: Path, written: list[Path]) -> Path:
    """Write the manifest of ``folder``: the sha256 of each file just written there."""
    manifest = folder / MANIFEST
    document = {"generated_by": "autograde release", "sha256": {path.name: sha256(path.read_bytes()) for path in written}}
    manifest.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return manifest
