"""How the process that runs student code is isolated: bubblewrap where available, else plain processes.

Both modes put resource limits on the code (set by the worker on each child). ``bwrap`` adds
what the operating system can enforce: a read-only view of just the Python installation, the
grader and the staged submissions; no network; a private ``/tmp``; its own process namespace,
which dies with the grader. The solutions, the mistakes and the output folder are not in it.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
from functools import lru_cache
from pathlib import Path

import grader
from grader.worker import landlock

MODES = ("auto", "bwrap", "process")
# a worker for student code frees what its children sent back to glibc (no pymalloc arenas), and glibc scrubs
# every freed block (no per-thread cache, which would keep small blocks unscrubbed): a later child, forked from
# the worker, finds nothing of an earlier student's in its memory
SCRUBBED_HEAP = {"PYTHONMALLOC": "malloc", "MALLOC_PERTURB_": "165",
                 "GLIBC_TUNABLES": "glibc.malloc.tcache_count=0:glibc.malloc.perturb=165"}
INSTALL_HINT = "install bubblewrap: sudo apt-get install bubblewrap (Debian, Ubuntu), sudo dnf install bubblewrap (Fedora)"


class SandboxUnavailable(RuntimeError):
    """The isolation asked for (or any: no fork on Windows) cannot run here."""


@lru_cache(maxsize=1)
def bwrap_works() -> bool:
    """Whether ``bwrap`` exists and can create its namespaces on this machine."""
    executable = shutil.which("bwrap")
    if not executable:
        return False
    try:
        probe = subprocess.run([executable, *_namespace_flags(), "--ro-bind", "/", "/", "true"],
                               capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def resolve(mode: str) -> str:
    """The mode to use: ``auto`` picks bwrap when it works; a one-line warning goes to the caller otherwise."""
    if not hasattr(os, "fork"):
        raise SandboxUnavailable("student code runs in forked processes, which this system lacks: "
                                 "use Linux or macOS (on Windows, WSL)")
    if mode == "auto":
        return "bwrap" if sys.platform == "linux" and bwrap_works() else "process"
    if mode == "bwrap" and not bwrap_works():
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed or cannot create namespaces here")
    return mode


def command(mode: str, visible: list[Path], device: str = "cpu") -> list[str]:
    """The command that starts a worker for student code, wrapped for ``mode``.

    Under bwrap the environment is cleared: on the CPU no GPU is visible; with ``device="cuda"`` the
    NVIDIA device files are bound in and ``CUDA_VISIBLE_DEVICES`` is passed on.
    """
    worker = [sys.executable, "-P", "-m", "grader.worker"]  # -P: never a `grader` of the working folder
    if mode != "bwrap":
        return worker
    flags = [shutil.which("bwrap") or "bwrap", *_namespace_flags(), "--die-with-parent", "--new-session",
             "--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp", "--chdir", "/tmp", "--clearenv",
             "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/tmp",
             "--setenv", "PYTHONDONTWRITEBYTECODE", "1", "--setenv", "OMP_NUM_THREADS", "1",
             "--perms", "1777", "--tmpfs", "/dev/shm"]
    for name, value in SCRUBBED_HEAP.items():
        flags += ["--setenv", name, value]
    if device == "cpu":
        flags += ["--setenv", "CUDA_VISIBLE_DEVICES", ""]
    else:
        flags += [flag for device_file in sorted(Path("/dev").glob("nvidia*"))
                  for flag in ("--dev-bind-try", str(device_file), str(device_file))]
        flags += ["--ro-bind-try", "/sys", "/sys"]  # the driver finds its devices there
        if "CUDA_VISIBLE_DEVICES" in os.environ:
            flags += ["--setenv", "CUDA_VISIBLE_DEVICES", os.environ["CUDA_VISIBLE_DEVICES"]]
    bound = readable_paths() + [p.resolve() for p in visible]
    for parent in sorted({a for path in bound for a in path.parents if a != Path("/")} - set(bound), key=lambda a: len(a.parts)):
        flags += ["--perms", "0755", "--dir", str(parent)]
    for path in bound:
        flags += ["--ro-bind-try", str(path), str(path)]
    return flags + worker


def _namespace_flags() -> list[str]:
    """New process, network, IPC and host-name namespaces; a user namespace too unless we are root
    (as root, bwrap keeps the real uid so the worker can hand each child an unprivileged one)."""
    user = [] if os.geteuid() == 0 else ["--unshare-user"]
    return [*user, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]


def readable_paths() -> list[Path]:
    """The system, the Python installation, its packages and the grader package: nothing else."""
    paths = {Path(p) for p in ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc/ld.so.cache", "/etc/alternatives")}
    paths |= {Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent.parent}
    paths |= {Path(p) for p in (sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages())}
    paths.add(Path(grader.__file__).resolve().parent)
    return sorted(p for p in paths if p.exists())


def confines_writes(mode: str) -> bool:
    """Whether student code run in this mode cannot write outside its own folder (so neither the reference cache
    nor a check server's socket): under bubblewrap, as another uid (a grader running as root), or under Landlock."""
    return mode == "bwrap" or os.geteuid() == 0 or landlock.abi_version() > 0
