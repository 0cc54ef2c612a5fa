"""Process attributes of the worker and of the children that run student code (Linux; elsewhere no-ops).

- ``drop_to(uid, keep_reading)``: a child started as root becomes an unprivileged user. Where the Python
  installation is readable by root only (under ``/root``), it keeps one capability, reading files
  (``CAP_DAC_READ_SEARCH``), so that imports still work; Landlock then decides what it may read. It can write nothing of root's,
  signal no process of another user, and read no other process's memory or environment.
- ``guard_worker()``: the worker is not dumpable (no other process of its uid can open its
  ``/proc/<pid>/fd`` or ``environ``), adopts every orphan its children leave (a subreaper: a
  ``setsid()`` daemon comes back to it and is killed), and dies with the grading process.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE, _PR_SET_KEEPCAPS = 1, 4, 8
_PR_CAPBSET_DROP, _PR_SET_CHILD_SUBREAPER, _PR_SET_NO_NEW_PRIVS = 24, 36, 38
_CAP_DAC_READ_SEARCH = 2
_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    return ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, value: int) -> None:
    libc = _libc()
    if libc is not None and libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def guard_worker(parent: int | None = None) -> None:
    """Make this worker non-dumpable, a subreaper, and killed with its parent (``parent``: the pid that must
    still be its parent, or the worker exits at once: it was orphaned before it could ask)."""
    if _libc() is None:
        return
    _prctl(_PR_SET_DUMPABLE, 0)
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if parent is not None and os.getppid() != parent:
        os._exit(0)


def die_with_parent() -> None:
    """Be killed when the process that started this one dies."""
    if _libc() is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def hide_process() -> None:
    """Make this process non-dumpable: processes of the same uid cannot read its ``/proc/<pid>/environ``
    or open its descriptors through ``/proc/<pid>/fd``."""
    if _libc() is not None:
        _prctl(_PR_SET_DUMPABLE, 0)


def drop_to(uid: int, keep_reading: bool) -> None:
    """Become ``uid`` (group too, no supplementary groups) with no new privileges from then on (no set-uid
    program regains root); with ``keep_reading``, keep ``CAP_DAC_READ_SEARCH`` and no other capability."""
    libc = _libc()
    if libc is None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        return
    for capability in range(64):
        if capability != _CAP_DAC_READ_SEARCH and libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            if ctypes.get_errno() == 22:  # EINVAL: past the last capability this kernel knows
                break
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")
    _prctl(_PR_SET_KEEPCAPS, 1 if keep_reading else 0)
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    if keep_reading:
        kept = 1 << _CAP_DAC_READ_SEARCH
        header = _CapHeader(_CAPABILITY_VERSION_3, 0)
        data = (_CapData * 2)(_CapData(kept, kept, 0), _CapData(0, 0, 0))
        if libc.capset(ctypes.byref(header), data) != 0:
            raise OSError(ctypes.get_errno(), "capset failed")
        _prctl(_PR_SET_KEEPCAPS, 0)
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)
