"""An adversarial run against the command line, counted the way the reliability matrix counts.

    python benchmarks/adversarial.py [--json OUT] [--flips 12] [--kills 40]

Builds an index of ``seeds/`` in a temporary folder with the real model, then tries:

- **corruption**: every file of the index (manifest and each data file): one byte flipped at ``--flips`` places
  spread over the file, and truncation to 0, 1/2 and all-but-one bytes; each followed by ``ragdiplo ask``;
- **bad input**: command lines with impossible options, hostile questions and paths;
- **kill -9**: ``ragdiplo index`` of a changed corpus killed at spread delays, then ``ask`` on what is left.

Each case ends in one outcome: *clean* (the same answer as the intact index, or a one-line error with exit status
2 that the next ``ragdiplo index`` repairs, or for a kill the old or the new index), *traceback* (a Python
traceback or exit status 1/3), *hang* (over the time limit), *silent wrong* (exit 0 with another answer or
citation than the intact or the new index gives), *data lost* (after a kill or repair, documents missing).
Prints the counts and each non-clean case.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "How long was the partial truce proposed by Macron and Starmer?"
LIMIT_S = 120


def ragdiplo(*args: str, cwd: Path, timeout: float = LIMIT_S, stdin: bytes | None = None) -> tuple[int | None, str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", NO_COLOR="1")
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "ragdiplo", *args], cwd=cwd, capture_output=True, timeout=timeout, env=env,
            input=stdin,
        )
    except subprocess.TimeoutExpired:
        return None, "", ""
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")


def answer_of(stdout: str) -> tuple[str | None, list[tuple[str, int, int]]] | None:
    try:
        doc = json.loads(stdout)
    except json.JSONDecodeError:
        return None
    return doc["answer"], [(c["doc"], c["start"], c["end"]) for c in doc["citations"]]


def classify(code: int | None, out: str, err: str, expected: set) -> str:
    if code is None:
        return "hang"
    if "Traceback" in err or code not in (0, 2):
        return "traceback"
    if code == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        return "clean" if lines and lines[-1].startswith("ragdiplo: ") else "traceback"
    got = answer_of(out)
    return "clean" if got is not None and json.dumps(got) in expected else "silent wrong"


def documents_in(index: Path, cwd: Path) -> int:
    code, out, _ = ragdiplo("ask", QUESTION, "--index", str(index), "--json", "-k", "1000", cwd=cwd)
    if code != 0:
        return -1
    return len({h["doc"] for h in json.loads(out)["retrieved"]})


def corruption_cases(work: Path, intact: Path, expected: set, flips: int) -> list[dict]:
    cases = []
    files = sorted(p for p in intact.rglob("*") if p.is_file() and p.name != "write.lock")
    for file in files:
        rel = file.relative_to(intact)
        size = file.stat().st_size
        spots = sorted({int(size * (i + 0.5) / flips) for i in range(flips)}) if size else []
        edits = [("flip", s) for s in spots] + [("truncate", n) for n in sorted({0, size // 2, max(0, size - 1)})]
        for kind, at in edits:
            index = work / "idx"
            shutil.rmtree(index, ignore_errors=True)
            shutil.copytree(intact, index)
            target = index / rel
            data = bytearray(target.read_bytes())
            if kind == "flip" and data:
                data[at] ^= 0x01
            elif kind == "truncate":
                data = data[:at]
            target.write_bytes(bytes(data))
            code, out, err = ragdiplo("ask", QUESTION, "--index", str(index), "--json", cwd=work)
            outcome = classify(code, out, err, expected)
            if outcome == "clean" and code == 2:  # the promised repair: rebuild, nothing lost
                rcode, _, rerr = ragdiplo("index", "seeds", "--index", str(index), "-q", cwd=work)
                if rcode != 0:
                    outcome = "traceback" if "Traceback" in rerr else "data lost"
                elif documents_in(index, work) != 5:
                    outcome = "data lost"
            cases.append({"group": "corruption", "case": f"{kind} {rel} @{at}", "outcome": outcome,
                          "exit": code, "stderr": err.strip().splitlines()[-1:] if err.strip() else []})
    return cases


def bad_input_cases(work: Path, index: Path, expected: set) -> list[dict]:
    q = QUESTION
    argvs = [
        ["ask", "", "--index", str(index)], ["ask", "   ", "--index", str(index)], ["ask", "?!", "--index", str(index)],
        ["ask", "x" * 5000, "--index", str(index)], ["ask", q, "-k", "0", "--index", str(index)],
        ["ask", q, "-k", "-3", "--index", str(index)], ["ask", q, "-k", "abc", "--index", str(index)],
        ["ask", q, "-k", "99999999", "--index", str(index)], ["ask", q, "--index", str(work / "missing")],
        ["ask", q, "--index", str(work / "seeds" / "000_3bc946d849058282.txt")], ["ask", q, "--index", "/dev/null"],
        ["ask", q, "--index", str(index), "--model", str(work / "nope")], ["ask", q, "--since", "yesterday"],
        ["ask", q, "--since", "2025-13-01", "--index", str(index)], ["ask", q, "--until", "2025-02-30", "--index", str(index)],
        ["ask", q, "--since", "2026-01-01", "--until", "2025-01-01", "--index", str(index)],
        ["ask", q, "--source", "", "--index", str(index)], ["ask", q, "--tag", "\x1b[2J", "--index", str(index)],
        ["ask", "\u202eevil?\u2028", "--index", str(index)], ["ask", "What\x07 is this?", "--index", str(index)],
        ["index", str(work / "missing"), "--index", str(work / "i2")], ["index", "/dev/null", "--index", str(work / "i3")],
        ["index", "seeds", "--index", str(work / "i4"), "--max-tokens", "0"],
        ["index", "seeds", "--index", str(work / "i5"), "--max-tokens", "5", "--overlap", "9"],
        ["index", "seeds", "--index", str(work / "i6"), "--max-document-mb", "-1"],
        ["index", "seeds", "--index", str(work / "i7"), "--max-document-mb", "nan"],
        ["index", "seeds", "--index", str(work / "i8"), "--lock-timeout", "-1"],
        ["index", "seeds", "--index", str(work / "i9"), "--metadata", str(work / "missing.jsonl")],
        ["index", "seeds", "--index", str(work / "i10"), "--store", "milvus", "--milvus-uri", "http://127.0.0.1:1"],
        ["eval", str(work / "missing.jsonl"), "--index", str(index)],
        ["eval", str(work / "seeds"), "--index", str(index)],
        ["eval", "--compare", str(work / "a.json"), str(work / "b.json")],
        ["eval", str(ROOT / "gold" / "seeds_extra.jsonl"), "--index", str(index), "--json", str(work)],
        ["eval", str(ROOT / "gold" / "seeds_extra.jsonl"), "--index", str(index), "--out", str(work / "no" / "x.jsonl")],
        ["repl", "--index", str(work / "missing")], ["nonsense"], ["ask"], ["index", "--index"],
    ]
    cases = []
    for argv in argvs:
        code, out, err = ragdiplo(*argv, cwd=work)
        outcome = "hang" if code is None else ("traceback" if "Traceback" in err or code not in (0, 2) else "clean")
        cases.append({"group": "bad input", "case": " ".join(a[:40] for a in argv), "outcome": outcome, "exit": code,
                      "stderr": err.strip().splitlines()[-1:] if err.strip() else []})
    for stdin in (b"\xff\xfe bad bytes?\n:k 0\n:k abc\n:show 99\n:passages\n:unknown\nquit\n", b":show 1\n" * 3):
        code, out, err = ragdiplo("repl", "--index", str(index), cwd=work, stdin=stdin)
        outcome = "hang" if code is None else ("traceback" if "Traceback" in err + out or code not in (0, 2) else "clean")
        cases.append({"group": "bad input", "case": f"repl stdin {stdin[:20]!r}", "outcome": outcome, "exit": code,
                      "stderr": err.strip().splitlines()[-1:] if err.strip() else []})
    return cases


def kill_cases(work: Path, intact: Path, expected_old: set, kills: int) -> list[dict]:
    changed = work / "changed"
    shutil.copytree(ROOT / "seeds", changed)
    (changed / "extra.txt").write_text("A sixth article. The partial truce proposal was discussed again in Paris.\n")
    probe = work / "probe"
    shutil.copytree(intact, probe)
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
        shutil.copytree(intact, index)
        proc = subprocess.Popen([sys.executable, "-m", "ragdiplo", "index", str(changed), "--index", str(index), "-q"],
                                cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(full * (i + 0.5) / kills)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        code, out, err = ragdiplo("ask", QUESTION, "--index", str(index), "--json", cwd=work)
        outcome = classify(code, out, err, expected_old | expected_new)
        if outcome == "clean" and code == 0 and documents_in(index, work) not in (5, 6):
            outcome = "data lost"
        cases.append({"group": "kill -9", "case": f"kill at {full * (i + 0.5) / kills:.2f} s", "outcome": outcome,
                      "exit": code, "stderr": err.strip().splitlines()[-1:] if err.strip() else []})
    return cases


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", type=Path)
    p.add_argument("--flips", type=int, default=12)
    p.add_argument("--kills", type=int, default=40)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "seeds", work / "seeds")
        intact = work / "intact"
        code, _, err = ragdiplo("index", "seeds", "--index", str(intact), "-q", cwd=work)
        assert code == 0, err
        code, out, _ = ragdiplo("ask", QUESTION, "--index", str(intact), "--json", cwd=work)
        expected = {json.dumps(answer_of(out))}
        cases = corruption_cases(work, intact, expected, args.flips)
        cases += bad_input_cases(work, intact, expected)
        cases += kill_cases(work, intact, expected, args.kills)
    counts: dict[str, dict[str, int]] = {}
    for c in cases:
        counts.setdefault(c["group"], {}).setdefault(c["outcome"], 0)
        counts[c["group"]][c["outcome"]] += 1
    total = {o: sum(g.get(o, 0) for g in counts.values()) for o in ("clean", "traceback", "hang", "silent wrong", "data lost")}
    print(json.dumps({"cases": len(cases), "total": total, "by_group": counts}, indent=1))
    for c in cases:
        if c["outcome"] != "clean":
            print(c)
    if args.json:
        args.json.write_text(json.dumps({"cases": len(cases), "total": total, "by_group": counts, "detail": cases},
                                        indent=1) + "\n")


if __name__ == "__main__":
    main()
