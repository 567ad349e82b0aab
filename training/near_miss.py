"""Near-miss "no answer" examples made from answerable ones.

A near-miss question looks answered by its context but is not: its words and
names are there, the fact it asks for is not. Three kinds are made from an
answerable qa-train example, each checked against the context:

* ``role_swap``: two names of the question that both occur in the context
  change places ("Britain's ambassador to the US" -> "the US ambassador to
  Britain"); names joined by "and", "or" or a comma are left alone (swapping
  them changes nothing).
* ``wrong_entity``: one name, year or number of the question that occurs in
  the context is replaced by one of the same kind taken from a question on
  another article, and the replacement occurs nowhere in the context.
* ``missing_attribute``: the question asks for the year, or a count, of what
  the context describes, and the context holds no year (for "In what year")
  or no number at all (for "How many times").

Each keeps the original answer's character offsets as ``anchor_start`` /
``anchor_end`` so that its training window is placed where the original
answer was: the window looks like it answers, and the label is "no answer".

    python training/near_miss.py --out training/runs/near_miss.jsonl --sample 100

writes the examples and prints a random sample to read by hand.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from windows import is_validation, load_examples

# Wikipedia-like sources: their questions name things; the informal sources'
# questions mostly do not, and their near-misses read badly.
SOURCES = frozenset({"squad2_train_phongntdo", "squad11_train_jupiter", "squadshifts_new_wiki", "qed_nq_dev"})

QUESTION_WORDS = frozenset(
    ["What", "Who", "Whom", "Whose", "Which", "When", "Where", "Why", "How", "In", "On", "At", "By", "For", "From", "To", "Of", "During", "After", "Before", "The", "A", "An", "Is", "Are", "Was", "Were", "Do", "Does", "Did", "Has", "Have", "Had", "Can", "Could", "Will", "Would", "Name"]
)
_NAME = re.compile(r"\b[A-Z][\w'’.-]*(?:\s+(?:of|the|de|von|van|la|le|du)?\s*[A-Z][\w'’.-]*)*")
_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})\b")
_NUMBER = re.compile(r"(?<![\w.,])\d{1,3}(?:,\d{3})*(?:\.\d+)?(?![\w.,]*\d)(?!\w)")
_JOINED = re.compile(r"^\s*(?:,|and|or|&|/|-|–|and the|or the)\s*$", re.IGNORECASE)
_AUX = re.compile(r"^(?:What|Who|Where|Why|How|Which)\s+(did|does|do|was|were|is|are|has|have|had)\s+(.+)$")
_NUMBER_WORDS = re.compile(
    r"\b(?:once|twice|thrice|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozen|hundred|"
    r"thousand|million|billion|several|many|few|first|second|third|single|double|triple)\b",
    re.IGNORECASE,
)


def names(question: str) -> list[tuple[int, int, str]]:
    """Capitalised name spans of a question (its first word only when it is
    not a question word), as (start, end, text)."""
    out = []
    for m in _NAME.finditer(question):
        text, start = m.group(0), m.start()
        first = text.split()[0]
        if start == 0:  # sentence case: the first word is capitalised anyway
            rest = text[len(first):].lstrip()
            if not rest or not rest[0].isupper():
                continue
            start = start + len(text) - len(rest)
            text = rest
        text = text.rstrip(".'’-")
        if len(text) >= 2 and text not in QUESTION_WORDS:
            out.append((start, start + len(text), text))
    return out


def _in(needle: str, context: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(needle) + r"(?!\w)", context, re.IGNORECASE) is not None


def role_swap(ex: dict[str, Any]) -> str | None:
    q, ctx = ex["question"], ex["context"]
    found = [n for n in names(q) if _in(n[2], ctx)]
    for i in range(len(found)):
        for j in range(i + 1, len(found)):
            (a0, a1, a), (b0, b1, b) = found[i], found[j]
            if a.lower() == b.lower() or a.lower() in b.lower() or b.lower() in a.lower():
                continue
            if _JOINED.match(q[a1:b0]) or len(q[a1:b0].split()) < 2:
                continue
            # like for like: as many words, no possessives or numbers (a read
            # sample showed swaps of unlike names garble rather than mislead)
            if len(a.split()) != len(b.split()) or any(re.search(r"['’]s$|\d", t) for t in (a, b)):
                continue
            return q[:a0] + b + q[a1:b0] + a + q[b1:]
    return None


def wrong_entity(ex: dict[str, Any], pools: dict[str, list[str]], rng: random.Random) -> tuple[str, str] | None:
    """(question, kind) with one name, year or number replaced."""
    q, ctx = ex["question"], ex["context"]
    options: list[tuple[int, int, str, str]] = []
    for m in _YEAR.finditer(q):
        if _in(m.group(0), ctx):
            options.append((m.start(), m.end(), m.group(0), "year"))
    for m in _NUMBER.finditer(q):
        if not _YEAR.fullmatch(m.group(0)) and _in(m.group(0), ctx):
            options.append((m.start(), m.end(), m.group(0), "number"))
    for s, e, text in names(q):
        if _in(text, ctx):
            options.append((s, e, text, f"name{min(3, len(text.split()))}"))
    if not options:
        return None
    s, e, old, kind = rng.choice(options)
    for _ in range(20):
        if kind == "year":
            new = str(int(old) + rng.choice([-1, 1]) * rng.randint(2, 40))
        elif kind == "number":
            digits = old.replace(",", "")
            value = float(digits) * rng.choice([0.3, 0.5, 2, 3, 4, 7]) if "." in digits else int(digits) * rng.choice([2, 3, 4, 7]) + rng.randint(1, 9)
            new = f"{value:g}" if "." in digits else f"{int(value):,}" if "," in old else str(int(value))
        else:
            new = rng.choice(pools[kind])
        if new.lower() != old.lower() and not _in(new, ctx) and not any(_in(w, ctx) for w in new.split() if len(w) > 3 and w[0].isupper()):
            return q[:s] + new + q[e:], "wrong_" + ("name" if kind.startswith("name") else kind)
    return None


def missing_attribute(ex: dict[str, Any], rng: random.Random) -> str | None:
    q, ctx = ex["question"].strip(), ex["context"]
    m = _AUX.match(q)
    if m is None:
        return None
    aux, rest = m.group(1), m.group(2)
    if not re.search(r"\d", ctx) and not _NUMBER_WORDS.search(ctx) and aux in {"did", "does", "do", "has", "have", "had"}:
        return f"How many times {aux} {rest}"
    if not _YEAR.search(ctx) and not re.search(r"\b(?:century|decade|'\d\d|\d0s)\b", ctx):
        return f"In what year {aux} {rest}"
    return None


def make(examples: list[dict[str, Any]], seed: int = 7) -> list[dict[str, Any]]:
    """At most one near-miss example for each answerable Wikipedia-like one."""
    rng = random.Random(seed)
    by_title: dict[str, set[str]] = defaultdict(set)
    for ex in examples:
        if ex["source"] in SOURCES:
            for _, _, text in names(ex["question"]):
                by_title[ex["title"]].add(text)
    pools: dict[str, list[str]] = defaultdict(list)
    for title in sorted(by_title):
        for text in sorted(by_title[title]):
            pools[f"name{min(3, len(text.split()))}"].append(text)
    out = []
    for ex in examples:
        if ex["source"] not in SOURCES or ex["is_impossible"] or not ex["answers"]:
            continue
        answer = ex["answers"][0]
        made: tuple[str, str] | None = None
        swapped = role_swap(ex)
        if swapped is not None and rng.random() < 0.7:
            made = (swapped, "role_swap")
        if made is None:
            attribute = missing_attribute(ex, rng)
            if attribute is not None and rng.random() < 0.5:
                made = (attribute, "missing_attribute")
        if made is None:
            made = wrong_entity(ex, pools, rng)
        if made is None:
            continue
        question, kind = made
        out.append({
            "id": ex["id"] + "-nm", "source": ex["source"], "title": ex["title"], "context": ex["context"],
            "question": question, "answers": [], "is_impossible": True, "near_miss": kind,
            "original_question": ex["question"], "anchor_start": answer["answer_start"],
            "anchor_end": answer["answer_start"] + len(answer["text"]),
        })
    return out


def is_held_out(title: str) -> bool:
    """Near-miss examples of these titles are never trained on: the reader's
    validation titles and a further band of titles (their answerable
    examples are still trained on, so this measures unseen near-miss
    questions over text the reader has read, the harder case)."""
    import hashlib

    return is_validation(title) or int(hashlib.sha256(title.encode("utf-8")).hexdigest(), 16) % 100 < 12


def main(argv: list[str] | None = None) -> int:
    from train_reader import DEFAULT_DATA

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--out", type=Path, default=Path("training/runs/near_miss.jsonl"))
    p.add_argument("--sample", type=int, default=0, help="print this many random examples to read")
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    made = make(load_examples(args.data), args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        for ex in made:
            f.write(json.dumps(ex, ensure_ascii=False) + "\n")
    kinds: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for ex in made:
        kinds[ex["near_miss"]][is_held_out(ex["title"])] += 1
    print(json.dumps({"examples": len(made), "by_kind_train_validation": kinds}))
    rng = random.Random(args.seed + 1)
    for ex in rng.sample(made, min(args.sample, len(made))):
        s, e = ex["anchor_start"], ex["anchor_end"]
        lo = ex["context"].rfind(".", 0, s) + 1
        hi = ex["context"].find(".", e)
        print(f"\n[{ex['near_miss']}] {ex['original_question']}\n  -> {ex['question']}\n"
              f"  context: …{ex['context'][lo:hi + 1 if hi >= 0 else None].strip()}…")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
