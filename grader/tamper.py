"""The tamper scan: constructs in a student's code that reach into the grading machinery, found with ``ast``.

Code that forges its own results in its process (SECURITY.md, "What the student's own process can
still forge") has to reach the harness, torch's or Python's internals, the process's file
descriptors, other processes or the network. Each such construct is listed with its line, a short
category and a sentence, for the instructor to read. The code is parsed, never run; the scan
changes no grade and never raises.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from grader import pyparse
from grader.results import Flag

if TYPE_CHECKING:
    from grader.submission import Submission

CATEGORIES = {  # id -> what it means, for the reports
    "grader-import": "imports the grader or its worker",
    "grader-patch": "assigns into a grader module",
    "grader-name": "names a grader module in a string",
    "sys-modules": "uses sys.modules, the table of loaded modules",
    "monkeypatch-torch": "replaces part of torch",
    "monkeypatch-builtins": "replaces a builtin",
    "monkeypatch-module": "replaces part of a standard module (json, os, sys, ...)",
    "class-assignment": "changes an object's class",
    "torch-function": "intercepts torch calls (__torch_function__, __torch_dispatch__)",
    "torch-c": "uses torch._C, torch's C internals",
    "native-code": "loads native code (ctypes, cffi)",
    "gc-objects": "walks the garbage collector's objects",
    "frame-access": "reads the call stack's frames",
    "introspection": "reaches functions' globals, code or the subclasses of a type",
    "trace-hook": "installs a trace, profile or audit hook",
    "import-hook": "changes how modules are imported",
    "raw-fd": "uses raw file descriptors or the original standard streams",
    "signal": "sends or handles signals",
    "proc-path": "reads /proc",
    "network": "uses the network",
    "process": "starts or detaches processes",
    "dynamic-code": "runs code from a string (exec, eval, compile)",
    "obfuscated-code": "runs decoded text as code",
    "obfuscated-import": "imports a module by a computed name",
    "computed-attr": "getattr or setattr with a computed name on a module",
    "unscanned": "could not be scanned",
    "truncated": "more findings than listed",
}

MAX_PER_FILE = 50
TEXT_WIDTH = 60

_KNOWN_MODULES = {"torch", "sys", "os", "builtins", "json", "gc", "inspect", "signal", "ctypes", "cffi", "importlib",
                  "subprocess", "socket", "threading", "io", "pty", "base64", "codecs", "binascii", "zlib", "marshal",
                  "grader", "traceback", "pickle", "types"}
_PATCHED_MODULES = {"json", "os", "sys", "io", "gc", "inspect", "importlib", "signal", "subprocess", "threading",
                    "traceback", "pickle", "types", "socket"}
_NATIVE = {"ctypes", "_ctypes", "cffi"}
_NETWORK = {"socket", "_socket", "socketserver", "ssl", "urllib", "urllib3", "http", "requests", "httpx", "aiohttp",
            "ftplib", "smtplib", "telnetlib", "xmlrpc", "websocket", "websockets"}
_PROCESS = {"subprocess", "_posixsubprocess", "pty"}
_OS_PROCESS = {"os.system", "os.popen", "os.fork", "os.forkpty", "os.setsid", "os.setpgid", "os.setpgrp"}
_OS_PROCESS_PREFIXES = ("os.exec", "os.spawn", "os.posix_spawn")
_SIGNALS = {"os.kill", "os.killpg", "os.pidfd_open"}
_RAW_FD = {"os.write", "os.writev", "os.pwrite", "os.dup", "os.dup2", "os.fdopen", "os.closerange", "os.sendfile",
           "os.openpty", "sys.__stdout__", "sys.__stderr__", "sys.__stdin__"}
_FRAME_FUNCTIONS = {"sys._getframe", "sys._current_frames", "inspect.currentframe", "inspect.stack", "inspect.trace",
                    "inspect.getouterframes", "inspect.getinnerframes", "traceback.walk_stack"}
_GC_WALKS = {"gc.get_objects", "gc.get_referrers", "gc.get_referents"}
_TRACE_HOOKS = {"sys.settrace", "sys.setprofile", "sys.addaudithook", "sys.monitoring", "threading.settrace",
                "threading.setprofile", "threading.settrace_all_threads", "threading.setprofile_all_threads"}
_IMPORT_HOOKS = {"sys.meta_path", "sys.path_hooks", "sys.path_importer_cache"}
_FRAME_ATTRIBUTES = {"f_back", "f_globals", "f_locals", "f_builtins", "tb_frame", "gi_frame", "cr_frame", "ag_frame"}
_INTROSPECTION = {"__globals__", "__subclasses__", "__code__", "__closure__", "__getattribute__", "__setattr__",
                  "__delattr__", "__mro__", "__bases__", "__base__"}
_MODULE_FINDERS = {"inspect.getmodule", "inspect.getmembers", "importlib.reload", "importlib.util.find_spec",
                   "importlib.util.spec_from_file_location", "importlib.util.module_from_spec", "importlib.machinery"}
_HIDDEN_BUILTINS = {"builtins.exec", "builtins.eval", "builtins.compile", "builtins.__import__"}
_TORCH_HOOKS = {"__torch_function__", "__torch_dispatch__"}
_DECODING_MODULES = {"base64", "codecs", "binascii", "zlib", "bz2", "lzma", "gzip", "marshal", "pickle"}
_DECODING_METHODS = {"decode", "fromhex", "decompress", "b64decode", "unhexlify"}
_IMPORT_FUNCTIONS = {"importlib.import_module", "importlib.__import__", "builtins.__import__"}
_GRADER_TEXT = re.compile(r"(?:^|[\s'\"/\\])grader(?:$|[./\\][A-Za-z_])|\bworker[./\\](?:harness|encoding|server|loader|cases)\b"
                          r"|\bharness\.[A-Za-z_]|\bencoding\.(?:encode|decode)_")
_PROC = re.compile(r"(?:^|[^\w.])/proc(?:/|$)")
_RAW_FD_PATHS = re.compile(r"/dev/(?:fd|stdout|stderr|stdin)\b|/proc/(?:self|\d+|thread-self)/fd\b")


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


class _Scanner:
    """Two passes over the tree: first the names (imports, aliases, local bindings), then the checks."""

    def __init__(self, tree: ast.AST):
        self.nodes = list(ast.walk(tree))  # breadth first, no recursion
        self.aliases: dict[str, str] = {}  # local name -> the dotted name it stands for
        self.bound: set[str] = set()  # names the code binds itself
        self.prose: set[int] = set()  # ids of docstrings and other bare string statements
        self.imported: set[str] = set()  # top-level packages imported by name (flagged once, at the import)
        self.found: dict[tuple[int, str], str] = {}

    def run(self) -> list[Finding]:
        for node in self.nodes:
            self._collect(node)
        for _ in range(2):  # ``T = torch.Tensor``, then ``U = T``
            for node in self.nodes:
                if isinstance(node, ast.Assign) and (dotted := self._qualified(node.value)):
                    self.aliases.update({t.id: dotted for t in node.targets if isinstance(t, ast.Name)})
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
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            self.bound.add(node.id)
        elif isinstance(node, ast.arg):
            self.bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.bound.add(node.name)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            self.prose.add(id(node.value))

    def _resolve(self, name: str) -> str | None:
        if name in self.aliases:
            return self.aliases[name]
        if name == "__builtins__":
            return "builtins"
        return name if name in _KNOWN_MODULES and name not in self.bound else None

    def _qualified(self, node: ast.AST) -> str | None:
        """``torch.Tensor.tolist`` for an attribute chain on an imported (or well-known) module, else None."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or (base := self._resolve(node.id)) is None:
            return None
        return ".".join([base, *reversed(parts)])

    def _builtin(self, func: ast.AST) -> str | None:
        """The builtin a call's function names (``exec``, ``builtins.exec``), unless the code rebinds it."""
        if isinstance(func, ast.Name) and func.id not in self.aliases and func.id not in self.bound:
            return func.id
        dotted = self._qualified(func)
        return dotted[len("builtins."):] if dotted and dotted.startswith("builtins.") and dotted.count(".") == 1 else None

    # checks

    def _check(self, node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                self._module(node, alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            self._module(node, node.module)
            for alias in node.names:
                self._module(node, f"{node.module}.{alias.name}")
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
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, (ast.Store, ast.Del)):
            dotted = self._qualified(node.value)
            if dotted and dotted.split(".")[0] in ("builtins", "torch", "grader"):
                self._patch(node, dotted, f"assigns an item of {dotted}")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in _TORCH_HOOKS:
            self._flag(node, "torch-function", f"defines {node.name}")
        elif isinstance(node, ast.Call):
            self._call(node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in self.prose:
            self._string(node, node.value)

    def _module(self, node: ast.AST, module: str) -> None:
        """An imported module (by ``import``, ``__import__`` or ``importlib``)."""
        parts = module.split(".")
        root = parts[0]
        if root == "grader":
            self._flag(node, "grader-import", f"imports {module}")
        elif root in _NATIVE:
            self._flag(node, "native-code", f"imports {module}")
        elif root == "torch" and "_C" in parts:
            self._flag(node, "torch-c", f"imports {module}")
        elif root == "signal":
            self._flag(node, "signal", f"imports {module}")
        elif root in _NETWORK:
            self._flag(node, "network", f"imports {module}")
        elif root in _PROCESS:
            self._flag(node, "process", f"imports {module}")

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
        elif root in self.imported and root in _NATIVE | _NETWORK | _PROCESS | {"signal"}:
            return  # its import is flagged: its uses would only repeat it
        elif root in _NATIVE:
            self._flag(node, "native-code", f"uses {dotted}")
        elif root == "signal":
            self._flag(node, "signal", f"uses {dotted}")
        elif root in _NETWORK:
            self._flag(node, "network", f"uses {dotted}")
        elif root in _PROCESS:
            self._flag(node, "process", f"uses {dotted}")
        elif dotted in _RAW_FD:
            self._flag(node, "raw-fd", f"uses {dotted}")

    def _attribute(self, node: ast.Attribute) -> None:
        self._attribute_name(node, node.attr, isinstance(node.ctx, (ast.Store, ast.Del)))
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            if (dotted := self._qualified(node.value)) is not None:
                verb = "deletes" if isinstance(node.ctx, ast.Del) else "assigns"
                self._patch(node, dotted, f"{verb} {dotted}.{node.attr}")
        elif (dotted := self._qualified(node)) is not None:
            self._name(node, dotted)

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
        elif (isinstance(node.func, ast.Attribute) and self._builtin(node.func.value) in ("object", "type")
              and node.func.attr in ("__setattr__", "__delattr__", "__getattribute__") and len(node.args) >= 2):
            how = {"__setattr__": "setattr", "__delattr__": "delattr", "__getattribute__": "getattr"}[node.func.attr]
            self._computed_attribute(node, how, node.args[0], node.args[1])
        elif (builtin == "open" or dotted in ("io.open", "os.fdopen")) and _integer(first) is not None:
            self._flag(node, "raw-fd", f"opens file descriptor {_integer(first)}")
        elif dotted in ("os.write", "os.close", "os.dup2") and _integer(first) is not None:
            self._flag(node, "raw-fd", f"{dotted}() on file descriptor {_integer(first)}")

    def _computed_attribute(self, node: ast.Call, builtin: str, target: ast.AST, name_node: ast.AST) -> None:
        owner = self._qualified(target)
        name, _ = _fold(name_node)
        if name is not None:
            self._attribute_name(node, name, builtin != "getattr")
        if owner is None:
            return
        if name is None:
            self._flag(node, "computed-attr", f"{builtin}({owner}, <computed name>)")
        elif builtin == "getattr":
            self._name(node, f"{owner}.{name}")
        else:
            self._patch(node, owner, f"{builtin}({owner}, {_short(name)})")

    def _decoding(self, node: ast.Call) -> bool:
        """Whether a call decodes or decompresses data (base64, codecs, zlib, marshal, ``bytes.fromhex``...)."""
        dotted = self._qualified(node.func)
        if dotted and dotted.split(".")[0] in _DECODING_MODULES:
            return True
        return isinstance(node.func, ast.Attribute) and node.func.attr in _DECODING_METHODS

    def _string(self, node: ast.AST, text: str) -> None:
        if _GRADER_TEXT.search(text):
            self._flag(node, "grader-name", f"names {_short(text)}")
        if _RAW_FD_PATHS.search(text):
            self._flag(node, "raw-fd", f"names {_short(text)}")
        elif _PROC.search(text):
            self._flag(node, "proc-path", f"names {_short(text)}")


def _fold(node: ast.AST, depth: int = 0) -> tuple[str | None, bool]:
    """The text of a string literal, also when spelled in pieces (``"gr" + "ader"``, an f-string of
    literals); and whether it was one plain literal. ``(None, False)`` when it is computed."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value, True
    if depth > 40:
        return None, False
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, _ = _fold(node.left, depth + 1)
        right, _ = _fold(node.right, depth + 1)
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
