"""Near-miss training examples (training/near_miss.py): each keeps the exact
offsets of the answer it was made from, carries no answer, and is really
changed in the way its kind says."""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
import near_miss
import windows

CONTEXT = ("Peter Mandelson, Britain's ambassador to the United States, met Keir Starmer in Washington in 2025. "
           "The talks covered trade, and officials said 400 people attended the dinner.")


def _example(question: str, answer: str, title: str = "Talks", context: str = CONTEXT) -> dict:
    start = context.index(answer)
    return {"id": f"q-{abs(hash(question))}", "source": "squadshifts_new_wiki", "title": title, "context": context,
            "question": question, "answers": [{"text": answer, "answer_start": start}], "is_impossible": False}


OTHERS = [_example("Where did Emmanuel Macron meet Olaf Scholz in Berlin?", "Berlin", "Elsewhere",
                   "Emmanuel Macron met Olaf Scholz in Berlin."),
          _example("Who did Giorgia Meloni greet?", "Ursula", "Third", "Giorgia Meloni greeted Ursula in Rome.")]


def _made(question: str, answer: str) -> list[dict]:
    return [m for m in near_miss.make([_example(question, answer), *OTHERS], seed=3) if m["title"] == "Talks"]


def _check(made: dict, original: dict) -> None:
    ctx, a = made["context"], original["answers"][0]
    assert made["answers"] == [] and made["is_impossible"] is True
    assert ctx[made["anchor_start"] : made["anchor_end"]] == a["text"]
    assert (made["anchor_start"], made["anchor_end"]) == (a["answer_start"], a["answer_start"] + len(a["text"]))
    assert made["question"] != original["question"]


def test_a_role_swap_exchanges_two_names_of_the_context():
    q = "Where did Peter Mandelson first meet Keir Starmer?"
    assert near_miss.role_swap(_example(q, "Washington")) == "Where did Keir Starmer first meet Peter Mandelson?"
    swaps = [m for seed in range(20) for m in near_miss.make([_example(q, "Washington"), *OTHERS], seed=seed)
             if m["near_miss"] == "role_swap"]
    assert swaps, "made examples include role swaps"
    for made in swaps:
        assert made["question"] == "Where did Keir Starmer first meet Peter Mandelson?"
        _check(made, _example(q, "Washington"))


def test_names_joined_by_and_are_not_swapped():
    assert near_miss.role_swap(_example("When did Peter Mandelson and Keir Starmer meet?", "2025")) is None


def test_a_wrong_year_is_one_the_context_never_mentions():
    ex = _example("Who met Keir Starmer in 2025?", "Peter Mandelson")
    pools = {"name1": ["Zed"], "name2": ["Zed Zee"], "name3": ["A B C"]}
    made = [near_miss.wrong_entity(ex, pools, random.Random(seed)) for seed in range(30)]
    years = [q for q, kind in filter(None, made) if kind == "wrong_year"]
    assert years, "some draws replace the year"
    for q in years:
        year = re.search(r"\d{4}", q)
        assert year is not None and year.group(0) != "2025" and year.group(0) not in CONTEXT
        assert q.replace(year.group(0), "2025") == ex["question"]


def test_a_wrong_name_comes_from_another_article_and_is_not_in_the_context():
    q = "Who did Keir Starmer meet in Washington?"
    for made in _made(q, "Peter Mandelson"):
        if made["near_miss"] == "wrong_name":
            replaced = set(re.findall(r"[A-Z]\w+", made["question"])) - set(re.findall(r"[A-Z]\w+", q))
            assert replaced and all(w not in CONTEXT for w in replaced)
        _check(made, _example(q, "Peter Mandelson"))


def test_a_missing_attribute_asks_for_a_year_the_context_lacks():
    context = "The committee approved the bridge after a long debate about its cost."
    ex = _example("What did the committee approve?", "the bridge", context=context)
    assert near_miss.missing_attribute(ex, random.Random(0)) in {
        "How many times did the committee approve?", "In what year did the committee approve?"}
    assert near_miss.missing_attribute(_example("What did Keir Starmer do?", "met"), random.Random(0)) is None


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000))
def test_every_made_example_keeps_exact_offsets_and_no_answer(seed):
    questions = [("Where did Peter Mandelson first meet Keir Starmer?", "Washington"),
                 ("Who met Keir Starmer in Washington in 2025?", "Peter Mandelson"),
                 ("How many people attended the dinner?", "400"),
                 ("What did the talks cover?", "trade")]
    examples = [_example(q, a) for q, a in questions] + OTHERS
    for made in near_miss.make(examples, seed=seed):
        original = next(e for e in examples if e["id"] + "-nm" == made["id"])
        _check(made, original)


class _Tok:
    """Whitespace tokenizer with offsets, enough for the windower."""

    cls_token_id, sep_token_id = 1, 2

    def __call__(self, text, add_special_tokens=False, return_offsets_mapping=False):
        spans = [m.span() for m in re.finditer(r"\S+", text)]
        out = {"input_ids": [10 + i for i in range(len(spans))]}
        if return_offsets_mapping:
            out["offset_mapping"] = spans
        return out


def test_a_near_miss_window_holds_the_original_answer_and_is_labelled_no_answer():
    made = _made("Where did Peter Mandelson first meet Keir Starmer?", "Washington")[0]
    w = windows.Windower(_Tok(), max_len=24)
    (window,) = windows.windows_for(made, w, random.Random(1), None)
    assert (window.start, window.end) == (0, 0)
    ctx_ids, offsets = w.context(made["context"])
    anchor = windows.answer_tokens(offsets, made["anchor_start"], made["anchor_end"])
    assert anchor is not None and ctx_ids[anchor[0]] in window.input_ids
