"""An adversarial run against the command line, counted the way the reliability matrix counts.

    python benchmarks/adversarial.py [--groups all|old|new|NAME,...] [--json OUT] [--flips 12] [--kills 40]

Builds an index of ``seeds/`` in a temporary folder with the real model, then runs the groups asked for (all by
default; ``old`` is the first three, ``new`` the rest):

- **corruption**: every file of the index (manifest and each data file): one byte flipped at ``--flips`` places
  spread over the file, and truncation to 0, 1/2 and all-but-one bytes; each followed by ``ragdiplo ask``;
- **bad-input**: command lines with impossible options, hostile questions and paths;
- **kill**: ``ragdiplo index`` of a changed corpus killed at ``--kills`` spread delays, then ``ask`` on what is left;
- **input-files**: a FIFO, ``/dev/zero`` and ``/dev/null`` as ``--metadata``, as a gold file, as either run of
  ``eval --compare``, and in a BEIR folder (under a time and an address-space limit);
- **outputs**: an output of ``eval`` that is one of its inputs (the gold file, the index's manifest, an article of the
  corpus, the metadata file, a compared run), directly or through ``..`` and links: refused, every input unchanged;
- **index-folder**: ``ragdiplo index CORPUS --index FOLDER`` where FOLDER holds the user's files or a foreign
  ``manifest.json``, is the corpus, lies inside it or holds it: refused, every file unchanged; and the user's files
  kept beside an index through an update;
- **permissions**: a corpus sub-folder of mode 444, 111, 000 or 555, indexed without the power to ignore file
  permissions (as root: under ``setpriv`` without the DAC capabilities), for a first build and for an update of a
  good index: 444/111/000 refused with nothing removed, 555 indexed with every document;
- **resealed**: the index's meaning spoiled and its checksums recomputed (NaN and non-unit vectors, a FAISS file
  of other vectors, two documents of one id, a text altered in place, another model's name, another BM25
  analyser): ``ask`` must refuse, and after ``ragdiplo index`` the index must answer five seeds questions with the
  answers and citations of a fresh build;
- **links**: the manifest, each index file, ``bm25/`` and the data folder replaced by a symbolic link to a copy
  outside the index folder: ``ask`` must refuse without naming the target or its size, ``ragdiplo index`` repair
  it, and the copy stay as it was.

Each case ends in one outcome: *clean* (what the group expects: the intact answer, a one-line refusal with exit
status 2, a repair, for a kill the old or the new index), *traceback* (a Python traceback, or an exit status other
than 0, 2 and 3), *internal error* (the ``ragdiplo: internal error`` line, exit status 3), *hang* (over the time
limit), *silent wrong* (exit 0 with another answer than expected, or a run accepted that had to be refused),
*data lost* (documents missing after a kill or a repair, or an input, a user's file or an index changed), *served
from outside* (an index file that lies outside the index folder was served, or the refusal named it or its size).
Prints the counts and each case that is not clean; ``--json`` also keeps every case, and the summaries of earlier
runs already in that file under ``earlier``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "How long was the partial truce proposed by Macron and Starmer?"
LIMIT_S = 120
FILE_LIMIT_S = 60  # a FIFO or a device read by mistake: counted as a hang after this, not waited for
ADDRESS_SPACE = 4_000_000_000  # /dev/zero read by mistake fails with MemoryError instead of taking the machine
OUTCOMES = ("clean", "traceback", "internal error", "hang", "silent wrong", "data lost", "served from outside")
OLD = ("corruption", "bad-input", "kill")
NEW = ("input-files", "outputs", "index-folder", "permissions", "resealed", "links")
RESTRICTED = ("setpriv", "--bounding-set=-dac_override,-dac_read_search", "--")


@dataclass
class Bench:
    """What every group shares: the work folder, the intact index and what it answers."""

    work: Path
    intact: Path
    expected: set[str]  # ask --json's answer and citations of the intact index
    five: Path  # the first five questions of gold/seeds_extra.jsonl
    baseline: list | None  # eval's answers and citations to them on the intact index
    result: Path  # eval --json of that run, a file `eval --compare` reads
    notes: dict[str, str] = field(default_factory=dict)


def ragdiplo(*args: str, cwd: Path, timeout: float = LIMIT_S, stdin: bytes | None = None,
             prefix: tuple[str, ...] = (), limit_memory: bool = False) -> tuple[int | None, str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", NO_COLOR="1")
    cap = (lambda: resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))) if limit_memory else None
    try:
        proc = subprocess.run(
            [*prefix, sys.executable, "-m", "ragdiplo", *args], cwd=cwd, capture_output=True, timeout=timeout,
            env=env, input=stdin, preexec_fn=cap,
        )
    except subprocess.TimeoutExpired:
        return None, "", ""
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")


def last_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def ending(code: int | None, out: str, err: str) -> str:
    """How a command ended: hang, traceback, internal error, refused (exit 2 with ragdiplo's one line) or done."""
    if code is None:
        return "hang"
    if "Traceback" in err or "Traceback" in out:
        return "traceback"
    if code == 3 or "ragdiplo: internal error" in err:
        return "internal error"
    if code == 2:
        return "refused" if last_line(err).startswith("ragdiplo") else "traceback"
    return "done" if code == 0 else "traceback"


def answer_of(stdout: str) -> tuple[str | None, list[tuple[str, int, int]]] | None:
    try:
        doc = json.loads(stdout)
    except json.JSONDecodeError:
        return None
    return doc["answer"], [(c["doc"], c["start"], c["end"]) for c in doc["citations"]]


def classify(code: int | None, out: str, err: str, expected: set) -> str:
    end = ending(code, out, err)
    if end == "refused":
        return "clean"
    if end != "done":
        return end
    got = answer_of(out)
    return "clean" if got is not None and json.dumps(got) in expected else "silent wrong"


def documents_in(index: Path, cwd: Path) -> int:
    code, out, _ = ragdiplo("ask", QUESTION, "--index", str(index), "--json", "-k", "1000", cwd=cwd)
    if code != 0:
        return -1
    return len({h["doc"] for h in json.loads(out)["retrieved"]})


def answers(index: Path, b: Bench, name: str = "answers.jsonl") -> list | None:
    """Answer and citations (document, span, text) to the five questions, as ``eval --out`` writes them."""
    out = b.work / name
    code, _, _ = ragdiplo("eval", str(b.five), "--index", str(index), "-q", "--out", str(out), cwd=b.work)
    if code != 0:
        return None
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    return [[r["id"], r["answer"], [[c["doc"], c["start"], c["end"], c["text"]] for c in r["citations"]]]
            for r in rows]


def tree(*roots: Path) -> dict[str, object]:
    """Every entry under ``roots`` (or the file itself): bytes, None for a folder, a link's target, never followed."""
    out: dict[str, object] = {}
    for root in roots:
        for p in [root, *(sorted(root.rglob("*")) if root.is_dir() and not root.is_symlink() else [])]:
            if p.is_symlink():
                out[str(p)] = "-> " + os.readlink(p)
            elif p.is_dir():
                out[str(p)] = None
            elif p.is_file():
                out[str(p)] = p.read_bytes()
            elif p.exists():
                out[str(p)] = "not a file"
    return out


def change(before: dict[str, object], after: dict[str, object]) -> str | None:
    """'data lost' when an entry went or changed, 'written' when one was added, None when nothing moved."""
    if any(k not in after or after[k] != v for k, v in before.items()):
        return "data lost"
    return "written" if set(after) - set(before) else None


def case(group: str, name: str, outcome: str, code: int | None, err: str, why: str = "") -> dict:
    record = {"group": group, "case": name, "outcome": outcome, "exit": code,
              "stderr": [last_line(err)] if err.strip() else []}
    if why and outcome != "clean":
        record["why"] = why
    return record


def refusal(group: str, name: str, code: int | None, out: str, err: str, before: dict, after: dict) -> dict:
    """A run that must be refused with nothing changed: a changed or removed entry is data lost, an
    accepted run or a written entry silent wrong."""
    end, moved = ending(code, out, err), change(before, after)
    if moved == "data lost":
        return case(group, name, "data lost", code, err, "an input or a user's file changed")
    if end not in ("refused", "done"):
        return case(group, name, end, code, err)
    if end == "done" or moved:
        return case(group, name, "silent wrong", code, err, "accepted" if end == "done" else "refused, but wrote")
    return case(group, name, "clean", code, err)


# -- the first groups: corruption, bad input, kill -9 ------------------------------------------------


def corruption_cases(b: Bench, flips: int) -> list[dict]:
    cases = []
    files = sorted(p for p in b.intact.rglob("*") if p.is_file() and p.name != "write.lock")
    for file in files:
        rel = file.relative_to(b.intact)
        size = file.stat().st_size
        spots = sorted({int(size * (i + 0.5) / flips) for i in range(flips)}) if size else []
        edits = [("flip", s) for s in spots] + [("truncate", n) for n in sorted({0, size // 2, max(0, size - 1)})]
        for kind, at in edits:
            index = b.work / "idx"
            shutil.rmtree(index, ignore_errors=True)
            shutil.copytree(b.intact, index)
            target = index / rel
            data = bytearray(target.read_bytes())
            if kind == "flip" and data:
                data[at] ^= 0x01
            elif kind == "truncate":
                data = data[:at]
            target.write_bytes(bytes(data))
            code, out, err = ragdiplo("ask", QUESTION, "--index", str(index), "--json", cwd=b.work)
            outcome = classify(code, out, err, b.expected)
            if outcome == "clean" and code == 2:  # the promised repair: rebuild, nothing lost
                outcome = repaired(index, b)
            cases.append(case("corruption", f"{kind} {rel} @{at}", outcome, code, err))
    return cases


def repaired(index: Path, b: Bench) -> str:
    """The outcome of ``ragdiplo index`` on a refused index: clean when it leaves every document."""
    code, out, err = ragdiplo("index", "seeds", "--index", str(index), "-q", cwd=b.work)
    end = ending(code, out, err)
    if end in ("hang", "traceback", "internal error"):
        return end
    return "clean" if end == "done" and documents_in(index, b.work) == 5 else "data lost"


def bad_input_cases(b: Bench) -> list[dict]:
    q, work, index = QUESTION, b.work, str(b.intact)
    argvs = [
        ["ask", "", "--index", index], ["ask", "   ", "--index", index], ["ask", "?!", "--index", index],
        ["ask", "x" * 5000, "--index", index], ["ask", q, "-k", "0", "--index", index],
        ["ask", q, "-k", "-3", "--index", index], ["ask", q, "-k", "abc", "--index", index],
        ["ask", q, "-k", "99999999", "--index", index], ["ask", q, "--index", str(work / "missing")],
        ["ask", q, "--index", str(work / "seeds" / "000_3bc946d849058282.txt")], ["ask", q, "--index", "/dev/null"],
        ["ask", q, "--index", index, "--model", str(work / "nope")], ["ask", q, "--since", "yesterday"],
        ["ask", q, "--since", "2025-13-01", "--index", index], ["ask", q, "--until", "2025-02-30", "--index", index],
        ["ask", q, "--since", "2026-01-01", "--until", "2025-01-01", "--index", index],
        ["ask", q, "--source", "", "--index", index], ["ask", q, "--tag", "\x1b[2J", "--index", index],
        ["ask", "\u202eevil?\u2028", "--index", index], ["ask", "What\x07 is this?", "--index", index],
        ["index", str(work / "missing"), "--index", str(work / "i2")], ["index", "/dev/null", "--index", str(work / "i3")],
        ["index", "seeds", "--index", str(work / "i4"), "--max-tokens", "0"],
        ["index", "seeds", "--index", str(work / "i5"), "--max-tokens", "5", "--overlap", "9"],
        ["index", "seeds", "--index", str(work / "i6"), "--max-document-mb", "-1"],
        ["index", "seeds", "--index", str(work / "i7"), "--max-document-mb", "nan"],
        ["index", "seeds", "--index", str(work / "i8"), "--lock-timeout", "-1"],
        ["index", "seeds", "--index", str(work / "i9"), "--metadata", str(work / "missing.jsonl")],
        ["index", "seeds", "--index", str(work / "i10"), "--store", "milvus", "--milvus-uri", "http://127.0.0.1:1"],
        ["eval", str(work / "missing.jsonl"), "--index", index],
        ["eval", str(work / "seeds"), "--index", index],
        ["eval", "--compare", str(work / "a.json"), str(work / "b.json")],
        ["eval", str(ROOT / "gold" / "seeds_extra.jsonl"), "--index", index, "--json", str(work)],
        ["eval", str(ROOT / "gold" / "seeds_extra.jsonl"), "--index", index, "--out", str(work / "no" / "x.jsonl")],
        ["repl", "--index", str(work / "missing")], ["nonsense"], ["ask"], ["index", "--index"],
    ]
    cases = []
    for argv in argvs:
        code, out, err = ragdiplo(*argv, cwd=work)
        end = ending(code, out, err)
        cases.append(case("bad input", " ".join(a[:40] for a in argv), end if end not in ("refused", "done")
                          else "clean", code, err))
    for stdin in (b"\xff\xfe bad bytes?\n:k 0\n:k abc\n:show 99\n:passages\n:unknown\nquit\n", b":show 1\n" * 3):
        code, out, err = ragdiplo("repl", "--index", index, cwd=work, stdin=stdin)
        end = ending(code, out, err)
        cases.append(case("bad input", f"repl stdin {stdin[:20]!r}", end if end not in ("refused", "done")
                          else "clean", code, err))
    return cases


def kill_cases(b: Bench, kills: int) -> list[dict]:
    work = b.work
    changed = work / "changed"
    shutil.copytree(ROOT / "seeds", changed)
    (changed / "extra.txt").write_text("A sixth article. The partial truce proposal was discussed again in Paris.\n")
    probe = work / "probe"
    shutil.copytree(b.intact, probe)
    start = time.perf_counter()
    ragdiplo("index", str(changed), "--index", str(probe), "-q", cwd=work)
    full = time.perf_counter() - start
    code, out, _ = ragdiplo("ask", QUESTION, "--index", str(probe), "--json", cwd=work)
    expected_new = {json.dumps(answer_of(out))}
    cases = []
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    for i in range(kills):
        index = work / "killed"
        shutil.rmtree(index, ignore_errors=True)
        shutil.copytree(b.intact, index)
        proc = subprocess.Popen([sys.executable, "-m", "ragdiplo", "index", str(changed), "--index", str(index), "-q"],
                                cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(full * (i + 0.5) / kills)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        code, out, err = ragdiplo("ask", QUESTION, "--index", str(index), "--json", cwd=work)
        outcome = classify(code, out, err, b.expected | expected_new)
        if outcome == "clean" and code == 0 and documents_in(index, work) not in (5, 6):
            outcome = "data lost"
        cases.append(case("kill -9", f"kill at {full * (i + 0.5) / kills:.2f} s", outcome, code, err))
    return cases


# -- files that are not regular files where the command line reads one -----------------------------


def beir_folder(root: Path) -> Path:
    (root / "qrels").mkdir(parents=True)
    docs = [{"_id": "d1", "title": "Harbour deal", "text": "Port Vesta signed a harbour deal worth $40 million."},
            {"_id": "d2", "title": "", "text": "The rail strike in Kessel ended after three weeks."}]
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (root / "queries.jsonl").write_text(json.dumps({"_id": "1", "text": "harbour deal Port Vesta"}) + "\n")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n1\td1\t1\n")
    return root


def input_file_cases(b: Bench) -> list[dict]:
    fifo = b.work / "pipe.jsonl"
    os.mkfifo(fifo)
    runs: list[tuple[str, list[str], Path | None]] = []
    for what, path in (("a FIFO", str(fifo)), ("/dev/zero", "/dev/zero"), ("/dev/null", "/dev/null")):
        made = b.work / f"meta-{len(runs)}"
        runs += [
            (f"--metadata {what}", ["index", "seeds", "--index", str(made), "--metadata", path], made),
            (f"gold {what}", ["eval", path, "--index", str(b.intact), "-q"], None),
            (f"--compare {what} RUN", ["eval", "--compare", path, str(b.result)], None),
            (f"--compare RUN {what}", ["eval", "--compare", str(b.result), path], None),
        ]
    beir = beir_folder(b.work / "beir-fifo")
    (beir / "queries.jsonl").unlink()
    os.mkfifo(beir / "queries.jsonl")
    runs.append(("BEIR queries.jsonl a FIFO", ["eval", str(beir), "--index", str(b.work / "beir-idx")], None))
    beir = beir_folder(b.work / "beir-zero")
    (beir / "corpus.jsonl").unlink()
    (beir / "corpus.jsonl").symlink_to("/dev/zero")
    runs.append(("BEIR corpus.jsonl a link to /dev/zero", ["eval", str(beir), "--index", str(b.work / "beir-idx")],
                 None))
    cases = []
    for name, argv, made in runs:
        code, out, err = ragdiplo(*argv, cwd=b.work, timeout=FILE_LIMIT_S, limit_memory=True)
        end = ending(code, out, err)
        if end == "refused" and made is not None and made.exists():
            cases.append(case("input files", name, "silent wrong", code, err, "refused, but made an index"))
        elif end in ("refused", "done"):
            cases.append(case("input files", name, "clean" if end == "refused" else "silent wrong", code, err,
                              "read as if it were a file"))
        else:
            cases.append(case("input files", name, end, code, err))
    return cases


# -- outputs that are inputs ---------------------------------------------------------------------


def output_cases(b: Bench) -> list[dict]:
    t, corpus, idx = b.work / "outputs", b.work / "seeds", b.work / "outputs-index"
    t.mkdir()
    shutil.copytree(b.intact, idx)
    gold = t / "gold.jsonl"
    shutil.copy(b.five, gold)
    article = corpus / "000_3bc946d849058282.txt"
    (t / "elsewhere").mkdir()
    (t / "link.jsonl").symlink_to(gold)
    (t / "door").symlink_to(corpus, target_is_directory=True)
    (t / "meta.jsonl").write_text('{"id": "000_3bc946d849058282.txt", "source": "Vesta Post"}\n')
    shutil.copy(b.result, t / "a.json")
    beir = beir_folder(t / "beir")
    ev = ["eval", str(gold), "--index", str(idx), "-q"]
    runs = [
        ("eval g.jsonl --out g.jsonl", [*ev, "--out", str(gold)]),
        ("--json INDEX/manifest.json", [*ev, "--json", str(idx / "manifest.json")]),
        ("--report CORPUS/article.txt", [*ev, "--corpus", str(corpus), "--report", str(article)]),
        ("--out INDEX/predictions.jsonl (a new file inside the index)", [*ev, "--out", str(idx / "predictions.jsonl")]),
        ("--json DIR/../g.jsonl", [*ev, "--json", str(t / "elsewhere" / ".." / "gold.jsonl")]),
        ("--out a symlink to g.jsonl", [*ev, "--out", str(t / "link.jsonl")]),
        ("--json through a symlinked folder into the corpus", [*ev, "--corpus", str(corpus), "--json",
                                                                str(t / "door" / article.name)]),
        ("--report the --metadata file", [*ev, "--corpus", str(corpus), "--metadata", str(t / "meta.jsonl"),
                                          "--report", str(t / "meta.jsonl")]),
        ("--json a compared run", ["eval", "--compare", str(t / "a.json"), str(t / "a.json"), "--json",
                                   str(t / "a.json")]),
        ("--run into the BEIR folder", ["eval", str(beir), "--index", str(t / "beir-idx"), "--run",
                                        str(beir / "queries.jsonl")]),
    ]
    cases = []
    for name, argv in runs:
        before = tree(t, corpus, idx)
        code, out, err = ragdiplo(*argv, cwd=b.work)
        cases.append(refusal("outputs over inputs", name, code, out, err, before, tree(t, corpus, idx)))
    return cases


# -- index folders that are not the index's own ------------------------------------------------------


def users_files(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".tmp-notes.txt").write_text("call the harbour office\n")
    (folder / "data-2024").mkdir()
    (folder / "data-2024" / "results.csv").write_text("month,count\n1,4\n")
    (folder / "data-0123456789abcdef").mkdir()  # shaped like a generation's name, but not one
    (folder / "data-0123456789abcdef" / "results.csv").write_text("month,count\n2,7\n")
    (folder / ".tmp-abcdefgh").mkdir()
    (folder / ".tmp-abcdefgh" / "draft.md").write_text("# draft\n")
    return folder


USERS = {".tmp-notes.txt", "data-2024", "data-0123456789abcdef", ".tmp-abcdefgh"}


def foreign(folder: Path, manifest: str) -> Path:
    (folder / "data-2024").mkdir(parents=True)
    (folder / "data-2024" / "results.csv").write_text("1,2\n")
    (folder / "manifest.json").write_text(manifest)
    return folder


def news(folder: Path) -> Path:
    """The seeds with a folder of the user's named like an index's data (``data-2024/``)."""
    shutil.copytree(ROOT / "seeds", folder)
    (folder / "data-2024").mkdir()
    (folder / "data-2024" / "a.txt").write_text("The harbour deal was signed on Tuesday in Port Vesta.\n")
    return folder


def index_folder_cases(b: Bench) -> list[dict]:
    w = b.work / "owners"
    w.mkdir()
    (w / "link").symlink_to(users_files(w / "mine-linked"), target_is_directory=True)
    runs: list[tuple[str, Path, Path, Path]] = [  # name, corpus, --index, what must stay as it is
        ("FOLDER holds .tmp-notes.txt, data-2024/results.csv, data-<16 hex>/, .tmp-<8>/", b.work / "seeds",
         users_files(w / "mine"), w / "mine"),
        ("FOLDER is a link to such a folder", b.work / "seeds", w / "link", w / "mine-linked"),
        ("FOLDER holds a foreign manifest.json (JSON)", b.work / "seeds",
         foreign(w / "app", '{"name": "harbour-app", "version": "1.0"}'), w / "app"),
        ("FOLDER holds a foreign manifest.json (not JSON)", b.work / "seeds", foreign(w / "app2", "not json at all"),
         w / "app2"),
        ("FOLDER is the corpus", news(w / "news1"), w / "news1", w / "news1"),
        ("FOLDER lies inside the corpus", news(w / "news2"), w / "news2" / "idx", w / "news2"),
        ("FOLDER holds the corpus", news(w / "holder" / "news"), w / "holder", w / "holder"),
    ]
    cases = []
    for name, corpus, folder, kept in runs:
        before = tree(kept)
        code, out, err = ragdiplo("index", str(corpus), "--index", str(folder), "-q", cwd=b.work)
        cases.append(refusal("index folder", name, code, out, err, before, tree(kept)))
    index = b.work / "beside"
    shutil.copytree(b.intact, index)
    users_files(index)
    users = {k: v for k, v in tree(index).items() if Path(k) != index and Path(k).relative_to(index).parts[0] in USERS}
    code, out, err = ragdiplo("index", str(news(w / "changed")), "--index", str(index), "-q", cwd=b.work)
    end = ending(code, out, err)
    kept = {k: v for k, v in tree(index).items() if k in users} == users
    outcome = end if end not in ("done", "refused") else "clean" if end == "done" and kept else "data lost"
    cases.append(case("index folder", "the user's files beside an index, through an update", outcome, code, err,
                      "a file of the user's changed" if not kept else "the update was refused"))
    return cases


# -- permissions of a corpus sub-folder ------------------------------------------------------------


def restricted(work: Path) -> tuple[tuple[str, ...] | None, str]:
    """A command prefix without the power to ignore file permissions, and how it is made; None when none works."""
    if os.geteuid() != 0:
        return (), "an unprivileged user"
    if shutil.which("setpriv") is None:
        return None, "root without setpriv"
    probe = work / "unreadable"
    probe.write_text("x")
    probe.chmod(0)
    ok = subprocess.run([*RESTRICTED, sys.executable, "-c", f"open({str(probe)!r}).read()"],
                        capture_output=True).returncode != 0
    return (RESTRICTED if ok else None), ("root under setpriv without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH"
                                          if ok else "root: setpriv could not drop the DAC capabilities")


def permission_cases(b: Bench) -> list[dict]:
    prefix, b.notes["permissions run as"] = restricted(b.work)
    if prefix is None:
        return []
    corpus = b.work / "perm-corpus"
    shutil.copytree(ROOT / "seeds", corpus)
    (corpus / "sub").mkdir()
    for name in ("003_29998d670c3597d8.txt", "004_592635f540e083f6.txt"):
        (corpus / name).rename(corpus / "sub" / name)
    cases: list[dict] = []
    good = b.intact  # replaced by the first build of 555, an index of this very corpus
    for stage in ("first build", "update"):
        for mode in (0o555, 0o444, 0o111, 0o000):
            folder = b.work / f"perm-{stage[0]}-{mode:03o}"
            if stage == "update":
                shutil.copytree(good, folder)
            before, corpus_before = tree(corpus, folder), tree(corpus)
            (corpus / "sub").chmod(mode)
            try:
                code, out, err = ragdiplo("index", str(corpus), "--index", str(folder), "-q", cwd=b.work, prefix=prefix)
            finally:
                (corpus / "sub").chmod(0o755)
            name = f"{stage}, sub-folder {mode:03o}"
            if mode != 0o555:
                cases.append(refusal("permissions", name, code, out, err, before, tree(corpus, folder)))
                continue
            cases.append(indexed_read_only(name, stage == "update", (code, out, err), folder, corpus_before, b))
            if stage == "first build" and cases[-1]["outcome"] == "clean":
                good = folder
    return cases


def indexed_read_only(name: str, update: bool, run: tuple[int | None, str, str], folder: Path,
                      corpus_before: dict, b: Bench) -> dict:
    """r-xr-xr-x hides nothing: every document indexed, the corpus unchanged."""
    end = ending(*run)
    if end not in ("done", "refused"):
        return case("permissions", name, end, run[0], run[2])
    count = documents_in(folder, b.work) if end == "done" else -1
    if change(corpus_before, tree(folder.parent / "perm-corpus")) or (update and count != 5):
        outcome = "data lost"
    else:
        outcome = "clean" if count == 5 else "silent wrong"
    return case("permissions", name, outcome, run[0], run[2], f"{count} documents in the index")


# -- manifests re-signed over a spoiled meaning -----------------------------------------------------


def reseal(root: Path, **changes: object) -> None:
    """Recompute every file record and the manifest's own checksum after a planted change, as someone who
    controls the folder would: only the loader's checks of the content can refuse it."""
    from ragdiplo.durable import file_record, seal

    m = json.loads((root / "manifest.json").read_text())
    for name in m["files"]:
        m["files"][name] = file_record(root / m["data"] / name)
    m.update(changes)
    (root / "manifest.json").write_text(json.dumps(seal(m)))


def plant_array(root: Path, name: str, spoil: Callable) -> None:
    import numpy as np

    data = root / json.loads((root / "manifest.json").read_text())["data"]
    array = np.load(data / name)
    spoil(array)
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    (data / name).write_bytes(buf.getvalue())
    reseal(root)


def rewrite_documents(root: Path, how: str) -> None:
    import hashlib

    from ragdiplo.index.build import corpus_sha256

    file = root / json.loads((root / "manifest.json").read_text())["data"] / "documents.jsonl"
    rows = [json.loads(line) for line in file.read_text().splitlines()]
    if how == "duplicate":
        rows[1]["id"] = rows[0]["id"]
    else:  # one word altered, the same length: every offset still fits
        rows[0]["text"] = rows[0]["text"].replace("Starmer", "Stxrmer", 1)
    file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    hashes = {r["id"]: hashlib.sha256(r["text"].encode()).hexdigest() for r in rows}
    reseal(root, **({"corpus_sha256": corpus_sha256(hashes)} if how == "duplicate" else {}))


def other_faiss(root: Path) -> None:
    import faiss
    import numpy as np

    data = root / json.loads((root / "manifest.json").read_text())["data"]
    vectors = np.load(data / "passage_vectors.npy")
    store = faiss.IndexFlatIP(vectors.shape[1])
    store.add(np.roll(vectors, 1, axis=0))  # unit vectors, but not the passages'
    faiss.write_index(store, str(data / "passages.faiss"))
    reseal(root)


def other_analyser(root: Path) -> None:
    analyser = json.loads((root / "manifest.json").read_text())["analyser"]
    reseal(root, analyser={**analyser, "stemmer_version": "PyStemmer 2.2.0"})


def _row1(value: float | None, scale: float = 1.0) -> Callable:
    def spoil(array: object) -> None:
        array[1] = value if value is not None else array[1] * scale  # type: ignore[index]

    return spoil


SPOILS: dict[str, Callable[[Path], None]] = {
    "NaN passage vector": lambda r: plant_array(r, "passage_vectors.npy", _row1(float("nan"))),
    "NaN sentence vector": lambda r: plant_array(r, "sentence_vectors.npy", _row1(float("nan"))),
    "passage vector of length 2": lambda r: plant_array(r, "passage_vectors.npy", _row1(None, 2.0)),
    "sentence vector of length 0.5": lambda r: plant_array(r, "sentence_vectors.npy", _row1(None, 0.5)),
    "FAISS file holding other unit vectors": other_faiss,
    "two documents with one id (corpus hash agreeing)": lambda r: rewrite_documents(r, "duplicate"),
    "a text altered in place (same length)": lambda r: rewrite_documents(r, "altered"),
    "another model's name": lambda r: reseal(r, model_id="some-other-model"),
    "another BM25 analyser (stemmer version)": other_analyser,
}


def resealed_cases(b: Bench) -> list[dict]:
    cases = []
    for name, spoil in SPOILS.items():
        index = b.work / "resealed"
        shutil.rmtree(index, ignore_errors=True)
        shutil.copytree(b.intact, index)
        spoil(index)
        code, out, err = ragdiplo("ask", QUESTION, "--index", str(index), "--json", cwd=b.work)
        end = ending(code, out, err)
        if end != "refused":
            outcome = "silent wrong" if end == "done" else end
            cases.append(case("resealed", name, outcome, code, err, "ask answered"))
            continue
        rcode, rout, rerr = ragdiplo("index", "seeds", "--index", str(index), "-q", cwd=b.work)
        rend = ending(rcode, rout, rerr)
        if rend != "done":
            outcome = rend if rend != "refused" else "data lost"
            cases.append(case("resealed", name, outcome, code, err + rerr, "the repair failed"))
            continue
        got = answers(index, b)
        outcome = "clean" if got is not None and got == b.baseline else "silent wrong"
        if outcome == "clean" and documents_in(index, b.work) != 5:
            outcome = "data lost"
        cases.append(case("resealed", name, outcome, code, err, "the repaired index answers otherwise"))
    return cases


# -- index files that are links out of the folder ---------------------------------------------------

LINKED = ["manifest.json", ".", ".ragdiplo-generation", "documents.jsonl", "passage_vectors.npy",
          "sentence_vectors.npy", "passages.npy", "sentences.npy", "aliases.json", "passages.faiss", "bm25",
          "bm25/data.csc.index.npy", "bm25/indices.csc.index.npy", "bm25/indptr.csc.index.npy",
          "bm25/params.index.json", "bm25/vocab.index.json"]  # fmt: skip


def links_in(index: Path) -> bool:
    """The manifest, or the data folder it names or anything in it, is a symbolic link."""
    manifest = index / "manifest.json"
    if manifest.is_symlink():
        return True
    data = index / json.loads(manifest.read_text())["data"]
    return data.is_symlink() or any(p.is_symlink() for p in data.rglob("*"))


def link_cases(b: Bench) -> list[dict]:
    cases = []
    for name in LINKED:
        index, elsewhere = b.work / "linked", b.work / "elsewhere"
        for p in (index, elsewhere):
            shutil.rmtree(p, ignore_errors=True)
        shutil.copytree(b.intact, index)
        elsewhere.mkdir()
        data = index / json.loads((index / "manifest.json").read_text())["data"]
        path = index / name if name == "manifest.json" else data / name
        copy = elsewhere / ("copy-" + path.name)
        size = path.stat().st_size
        shutil.move(path, copy)
        path.symlink_to(copy, target_is_directory=copy.is_dir())
        kept = tree(elsewhere)
        label = "the data folder" if name == "." else name
        code, out, err = ragdiplo("ask", QUESTION, "--index", str(index), "--json", cwd=b.work)
        end = ending(code, out, err)
        leak = [w for w in ("elsewhere", "copy-", "bytes") if w in err] + re.findall(rf"\b{size}\b", err)
        if end == "done" or leak:
            cases.append(case("links", f"{label} a link to a copy outside", "served from outside", code, err,
                              f"served; the error names {leak}" if leak else "served"))
            continue
        if end != "refused":
            cases.append(case("links", f"{label} a link to a copy outside", end, code, err))
            continue
        outcome = repaired(index, b)
        if outcome == "clean" and tree(elsewhere) != kept:
            outcome = "data lost"
        elif outcome == "clean" and links_in(index):
            outcome = "served from outside"
        cases.append(case("links", f"{label} a link to a copy outside", outcome, code, err,
                          "the repair failed or changed the copy, or the repaired index still links out"))
    return cases


# -- the run -------------------------------------------------------------------------------------------


def groups_of(text: str) -> list[str]:
    names: list[str] = []
    for word in text.split(","):
        word = word.strip()
        chosen = {"all": OLD + NEW, "old": OLD, "new": NEW}.get(word, (word,))
        for name in chosen:
            if name not in OLD + NEW:
                raise argparse.ArgumentTypeError(f"no group {name!r}; choose from all, old, new, "
                                                 + ", ".join(OLD + NEW))
            if name not in names:
                names.append(name)
    return names


def setup(work: Path) -> Bench:
    shutil.copytree(ROOT / "seeds", work / "seeds")
    intact = work / "intact"
    code, _, err = ragdiplo("index", "seeds", "--index", str(intact), "-q", cwd=work)
    if code != 0:
        sys.exit(f"cannot build the seeds index: {err}")
    code, out, _ = ragdiplo("ask", QUESTION, "--index", str(intact), "--json", cwd=work)
    five = work / "five.jsonl"
    five.write_text("".join((ROOT / "gold" / "seeds_extra.jsonl").read_text().splitlines(keepends=True)[:5]))
    result = work / "run.json"
    ragdiplo("eval", str(five), "--index", str(intact), "-q", "--json", str(result), cwd=work)
    bench = Bench(work, intact, {json.dumps(answer_of(out))}, five, None, result)
    bench.baseline = answers(intact, bench, "baseline.jsonl")
    if bench.baseline is None or not result.is_file():
        sys.exit("cannot answer the five questions on the intact index")
    return bench


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown")
    return {"cpu": cpu, "cores": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]}


def summary(cases: list[dict]) -> tuple[dict, dict]:
    counts: dict[str, dict[str, int]] = {}
    for c in cases:
        counts.setdefault(c["group"], {}).setdefault(c["outcome"], 0)
        counts[c["group"]][c["outcome"]] += 1
    return {o: sum(g.get(o, 0) for g in counts.values()) for o in OUTCOMES}, counts


def scrub(value: object, work: Path) -> object:
    """The temporary folder as ``<work>`` and the checkout as a relative path, so results read the same anywhere."""
    text = json.dumps(value).replace(json.dumps(str(work))[1:-1], "<work>")
    return json.loads(text.replace(json.dumps(str(ROOT) + "/")[1:-1], ""))


RUNNERS: dict[str, Callable[[Bench, argparse.Namespace], list[dict]]] = {
    "corruption": lambda b, a: corruption_cases(b, a.flips),
    "bad-input": lambda b, a: bad_input_cases(b),
    "kill": lambda b, a: kill_cases(b, a.kills),
    "input-files": lambda b, a: input_file_cases(b),
    "outputs": lambda b, a: output_cases(b),
    "index-folder": lambda b, a: index_folder_cases(b),
    "permissions": lambda b, a: permission_cases(b),
    "resealed": lambda b, a: resealed_cases(b),
    "links": lambda b, a: link_cases(b),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--groups", type=groups_of, default=list(OLD + NEW), metavar="all|old|new|NAME,...",
                   help="the groups to run (default all): " + ", ".join(OLD + NEW))
    p.add_argument("--json", type=Path, help="write the counts and every case here (earlier runs kept)")
    p.add_argument("--flips", type=int, default=12)
    p.add_argument("--kills", type=int, default=40)
    args = p.parse_args()
    run: dict = {"groups": args.groups, "date": time.strftime("%Y-%m-%d", time.gmtime()), "machine": machine()}
    if "corruption" in args.groups or "kill" in args.groups:
        run["options"] = {"flips": args.flips, "kills": args.kills}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp).resolve()
        b = setup(work)
        cases = [c for group in args.groups for c in RUNNERS[group](b, args)]
        cases = scrub(cases, work)  # type: ignore[assignment]
        run.update(b.notes)
    run["seconds"] = round(time.perf_counter() - start)
    run["load_average_after"] = machine()["load_average"]
    total, counts = summary(cases)
    print(json.dumps({"run": run, "cases": len(cases), "total": total, "by_group": counts}, indent=1))
    for c in cases:
        if c["outcome"] != "clean":
            print(c)
    if args.json:
        earlier = []
        if args.json.is_file():
            old = json.loads(args.json.read_text())
            earlier = [{k: v for k, v in old.items() if k not in ("detail", "earlier")}, *old.get("earlier", [])]
        args.json.write_text(json.dumps({"run": run, "cases": len(cases), "total": total, "by_group": counts,
                                         "detail": cases, "earlier": earlier}, indent=1) + "\n")


if __name__ == "__main__":
    main()
