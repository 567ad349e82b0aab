"""The interactive loop, driven through StringIO over a tiny real index."""

from __future__ import annotations

import builtins
import hashlib
import io
import json
import re

import numpy as np
import pytest

import ragdiplo.answer.decision as decision
import ragdiplo.answer.rules as rules
import ragdiplo.cli.repl as repl
from ragdiplo.cli.format import BOLD, DIM, HIGHLIGHT, RESET, Style, columns
from ragdiplo.qa import QA
from ragdiplo.types import Citation

TOKEN = re.compile(r"\w+|[^\w\s]")
QUESTION = "What backstop did Starmer ask for?"

DOCS = {
    "starmer.txt": (
        "Keir Starmer flew to Washington on Thursday for talks at the White House. "
        "The prime minister met President Donald Trump in the Oval Office. "
        "Starmer asked Trump for a US security backstop for a European peacekeeping force in Ukraine. "
        "Officials said the talks were warm but that no promise was made."
    ),
    "macron.txt": (
        "Emmanuel Macron visited Washington earlier in the week. "
        "The French president spoke about trade tariffs and European defence spending. "
        "He said Europe must pay more for its own security."
    ),
    "weather.txt": "Heavy rain fell across northern England on Sunday. Rivers rose and several roads were closed.",
}


class Fake:
    """Hashing bag-of-words embedder: deterministic, instant, no model files."""

    model_id = "fake"
    dim = 64
    max_tokens = 128

    def embed(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in TOKEN.findall(text.lower()):
                out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in TOKEN.finditer(text)]


@pytest.fixture(scope="module")
def qa(tmp_path_factory: pytest.TempPathFactory) -> QA:
    corpus = tmp_path_factory.mktemp("corpus")
    for name, text in DOCS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    return QA.build(corpus, None, embedder=Fake())


LONG_NAME = "a-file-name-much-longer-than-forty-columns-of-a-terminal.txt"
NEWS = [  # JSONL rows: control characters from data, long titles and a file name longer than a narrow terminal
    {"id": "vesta\u202etxt.txt", "title": "Harbour \x1b[0mdeal\x07 signed", "source": "Herald\x1b[2m",
     "date": "2025-02-04", "text": "The mayor \x1b[0msigned\x1b[1m a harbour deal \x1b[2mon Tuesday\x1b[1;33m in "
                                   "Port Vesta.\x07 Cranes arrive in May."},
    {"id": LONG_NAME, "title": "Rail strike ends in Kessel after a long dispute over wages", "source": "Kessel Courier",
     "date": "2025-03-01", "text": "Union leaders in Kessel ended the rail strike after wages rose by 5%. "
                                   "Trains run again on Monday, the rail operator said in a statement."},
]  # fmt: skip


class Terminal(io.StringIO):
    """Output that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def news(tmp_path_factory: pytest.TempPathFactory) -> QA:
    path = tmp_path_factory.mktemp("news") / "news.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in NEWS), encoding="utf-8")
    return QA.build(path, None, embedder=Fake())


def drive(qa: object, *lines: str, k: int | None = None, out: io.StringIO | None = None) -> tuple[int, str]:
    out = io.StringIO() if out is None else out
    code = repl.run(qa, k=k, stdin=io.StringIO("".join(line + "\n" for line in lines)), stdout=out)
    return code, out.getvalue()


def _own_codes_removed(text: str) -> str:
    for code in (HIGHLIGHT, BOLD, DIM, RESET):
        text = text.replace(code, "")
    return text


def test_question_prints_answer_confidence_and_citation(qa: QA) -> None:
    code, out = drive(qa, QUESTION)
    assert code == 0
    assert "Answer: " in out and "(no answer" not in out
    assert re.search(r"Confidence: \d\.\d\d", out)
    assert re.search(r"\[1\] starmer\.txt:\d+-\d+\n", out)
    # the sentence is printed once: as the answer, or around the short answer marked inside it
    plain = " ".join(out.replace("«", "").replace("»", "").split())
    assert plain.count("Starmer asked Trump for a US security backstop") == 1
    assert out.count("«") == out.count("»") == (0 if "Answer: Starmer asked" in out else 1)
    assert out.startswith("> ")


def test_show_prints_cited_span_marked_inside_its_source_text(qa: QA) -> None:
    cited = qa.ask(QUESTION).citations[0]
    _, out = drive(qa, QUESTION, ":show 1")
    shown = out.split("> ")[2]  # one chunk of output per prompt: answer, :show, EOF
    assert f"[1] {cited.doc_id}:{cited.start}-{cited.end}" in shown
    assert all(len(line) <= 80 for line in shown.splitlines())  # wrapped at word boundaries
    flat = " ".join(shown.split())
    assert f"»{cited.text}«" in flat
    assert "met President Donald Trump in the Oval Office." in flat  # before the span
    assert "no promise was made." in flat  # after it


def test_show_needs_a_valid_citation_number(qa: QA) -> None:
    _, out = drive(qa, ":show 1", QUESTION, ":show 9", ":show x")
    assert "no answer yet" in out
    assert out.count("usage: :show N, with N from 1 to") == 2


def test_context_trims_at_spaces_and_marks_with_bold() -> None:
    text = "alpha " * 100 + "THE QUOTE." + " omega" * 100
    start = text.index("THE")
    cited = Citation("d", start, start + 10, "THE QUOTE.", 1.0)
    shown = repl.context(text, cited, bold=True, width=20)
    assert shown == "…alpha alpha alpha \x1b[1mTHE QUOTE.\x1b[0m omega omega omega…"


def test_passages_lists_retrieved_with_spans_and_scores(qa: QA) -> None:
    _, out = drive(qa, ":k 2", QUESTION, ":passages")
    listed = re.findall(r"(?:^|> )\[(\d)\] (\S+\.txt):\d+-\d+  score -?\d+\.\d{4}\n    (\S.*)$", out, re.M)
    assert [n for n, _, _ in listed] == ["1", "2"]
    assert listed[0][1] == "starmer.txt"
    assert listed[0][2].startswith("Keir Starmer flew to Washington")  # the passage's start, on its own line


def test_k_validates_and_changes(qa: QA) -> None:
    code, out = drive(qa, ":k 0", ":k two", ":k", ":k 2", ":k", QUESTION)
    assert code == 0
    n = len(qa.index)  # the default, 10, shrinks to fit the tiny index
    assert f"k must be a whole number of at least 1 (got '0'); k stays {n}" in out
    assert "(got 'two')" in out
    assert f"k is {n};" in out and "k is now 2" in out and "k is 2;" in out
    assert "Answer: " in out  # the loop went on


def test_k_beyond_the_index_is_clamped_with_a_note(qa: QA) -> None:
    n = len(qa.index)
    _, out = drive(qa, f":k {n + 5}", ":k", f":k {n}")
    assert f"k is {n + 5}, but the index has only {n} passage(s): using k={n}" in out
    assert f"k is {n}; change it with :k N" in out and f"k is now {n}" in out


def test_k_is_passed_to_ask() -> None:
    seen: list[int] = []

    class Recorder:
        index = range(100)  # its length: the passages k may reach

        def ask(self, question: str, k: int = 10) -> object:
            seen.append(k)
            raise repl.RagdiploError("stop here")

    _, out = drive(Recorder(), "one?", ":k 3", "two?")
    assert seen == [10, 3]
    assert out.count("error: stop here") == 2


def test_question_errors_print_one_line_and_continue(qa: QA) -> None:
    code, out = drive(qa, "?!", "x" * 2001, QUESTION)
    assert code == 0
    assert out.count("error: ") == 2
    assert "no words" in out and "keep it under 2000" in out
    assert "Answer: " in out


def test_empty_lines_are_ignored_and_eof_returns_zero(qa: QA) -> None:
    code, out = drive(qa, "", "   ")
    assert code == 0
    assert out == "> > > \n"


def test_unknown_command_and_help(qa: QA) -> None:
    _, out = drive(qa, ":frobnicate now", ":help")
    assert "unknown command ':frobnicate'; type :help" in out
    for name in (":show N", ":passages", ":k N", ":clear", ":quit"):
        assert name in out


@pytest.mark.parametrize("command", [":quit", ":q", ":exit", ":QUIT"])
def test_quit_commands_stop_reading(qa: QA, command: str) -> None:
    code, out = drive(qa, command, QUESTION)
    assert code == 0 and "Answer:" not in out


def test_ctrl_c_at_the_prompt_drops_the_line_not_the_session(qa: QA) -> None:
    class InterruptedOnce(io.StringIO):
        interrupted = False

        def readline(self, *args: object) -> str:  # type: ignore[override]
            if not self.interrupted:
                self.interrupted = True
                raise KeyboardInterrupt
            return super().readline()

    out = io.StringIO()
    assert repl.run(qa, stdin=InterruptedOnce(QUESTION + "\n"), stdout=out) == 0
    assert out.getvalue().startswith("> \n> Answer: ")


def test_ctrl_c_while_answering_interrupts_the_question_only() -> None:
    class Slow:
        index = range(10)

        def ask(self, question: str, k: int = 10) -> object:
            raise KeyboardInterrupt

    code, out = drive(Slow(), "one?", ":k")
    assert code == 0 and "(interrupted)" in out and "k is 10;" in out


@pytest.mark.parametrize("word", ["help", "HELP", "quit", "exit"])
def test_help_quit_and_exit_work_without_the_colon(qa: QA, word: str) -> None:
    _, out = drive(qa, word, QUESTION)
    if word.lower() == "help":
        assert ":show N" in out and "Answer: " in out
    else:
        assert "Answer:" not in out


def test_history_lives_in_the_state_folder(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert repl.history_path() == tmp_path / "state" / "ragdiplo" / "history"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert repl.history_path() == tmp_path / ".local" / "state" / "ragdiplo" / "history"


def test_terminal_prompt_keeps_history_completes_commands_and_survives_ctrl_c(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    import threading

    from prompt_toolkit.application import create_app_session
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))

    def typed(pipe: object, keys: str, then: str = "") -> None:
        pipe.send_text(keys)  # type: ignore[attr-defined]
        if then:  # completion runs in the background: let it finish before Enter
            threading.Timer(0.3, lambda: pipe.send_text(then)).start()  # type: ignore[attr-defined]

    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        read = repl.terminal_reader(io.StringIO())
        typed(pipe, ":pa\t", "\r")
        assert read() == ":passages"
        typed(pipe, "half a quest\x03")  # Ctrl-C
        with pytest.raises(KeyboardInterrupt):
            read()
        typed(pipe, QUESTION + "\r")
        assert read() == QUESTION
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        read = repl.terminal_reader(io.StringIO())  # a new session finds the old lines
        typed(pipe, "\x1b[A\r")  # Up, Enter
        assert read() == QUESTION
    history = (tmp_path / "ragdiplo" / "history").read_text(encoding="utf-8")
    assert "+:passages" in history and "+" + QUESTION in history and "half a quest" not in history


def test_tab_completes_every_command_name() -> None:
    names = repl.command_names()
    assert {":help", ":show", ":passages", ":k", ":clear", ":quit", "help", "clear", "quit", "exit"} <= set(names)


def test_bad_initial_k_is_refused(qa: QA) -> None:
    code, out = drive(qa, QUESTION, k=0)
    assert code == 2 and "k must be at least 1" in out


def test_repl_never_opens_files(qa: QA, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"the REPL opened a file: {args}")

    monkeypatch.setattr(builtins, "open", refuse)
    monkeypatch.setattr(io, "open", refuse)
    _, out = drive(qa, QUESTION, ":show 1", ":passages")
    assert "»" in out


@pytest.mark.parametrize("line", ["clear", ":clear", "CLEAR"])
def test_clear_clears_a_terminal_and_is_never_asked(qa: QA, monkeypatch: pytest.MonkeyPatch, line: str) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    _, out = drive(qa, line, out=Terminal())
    assert out == "> " + repl.CLEAR_SCREEN + "> \n"
    _, piped = drive(qa, line)  # not a terminal: nothing is printed, and nothing is asked
    assert piped == "> > \n"
    monkeypatch.setenv("TERM", "dumb")  # a terminal that cannot clear
    assert drive(qa, line, out=Terminal())[1] == "> > \n"


@pytest.mark.parametrize("color", [False, True], ids=["plain", "colour"])
def test_control_characters_from_documents_are_shown_escaped(
    news: QA, monkeypatch: pytest.MonkeyPatch, color: bool
) -> None:
    monkeypatch.setattr(repl, "style_for", lambda out: Style(color=color, width=80))
    _, out = drive(news, "Who signed the harbour deal on Tuesday?", ":show 1", ":passages")
    assert out.count("(vesta\\u202etxt.txt:0-") == 2 and "[2] vesta\\u202etxt.txt:0-" in out  # answer, :show, :passages
    monkeypatch.setattr(rules, "probability", lambda features, calibration: 0.0)
    monkeypatch.setattr(decision, "calibrated", lambda features, calibration: 0.0)
    _, withheld = drive(news, "Who signed the harbour deal on Tuesday?")
    assert "Closest passages" in withheld
    for shown in (out, withheld):
        rest = _own_codes_removed(shown)
        assert "\x1b" not in rest and "\x07" not in rest and "\u202e" not in rest  # never raw: only escaped
        assert "\\x1b[0msigned\\x1b[1m" in rest and "\\x07" in rest and "Herald\\x1b[2m" in rest
        assert "Harbour \\x1b[0mdeal\\x07 signed" in rest  # the title too
        assert (DIM in shown) is color  # ragdiplo's own colour codes still work
    assert (BOLD in out) is color


def test_output_wraps_between_words_at_width_40(news: QA, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = ("When do trains run again in Kessel?", ":show 1", ":passages", "Who signed the harbour deal?", ":show 1",
             ":help", ":k 99")  # fmt: skip
    outputs = {}
    for width in (40, 10_000):
        monkeypatch.setattr(repl, "style_for", lambda out, width=width: Style(color=False, width=width))
        outputs[width] = drive(news, *lines)[1]
    narrow, wide = outputs[40], outputs[10_000]
    assert narrow.split() == wide.split()  # only line breaks moved: no word was cut
    words = set(wide.split())
    for line in narrow.splitlines():
        line = re.sub(r"^(> )+", "", line)  # the piped prompt
        assert all(word in words for word in line.split()), line
        assert columns(line) <= 40 or len(line.split()) == 1, line  # only a word longer than a line stands alone
    assert f"\n    ({LONG_NAME}:" in narrow  # a citation's file name: whole, on its own line
    assert re.search(rf"(?:^|> )\[\d\]\n    {re.escape(LONG_NAME)}:0-\d+\s+score", narrow, re.M)  # and in :passages
