"""The tamper scan: constructs in a student's code that reach into the grading machinery, found with ``ast``.

Code that forges its own results in its process (SECURITY.md, "What the student's own process can
still forge") has to reach the harness, torch's or Python's internals, the process's file
descriptors, other processes or the network. Each such construct is listed with its line, a short
category and a sentence, for the instructor to read. The code is parsed, never run; the scan
changes no grade and never raises.

The harness is found by what it is called, whatever the spelling of the way there: the names that
the grader's worker defines (its modules, its private and multi-word functions, classes and
constants, read from ``grader/worker/*.py`` and ``grader/protocol.py`` when this module is
imported) are flagged in strings (``k.endswith(".harness")``, ``co_name == "_child"``), as
attributes of objects the code did not make (``h.run_probe = ...``) and as keys of a frame's
variables (``f_locals["send"]``).
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from grader import pyparse
from grader.results import Flag

if TYPE_CHECKING:
    from grader.submission import Submission

CATEGORIES = {  # id -> what it means, for the reports
    "grader-import": "imports the grader or its worker",
    "grader-patch": "assigns into a grader module, or replaces a function of the grader's worker",
    "grader-name": "names a module or function of the grader's worker (in a string, an attribute, a frame's variables)",
    "sys-modules": "uses sys.modules, the table of loaded modules",
    "monkeypatch-torch": "replaces part of torch",
    "monkeypatch-builtins": "replaces a builtin",
    "monkeypatch-module": "replaces part of a standard module (json, os, sys, time, ...)",
    "class-assignment": "changes an object's class",
    "torch-function": "intercepts torch calls (__torch_function__, __torch_dispatch__)",
    "torch-c": "uses torch._C, torch's C internals",
    "private-name": "uses a private name (a leading underscore) of torch, a standard module or an object it did not make",
    "native-code": "loads native code (ctypes, cffi)",
    "gc-objects": "walks the garbage collector's objects",
    "frame-access": "reads the call stack's frames",
    "introspection": "reaches functions' globals, code or the subclasses of a type",
    "trace-hook": "installs a trace, profile or audit hook",
    "import-hook": "changes how modules are imported",
    "raw-fd": "uses raw file descriptors or the original standard streams",
    "device-file": "names a device file under /dev (a disk, a terminal, shared memory)",
    "signal": "sends or handles signals",
    "proc-path": "reads /proc",
    "network": "uses the network",
    "process": "starts or detaches processes",
    "dynamic-code": "runs code from a string (exec, eval, compile)",
    "obfuscated-code": "runs decoded text as code",
    "obfuscated-import": "imports a module by a computed name",
    "computed-attr": "reaches a module's attributes by a computed name (getattr, setattr, vars, __dict__)",
    "unscanned": "could not be scanned",
    "truncated": "more findings than listed",
}

MAX_PER_FILE = 50
TEXT_WIDTH = 60

_KNOWN_MODULES = {"torch", "sys", "os", "builtins", "json", "gc", "inspect", "signal", "ctypes", "cffi", "importlib",
                  "subprocess", "socket", "threading", "io", "pty", "base64", "codecs", "binascii", "zlib", "marshal",
                  "grader", "traceback", "pickle", "types", "time"}
_NATIVE = {"ctypes", "_ctypes", "cffi"}
_NETWORK = {"socket", "_socket", "socketserver", "ssl", "urllib", "urllib3", "http", "requests", "httpx", "aiohttp",
            "ftplib", "smtplib", "telnetlib", "xmlrpc", "websocket", "websockets"}
_PROCESS = {"subprocess", "_posixsubprocess", "pty"}
_OS_PROCESS = {"os.system", "os.popen", "os.fork", "os.forkpty", "os.setsid", "os.setpgid", "os.setpgrp"}
_OS_PROCESS_PREFIXES = ("os.exec", "os.spawn", "os.posix_spawn")
_SIGNALS = {"os.kill", "os.killpg", "os.pidfd_open"}
_RAW_FD = {"os.write", "os.writev", "os.pwrite", "os.dup", "os.dup2", "os.fdopen", "os.closerange", "os.sendfile",
           "os.openpty", "os.open", "os.read", "os.readv", "os.pread", "os.pipe", "os.pipe2", "os.mkfifo",
           "sys.__stdout__", "sys.__stderr__", "sys.__stdin__", "os.fstat", "os.dup3", "os.set_inheritable",
           "os.get_inheritable", "os.set_blocking", "io.FileIO", "_io.FileIO", "stat.S_ISFIFO", "stat.S_ISSOCK",
           "socket.fromfd", "mmap.mmap", "fcntl.fcntl", "fcntl.ioctl"}
# the worker's message and record fields, and a probe's id: written by code that forges the harness's messages
_PROTOCOL_WORDS = {"load_errors", "internal_error", "observation", "parameters_kept", "inputs_after",
                   "finite_difference", "not-applicable"}
_PROBE_ID = re.compile(r"^\w+:(?:call|dataset|differentiable|no-autograd|backward):\w+$")
_FRAME_FUNCTIONS = {"sys._getframe", "sys._current_frames", "inspect.currentframe", "inspect.stack", "inspect.trace",
                    "inspect.getouterframes", "inspect.getinnerframes", "inspect.getframeinfo", "traceback.walk_stack",
                    "traceback.walk_tb", "traceback.extract_stack", "traceback.format_stack", "traceback.print_stack",
                    "traceback.StackSummary"}
_GC_WALKS = {"gc.get_objects", "gc.get_referrers", "gc.get_referents"}
_TRACE_HOOKS = {"sys.settrace", "sys.setprofile", "sys.addaudithook", "sys.monitoring", "threading.settrace",
                "threading.setprofile", "threading.settrace_all_threads", "threading.setprofile_all_threads"}
_IMPORT_HOOKS = {"sys.meta_path", "sys.path_hooks", "sys.path_importer_cache"}
_FRAME_ATTRIBUTES = {"f_back", "f_globals", "f_locals", "f_builtins", "f_code", "f_trace", "f_lasti", "tb_frame",
                     "tb_next", "gi_frame", "cr_frame", "ag_frame"}
_FRAME_DICTS = {"f_locals", "f_globals", "f_builtins", "__globals__"}  # a frame's (or function's) variables
_INTROSPECTION = {"__globals__", "__subclasses__", "__code__", "__closure__", "__getattribute__", "__setattr__",
                  "__delattr__", "__mro__", "__bases__", "__base__", "co_name", "co_qualname", "co_filename",
                  "co_varnames", "co_names", "co_consts", "co_code", "co_firstlineno", "cell_contents"}
_INTROSPECTION_NAMES = {"types.FunctionType", "types.CodeType", "types.CellType", "types.FrameType",
                        "types.TracebackType", "types.ModuleType", "inspect.getclosurevars"}
_MODULE_FINDERS = {"inspect.getmodule", "inspect.getmembers", "importlib.reload", "importlib.util.find_spec",
                   "importlib.util.spec_from_file_location", "importlib.util.module_from_spec", "importlib.machinery"}
_HIDDEN_BUILTINS = {"builtins.exec", "builtins.eval", "builtins.compile", "builtins.__import__"}
_TORCH_HOOKS = {"__torch_function__", "__torch_dispatch__"}
_DECODING_MODULES = {"base64", "codecs", "binascii", "zlib", "bz2", "lzma", "gzip", "marshal", "pickle"}
_DECODING_METHODS = {"decode", "fromhex", "decompress", "b64decode", "unhexlify"}
_IMPORT_FUNCTIONS = {"importlib.import_module", "importlib.__import__", "builtins.__import__"}
_GETATTR_FUNCTIONS = {"inspect.getattr_static"}  # getattr by another name: (object, name)
_ATTRGETTERS = {"operator.attrgetter", "operator.methodcaller"}  # (name): the object comes later
_DICT_READERS = {"get", "pop", "setdefault", "__getitem__", "__contains__"}
_DICT_WRITERS = {"__setitem__", "__delitem__", "update"}
_REROOTED = {"sys", "builtins", "gc", "ctypes", "inspect", "importlib", "traceback"}  # os.sys.modules is sys.modules
_PUBLIC_UNDERSCORE = {"_replace", "_asdict", "_fields", "_make", "_field_defaults"}  # namedtuple's public API
_GRADER_TEXT = re.compile(r"(?:^|[\s'\"/\\])grader(?:$|[./\\][A-Za-z_])|\bworker[./\\](?:harness|encoding|server|loader|cases)\b"
                          r"|\bharness\.[A-Za-z_]|\bencoding\.(?:encode|decode)_")
_PROC = re.compile(r"(?:^|[^\w.])/proc(?:/|$)")
_RAW_FD_PATHS = re.compile(r"/dev/(?:fd|stdout|stderr|stdin)\b|/proc/(?:self|\d+|thread-self)/fd\b")
_DEVICE_PATHS = re.compile(r"(?:^|[^\w.])/dev(?:/(?!(?:null|zero|random|urandom)(?![\w/]))|$)")
_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | {"os", "sys", "io", "json", "gc", "time", "inspect",
                                                                 "importlib", "signal", "subprocess", "threading",
                                                                 "traceback", "pickle", "types", "socket", "builtins"}

# Words an honest course writes as strings, dictionary keys or attributes: never flagged as the worker's names
# (a frame's variables excepted).
_PLAIN_WORDS = {"cases", "gradients", "graph", "loader", "transforms", "worker", "data", "result", "results", "send",
                "request", "index", "probe", "probes", "target", "targets", "summary", "describe", "encode", "main",
                "restrict"}


def _private(name: str) -> bool:
    """``_observe_call``, ``_C``, ``__mangled``: a leading underscore, but not a ``__dunder__``."""
    return len(name) > 1 and name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _method(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether a function takes ``self`` or ``cls`` first: a method, wherever it is defined."""
    arguments = [*node.args.posonlyargs, *node.args.args]
    return bool(arguments) and arguments[0].arg in ("self", "cls")


def _distinctive(name: str) -> bool:
    """A name only the worker would use: private (``_child``) or of several words (``run_probe``, ``CappedText``)."""
    if name.startswith("__") or name in _PLAIN_WORDS:
        return False
    return _private(name) or not re.fullmatch(r"[a-z]+\d*|[A-Z]+\d*|[A-Z][a-z]+\d*", name)


def _worker_vocabulary() -> tuple[frozenset[str], frozenset[str], frozenset[str], frozenset[str], frozenset[str]]:
    """What the grader's worker is called, read from its source: its module names; its distinctive function,
    class and global names; its other class names; every name it binds (a frame's variables); the modules
    it imports. ``grader/authoring.py`` is left out: a course's own files import it."""
    modules = {"harness", "encoding", "server", "loader", "cases", "worker", "protocol"}
    names = {"run_probe", "_observe_call", "encode_tensor", "_child", "_run_child", "_same", "captured_output"}
    classes = {"Resolver"}
    bound = {"send", "request", "out", "index", "probe", "resolver", "course", "finder", "observation"}
    imports = {"json", "os", "sys", "time", "traceback", "signal", "importlib", "math", "random", "io", "ctypes"}
    here = Path(__file__).resolve().parent
    for path in [*sorted((here / "worker").glob("*.py")), here / "protocol.py"]:
        try:
            tree = pyparse.parse(path.read_text(encoding="utf-8"), str(path))
        except Exception:  # noqa: BLE001 - a missing or unreadable file: the built-in names above stay
            continue
        if not path.stem.startswith("__"):
            modules.add(path.stem)
        top = set()
        for node in getattr(tree, "body", []):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                top.add(node.name)
                if isinstance(node, ast.ClassDef):
                    classes.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                top.update(t.id for t in targets if isinstance(t, ast.Name))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound.add(node.name)
                if _private(node.name):
                    top.add(node.name)
            elif isinstance(node, ast.arg):
                bound.add(node.arg)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                bound.add(node.id)
            elif isinstance(node, ast.Import):
                imports.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imports.add(node.module.split(".")[0])
        names.update(name for name in top if _distinctive(name))
    classes = {name for name in classes if name not in names and not name.startswith("__")}
    return (frozenset(modules), frozenset(names), frozenset(classes), frozenset(bound | names | classes),
            frozenset(imports - {"grader", "__future__"}))


try:
    _WORKER_MODULES, _WORKER_NAMES, _WORKER_CLASSES, _WORKER_BOUND, _WORKER_IMPORTS = _worker_vocabulary()
except Exception:  # noqa: BLE001 - importing the scan must never fail
    _WORKER_MODULES, _WORKER_NAMES, _WORKER_CLASSES, _WORKER_BOUND, _WORKER_IMPORTS = (
        frozenset({"harness", "encoding", "server", "worker", "protocol"}),
        frozenset({"run_probe", "_observe_call", "encode_tensor", "_child", "_run_child"}), frozenset({"Resolver"}),
        frozenset({"send", "request", "out", "index"}), frozenset({"json", "os", "sys", "time"}))
_WORKER_MODULE_NAMES = _WORKER_MODULES - _PLAIN_WORDS  # "harness", "encoding", "server": flagged as a bare string too
# modules whose attributes the worker (or Python under it) relies on: an assignment into one is a patch
_PATCHED_MODULES = (_STDLIB | _WORKER_IMPORTS) - {"builtins", "torch", "grader", "__future__"}
_PRIVATE_ROOTS = _STDLIB | _WORKER_IMPORTS | {"torch"}  # whose private names are flagged (torch._C has its own)


@dataclass(frozen=True, order=True)
class Finding:
    """One construct: the line of the file's Python text, a category of ``CATEGORIES``, a sentence."""

    line: int
    category: str
    text: str


def scan(code: Submission) -> list[Flag]:
    """The findings in every file of a loaded submission, as result flags (never raises)."""
    try:
        flags = []
        for source in code.files:
            if source.tree is None:
                continue  # unreadable or not Python: the worker cannot run it either
            name = _relative(source.path, code.root)
            flags += [Flag(name, found.line, found.category, found.text, source.locate(found.line))
                      for found in scan_tree(source.tree)]
        return flags
    except Exception as error:  # noqa: BLE001 - the scan must never cost a grade
        return [Flag("", 0, "unscanned", f"the code could not be scanned ({type(error).__name__})")]


def scan_source(text: str, filename: str = "<code>") -> list[Finding]:
    """The findings in Python source; none when it cannot be parsed (then it cannot run either)."""
    try:
        tree = pyparse.parse(text, filename)
    except Exception:  # noqa: BLE001 - SyntaxError, ValueError, RecursionError, MemoryError...
        return []
    return scan_tree(tree)


def scan_tree(tree: ast.AST) -> list[Finding]:
    """The findings in a parsed module; one ``unscanned`` finding when walking it fails."""
    try:
        return _Scanner(tree).run()
    except Exception as error:  # noqa: BLE001 - RecursionError, MemoryError: never raise
        return [Finding(1, "unscanned", f"could not be scanned ({type(error).__name__})")]


def summary_text(flags: list[dict]) -> str:
    """``2: monkeypatch-torch, sys-modules``: how many findings, then their categories; empty for none."""
    categories = [str(flag.get("category", "")) for flag in flags if isinstance(flag, dict)]
    shown = [c for c in dict.fromkeys(categories) if re.fullmatch(r"[a-z][a-z-]*", c)]
    return f"{len(categories)}: {', '.join(shown)}" if categories else ""


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix() if path != root else path.name
    except ValueError:
        return path.name


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= TEXT_WIDTH else text[:TEXT_WIDTH - 4] + "...'"


def _names_worker(text: str) -> bool:
    """Whether a string names a module or a distinctive function of the grader's worker: ``"harness"``,
    ``".harness"``, ``"x.encoding"``, ``"harness.py"``, ``"_child"``, ``"run_probe"``, ``"Resolver"``."""
    text = text.strip()
    if len(text) > 200:
        return False
    if text in _WORKER_NAMES or text in _WORKER_CLASSES or text in _WORKER_MODULE_NAMES:
        return True
    if text.endswith(".py"):
        return re.split(r"[/\\]", text[:-3])[-1] in _WORKER_MODULES
    head, dot, last = text.rpartition(".")
    if not dot or last not in _WORKER_MODULES:
        return False
    return not head or last in _WORKER_MODULE_NAMES or head.split(".")[-1] in ("worker", "grader")


class _Scanner:
    """Two passes over the tree: first the names (imports, aliases, local bindings), then the checks."""

    def __init__(self, tree: ast.AST):
        self.nodes = list(ast.walk(tree))  # breadth first, no recursion
        self.aliases: dict[str, str] = {}  # local name -> the dotted name it stands for
        self.bound: set[str] = set()  # names the code binds itself
        self.assigned: set[str] = set()  # names the code assigns (not only as a parameter)
        self.members: set[str] = set()  # attributes the code defines: in a class body, or on self and cls
        self.siblings: set[str] = set()  # names of the submission's own modules (relative imports)
        self.prose: set[int] = set()  # ids of docstrings and other bare string statements
        self.imported: set[str] = set()  # top-level packages imported by name (flagged once, at the import)
        self.found: dict[tuple[int, str], str] = {}

    def run(self) -> list[Finding]:
        for node in self.nodes:
            self._collect(node)
        for _ in range(2):  # ``T = torch.Tensor``, then ``U = T``
            for node in self.nodes:
                for name, value in _bindings(node):
                    if (dotted := self._qualified(value)) is not None:
                        self.aliases[name] = dotted
        self.decodes = any(isinstance(node, ast.Call) and self._decoding(node) for node in self.nodes)
        for node in self.nodes:
            self._check(node)
        grader_lines = {line for line, category in self.found if category in ("grader-import", "grader-patch")}
        findings = sorted(Finding(line, category, text) for (line, category), text in self.found.items()
                          if not (category == "grader-name" and line in grader_lines))
        if len(findings) > MAX_PER_FILE:
            rest = findings[MAX_PER_FILE:]
            findings = findings[:MAX_PER_FILE] + [Finding(rest[0].line, "truncated", f"{len(rest)} more findings not listed")]
        return findings

    def _flag(self, node: ast.AST, category: str, text: str) -> None:
        self.found.setdefault((getattr(node, "lineno", 1), category), text)

    # names

    def _collect(self, node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                self.imported.add(alias.name.split(".")[0])
                if alias.asname:
                    self.aliases[alias.asname] = alias.name
                else:
                    root = alias.name.split(".")[0]
                    self.aliases[root] = root
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            self.aliases.update({alias.asname or alias.name: f"{node.module}.{alias.name}"
                                 for alias in node.names if alias.name != "*"})
        elif isinstance(node, ast.ImportFrom):  # ``from . import helpers``: the submission's own code
            self.siblings.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            self.bound.add(node.id)
            self.assigned.add(node.id)
        elif isinstance(node, ast.arg):
            self.bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.bound.add(node.name)
            if not isinstance(node, ast.ClassDef) and (node.decorator_list or _method(node)):
                self.members.add(node.name)  # a method defined outside its class (``@add_to_class(C)``)
            if isinstance(node, ast.ClassDef):
                for statement in node.body:
                    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                        self.members.add(statement.name)
                    elif isinstance(statement, (ast.Assign, ast.AnnAssign)):
                        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
                        self.members.update(t.id for t in targets if isinstance(t, ast.Name))
        elif (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and isinstance(node.value, ast.Name)
              and node.value.id in ("self", "cls")):
            self.members.add(node.attr)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            self.prose.add(id(node.value))

    def _resolve(self, name: str) -> str | None:
        if name in self.aliases:
            return self.aliases[name]
        if name == "__builtins__":
            return "builtins"
        return name if name in _KNOWN_MODULES and name not in self.bound else None

    def _qualified(self, node: ast.AST) -> str | None:
        """``torch.Tensor.tolist`` for an attribute chain on an imported (or well-known) module, else None.
        The chain may start at an import by call (``__import__("sys").modules``); a module that another
        holds is named for itself (``os.sys.modules`` is ``sys.modules``)."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Call):
            base = self._imported_by_call(node)
        elif isinstance(node, ast.Name):
            base = self._resolve(node.id)
        else:
            return None
        if base is None:
            return None
        dotted = [*base.split("."), *reversed(parts)]
        if dotted[0] in _PRIVATE_ROOTS:
            for at in range(len(dotted) - 1, 0, -1):
                if dotted[at] in _REROOTED:
                    return ".".join(dotted[at:])
        return ".".join(dotted)

    def _imported_by_call(self, node: ast.Call) -> str | None:
        """The module that ``__import__("sys")`` or ``importlib.import_module("sys")`` returns, when named by literals."""
        if not node.args:
            return None
        name, _ = _fold(node.args[0])
        if not name:
            return None
        func = node.func
        if isinstance(func, ast.Name) and func.id == "__import__" and self._builtin(func) == "__import__":
            fromlist = len(node.args) > 3 or any(keyword.arg == "fromlist" for keyword in node.keywords)
            return name if fromlist else name.split(".")[0]  # with a fromlist, __import__ returns the leaf
        parts = []
        while isinstance(func, ast.Attribute):
            parts.append(func.attr)
            func = func.value
        if isinstance(func, ast.Name) and (base := self._resolve(func.id)) is not None:
            dotted = ".".join([base, *reversed(parts)])
            if dotted in ("importlib.import_module", "builtins.__import__"):
                return name if dotted == "importlib.import_module" else name.split(".")[0]
        return None

    def _builtin(self, func: ast.AST) -> str | None:
        """The builtin a call's function names (``exec``, ``builtins.exec``), unless the code rebinds it."""
        if isinstance(func, ast.Name) and func.id not in self.aliases and func.id not in self.bound:
            return func.id
        dotted = self._qualified(func)
        return dotted[len("builtins."):] if dotted and dotted.startswith("builtins.") and dotted.count(".") == 1 else None

    def _own(self, node: ast.AST) -> bool:
        """Whether an object is the code's own: ``self`` or ``cls`` as parameters, ``super()``, a sibling module."""
        if isinstance(node, ast.Name):
            return (node.id in ("self", "cls") and node.id not in self.assigned) or node.id in self.siblings
        return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super" and \
            "super" not in self.bound

    def _namespace(self, node: ast.AST) -> ast.AST | None:
        """The object whose attributes a mapping holds: ``X`` of ``vars(X)``, ``X.__dict__``, ``getattr(X, "__dict__")``."""
        if isinstance(node, ast.Attribute) and node.attr == "__dict__":
            return node.value
        if isinstance(node, ast.Call) and node.args:
            builtin = self._builtin(node.func)
            if builtin == "vars" and len(node.args) == 1:
                return node.args[0]
            if builtin == "getattr" and len(node.args) >= 2 and _fold(node.args[1])[0] == "__dict__":
                return node.args[0]
        return None

    # checks

    def _check(self, node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                self._module(node, alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            self._module(node, node.module)
            for alias in node.names:
                self._module(node, f"{node.module}.{alias.name}", private=False)  # _name says it
                self._name(node, f"{node.module}.{alias.name}")
        elif isinstance(node, ast.Attribute):
            self._attribute(node)
        elif isinstance(node, ast.Name):
            if node.id == "__builtins__" and isinstance(node.ctx, (ast.Store, ast.Del)):
                self._flag(node, "monkeypatch-builtins", "assigns __builtins__")
            elif node.id in _TORCH_HOOKS:
                self._flag(node, "torch-function", f"defines {node.id}")
            elif node.id in self.aliases and isinstance(node.ctx, ast.Load):
                self._name(node, self.aliases[node.id])
        elif isinstance(node, ast.Subscript):
            self._subscript(node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in _TORCH_HOOKS:
            self._flag(node, "torch-function", f"defines {node.name}")
        elif isinstance(node, ast.Call):
            self._call(node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in self.prose:
            self._string(node, node.value)
        elif isinstance(node, (ast.BinOp, ast.JoinedStr)):  # text spelled in pieces: "_chi" + "ld"
            text, plain = _fold(node)
            if text is not None and not plain:
                self._string(node, text)

    def _module(self, node: ast.AST, module: str, private: bool = True) -> None:
        """An imported module (by ``import``, ``__import__`` or ``importlib``)."""
        parts = module.split(".")
        root = parts[0]
        if root == "grader":
            self._flag(node, "grader-import", f"imports {module}")
        elif (family := _family(root)) is not None:
            self._flag(node, family, f"imports {module}")
        elif root == "torch" and "_C" in parts:
            self._flag(node, "torch-c", f"imports {module}")
        elif private and any(_private(part) for part in parts) and (root in _PRIVATE_ROOTS or _private(root)):
            self._flag(node, "private-name", f"imports {module}")

    def _name(self, node: ast.AST, dotted: str) -> None:
        """A dotted name the code uses: ``sys.modules``, ``os.kill``, ``gc.get_objects``..."""
        parts = dotted.split(".")
        root = parts[0]
        if dotted == "sys.modules" or dotted.startswith("sys.modules."):
            self._flag(node, "sys-modules", "uses sys.modules")
        elif dotted in _IMPORT_HOOKS:
            self._flag(node, "import-hook", f"uses {dotted}")
        elif dotted in _TRACE_HOOKS:
            self._flag(node, "trace-hook", f"uses {dotted}")
        elif dotted in _FRAME_FUNCTIONS:
            self._flag(node, "frame-access", f"uses {dotted}")
        elif dotted in _GC_WALKS:
            self._flag(node, "gc-objects", f"uses {dotted}")
        elif dotted in _MODULE_FINDERS or dotted.startswith("importlib.machinery."):
            self._flag(node, "obfuscated-import", f"uses {dotted}")
        elif dotted in _HIDDEN_BUILTINS:  # a call of it is flagged first, with its own text
            self._flag(node, "obfuscated-import" if dotted == "builtins.__import__" else "dynamic-code", f"uses {dotted}")
        elif root == "torch" and "_C" in parts:
            self._flag(node, "torch-c", f"uses {'.'.join(parts[:parts.index('_C') + 1])}")
        elif dotted in _SIGNALS or dotted in _OS_PROCESS or dotted.startswith(_OS_PROCESS_PREFIXES):
            self._flag(node, "signal" if dotted in _SIGNALS else "process", f"uses {dotted}")
        elif parts[-1] == "__dict__" and len(parts) > 1:
            self._flag(node, "computed-attr", f"uses {dotted}, a module's namespace")
        elif dotted in _INTROSPECTION_NAMES:
            self._flag(node, "introspection", f"uses {dotted}")
        elif (family := _family(root)) is not None:
            if root not in self.imported:  # its import is flagged: its uses would only repeat it
                self._flag(node, family, f"uses {dotted}")
        elif dotted in _RAW_FD:
            self._flag(node, "raw-fd", f"uses {dotted}")
        elif root in _PRIVATE_ROOTS and (at := next((i for i, p in enumerate(parts) if i and _private(p)), 0)):
            self._flag(node, "private-name", f"uses {'.'.join(parts[:at + 1])}")

    def _attribute(self, node: ast.Attribute) -> None:
        stored = isinstance(node.ctx, (ast.Store, ast.Del))
        self._member(node, node.value, node.attr, stored, "deletes" if isinstance(node.ctx, ast.Del) else "assigns")
        if not stored and (dotted := self._qualified(node)) is not None:
            self._name(node, dotted)

    def _member(self, node: ast.AST, base: ast.AST | None, attribute: str, stored: bool, verb: str = "assigns",
                how: str | None = None, indirect: bool = False) -> None:
        """``base.attribute`` read or written: also ``indirect``ly, by ``getattr``/``setattr`` with a literal name
        (``how`` says which) or through ``vars(base)[...]``; ``base`` None when unknown (``operator.attrgetter``)."""
        self._attribute_name(node, attribute, stored)
        if base is not None and self._own(base):
            return
        owner = self._qualified(base) if base is not None else None
        if owner is not None:
            if stored:
                self._patch(node, owner, how or f"{verb} {owner}.{attribute}")
            elif indirect:  # an attribute node is named by _attribute
                self._name(node, f"{owner}.{attribute}")
            return
        shown = how or f"{verb if stored else 'uses'} .{attribute}"
        if stored and (attribute in _WORKER_NAMES or attribute in _WORKER_CLASSES):
            self._flag(node, "grader-patch", f"{shown}, a name in the grader's worker")
        elif attribute in _WORKER_NAMES and attribute not in self.members:
            self._flag(node, "grader-name", f"{shown}, a name in the grader's worker")
        elif _private(attribute) and attribute not in self.members and attribute not in _PUBLIC_UNDERSCORE:
            self._flag(node, "private-name", shown)

    def _attribute_name(self, node: ast.AST, attribute: str, stored: bool) -> None:
        """Attributes suspicious on any object: frames, function internals, torch's hooks, ``__class__``."""
        if attribute in _FRAME_ATTRIBUTES:
            self._flag(node, "frame-access", f"reads a frame's {attribute}")
        elif attribute in _INTROSPECTION:
            self._flag(node, "introspection", f"{'assigns' if stored else 'uses'} {attribute}")
        elif attribute in _TORCH_HOOKS:
            self._flag(node, "torch-function", f"{'assigns' if stored else 'uses'} {attribute}")
        elif attribute == "__class__" and stored:
            self._flag(node, "class-assignment", "assigns __class__")

    def _patch(self, node: ast.AST, owner: str, text: str) -> None:
        """An assignment into ``owner`` (a dotted module or class name)."""
        root = owner.split(".")[0]
        if root == "torch" and not (owner + ".").startswith("torch.backends."):  # cudnn flags are settings
            self._flag(node, "monkeypatch-torch", text)
        elif root == "builtins":
            self._flag(node, "monkeypatch-builtins", text)
        elif root == "grader":
            self._flag(node, "grader-patch", text)
        elif root in _PATCHED_MODULES and owner != "os.environ":
            self._flag(node, "monkeypatch-module", text)

    def _subscript(self, node: ast.Subscript) -> None:
        stored = isinstance(node.ctx, (ast.Store, ast.Del))
        key, _ = _fold(node.slice)
        if (owner := self._namespace(node.value)) is not None and key is not None:
            self._member(node, owner, key, stored, indirect=True)
        elif self._frame_dict(node.value) and key is not None:
            self._frame_key(node, key)
        elif stored and (dotted := self._qualified(node.value)) is not None and not dotted.startswith("sys.modules"):
            self._patch(node, dotted, f"assigns an item of {dotted}")  # sys.modules: flagged as itself

    def _frame_dict(self, node: ast.AST) -> bool:
        """Whether a mapping is a frame's (or a function's) variables: ``f.f_locals``, ``fn.__globals__``."""
        return isinstance(node, ast.Attribute) and node.attr in _FRAME_DICTS

    def _frame_key(self, node: ast.AST, key: str) -> None:
        if key in _WORKER_BOUND:
            self._flag(node, "grader-name", f"reads {_short(key)}, a variable of the grader's worker, from a frame")

    def _call(self, node: ast.Call) -> None:
        builtin = self._builtin(node.func)
        dotted = self._qualified(node.func)
        first = node.args[0] if node.args else None
        if builtin in ("exec", "eval", "compile"):
            if any(isinstance(n, ast.Call) and self._decoding(n) for arg in node.args for n in ast.walk(arg)) or (
                    self.decodes and any(isinstance(arg, ast.Name) for arg in node.args)):
                self._flag(node, "obfuscated-code", f"{builtin}() of decoded text")
            else:
                self._flag(node, "dynamic-code", f"{builtin}() runs code from a string")
        elif (builtin == "__import__" or dotted in _IMPORT_FUNCTIONS) and first is not None:
            name, plain = _fold(first)
            how = builtin or dotted
            if name is None:
                self._flag(node, "obfuscated-import", f"{how}() with a computed module name")
            else:
                self._module(node, name)
                if not plain and (getattr(node, "lineno", 1), "grader-import") in self.found:
                    self._flag(node, "obfuscated-import", f"{how}() of {_short(name)}, spelled in pieces")
        elif builtin in ("setattr", "delattr", "getattr") and len(node.args) >= 2:
            self._computed_attribute(node, builtin, node.args[0], node.args[1])
        elif dotted in _GETATTR_FUNCTIONS and len(node.args) >= 2:
            self._computed_attribute(node, "getattr", node.args[0], node.args[1])
        elif dotted in _ATTRGETTERS:
            for arg in node.args:
                if (name := _fold(arg)[0]) is not None:
                    for piece in name.split("."):
                        self._member(node, None, piece, False, how=f"{dotted}({_short(name)})", indirect=True)
        elif builtin == "vars" and first is not None and (owner := self._qualified(first)) is not None:
            self._flag(node, "computed-attr", f"vars({owner}) reads a module's namespace")
        elif (isinstance(node.func, ast.Attribute) and self._builtin(node.func.value) in ("object", "type")
              and node.func.attr in ("__setattr__", "__delattr__", "__getattribute__") and len(node.args) >= 2):
            how = {"__setattr__": "setattr", "__delattr__": "delattr", "__getattribute__": "getattr"}[node.func.attr]
            self._computed_attribute(node, how, node.args[0], node.args[1])
        elif (builtin == "open" or dotted in ("io.open", "os.fdopen")) and _integer(first) is not None:
            self._flag(node, "raw-fd", f"opens file descriptor {_integer(first)}")
        elif dotted in ("os.write", "os.close", "os.dup2") and _integer(first) is not None:
            self._flag(node, "raw-fd", f"{dotted}() on file descriptor {_integer(first)}")
        elif isinstance(node.func, ast.Attribute) and first is not None and node.func.attr in _DICT_READERS | _DICT_WRITERS:
            self._mapping_call(node, node.func, first)

    def _mapping_call(self, node: ast.Call, func: ast.Attribute, first: ast.AST) -> None:
        """``vars(sys).get("modules")``, ``f.f_locals.get("send")``, ``h.__dict__.__setitem__("run_probe", f)``."""
        key, _ = _fold(first)
        if key is None:
            return
        stored = func.attr in _DICT_WRITERS
        if (owner := self._namespace(func.value)) is not None:
            self._member(node, owner, key, stored, indirect=True)
        elif self._frame_dict(func.value):
            self._frame_key(node, key)

    def _computed_attribute(self, node: ast.Call, builtin: str, target: ast.AST, name_node: ast.AST) -> None:
        owner = self._qualified(target)
        name, _ = _fold(name_node)
        if name is not None:
            self._member(node, target, name, builtin != "getattr", "deletes" if builtin == "delattr" else "assigns",
                         how=f"{builtin}({owner or '...'}, {_short(name)})", indirect=True)
            return
        if owner is not None:
            self._flag(node, "computed-attr", f"{builtin}({owner}, <computed name>)")

    def _decoding(self, node: ast.Call) -> bool:
        """Whether a call decodes or decompresses data (base64, codecs, zlib, marshal, ``bytes.fromhex``...)."""
        dotted = self._qualified(node.func)
        if dotted and dotted.split(".")[0] in _DECODING_MODULES:
            return True
        return isinstance(node.func, ast.Attribute) and node.func.attr in _DECODING_METHODS

    def _string(self, node: ast.AST, text: str) -> None:
        if _GRADER_TEXT.search(text) or _names_worker(text) or text in _PROTOCOL_WORDS or _PROBE_ID.match(text):
            self._flag(node, "grader-name", f"names {_short(text)}")
        if _RAW_FD_PATHS.search(text):
            self._flag(node, "raw-fd", f"names {_short(text)}")
        elif _PROC.search(text):
            self._flag(node, "proc-path", f"names {_short(text)}")
        elif _DEVICE_PATHS.search(text):
            self._flag(node, "device-file", f"names {_short(text)}")


def _family(root: str) -> str | None:
    """The category of everything a module family offers: native code, signals, the network, processes."""
    for family, roots in (("native-code", _NATIVE), ("signal", {"signal"}), ("network", _NETWORK), ("process", _PROCESS)):
        if root in roots:
            return family
    return None


def _bindings(node: ast.AST) -> list[tuple[str, ast.AST]]:
    """The names a statement binds to expressions: ``m = sys``, ``a, m = os, sys``, ``(m := sys)``, ``def f(m=sys)``."""
    if isinstance(node, ast.Assign):
        pairs = [(target, node.value) for target in node.targets]
    elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
        pairs = [(node.target, node.value)]
    elif isinstance(node, ast.arguments):
        positional = [*node.posonlyargs, *node.args]
        pairs = list(zip(positional[len(positional) - len(node.defaults):], node.defaults))
        pairs += [(arg, default) for arg, default in zip(node.kwonlyargs, node.kw_defaults) if default is not None]
        return [(arg.arg, default) for arg, default in pairs]
    else:
        return []
    found = []
    while pairs:
        target, value = pairs.pop()
        if isinstance(target, ast.Name):
            found.append((target.id, value))
        elif (isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List))
              and len(target.elts) == len(value.elts)):
            pairs += zip(target.elts, value.elts)
    return found


def _fold(node: ast.AST, depth: int = 0) -> tuple[str | None, bool]:
    """The text of a string literal, also when spelled in pieces (``"gr" + "ader"``, an f-string of
    literals); and whether it was one plain literal. ``(None, False)`` when it is computed."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value, True
    if depth > 40:
        return None, False
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, _ = _fold(node.left, depth + 1)
        right, _ = _fold(node.right, depth + 1) if left is not None else (None, False)
        return (left + right, False) if left is not None and right is not None else (None, False)
    if isinstance(node, ast.JoinedStr):
        pieces = [_fold(value.value if isinstance(value, ast.FormattedValue) else value, depth + 1)[0]
                  for value in node.values]
        return ("".join(pieces), False) if all(piece is not None for piece in pieces) else (None, False)
    return None, False


def _integer(node: ast.AST | None) -> int | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node.value
    return None
