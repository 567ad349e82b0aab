"""Helper process for the crash and concurrency tests (``python -m reliability.child``
run from the tests folder; see helpers.child).

    child.py save-loop ROOT SRC_A SRC_B   save A, B, A, B... to ROOT until killed
    child.py forker ROOT SRC_A SRC_B      for each "fork a" / "fork b" line on stdin, fork a
                                          save loop starting with A / B and print its pid
    child.py hold-lock ROOT               hold ROOT's write lock until a line (or EOF) on stdin
    child.py add ROOT PREFIX N            add N documents one by one, each a locked edit
    child.py cli ARGS...                  the CLI with the fake embedder

Each prints ``ready`` on stdout once it is about to do the interesting part.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from conftest import FakeEmbedder

import ragdiplo.cli.main as cli
from ragdiplo.durable import write_lock
from ragdiplo.index.build import save_index
from ragdiplo.index.load import load_index
from ragdiplo.index.update import edit_index
from ragdiplo.types import Document


def ready() -> None:
    print("ready", flush=True)


def save_loop(root: str, src_a: str, src_b: str) -> None:
    pair = [load_index(src_b), load_index(src_a)]
    ready()
    i = 0
    while True:
        save_index(pair[i % 2], root)
        i += 1


def forker(root: str, src_a: str, src_b: str) -> None:
    """Load once, then fork savers on request ("fork a": save A, B, A... and "fork b":
    B, A, B...): each round of the kill test gets a fresh writer process in
    milliseconds instead of a second of imports."""
    a, b = load_index(src_a), load_index(src_b)
    ready()
    for line in sys.stdin:
        first = line.split()[1:] or ["stop"]
        if first[0] not in ("a", "b"):
            break
        pair = [a, b] if first[0] == "a" else [b, a]
        pid = os.fork()
        if pid == 0:  # the saver: runs until the test kills it
            i = 0
            while True:
                save_index(pair[i % 2], root)
                i += 1
        print(pid, flush=True)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), flush=True)


def hold_lock(root: str) -> None:
    """The test says when to let go: no sleep to outlast on a slow machine."""
    with write_lock(Path(root), timeout=10):
        ready()
        sys.stdin.readline()
    print("released", flush=True)


def add(root: str, prefix: str, n: str) -> None:
    ready()
    for i in range(int(n)):
        with edit_index(root, FakeEmbedder(), lock_timeout=60) as editor:
            editor.add([Document(f"{prefix}-{i}.txt", f"Report {prefix} number {i} on the harbour and its {prefix}.")])


def run_cli(*args: str) -> int:
    cli._embedder = lambda _args, model_id=None: FakeEmbedder()  # type: ignore[assignment]
    return cli.main(list(args))


if __name__ == "__main__":
    command, rest = sys.argv[1], sys.argv[2:]
    if command == "cli":
        sys.exit(run_cli(*rest))
    {"save-loop": save_loop, "forker": forker, "hold-lock": hold_lock, "add": add}[command](*rest)
