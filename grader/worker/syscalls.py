"""A seccomp filter for a child running student code: no socket at all (a connected pair of Unix sockets
still works: it reaches nothing outside the process's own family), no System V IPC or POSIX message queue
(they outlive the process and are shared by everyone of its uid), and none of the system calls that would
reach past the other layers (io_uring, which opens sockets of its own; opening files by handle, which skips
the path checks of Landlock; tracing or reading other processes; new namespaces; the kernel's keyring,
BPF and performance counters).

Built with libseccomp through ``pyseccomp``; where either is missing nothing is loaded and ``restrict``
says so (Landlock still refuses TCP, and bubblewrap's empty network namespace has no route anywhere).
"""

from __future__ import annotations

import errno
import socket

try:  # loaded in the worker, before any child is confined: finding libseccomp runs ldconfig
    import pyseccomp
except (ImportError, OSError, RuntimeError, AttributeError):  # not installed, or no libseccomp on this system
    pyseccomp = None

NEW_NAMESPACES = (0x00020000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x02000000)  # CLONE_NEW*
REFUSED = ("shmget", "shmat", "shmctl", "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semctl",
           "semtimedop", "mq_open", "io_uring_setup", "io_uring_enter", "io_uring_register", "open_by_handle_at", "name_to_handle_at",
           "ptrace", "process_vm_readv", "process_vm_writev", "unshare", "setns", "mount", "umount2", "pivot_root",
           "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd", "kexec_load",
           "init_module", "finit_module", "delete_module")


def restrict(unix_sockets: bool = False) -> bool:
    """Load the filter into this process and its future children; whether it could be loaded. With
    ``unix_sockets`` (code that may use the GPU: the driver's services listen on Unix sockets), a Unix socket
    may still be opened."""
    if pyseccomp is None:
        return False
    rules = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    refused = pyseccomp.ERRNO(errno.EAFNOSUPPORT)
    if unix_sockets:
        rules.add_rule(refused, "socket", pyseccomp.Arg(0, pyseccomp.NE, socket.AF_UNIX))
    else:
        rules.add_rule(refused, "socket")
    rules.add_rule(refused, "socketpair", pyseccomp.Arg(0, pyseccomp.NE, socket.AF_UNIX))
    for flag in NEW_NAMESPACES:  # clone itself starts every thread and fork: only a new namespace is refused
        rules.add_rule(pyseccomp.ERRNO(errno.EPERM), "clone", pyseccomp.Arg(0, pyseccomp.MASKED_EQ, flag, flag))
    rules.add_rule(pyseccomp.ERRNO(errno.ENOSYS), "clone3")  # its flags sit in memory a filter cannot read: glibc falls back to clone
    for call in REFUSED:
        try:
            rules.add_rule(pyseccomp.ERRNO(errno.EPERM), call)
        except OSError:  # a call this architecture does not have
            continue
    rules.load()
    return True
