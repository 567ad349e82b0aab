"""Interactive question loop behind ``ragdiplo repl``.

Each line is a question or a ``:command``. The loop remembers the last answer
so ``:show`` and ``:passages`` can explain where it came from. Source text is
read only from the index (``qa.index.document(id).text``), never from files,
so what ``:show`` prints is exactly the text that was indexed and cited. All
of it is laid out by format.py: escaped, wrapped between words to the width.

On a terminal the line is read by prompt_toolkit: line editing, Ctrl-C clears
the line instead of leaving, history kept across sessions in the user's state
folder, Tab completes commands. It is a well-kept library that does this the
same on every platform, where readline differs (libedit on macOS, none on
Windows) and keeps history only by hand. Piped input is read line by line.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ragdiplo.cli.format import (
    INDENT,
    Style,
    citation_header,
    clean,
    fill,
    format_answer,
    format_passages,
    marked,
    style_for,
    wrap_marked,
)
from ragdiplo.cli.terminal import safe_output
from ragdiplo.errors import RagdiploError
from ragdiplo.qa import clamp_k
from ragdiplo.types import Answer, Citation, Where

CONTEXT_CHARS = 300
PLAIN_PROMPT = "> "
TTY_PROMPT = "ragdiplo> "
BOLD, RESET = "\x1b[1m", "\x1b[0m"
SHOW_MARKS = ("»", "«")  # around the cited span in :show when there is no colour
QUIT = ("quit", "q", "exit")
BARE = ("help", "clear", "quit", "exit")  # commands that also work without the colon
CLEAR_SCREEN = "\x1b[H\x1b[2J"  # cursor home, erase the screen: what `clear` prints
HELP_COLUMN = 21  # where a command's description starts in HELP
HISTORY_FILE = "history"
GREETING = "Ask a question, or type help. Ctrl-C clears the line, Ctrl-D or quit leaves."
HELP = """\
Type a question, or one of these commands:
  :help              this list (also: help)
  :show N            citation N of the last answer in its surrounding source text
  :passages          the passages retrieved for the last answer, with their scores
  :k N               retrieve N passages per question (now {k})
  :clear             clear the screen (also: clear)
  :quit, :q, :exit   leave (also: quit, exit, Ctrl-D)
Ctrl-C clears the line, or stops a question being answered. Tab completes commands."""


@dataclass
class Session:
    """State a command may need; kept in one place so commands stay small functions."""

    qa: Any
    k: int
    out: TextIO
    bold: bool = False
    last: Answer | None = None
    style: Style = field(default_factory=Style)
    where: Where | None = None  # --since/--until/--source/--tag: every question keeps to it
    terminal: bool = False  # the output is a terminal that can be cleared

    def say(self, text: str) -> None:
        """Print text laid out by format.py (data in it already escaped); any other
        unsafe character is escaped here, ragdiplo's own colour codes kept."""
        self.out.write(safe_output(text) + "\n")

    def tell(self, text: str) -> None:
        """Print one message (it may name a document or echo the user), escaped and wrapped."""
        self.say(fill(clean(text), self.style.width, "", INDENT))


def _isatty(stream: Any) -> bool:
    """True for a terminal; StringIO and closed or odd streams count as not one."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def positive_int(text: str) -> int | None:
    """``text`` as an integer ≥ 1, or None, so callers can answer with a friendly line."""
    try:
        n = int(text)
    except ValueError:
        return None
    return n if n >= 1 else None


def context_parts(text: str, citation: Citation, width: int = CONTEXT_CHARS) -> tuple[str, str, str]:
    """The text before the cited span, the span, and the text after it: about
    ``width`` characters either side, cut at white space so the edges show no
    half words, "…" where the document goes on."""
    lo, hi = max(0, citation.start - width), min(len(text), citation.end + width)
    before, after = text[lo : citation.start], text[citation.end : hi]
    if lo > 0:
        first = re.search(r"\s", before)
        before = "…" + (before[first.end() :] if first else before)
    if hi < len(text):
        last = max((m.start() for m in re.finditer(r"\s", after)), default=-1)
        after = (after[:last] if last >= 0 else after) + "…"
    return before, text[citation.start : citation.end], after


def context(
    text: str, citation: Citation, *, bold: bool = False, width: int = CONTEXT_CHARS, marks: tuple[str, str] | None = None
) -> str:
    """The cited span in :func:`context_parts`, marked so the eye finds it (``marks``, else bold or » «)."""
    before, span, after = context_parts(text, citation, width)
    opening, closing = marks or ((BOLD, RESET) if bold else SHOW_MARKS)
    return before + opening + span + closing + after


def cmd_help(s: Session, arg: str) -> None:
    """The commands, each description wrapped in its own column."""
    for line in HELP.format(k=s.k).splitlines():
        rest = " " * HELP_COLUMN if line.startswith("  :") else "  "
        text = line.lstrip(" ")
        s.say(fill(text, s.style.width, line[: len(line) - len(text)], rest))


def cmd_show(s: Session, arg: str) -> None:
    """Print one citation in its document, so the user can judge the quote in context."""
    if s.last is None:
        return s.tell("no answer yet: ask a question first")
    cites = s.last.citations
    if not cites:
        return s.tell("the last answer has no citations to show")
    n = positive_int(arg)
    if n is None or n > len(cites):
        return s.tell(f"usage: :show N, with N from 1 to {len(cites)}")
    c = cites[n - 1]
    document = s.qa.index.document(c.doc_id)
    s.say(citation_header(n, c, lambda _: document.title, s.style))
    s.say(wrap_marked(marked(*context_parts(document.text, c)), s.style, SHOW_MARKS))


def cmd_passages(s: Session, arg: str) -> None:
    """List what retrieval returned, to see why an answer was (not) found."""
    if s.last is None:
        return s.tell("no answer yet: ask a question first")
    if not s.last.retrieved:
        return s.tell("no passages were retrieved")
    s.say(format_passages(s.last.retrieved, s.style))


def cmd_clear(s: Session, arg: str) -> None:
    """Clear the screen on a terminal; elsewhere (piped, a file, TERM=dumb) print nothing."""
    if s.terminal:
        s.out.write(CLEAR_SCREEN)
        s.out.flush()


def cmd_k(s: Session, arg: str) -> None:
    """Change how many passages are retrieved; a bad value keeps the old one."""
    if not arg:
        return s.tell(f"k is {s.k}; change it with :k N")
    n = positive_int(arg)
    if n is None:
        return s.tell(f"k must be a whole number of at least 1 (got {arg!r}); k stays {s.k}")
    s.k, note = clamp_k(n, len(s.qa.index))
    s.tell(note or f"k is now {n}")


COMMANDS: dict[str, Callable[[Session, str], None]] = {
    "help": cmd_help,
    "show": cmd_show,
    "passages": cmd_passages,
    "k": cmd_k,
    "clear": cmd_clear,
}


def ask(s: Session, question: str) -> None:
    """Answer one question; a user error or Ctrl-C here costs the question, not the session."""
    try:
        s.last = s.qa.ask(question, k=s.k, **({"where": s.where} if s.where else {}))
    except RagdiploError as err:
        return s.tell(f"error: {err.cli_message or err}")
    except KeyboardInterrupt:
        return s.tell("(interrupted)")
    s.say(format_answer(s.last, title=lambda doc_id: s.qa.index.document(doc_id).title,
                        threshold=s.qa.config.calibration.threshold, style=s.style))


def handle(s: Session, line: str) -> bool:
    """Run one input line; False means the user asked to leave."""
    line = line.strip()
    if not line:
        return True
    if line.lower() in BARE:
        line = ":" + line
    if not line.startswith(":"):
        ask(s, line)
        return True
    name, _, arg = line[1:].replace("\t", " ").partition(" ")
    if name.lower() in QUIT:
        return False
    command = COMMANDS.get(name.lower())
    if command is None:
        s.tell(f"unknown command {line.split()[0]!r}; type :help for the list")
    else:
        command(s, arg.strip())
    return True


def history_path() -> Path:
    """Where the REPL keeps its history: ``$XDG_STATE_HOME/ragdiplo/history``,
    by default ``~/.local/state/ragdiplo/history``."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "ragdiplo" / HISTORY_FILE


def command_names() -> list[str]:
    """Everything Tab may complete at the start of a line."""
    return sorted({*(":" + n for n in (*COMMANDS, *QUIT)), *BARE})


def terminal_reader(out: TextIO) -> Callable[[], str]:
    """A prompt_toolkit prompt with history in :func:`history_path` (in memory
    when that folder cannot be written) and completion of command names."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import Completer, Completion
    from prompt_toolkit.history import FileHistory, History, InMemoryHistory

    names = command_names()

    class Commands(Completer):
        """Command names, for the first word of a line only: questions are free text."""

        def get_completions(self, document: Any, complete_event: Any) -> Any:
            word = document.text_before_cursor
            if " " in word:
                return
            for name in names:
                if name.startswith(word.lower()):
                    yield Completion(name, start_position=-len(word))

    history: History
    try:
        path = history_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
        history = FileHistory(str(path))
    except OSError as err:
        out.write(f"(history is not kept: {err})\n")
        history = InMemoryHistory()
    session: PromptSession[str] = PromptSession(history=history, completer=Commands(), complete_while_typing=False)
    return lambda: session.prompt(TTY_PROMPT)


def read_line(inp: TextIO, out: TextIO) -> str:
    """One line of piped input, after a plain prompt; raises EOFError at the end."""
    out.write(PLAIN_PROMPT)
    out.flush()
    line = inp.readline()
    if not line:
        raise EOFError
    return line.rstrip("\r\n")


def run(
    qa: Any,
    k: int | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    where: Where | None = None,
) -> int:
    """Ask questions until :quit or Ctrl-D; returns the exit status. ``k``: passages
    per question (default 10, or fewer on a small index); ``where``: the documents
    every question keeps to."""
    inp = sys.stdin if stdin is None else stdin
    out = sys.stdout if stdout is None else stdout
    style = style_for(out)
    clearable = _isatty(out) and os.environ.get("TERM") != "dumb"
    session = Session(qa, 0, out, bold=style.color, style=style, where=where, terminal=clearable)
    try:
        session.k, note = clamp_k(k, len(qa.index))
    except (RagdiploError, TypeError) as err:
        session.tell(f"error: {err}")
        return 2
    if note:
        session.tell(note)
    interactive = inp is sys.stdin and out is sys.stdout and _isatty(inp) and _isatty(out)
    read = terminal_reader(out) if interactive else lambda: read_line(inp, out)
    if interactive:
        session.tell(GREETING)
    while True:
        try:
            line = read()
        except KeyboardInterrupt:  # Ctrl-C drops the line being typed, not the session
            if not interactive:
                out.write("\n")
            continue
        except EOFError:
            out.write("\n")
            out.flush()
            return 0
        if not handle(session, line):
            return 0
