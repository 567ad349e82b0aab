"""ragdiplo against a Haystack 2.x pipeline doing the same job, in the same run.

    python benchmarks/run.py --json OUT.json [--corpora seeds,squad,scifact] [--quick]

For each corpus, each system builds its index in a process of its own (timed
from reading the corpus to the index on disk; the median of ``--build-runs``
such processes, since a 2-core virtual machine varies by 10-20% from run to
run), then answers the corpus's questions warm, several times over; a new process then loads the index and the
model and answers one question (the cold start, timed from outside with the
wall clock). Peak RSS is each worker process's own. The peer is Haystack's
InMemoryDocumentStore with SentenceTransformers document/text embedders on the
same bundled model folder, InMemoryEmbeddingRetriever + InMemoryBM25Retriever
joined by reciprocal rank fusion, and a word-based DocumentSplitter (140 words,
35 overlapping: the size of ragdiplo's passages; sentence splitting would need
NLTK data downloaded). Needs the `bench` extra; runs offline.

Every result says where it ran: the CPU and the instruction sets that choose the embedding runtime (avx2, avx512f,
avx512_bf16, avx_vnni, amx), the load average before and after each corpus, the thread settings (ONNX Runtime's
threads and spinning, torch's threads, the environment's) and the runtime each system used, in the JSON and printed
above the table: a number means little without its machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
WORKER = Path(__file__).resolve().parent / "bench_worker.py"
SYSTEMS = ("ragdiplo", "peer")
KEYS = ("build_passages_per_s", "ask_p50_ms", "ask_p95_ms", "cold_start_s", "peak_rss_mb")


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def seeds_set(work: Path, args: argparse.Namespace) -> tuple[Path, list[str]]:
    gold = read_jsonl(SHARED / "gold" / "seeds_dev.jsonl") + read_jsonl(ROOT / "gold" / "seeds_extra.jsonl")
    return ROOT / "seeds", [g["question"] for g in gold]


def squad_set(work: Path, args: argparse.Namespace) -> tuple[Path, list[str]]:
    data = SHARED / "data" / "squad-dev-open"
    gold = read_jsonl(data / "gold.jsonl")
    sample = random.Random(0).sample(gold, min(args.sample, len(gold)))
    return data / "corpus", [g["question"] for g in sample]


def scifact_set(work: Path, args: argparse.Namespace) -> tuple[Path, list[str]]:
    """The first ``--scifact-docs`` abstracts, converted to ragdiplo's JSONL corpus form."""
    data = SHARED / "data" / "beir-scifact"
    corpus = work / "scifact.jsonl"
    with open(data / "corpus.jsonl", encoding="utf-8") as src, open(corpus, "w", encoding="utf-8") as dst:
        for n, line in enumerate(src):
            if args.scifact_docs and n >= args.scifact_docs:
                break
            row = json.loads(line)
            dst.write(json.dumps({"id": row["_id"], "title": row.get("title", ""), "text": row["text"]}) + "\n")
    queries = read_jsonl(data / "queries.jsonl")
    sample = random.Random(0).sample(queries, min(args.sample, len(queries)))
    return corpus, [q["text"] for q in sample]


CORPORA = {"seeds": seeds_set, "squad": squad_set, "scifact": scifact_set}


FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx_vnni", "avx512_vnni", "amx_tile", "amx_bf16", "amx_int8")
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAGDIPLO_BACKEND")


def machine() -> dict[str, object]:
    """Where the run is: the CPU, the instruction sets that decide the runtime (``ragdiplo.embed.factory``),
    the cores this process may use, the thread settings of the environment and the versions."""
    cpu, flags = "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu == "unknown":
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "flags": [f for f in FLAGS if f in flags],
        "bf16": sorted(flags & {"avx512_bf16", "amx_bf16"}),  # what OpenVINO's bfloat16 builds need
        "thread_env": {name: os.environ.get(name) for name in THREAD_ENV},
        "python": platform.python_version(),
        "platform": platform.platform(),
        **{name: version(name) for name in ("torch", "onnxruntime", "openvino", "sentence-transformers", "transformers",
                                            "haystack-ai", "faiss-cpu", "bm25s", "numpy")},
    }


def loadavg() -> list[float] | None:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_worker(*args: str) -> tuple[dict, float, float]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HAYSTACK_TELEMETRY_ENABLED="False")
    start, start_cpu = time.perf_counter(), children_cpu_s()
    proc = subprocess.run([sys.executable, str(WORKER), *args], capture_output=True, text=True, env=env, cwd=ROOT)
    wall, cpu = time.perf_counter() - start, children_cpu_s() - start_cpu
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"worker {' '.join(args[:2])} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):]), wall, cpu


def measure(system: str, corpus: Path, questions: list[str], work: Path, args: argparse.Namespace) -> dict:
    out = work / f"{system}-{corpus.stem}"
    qfile = work / f"questions-{corpus.stem}.json"
    qfile.write_text(json.dumps(questions), encoding="utf-8")
    build, _, _ = run_worker("build", system, str(corpus), str(out), str(qfile), str(args.reps))
    runs = [build] + [run_worker("build", system, str(corpus), str(out) + f"-{i}", str(qfile), "0")[0]
                      for i in range(1, args.build_runs)]
    build = dict(build, build_s=statistics.median(r["build_s"] for r in runs),
                 build_cpu_s=statistics.median(r["build_cpu_s"] for r in runs))
    colds, cold_cpu, cold_rss = [], [], []
    for i in range(args.cold_runs):
        result, wall, cpu = run_worker("cold", system, str(out), questions[i % len(questions)])
        colds.append(wall)
        cold_cpu.append(cpu)
        cold_rss.append(result["peak_rss_mb"])
    return {
        "build_passages_per_s": build["passages"] / build["build_s"],
        "build_chars_per_s": build["chars"] / build["build_s"],
        "build_cpu_s": build["build_cpu_s"],
        "build_passages_per_cpu_s": build["passages"] / build["build_cpu_s"],
        "ask_p50_ms": build["ask_p50_ms"],
        "ask_p95_ms": build["ask_p95_ms"],
        "cold_start_s": statistics.median(colds),
        "cold_start_runs_s": colds,
        "cold_start_cpu_s": statistics.median(cold_cpu),
        "ask_cpu_p50_ms": build["ask_cpu_p50_ms"],
        "peak_rss_mb": build["peak_rss_mb"],
        "cold_peak_rss_mb": max(cold_rss),
        **{k: build[k] for k in ("build_s", "passages", "texts_embedded", "chars", "asks", "model_id", "runtime")},
        "build_runs_s": [r["build_s"] for r in runs],
        **{k: build[k] for k in ("ask_repeated_p50_ms", "ask_rules_p50_ms", "ask_retrieve_p50_ms") if k in build},
    }


def ratios(ours: dict, peer: dict) -> dict[str, float]:
    return {
        "build_passages_per_s": ours["build_passages_per_s"] / peer["build_passages_per_s"],
        "build_chars_per_s": ours["build_chars_per_s"] / peer["build_chars_per_s"],
        "build_passages_per_cpu_s": ours["build_passages_per_cpu_s"] / peer["build_passages_per_cpu_s"],
        "ask_p50_ms": ours["ask_p50_ms"] / peer["ask_p50_ms"],
        "ask_cpu_p50_ms": ours["ask_cpu_p50_ms"] / peer["ask_cpu_p50_ms"],
        "cold_start_s": ours["cold_start_s"] / peer["cold_start_s"],
        "cold_start_cpu_s": ours["cold_start_cpu_s"] / peer["cold_start_cpu_s"],
        "peak_rss_mb": ours["peak_rss_mb"] / peer["peak_rss_mb"],
        # the peer only retrieves; ragdiplo's answer path also reads (reader or rules): both ratios, same peer number
        **{k: ours[k] / peer["ask_p50_ms"] for k in ("ask_rules_p50_ms", "ask_retrieve_p50_ms") if k in ours},
    }


def table(results: dict) -> str:
    head = ("| corpus | system | passages | build s | passages/s | passages/CPU s | ask p50 ms | ask p95 ms "
            "| ask CPU ms | cold start s | cold CPU s | peak RSS MB |\n|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows = [head]
    for name, res in results["corpora"].items():
        for label, r in (("ragdiplo", res), ("Haystack", res["peer"])):
            rows.append(f"| {name} | {label} | {r['passages']:,} | {r['build_s']:.1f} "
                        f"| {r['build_passages_per_s']:.1f} | {r['build_passages_per_cpu_s']:.1f} | {r['ask_p50_ms']:.1f} | {r['ask_p95_ms']:.1f} | {r['ask_cpu_p50_ms']:.1f} "
                        f"| {r['cold_start_s']:.2f} | {r['cold_start_cpu_s']:.2f} | {r['peak_rss_mb']:.0f} |")
        x = res["ratio_to_peer"]
        rows.append(f"| {name} | ratio | | | **{x['build_passages_per_s']:.2f}×** | {x['build_passages_per_cpu_s']:.2f}× "
                    f"| **{x['ask_p50_ms']:.2f}×** | "
                    f"| {x['ask_cpu_p50_ms']:.2f}× | **{x['cold_start_s']:.2f}×** | {x['cold_start_cpu_s']:.2f}× "
                    f"| {x['peak_rss_mb']:.2f}× |")
    notes = [f"- {name}: ragdiplo ask p50 by path, against the peer's (which only retrieves): "
             f"retrieval only {res['ask_retrieve_p50_ms']:.1f} ms ({res['ratio_to_peer']['ask_retrieve_p50_ms']:.2f}×), "
             f"with the sentence rules {res['ask_rules_p50_ms']:.1f} ms ({res['ratio_to_peer']['ask_rules_p50_ms']:.2f}×), "
             f"with the reader (the default, in the table) {res['ask_p50_ms']:.1f} ms"
             for name, res in results["corpora"].items() if "ask_retrieve_p50_ms" in res]
    return "\n".join(rows + ([""] + notes if notes else []))


def where_it_ran(results: dict) -> str:
    """The machine, its load and the threads and runtimes each system used, for the top of a results table."""
    m = results["machine"]
    env = ", ".join(f"{k}={v}" for k, v in m["thread_env"].items() if v is not None) or "no thread variables set"
    lines = [f"CPU: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable); flags: {' '.join(m['flags']) or 'none'} "
             f"(of {', '.join(FLAGS)}); {env}",
             f"load average (1, 5, 15 min): {results['loadavg_start']} at start, {results['loadavg_end']} at end"
             + (" (a loaded machine: above 1)" if results.get("loaded") else ""),
             f"Python {m['python']}, torch {m['torch']}, onnxruntime {m['onnxruntime']}, openvino {m['openvino']}, "
             f"haystack-ai {m['haystack-ai']}"]
    for name, res in results["corpora"].items():
        r, p = res.get("runtime") or {}, res["peer"].get("runtime") or {}
        lines.append(f"{name} (load average {res.get('loadavg_before')} before, {res.get('loadavg_after')} after): "
                     f"ragdiplo built with {r.get('build')} "
                     f"on {r.get('build_threads')} threads (the CPU rule: {r.get('rule')}; RAGDIPLO_BACKEND "
                     f"{r.get('forced') or 'unset'}), questions {r.get('questions')} on {r.get('question_threads')}, "
                     f"the reader on {r.get('reader_threads')} ONNX Runtime threads, spinning "
                     f"{'on' if r.get('ort_spinning') else 'off'}; the peer {p.get('build')} on "
                     f"{p.get('torch_threads')} torch threads ({p.get('torch_interop_threads')} inter-op)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", required=True, help="where to write the results")
    parser.add_argument("--corpora", default="seeds,squad,scifact", help="comma-separated: " + ",".join(CORPORA))
    parser.add_argument("--quick", action="store_true", help="small samples, one repetition (for development)")
    parser.add_argument("--sample", type=int, default=50, help="questions sampled from SQuAD and SciFact")
    parser.add_argument("--scifact-docs", type=int, default=300, help="SciFact abstracts indexed (0: all 5,183)")
    parser.add_argument("--reps", type=int, default=2, help="timed passes over the questions")
    parser.add_argument("--cold-runs", type=int, default=3, help="cold starts per system (median reported)")
    parser.add_argument("--build-runs", type=int, default=3,
                        help="builds per system and corpus, each in a new process (median reported)")
    parser.add_argument("--workdir", help="where indexes are built (default: a temporary folder, removed)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sample, args.scifact_docs, args.reps, args.cold_runs, args.build_runs = 20, 100, 1, 1, 1
    names = [n.strip() for n in args.corpora.split(",") if n.strip()]
    unknown = [n for n in names if n not in CORPORA]
    if unknown:
        parser.error(f"unknown corpora {unknown}; choose from {', '.join(CORPORA)}")
    with tempfile.TemporaryDirectory(prefix="ragdiplo-bench-", dir=args.workdir) as tmp:
        work = Path(tmp)
        results: dict = {"machine": machine(), "loadavg_start": loadavg(), "settings": {
            k: getattr(args, k) for k in ("sample", "scifact_docs", "reps", "cold_runs", "build_runs", "quick")}, "corpora": {}}
        m = results["machine"]
        print(f"on {m['cpu']} ({' '.join(m['flags'])}), load average {results['loadavg_start']}", file=sys.stderr)
        for name in names:
            before = loadavg()
            corpus, questions = CORPORA[name](work, args)
            questions = questions[: args.sample] if args.quick else questions
            res = {}
            for system in SYSTEMS:
                print(f"{name}: {system} ...", file=sys.stderr, flush=True)
                res[system] = measure(system, corpus, questions, work, args)
            entry = dict(res["ragdiplo"], questions=len(questions), peer=res["peer"])
            entry["ratio_to_peer"] = ratios(res["ragdiplo"], res["peer"])
            entry["loadavg_before"], entry["loadavg_after"] = before, loadavg()
            results["corpora"][name] = entry
        results["loadavg_end"] = loadavg()
        # other work on the machine competes for its cores: results then say so
        results["loaded"] = any(la is not None and la[0] > 1 for la in (results["loadavg_start"], results["loadavg_end"]))
    Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(where_it_ran(results))
    print(table(results))
    print(f"written to {args.json}")


if __name__ == "__main__":
    main()
