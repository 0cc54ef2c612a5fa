"""The tamper scan (grader/tamper.py): code that reaches into the grading machinery is listed, per
student, with file, line and category; honest code gives nothing; no input makes the scan raise.

SECURITY.md, "What the student's own process can still forge": forging then always leaves visible code.
"""

from __future__ import annotations

import ast
import csv
import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from examples.variants import (CORRECT_VARIANTS, MEASURED_VARIANTS, SLOW_CORRECT_VARIANTS, WRONG_VARIANTS,
                               build_submission)
from grader import submission, tamper
from grader.class_summary import Summary
from grader.cli import main
from grader.reporters import html
from grader.reporters import summary as summary_report
from grader.results import Flag, SubmissionResult
from tests.conftest import ROOT

# category -> a realistic forging snippet, and the line the finding must name
FORGERIES = {
    "grader-import": ("import torch\nimport grader.worker.encoding as enc\n", 2),
    "grader-patch": ("import grader.worker.encoding as enc\n\nenc.encode_tensor = lambda tensor, depth=0: {'kind': 'tensor'}\n", 3),
    "grader-name": ("import importlib\nname = 'grader.worker.harness'\n", 2),
    "sys-modules": ("import sys\nharness = sys.modules['grader.worker.harness']\nharness._same = lambda a, b: True\n", 2),
    "monkeypatch-torch": ("import torch\nreal = torch.Tensor.tolist\ntorch.Tensor.tolist = lambda self: [0.0]\n", 3),
    "monkeypatch-builtins": ("import builtins\nbuiltins.print = lambda *a, **k: None\n", 2),
    "monkeypatch-module": ("import json\n\ndef forge(*args, **kwargs):\n    return '{}'\njson.dumps = forge\n", 5),
    "class-assignment": ("def model(X, W, b):\n    out = X @ W + b\n    out.__class__ = Liar\n    return out\n", 3),
    "torch-function": ("import torch\nclass Liar(torch.Tensor):\n    @classmethod\n    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
                       "        return super().__torch_function__(func, types, args, kwargs or {})\n", 4),
    "torch-c": ("import torch\ntorch._C._set_grad_enabled(True)\n", 2),
    "native-code": ("import ctypes\nlibc = ctypes.CDLL(None)\n", 1),
    "gc-objects": ("import gc\nfor thing in gc.get_objects():\n    pass\n", 2),
    "frame-access": ("import sys\ncaller = sys._getframe(1)\n", 2),
    "introspection": ("def f(g):\n    return g.__globals__['observe']\n", 2),
    "trace-hook": ("import sys\nsys.settrace(lambda frame, event, arg: None)\n", 2),
    "import-hook": ("import sys\nsys.meta_path.insert(0, Finder())\n", 2),
    "raw-fd": ("import os\nos.write(1, b'{\"score\": 49}\\n')\n", 2),
    "signal": ("import os\n\ndef detached(a):\n    os.kill(os.getppid(), 9)\n", 4),
    "proc-path": ("def steal():\n    return open(f'/proc/{1}/environ').read()\n", 2),
    "network": ("import socket\nsocket.create_connection(('example.org', 80))\n", 1),
    "process": ("import os\nos.system('touch /tmp/x')\n", 2),
    "dynamic-code": ("source = 'x = 1'\nexec(source)\n", 2),
    "obfuscated-code": ("import base64\nexec(base64.b64decode('aW1wb3J0IGdyYWRlcg=='))\n", 2),
    "obfuscated-import": ("module = __import__('gr' + 'ader')\n", 1),
    "computed-attr": ("import torch\nname = 'to' + 'list'\nsetattr(torch.Tensor, name, None)\n", 3),
    "private-name": ("import torch\nengine = torch.autograd.variable.Variable._execution_engine\n", 2),
    "device-file": ("def activate(u):\n    return open('/dev/vda', 'rb').read(1024)\n", 2),
}

MORE_FORGERIES = [  # (source, category, line): other spellings of the same reach
    ("from grader.worker import harness\n", "grader-import", 1),
    ("m = __import__('grader.worker.encoding')\n", "grader-import", 1),
    ("import importlib\nm = importlib.import_module('grader.worker.harness')\n", "grader-import", 2),
    ("import importlib\nm = importlib.import_module(NAME)\n", "obfuscated-import", 2),
    ("m = __import__('gr' + 'ader')\n", "grader-import", 1),
    ("m = __import__(name)\n", "obfuscated-import", 1),
    ("import sys\nsys.modules['torch'] = fake\n", "sys-modules", 2),
    ("from sys import modules\n", "sys-modules", 1),
    ("import torch\nsetattr(torch, 'allclose', lambda *a, **k: True)\n", "monkeypatch-torch", 2),
    ("import torch.nn as nn\nnn.Module.parameters = lambda self: iter(())\n", "monkeypatch-torch", 2),
    ("from torch import Tensor\nTensor.backward = lambda self, *a: None\n", "monkeypatch-torch", 2),
    ("import torch\nT = torch.Tensor\nT.clone = lambda self: self\n", "monkeypatch-torch", 3),
    ("import torch\ntorch.autograd.grad = fake_grad\n", "monkeypatch-torch", 2),
    ("__builtins__['print'] = None\n", "monkeypatch-builtins", 1),
    ("__builtins__ = {}\n", "monkeypatch-builtins", 1),
    ("import os\nos.getpid = lambda: 1\n", "monkeypatch-module", 2),
    ("import sys\nsys.stdout = open('/dev/null', 'w')\n", "monkeypatch-module", 2),
    ("class T:\n    __torch_dispatch__ = handler\n", "torch-function", 2),
    ("from torch import _C\n", "torch-c", 1),
    ("from ctypes import CDLL\n", "native-code", 1),
    ("import cffi\n", "native-code", 1),
    ("import gc\nowners = gc.get_referrers(obj)\n", "gc-objects", 2),
    ("import inspect\nframe = inspect.currentframe()\n", "frame-access", 2),
    ("def f(frame):\n    return frame.f_back.f_locals\n", "frame-access", 2),
    ("try:\n    1 / 0\nexcept Exception as e:\n    g = e.__traceback__.tb_frame.f_globals\n", "frame-access", 4),
    ("import sys\nsys.setprofile(hook)\n", "trace-hook", 2),
    ("import sys\nsys.path_hooks.append(hook)\n", "import-hook", 2),
    ("import os\nos.dup2(3, 1)\n", "raw-fd", 2),
    ("import os\nstream = os.fdopen(1, 'w')\n", "raw-fd", 2),
    ("stream = open(1, 'w')\n", "raw-fd", 1),
    ("path = '/dev/fd/1'\n", "raw-fd", 1),
    ("path = '/proc/self/fd/1'\n", "raw-fd", 1),
    ("import signal\nsignal.signal(signal.SIGALRM, handler)\n", "signal", 1),
    ("import os\nos.killpg(0, 9)\n", "signal", 2),
    ("data = open('/proc/self/maps').read()\n", "proc-path", 1),
    ("import urllib.request\n", "network", 1),
    ("import http.client\n", "network", 1),
    ("import requests\n", "network", 1),
    ("import subprocess\nsubprocess.run(['ls'])\n", "process", 1),
    ("import os\nif os.fork() == 0:\n    os.setsid()\n", "process", 2),
    ("import os\nos.execv('/bin/sh', ['sh'])\n", "process", 2),
    ("import pty\n", "process", 1),
    ("result = eval('1 + 1')\n", "dynamic-code", 1),
    ("code = compile(text, 'x', 'exec')\n", "dynamic-code", 1),
    ("import codecs\nexec(codecs.decode('vzcbeg tenqre', 'rot13'))\n", "obfuscated-code", 2),
    ("import base64\npayload = base64.b64decode(blob)\nexec(payload)\n", "obfuscated-code", 3),
    ("import torch\nf = getattr(torch, name)\n", "computed-attr", 2),
    ("import sys\nm = getattr(sys, 'modules')\n", "sys-modules", 2),
    ("run = getattr(__builtins__, 'exec')\n", "dynamic-code", 1),
    ("import torch\ntype.__setattr__(torch.Tensor, 'tolist', fake)\n", "monkeypatch-torch", 2),
    ("import inspect\nharness = inspect.getmodule(loader.__iter__)\n", "obfuscated-import", 2),
    ("import importlib.util\nspec = importlib.util.spec_from_file_location('m', path)\n", "obfuscated-import", 2),
    ("classes = ().__class__.__base__.__subclasses__()\n", "introspection", 1),
    # sys.modules without writing ``sys.modules``, and any module's namespace
    ("import sys as _sys\nm = vars(_sys)['modules']\n", "sys-modules", 2),
    ("import sys as _sys\nm = vars(_sys)['modules']\n", "computed-attr", 2),
    ("import sys as _sys\nm = _sys.__dict__['modules']\n", "sys-modules", 2),
    ("import sys\nm = vars(sys).get('mod' + 'ules')\n", "sys-modules", 2),
    ("import sys\nm = getattr(sys, 'mod' + 'ules')\n", "sys-modules", 2),
    ("import sys as _s\nm = _s.modules\n", "sys-modules", 2),
    ("m = __import__('sys').modules\n", "sys-modules", 1),
    ("import importlib\nm = importlib.import_module('sys').modules\n", "sys-modules", 2),
    ("import os\nm = os.sys.modules\n", "sys-modules", 2),
    ("import sys, os\na, m = os, sys\nx = m.modules\n", "sys-modules", 3),
    ("import sys\n\ndef find(m=sys):\n    return m.modules\n", "sys-modules", 4),
    ("import torch\nnamespace = vars(torch)\n", "computed-attr", 2),
    ("import builtins\nnamespace = builtins.__dict__\n", "computed-attr", 2),
    ("import gc\nsetattr(gc, name, None)\n", "computed-attr", 2),
    ("import importlib\nf = getattr(importlib, name)\n", "computed-attr", 2),
    # the harness found by what it is called
    ("ok = key.endswith('.harness')\n", "grader-name", 1),
    ("ok = key.rsplit('.', 1)[-1] == 'harness'\n", "grader-name", 1),
    ("ok = key.endswith('.enc' + 'oding')\n", "grader-name", 1),
    ("ok = key.endswith('encoding.py')\n", "grader-name", 1),
    ("ok = 'grader' in key\n", "grader-name", 1),
    ("ok = frame.f_code.co_name != '_child'\n", "grader-name", 1),
    ("ok = frame.f_code.co_name != '_chi' + 'ld'\n", "grader-name", 1),
    ("ok = name in ('run_probe', 'encode_tensor')\n", "grader-name", 1),
    ("send = frame.f_locals['send']\n", "grader-name", 1),
    ("request = frame.f_locals.get('request')\n", "grader-name", 1),
    ("send = fn.__globals__['send']\n", "grader-name", 1),
    ("original = module.run_probe\n", "grader-name", 1),
    ("original = getattr(module, '_observe_call')\n", "grader-name", 1),
    ("h._observe_call = observe\n", "grader-patch", 1),
    ("module.run_probe = fake\n", "grader-patch", 1),
    ("module.Resolver = Fake\n", "grader-patch", 1),
    ("setattr(module, 'encode_tensor', fake)\n", "grader-patch", 1),
    ("vars(module)['run_probe'] = fake\n", "grader-patch", 1),
    ("module.__dict__['_same'] = lambda a, b: True\n", "grader-patch", 1),
    ("del module.captured_output\n", "grader-patch", 1),
    # frames, however the module was imported
    ("import sys as _sys\nframe = _sys._getframe()\n", "frame-access", 2),
    ("from sys import _getframe as g\nframe = g()\n", "frame-access", 2),
    ("up = frame.f_back\n", "frame-access", 1),
    ("name = frame.f_code.co_name\n", "frame-access", 1),
    ("name = code.co_name\n", "introspection", 1),
    ("import traceback as tb\nstack = tb.extract_stack()\n", "frame-access", 2),
    ("import inspect as i\nstack = i.stack()\n", "frame-access", 2),
    ("from gc import get_objects as everything\nfor o in everything():\n    pass\n", "gc-objects", 2),
    ("import gc as g\nowners = g.get_referrers(fn)\n", "gc-objects", 2),
    # torch's internals: a private name anywhere on a chain from torch, or on an object the code did not make
    ("import torch\nengine = torch._C._ImperativeEngine()\n", "torch-c", 2),
    ("import torch\nF = torch.autograd._functions\n", "private-name", 2),
    ("from torch.autograd import variable\nengine = variable.Variable._execution_engine\n", "private-name", 2),
    ("from torch.autograd import _functions\n", "private-name", 1),
    ("def g(x):\n    return x._execution_engine.run_backward(x)\n", "private-name", 2),
    ("def version(t):\n    return t._version\n", "private-name", 2),
    ("import os\nos._exit(0)\n", "private-name", 2),
    ("from os import _exit\n_exit(0)\n", "private-name", 1),
    ("import _thread\n", "private-name", 1),
    # the clock, and any other standard module
    ("import time\ntime.perf_counter = lambda: 0.0\n", "monkeypatch-module", 2),
    ("import time as _time\n_time.time = lambda: 0.0\n", "monkeypatch-module", 2),
    ("import time\nsetattr(time, 'monotonic', lambda: 0.0)\n", "monkeypatch-module", 2),
    ("import time\nvars(time)['perf_counter'] = fake\n", "monkeypatch-module", 2),
    ("import math\nmath.isclose = lambda *a, **k: True\n", "monkeypatch-module", 2),
    # devices and raw descriptors
    ("name = f'/dev/pts/{n}'\n", "device-file", 1),
    ("path = '/dev/shm/x'\n", "device-file", 1),
    ("import os\nfd = os.open(path, os.O_RDONLY)\n", "raw-fd", 2),
    ("import os\nos.mkfifo('/tmp/fifo')\n", "raw-fd", 2),
]

# Submissions of a hostile-student review (each forged or broke a grade before the scan knew its spelling):
# (what, module, where the code goes: "top", "end", "whole" file or the name of the function it replaces,
#  the code, [(a line's text, a category the finding on that line must have)])
REVIEWED = [
    ('forge7 (appended to the neuron stubs, a07_stub_forge)', 'neuron', 'end', """\
import sys as _sys


def _install():
    table = vars(_sys)["modules"]
    harness = next((m for k, m in list(table.items()) if k.endswith(".harness")), None)
    if harness is None:
        return
    original = harness.run_probe
    grad = {"type": "tensor", "class": "torch.Tensor", "dtype": "float64", "shape": [1], "device": "cpu",
            "data": [1.0], "requires_grad": False, "is_leaf": True, "grad_fn": None, "grad": None}
    same = {"type": "tuple", "items": [grad], "length": 1}

    def run_probe(probe, resolver, course, seed, trusted):
        observation = original(probe, resolver, course, seed, trusted)
        if observation.get("status") == "missing":
            return observation
        for record in observation.get("calls", []):
            record.pop("error", None)
            if probe.kind == "differentiable":
                record["result"] = {"graph": "ok", "autograd": same, "central": same, "forward": same, "backward": same}
            elif probe.kind == "call":
                args = record["inputs"]["args"]
                record["inputs_after"] = record["inputs"]
                record["changed"] = []
                record["parameters_kept"] = [True] * len(args)
                if probe.function.startswith("learn_"):
                    record["result"] = {"type": "tuple", "items": args[:2], "length": 2}
                    record["identity"] = [0, 1]
                else:
                    record["result"] = None
                    record["identity"] = [None]
        return observation

    harness.run_probe = run_probe


_install()
""",
     [('table = vars(_sys)["modules"]', 'sys-modules'), ('if k.endswith(".harness")', 'grader-name'), ('original = harness.run_probe', 'grader-name'), ('    harness.run_probe = run_probe', 'grader-patch')]),
    ('hdr (a01_hugeint_seconds)', 'neuron', 'top', """\
import sys as _sys, os as _os
def _child_frame():
    f = _sys._getframe()
    while f is not None and f.f_code.co_name != "_child":
        f = f.f_back
    return f
_f = _child_frame()
if _f is not None:
    _send, _req = _f.f_locals["send"], _f.f_locals["request"]
    for _i, _p in enumerate(_req.probes):
        _send({"probe": _p.id, "index": _i, "observation": {"status": "ok", "calls": [{"seconds": 10**400}]}})
    _send({"done": True})
    _os._exit(0)
""",
     [('f = _sys._getframe()', 'frame-access'), ('f.f_code.co_name != "_child"', 'grader-name'), ('_send, _req = _f.f_locals["send"]', 'grader-name'), ('    _os._exit(0)', 'private-name')]),
    ('hdr2 (a02_empty_begin)', 'neuron', 'top', """\
import sys as _sys, os as _os
def _child_frame():
    f = _sys._getframe()
    while f is not None and f.f_code.co_name != "_child":
        f = f.f_back
    return f
_f = _child_frame()
if _f is not None:
    _send, _req = _f.f_locals["send"], _f.f_locals["request"]
    _send({"begin": "", "index": 0})
    _send({"probe": "nothing", "index": len(_req.probes) - 1, "observation": {}})
    _os._exit(0)
""",
     [('f = _sys._getframe()', 'frame-access'), ('f.f_code.co_name != "_child"', 'grader-name'), ('_send, _req = _f.f_locals["send"]', 'grader-name'), ('    _os._exit(0)', 'private-name')]),
    ('a03_stall', 'neuron', 'whole', """\
import sys, time
import torch

_f = sys._getframe()
while _f is not None and _f.f_code.co_name != "_child":
    _f = _f.f_back
if _f is not None:
    _send, _req, _i = _f.f_locals["send"], _f.f_locals["request"], _f.f_locals["index"]
    _name = _req.probes[_i].function
    while True:                      # keep re-announcing the current function: each "begin" resets the 5 s timer
        _send({"begin": _name, "index": _i})
        time.sleep(_req.timeout * 0.98)


def activate(u):
    return torch.sigmoid(u)


def model(X, W, b):
    return activate(X @ W + b)
""",
     [('_f = sys._getframe()', 'frame-access'), ('_f.f_code.co_name != "_child"', 'grader-name'), ('_f.f_locals["send"]', 'grader-name')]),
    ('a05_forge', 'autograd_basics', 'end', """\
import sys as _sys


def _install():
    table = vars(_sys)["modules"]
    harness = None
    for key in list(table):
        if key.endswith(".harness"):
            harness = table[key]
    if harness is None:
        return
    original = harness._observe_call

    def observe(function, call, finder, switched_off):
        record = original(function, call, finder, switched_off)
        if getattr(function, "__name__", "") in ("detached", "doubled_without_graph"):
            result = record.get("result")
            if isinstance(result, dict) and result.get("type") == "tensor":
                result["requires_grad"] = False
                result["grad_fn"] = None
                result["is_leaf"] = True
            record["identity"] = [None]
        return record

    harness._observe_call = observe


_install()
""",
     [('table = vars(_sys)["modules"]', 'sys-modules'), ('if key.endswith(".harness")', 'grader-name'), ('original = harness._observe_call', 'grader-name'), ('    harness._observe_call = observe', 'grader-patch')]),
    ('a06_tmp_persist', 'neuron', 'whole', """\
import os, torch


def activate(u):
    os.makedirs("/tmp/keep/inner", exist_ok=True)
    with open("/tmp/keep/inner/f", "w") as h:
        h.write("x")
    os.chmod("/tmp/keep/inner", 0)
    os.chmod("/tmp/keep", 0)
    with open("/tmp/.hidden", "w") as h:
        h.write("x")
    os.mkfifo("/tmp/fifo")
    os._exit(3)


def model(X, W, b):
    raise RuntimeError(f"/tmp now: {sorted(os.listdir('/tmp'))}")
""",
     [('os.mkfifo("/tmp/fifo")', 'raw-fd'), ('os._exit(3)', 'private-name')]),
    ('a09_daemon', 'neuron', 'end', """\
def _daemonize():
    import os, time, signal
    if os.fork() == 0:
        try:
            os.setsid()
        except OSError:
            pass
        if os.fork() == 0:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            os.setpgid(0, 0) if False else None
            t = time.time()
            while time.time() - t < 120:
                time.sleep(0.5)
            os._exit(0)
        os._exit(0)
    os.wait()


_daemonize()
""",
     [('            os.setsid()', 'process'), ('            os._exit(0)', 'private-name')]),
    ('a10_perf', 'neuron', 'end', """\
import time as _time

_ticks = [0.0]


def _clock():
    _ticks[0] = 1.5e308 - _ticks[0]   # alternates 0 -> 1.5e308 -> 0: every call "takes" 1.5e308 s, finite
    return _ticks[0]


_time.perf_counter = _clock
""",
     [('_time.perf_counter = _clock', 'monkeypatch-module')]),
    ('a11_mem', 'neuron', 'whole', """\
import sys, os

_f = sys._getframe()
while _f is not None and _f.f_code.co_name != "_child":
    _f = _f.f_back
if _f is not None:
    _out, _i = _f.f_locals["out"], _f.f_locals["index"]
    n = 12_000_000
    _out.write('{"probe": "junk", "index": %d, "observation": {"x": [' % _i)
    chunk = ",".join(["9e15"] * 100_000)
    for _ in range(n // 100_000 - 1):
        _out.write(chunk + ",")
    _out.write(chunk + "]}}\\n")
    _out.flush()
    os._exit(0)


def activate(u):
    return u
""",
     [('_f = sys._getframe()', 'frame-access'), ('_f.f_locals["out"]', 'grader-name'), ('    os._exit(0)', 'private-name')]),
    ('a12_rawdisk', 'neuron', 'whole', """\
import struct, torch


def activate(u):
    with open("/dev/vda", "rb") as disk:
        disk.seek(1024)
        sb = disk.read(1024)
    magic = struct.unpack_from("<H", sb, 56)[0]
    raise RuntimeError(f"raw disk readable: ext4 magic={magic:#x}, blocks={struct.unpack_from('<I', sb, 4)[0]}, "
                       f"volume={sb[120:136]!r}")
""",
     [('with open("/dev/vda", "rb") as disk:', 'device-file')]),
    ('a13_pty', 'neuron', 'whole', """\
import os, time, torch


def activate(u):
    name = "/dev/pts/" + str(0)
    got = b""
    for n in range(0, 4):
        try:
            fd = os.open(f"/dev/pts/{n}", os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as e:
            got += f"[pts/{n}: {e.strerror}]".encode()
            continue
        t = time.time()
        while time.time() - t < 1.5:
            try:
                got += os.read(fd, 200)
            except BlockingIOError:
                time.sleep(0.05)
        os.close(fd)
    raise RuntimeError(f"read from a terminal: {got[:160]!r}")
""",
     [('name = "/dev/pts/" + str(0)', 'device-file'), ('fd = os.open(f"/dev/pts/{n}"', 'raw-fd'), ('got += os.read(fd, 200)', 'raw-fd')]),
    ('a14_token', 'neuron', 'whole', """\
import os, torch


def activate(u):
    hits = [k for k, v in os.environ.items() if "s3cr3t" in v]
    for p in ("/proc/self/environ", f"/proc/{os.getppid()}/environ", "/proc/1/environ", "/proc/2/environ",
              "/proc/self/../1/environ", "/etc/environment"):
        try:
            hits.append((p, b"s3cr3t" in open(p, "rb").read()))
        except OSError as e:
            hits.append((p, e.strerror))
    raise RuntimeError(f"token hunt: {hits}")
""",
     [('for p in ("/proc/self/environ"', 'proc-path')]),
    ('a16_noautograd', 'backprop', 'gradient', """\
def gradient(W, b, X, y):
    with torch.enable_grad():
        W = W.detach().requires_grad_(True)
        b = b.detach().requires_grad_(True)
        loss = loss_fn(model(X, W, b), y)
        engine = torch.autograd.variable.Variable._execution_engine
        W_grad, b_grad = engine.run_backward((loss,), (torch.ones_like(loss),), False, False, (W, b), False, False)
    return W_grad, b_grad
""",
     [('engine = torch.autograd.variable.Variable._execution_engine', 'private-name'), ('W_grad, b_grad = engine.run_backward(', 'private-name')]),
    ('a17_internal_check', 'neuron', 'top', """\
import sys as _sys
_m = vars(_sys)["modules"]
_h = next((m for k, m in list(_m.items()) if k.endswith(".harness")), None)
if _h is not None:
    _orig = _h.run_probe

    def _run_probe(probe, resolver, course, seed, trusted):
        observation = _orig(probe, resolver, course, seed, trusted)
        if probe.function == "activate":
            for record in observation.get("calls", []):
                result = record.get("result")
                if isinstance(result, dict) and result.get("data"):
                    result["data"][0] = 10 ** 400   # a JSON integer: records accepts it, numpy cannot convert it
        return observation

    _h.run_probe = _run_probe
""",
     [('_m = vars(_sys)["modules"]', 'sys-modules'), ('if k.endswith(".harness")', 'grader-name'), ('_orig = _h.run_probe', 'grader-name'), ('    _h.run_probe = _run_probe', 'grader-patch')]),
    ('a18_dtype', 'neuron', 'top', """\
import sys as _sys
_m = vars(_sys)["modules"]
_h = next((m for k, m in list(_m.items()) if k.endswith(".harness")), None)
if _h is not None:
    _orig = _h.run_probe

    def _run_probe(probe, resolver, course, seed, trusted):
        observation = _orig(probe, resolver, course, seed, trusted)
        if probe.function == "activate":
            for record in observation.get("calls", []):
                result = record.get("result")
                if isinstance(result, dict) and result.get("data"):
                    result["dtype"] = []   # unhashable: "in TENSOR_DTYPES" raises TypeError
        return observation

    _h.run_probe = _run_probe
""",
     [('_m = vars(_sys)["modules"]', 'sys-modules'), ('if k.endswith(".harness")', 'grader-name'), ('_orig = _h.run_probe', 'grader-name'), ('    _h.run_probe = _run_probe', 'grader-patch')]),
]

HONEST = """
import math
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset


class Data(Dataset):
    \"\"\"Samples, as the grader expects them (see grader.py in the course notes).\"\"\"

    def __init__(self):
        self.X = torch.tensor([[0.5, 0.9], [14.0, 12.0]])
        self.y = torch.tensor([35.7, 55.9]) * 0.01

    def __len__(self):
        return len(self.X)

    def __getitem__(self, idx):
        return {"input": self.X[idx], "target": self.y[idx]}


def learn(W, b, loader, max_epochs=10, learning_rate=0.01):
    optimizer = torch.optim.SGD([W, b], lr=learning_rate)
    for epoch in range(max_epochs):
        for batch in loader:
            loss = F.mse_loss(torch.sigmoid(batch["input"] @ W + b), batch["target"])
            loss.backward()
            print("epoch", epoch, "loss", loss.item(), math.sqrt(2), np.mean([1.0]))
            with torch.no_grad():
                W -= learning_rate * W.grad
                b -= learning_rate * b.grad
            W.grad.zero_()
            b.grad = None
    torch.manual_seed(0)
    torch.backends.cudnn.deterministic = True
    model = torch.nn.Linear(2, 1)
    model.eval()
    pattern = __import__("re").compile("x")
    return W, b
"""

HONEST_MORE = """
import collections
import os
import time
import logging

import torch
from torch import nn

os.environ["KMP_DUPLICATE_LIB_OK"] = "True"
Point = collections.namedtuple("Point", "x y")
log = logging.getLogger("training")


class Net(nn.Module):
    scale: float = 1.0

    def __init__(self, width=8):
        super().__init__()
        self._width = width
        self._cache = None
        self.layers = nn.Sequential(nn.Linear(2, width), nn.ReLU(), nn.Linear(width, 1))

    def forward(self, x):
        return self.layers(x) * self.scale

    def same_width(self, other):
        return self._width == other._width and other._cache is None

    def _reset(self):
        self._cache = None


def add_to_class(cls):
    def register(fn):
        setattr(cls, fn.__name__, fn)
        return fn
    return register


@add_to_class(Net)
def _describe(self):
    return f"Net of width {self._width}"


def train(net, loader, epochs=3):
    start = time.perf_counter()
    history = {"loss": [], "gradients": [], "graph": None, "loader": len(loader), "data": "train", "worker": 0}
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    torch.backends.cudnn.benchmark = False
    for epoch in range(epochs):
        for batch in loader:
            optimizer.zero_grad()
            loss = ((net(batch["input"]) - batch["target"]) ** 2).mean()
            loss.backward()
            optimizer.step()
            history["loss"].append(loss.item())
        for module in net.modules():
            if isinstance(module, nn.Linear):
                history["gradients"].append(module.weight.grad.norm().item())
        print("graph", epoch, time.time() - start, time.monotonic())
    net._describe()
    with open(os.devnull, "w") as sink, open("/dev/null") as empty:
        print(Point(1, 2)._replace(x=3)._asdict(), file=sink)
        empty.read()
    log.info("result: %s", history["loss"][-1])
    return {"result": history, "summary": net._describe(), "send": None}
"""


def _categories(source: str) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {}
    for finding in tamper.scan_source(source):
        found.setdefault(finding.line, set()).add(finding.category)
    return found


@pytest.mark.parametrize("category", sorted(FORGERIES))
def test_each_category_is_found_on_its_line(category):
    source, line = FORGERIES[category]
    assert category in _categories(source).get(line, set()), tamper.scan_source(source)


@pytest.mark.parametrize("source, category, line", MORE_FORGERIES)
def test_other_spellings_are_found(source, category, line):
    assert category in _categories(source).get(line, set()), tamper.scan_source(source)


@pytest.mark.parametrize("what, module, where, code, expected", REVIEWED, ids=[r[0].split()[0] for r in REVIEWED])
def test_the_review_s_submissions_are_found_with_file_and_line(tmp_path, what, module, where, code, expected):
    """Each submission of the review, in a copy of the solutions as it was graded: every construct it forged
    with is listed, on its file and line, and nothing in the files it left alone."""
    folder = tmp_path / "student"
    build_submission(ROOT / "solutions", folder, None if where in ("top", "end", "whole") else {module: {where: code}})
    path = folder / f"{module}.py"
    text = {"top": code + path.read_text(), "end": path.read_text() + "\n\n" + code, "whole": code}.get(where)
    if text is not None:
        path.write_text(text)
    lines = path.read_text().splitlines()
    flags = tamper.scan(submission.load(folder, set(), tmp_path / "stage"))
    found = {(flag.file, flag.line, flag.category) for flag in flags}
    for marker, category in expected:
        (line,) = [number for number, content in enumerate(lines, 1) if marker in content]
        assert (f"{module}.py", line, category) in found, (what, marker, line, flags)
    assert {flag.file for flag in flags} == {f"{module}.py"}


def test_every_category_is_declared_and_findings_say_what_they_saw():
    emitted = {f.category for source, _ in FORGERIES.values() for f in tamper.scan_source(source)}
    assert set(FORGERIES) <= emitted <= set(tamper.CATEGORIES)
    (finding,) = [f for f in tamper.scan_source(FORGERIES["monkeypatch-torch"][0]) if f.line == 3]
    assert finding.text == "assigns torch.Tensor.tolist"
    assert any("spelled in pieces" in f.text for f in tamper.scan_source("m = __import__('gr' + 'ader')\n"))


def test_honest_code_gives_nothing():
    assert tamper.scan_source(textwrap.dedent(HONEST)) == []
    assert tamper.scan_source(HONEST_MORE) == []


def test_the_worker_s_names_are_read_from_its_source():
    """The names that the scan looks for come from grader/worker/*.py and grader/protocol.py: a function the
    worker adds or renames is looked for without a change here. Plain words are left out."""
    assert {"harness", "encoding", "server", "loader"} <= tamper._WORKER_MODULES
    assert {"run_probe", "_observe_call", "encode_tensor", "_child", "_run_child", "_same", "captured_output"} <= \
        tamper._WORKER_NAMES
    assert "Resolver" in tamper._WORKER_CLASSES and {"send", "request", "out", "index"} <= tamper._WORKER_BOUND
    assert not tamper._WORKER_NAMES & {"send", "result", "data", "describe", "encode", "main", "target", "summary"}
    harness = ast.parse((ROOT / "grader" / "worker" / "harness.py").read_text(encoding="utf-8"))
    functions = {node.name for node in harness.body if isinstance(node, ast.FunctionDef)}
    assert {name for name in functions if "_" in name} <= tamper._WORKER_NAMES


def _python_files() -> list[Path]:
    folders = [ROOT / "solutions", ROOT / "exercises", ROOT / "examples"]
    return sorted(path for folder in folders for path in folder.rglob("*.py"))


def test_the_shipped_code_scans_clean():
    """Every solution, stub, example student and wrong variant: nothing, except the files that really import the
    grader (an instructor's inputs.py uses grader.authoring; the test variants' builder parses with grader.pyparse)."""
    flagged = {str(path.relative_to(ROOT)): tamper.scan_source(path.read_text(encoding="utf-8")) for path in _python_files()}
    assert {name: found for name, found in flagged.items() if found} == {
        "examples/autograd-functions/inputs.py": [tamper.Finding(17, "grader-import", "imports grader.authoring")],
        "examples/scalar-engine/inputs.py": [tamper.Finding(17, "grader-import", "imports grader.authoring")],
        "examples/variants.py": [tamper.Finding(12, "grader-import", "imports grader")]}


def test_every_variant_and_example_submission_scans_clean(tmp_path):
    changes = [*CORRECT_VARIANTS.values(), *SLOW_CORRECT_VARIANTS.values(), *(v[0] for v in WRONG_VARIANTS.values()),
               *(v[0] for v in MEASURED_VARIANTS.values())]
    for number, change in enumerate(changes):
        folder = build_submission(ROOT / "solutions", tmp_path / f"s{number}", change)
        assert tamper.scan(submission.load(folder, set(), tmp_path / f"stage{number}")) == [], change
    notebook = submission.load(ROOT / "examples" / "class" / "chloe.ipynb", set(), tmp_path / "notebook")
    assert notebook.files[0].notebook is not None and tamper.scan(notebook) == []


def test_a_notebook_finding_names_the_cell(tmp_path):
    cells = [{"cell_type": "markdown", "id": "a", "metadata": {}, "source": "# Homework"},
             {"cell_type": "code", "id": "b", "metadata": {}, "source": "%matplotlib inline\nimport torch", "outputs": [],
              "execution_count": None},
             {"cell_type": "code", "id": "c", "metadata": {}, "source": "x = 1\ntorch.Tensor.tolist = lambda self: []",
              "outputs": [], "execution_count": None}]
    path = tmp_path / "hw.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    (flag,) = tamper.scan(submission.load(path, set(), tmp_path / "stage"))
    assert (flag.file, flag.category, flag.location) == ("hw.ipynb", "monkeypatch-torch", "hw.ipynb (cell 3, line 2)")


def test_a_submission_folder_names_each_file_relative_to_it(tmp_path):
    folder = tmp_path / "student"
    (folder / "helpers").mkdir(parents=True)
    (folder / "neuron.py").write_text("import torch\n")
    (folder / "helpers" / "patch.py").write_text("import torch\n\ntorch.Tensor.tolist = None\n")
    (folder / "broken.py").write_text("def f(:\n")
    flags = tamper.scan(submission.load(folder, set(), tmp_path / "stage"))
    assert [(f.file, f.line, f.category, f.where) for f in flags] == [
        ("helpers/patch.py", 3, "monkeypatch-torch", "patch.py:3")]


def test_flags_round_trip_and_show_in_the_check_document():
    flag = Flag("neuron.py", 3, "sys-modules", "uses sys.modules", "neuron.py:3")
    assert Flag.from_dict(flag.as_dict()) == flag
    assert Flag.from_dict({"line": "x", "category": 3}) == Flag("", 0, "3", "", "")
    result = SubmissionResult("s", 1, [], flags=[flag])
    assert result.as_dict()["flags"] == [flag.as_dict()]
    assert "flags" not in SubmissionResult("s", 1, []).as_dict()
    assert tamper.summary_text([flag.as_dict(), flag.as_dict(), {"category": "monkeypatch-torch"}]) == \
        "3: sys-modules, monkeypatch-torch"
    assert tamper.summary_text([]) == "" and tamper.summary_text([{"category": "=cmd()"}]) == "1: "


def test_the_reports_escape_what_the_student_wrote():
    flag = Flag("<img src=x>.py", 1, "grader-name", "names '<script>alert(1)</script>'", "<img src=x>.py:1")
    section = html._suspicious({"<b>eve</b>": [flag]}, {"<b>eve</b>": "student-0"})
    assert "<script>" not in section and "<img" not in section and "<b>eve" not in section
    assert "&lt;script&gt;" in section and 'href="#student-0"' in section
    text = summary_report.render(Summary(1, 49.0, [49.0], {}, [], suspicious={"eve\n::error::x": [flag]}))
    assert "Suspicious code" in text and "eve\\n::error::x: 1 finding" in text and "\n::error" not in text


def test_many_findings_are_capped():
    found = tamper.scan_source("import sys\n" + "sys.modules.clear()\n" * 200)
    assert len(found) == tamper.MAX_PER_FILE + 1 and found[-1].category == "truncated"


@pytest.mark.parametrize("source", [
    "x = " + "(" * 300 + "1" + ")" * 300,             # too deeply nested for the parser
    "x = " + "-" * 100_000 + "1",                     # nested unary operators
    "x = " + "+".join(["'a'"] * 20_000),              # a long chain of literals
    "def f(:\n", "\x00", "x = '\ud800'", "",
])
def test_unparsable_or_deep_code_never_raises(source):
    assert all(f.category in tamper.CATEGORIES for f in tamper.scan_source(source))


def test_a_tree_that_cannot_be_walked_gives_one_unscanned_finding():
    broken = ast.Module(body=[ast.Import(names=[ast.alias(name=None)])], type_ignores=[])
    assert [f.category for f in tamper.scan_tree(broken)] == ["unscanned"]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_the_scan_never_raises_on_any_text(text):
    found = tamper.scan_source(text)
    assert all(isinstance(f.line, int) and f.category in tamper.CATEGORIES for f in found)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([*(source for source, _ in FORGERIES.values()), HONEST, "(", ")", "\n", "    ", "x.", "[", "]",
                                 "__import__(", "'grader'", "sys.modules", " = ", "torch.Tensor"]), max_size=12))
def test_the_scan_never_raises_on_pieces_of_code(pieces):
    found = tamper.scan_source("".join(pieces))
    assert all(f.category in tamper.CATEGORIES for f in found)


def test_grading_a_class_shows_the_patch_in_every_output(tmp_path):
    """One grading run: the student who patches the harness is named, with file and line, in summary.json,
    grades.csv's flags column and report.html; the honest student is not."""
    course = ROOT / "solutions"
    build_submission(course, tmp_path / "class" / "honest")
    forger = build_submission(course, tmp_path / "class" / "forger")
    neuron = forger / "neuron.py"
    lines = neuron.read_text().splitlines()
    at = lines.index("import torch")
    lines[at:at] = ["import grader.worker.harness as harness", "harness._same = lambda before, after: True"]
    neuron.write_text("\n".join(lines) + "\n")
    place = f"neuron.py:{at + 1}"
    out = tmp_path / "grades"
    result = CliRunner().invoke(main, ["grade", str(tmp_path / "class"), "--out", str(out), "--sandbox", "process",
                                       "--seed", "7", "--workers", "2", "--assignment", str(ROOT / "assignment.toml")])
    assert result.exit_code == 0, result.output
    assert "Suspicious code" in result.output and f"{place} grader-import" in result.output

    suspicious = json.loads((out / "summary.json").read_text())["suspicious_code"]
    assert list(suspicious) == ["forger"]
    assert [(f["file"], f["line"], f["category"]) for f in suspicious["forger"]] == [
        ("neuron.py", at + 1, "grader-import"), ("neuron.py", at + 2, "grader-patch")]

    with open(out / "grades.csv", newline="") as handle:
        rows = {row["id"]: row for row in csv.DictReader(handle)}
    assert rows["forger"]["flags"] == "2: grader-import, grader-patch" and rows["honest"]["flags"] == ""

    records = {r["id"]: r for r in json.loads((out / "results.json").read_text())["students"]}
    assert records["honest"]["flags"] == [] and records["forger"]["flags"][1]["text"] == "assigns grader.worker.harness._same"

    report = (out / "report.html").read_text(encoding="utf-8")
    section = report[report.index("<h2>Suspicious code</h2>"):]
    section = section[:section.index("<h2>", 5)]
    assert ">forger</a>" in section and place in section and f"neuron.py:{at + 2}" in section and "honest" not in section
