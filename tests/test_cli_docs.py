"""docs/cli.md against the code: its synopsis names every option the parser
defines for each command (and no other), and its ``ask --json`` schema names
every key the command prints (and no other), for an answer, a withheld answer
and an answer whose documents disagree."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest
from conftest import FakeEmbedder

import ragdiplo.answer.decision as decision
import ragdiplo.answer.rules as rules
import ragdiplo.cli.main as cli

PAGE = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")
NEWS = [  # two dated reports that disagree (as in test_conflicts.py), and one other story
    {"id": "old", "date": "2025-01-10", "source": "Herald", "title": "Harbour chief named",
     "text": "Port Vesta harbour authority is led by Anna Berg, the council said in January."},
    {"id": "new", "date": "2025-06-20", "source": "Gazette",
     "text": "Port Vesta harbour authority is led by Karl Moss, the council said in June."},
    {"id": "other", "date": "2025-03-01", "source": "Herald",
     "text": "Rail workers in Kessel ended their strike after wages rose by 5%."},
]  # fmt: skip
QUESTION = "Who leads the Port Vesta harbour authority?"


def _text_blocks() -> list[str]:
    return re.findall(r"^```text\n(.*?)^```", PAGE.read_text(encoding="utf-8"), re.M | re.S)


def documented_synopsis() -> dict[str, str]:
    """The synopsis lines of each command ("" for ``ragdiplo`` itself), continuation lines joined."""
    synopsis: dict[str, str] = {}
    command = None
    for line in _text_blocks()[0].splitlines():
        if line.startswith("ragdiplo "):
            word = line.split()[1]
            command = "" if word.startswith("-") else word
            synopsis[command] = synopsis.get(command, "") + " " + line
        elif line.startswith(" ") and command is not None:
            synopsis[command] += " " + line
    return synopsis


def parsers() -> dict[str, argparse.ArgumentParser]:
    """The parser of each command ("" for ``ragdiplo`` itself)."""
    top = cli.parser()
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    return {"": top, **sub.choices}


def _options(p: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in p._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]


def documented_json() -> tuple[dict[str, str], dict[str, set[str]]]:
    """The schema's top-level keys with their descriptions, and each named object's keys."""
    block = next(b for b in _text_blocks() if b.startswith("{\n") and '"question"' in b)
    top, _, named = block.partition("\n}\n")
    keys: dict[str, str] = {}
    for line in top.splitlines()[1:]:
        match = re.match(r'\s*"(\w+)":\s*(.*)$', line)
        if match:
            keys[match.group(1)] = match.group(2)
        elif keys:  # a description going on
            keys[list(keys)[-1]] += " " + line.strip()
    objects = {name: set(re.findall(r'"(\w+)"', body)) for name, body in re.findall(r"^(\w+):\s*(\{.*\})$", named, re.M)}
    return keys, objects


def test_the_synopsis_names_every_command_and_option_of_the_parser():
    synopsis, actual = documented_synopsis(), parsers()
    assert set(synopsis) == set(actual), "commands in docs/cli.md's synopsis and in the parser differ"
    for command, p in actual.items():
        shown = set(OPTION.findall(synopsis[command]))
        defined = {s for a in _options(p) for s in a.option_strings}
        missing = [a.option_strings for a in _options(p) if not shown & set(a.option_strings)]
        assert not missing, f"ragdiplo {command}: options missing from docs/cli.md's synopsis: {missing}"
        assert shown <= defined, f"ragdiplo {command}: docs/cli.md names options it does not take: {shown - defined}"
        for a in _options(p):
            if a.choices:
                assert f"{a.option_strings[-1]} {'|'.join(a.choices)}" in synopsis[command], a.option_strings
        for a in p._actions:
            if not a.option_strings and not isinstance(a, argparse._SubParsersAction):
                assert a.dest.upper() in synopsis[command], f"ragdiplo {command}: positional {a.dest} not shown"


@pytest.fixture
def news_index(tmp_path, monkeypatch, capsys) -> str:
    monkeypatch.setattr(cli, "_embedder", lambda args, model_id=None: FakeEmbedder())
    corpus = tmp_path / "news.jsonl"
    corpus.write_text("".join(json.dumps(row) + "\n" for row in NEWS), encoding="utf-8")
    assert cli.main(["index", str(corpus), "--index", str(tmp_path / "i"), "-q"]) == 0
    capsys.readouterr()
    return str(tmp_path / "i")


def _ask_json(index: str, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert cli.main(["ask", QUESTION, "--index", index, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _check_against_schema(out: dict[str, object], keys: dict[str, str], objects: dict[str, set[str]]) -> None:
    for key, value in out.items():
        assert key in keys, f"ask --json prints {key!r}, which docs/cli.md does not document"
        kind = re.match(r"\[(\w+)\]", keys[key])
        if kind:
            assert isinstance(value, list)
            for item in value:
                assert set(item) == objects[kind.group(1)], f"{key}: printed {sorted(item)}, documented {kind.group(1)}"


def test_the_json_schema_names_every_key_ask_prints(news_index, capsys, monkeypatch):
    keys, objects = documented_json()
    answered = _ask_json(news_index, capsys)
    assert answered["answer"] is not None and answered["citations"] and answered["conflicts"]  # every list filled
    monkeypatch.setattr(rules, "probability", lambda features, calibration: 0.0)
    monkeypatch.setattr(decision, "calibrated", lambda features, calibration: 0.0)
    withheld = _ask_json(news_index, capsys)
    assert withheld["answer"] is None and withheld["closest"]
    for out in (answered, withheld):
        _check_against_schema(out, keys, objects)
    assert set(answered) | set(withheld) == set(keys), "docs/cli.md documents keys ask --json never prints"
    only_withheld = set(withheld) - set(answered)
    assert only_withheld == {k for k, about in keys.items() if "only when" in about} == {"withheld"}
    assert answered["closest"] == [] and withheld["citations"] == []
