"""``python -m grader.daemon``: run a check server (``autograde check`` starts it; not meant to be run by hand)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from grader.daemon.place import IDLE_SECONDS, Place, Settings
from grader.daemon.serve import serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m grader.daemon", description=__doc__)
    parser.add_argument("--course", type=Path, required=True)
    parser.add_argument("--sandbox", required=True)
    parser.add_argument("--device", required=True)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("--socket", type=Path, required=True)
    parser.add_argument("--idle", type=float, default=IDLE_SECONDS)
    parser.add_argument("--ready-fd", type=int, required=True, help="closed once the server listens")
    options = parser.parse_args()
    if os.fork():  # the check that started it waits for this process only: the server itself is nobody's child
        os._exit(0)
    os.chdir("/")  # the server outlives the shell that started it: it holds no folder of the user's
    serve(Settings(options.course, options.sandbox, options.device, options.seed, tuple(options.only)),
          Place.of(options.socket), options.idle, options.ready_fd)


if __name__ == "__main__":
    main()
