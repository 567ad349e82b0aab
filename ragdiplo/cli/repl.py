"""Interactive question loop behind ``ragdiplo repl``.

Each line is a question or a ``:command``. The loop remembers the last answer
so ``:show`` and ``:passages`` can explain where it came from. Source text is
read only from the index (``qa.index.document(id).text``), never from files,
so what ``:show`` prints is exactly the text that was indexed and cited.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from ragdiplo.cli.format import Style, format_answer, style_for
from ragdiplo.errors import RagdiploError
from ragdiplo.qa import clamp_k
from ragdiplo.types import Answer, Citation

CONTEXT_CHARS = 300
PLAIN_PROMPT = "> "
TTY_PROMPT = "ragdiplo> "
BOLD, RESET = "\x1b[1m", "\x1b[0m"
QUIT = ("quit", "q", "exit")
HELP = """\
Type a question, or one of these commands:
  :help              this list
  :show N            citation N of the last answer in its surrounding source text
  :passages          the passages retrieved for the last answer, with their scores
  :k N               retrieve N passages per question (now {k})
  :quit, :q, :exit   leave (Ctrl-D and Ctrl-C at the prompt also leave)"""


@dataclass
class Session:
    """State a command may need; kept in one place so commands stay small functions."""

    qa: Any
    k: int
    out: TextIO
    bold: bool = False
    last: Answer | None = None
    style: Style = field(default_factory=Style)

    def say(self, text: str) -> None:
        self.out.write(text + "\n")


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


def context(text: str, citation: Citation, *, bold: bool = False, width: int = CONTEXT_CHARS) -> str:
    """The cited span with about ``width`` characters either side, marked so the eye
    finds it; cut at spaces so the edges don't show half words."""
    lo, hi = max(0, citation.start - width), min(len(text), citation.end + width)
    before, after = text[lo : citation.start], text[citation.end : hi]
    if lo > 0:
        cut = before.find(" ")
        before = "…" + (before[cut + 1 :] if cut >= 0 else before)
    if hi < len(text):
        cut = after.rfind(" ")
        after = (after[:cut] if cut >= 0 else after) + "…"
    span = text[citation.start : citation.end]
    marked = f"{BOLD}{span}{RESET}" if bold else f"»{span}«"
    return before + marked + after


def cmd_help(s: Session, arg: str) -> None:
    s.say(HELP.format(k=s.k))


def cmd_show(s: Session, arg: str) -> None:
    """Print one citation in its document, so the user can judge the quote in context."""
    if s.last is None:
        return s.say("no answer yet: ask a question first")
    cites = s.last.citations
    if not cites:
        return s.say("the last answer has no citations to show")
    n = positive_int(arg)
    if n is None or n > len(cites):
        return s.say(f"usage: :show N, with N from 1 to {len(cites)}")
    c = cites[n - 1]
    s.say(f"[{n}] {c.doc_id}:{c.start}-{c.end}")
    s.say(context(s.qa.index.document(c.doc_id).text, c, bold=s.bold))


def cmd_passages(s: Session, arg: str) -> None:
    """List what retrieval returned, to see why an answer was (not) found."""
    if s.last is None:
        return s.say("no answer yet: ask a question first")
    if not s.last.retrieved:
        return s.say("no passages were retrieved")
    for i, hit in enumerate(s.last.retrieved, 1):
        p, preview = hit.passage, " ".join(hit.passage.text.split())
        preview = preview if len(preview) <= 70 else preview[:69] + "…"
        s.say(f"[{i}] {p.doc_id}:{p.start}-{p.end}  score {hit.score:.4f}  {preview}")


def cmd_k(s: Session, arg: str) -> None:
    """Change how many passages are retrieved; a bad value keeps the old one."""
    if not arg:
        return s.say(f"k is {s.k}; change it with :k N")
    n = positive_int(arg)
    if n is None:
        return s.say(f"k must be a whole number of at least 1 (got {arg!r}); k stays {s.k}")
    s.k, note = clamp_k(n, len(s.qa.index))
    s.say(note or f"k is now {n}")


COMMANDS: dict[str, Callable[[Session, str], None]] = {
    "help": cmd_help,
    "show": cmd_show,
    "passages": cmd_passages,
    "k": cmd_k,
}


def ask(s: Session, question: str) -> None:
    """Answer one question; a user error or Ctrl-C here costs the question, not the session."""
    try:
        s.last = s.qa.ask(question, k=s.k)
    except RagdiploError as err:
        return s.say(f"error: {err}")
    except KeyboardInterrupt:
        return s.say("(interrupted)")
    s.say(format_answer(s.last, title=lambda doc_id: s.qa.index.document(doc_id).title,
                        threshold=s.qa.config.calibration.threshold, style=s.style))


def handle(s: Session, line: str) -> bool:
    """Run one input line; False means the user asked to leave."""
    line = line.strip()
    if not line:
        return True
    if not line.startswith(":"):
        ask(s, line)
        return True
    name, _, arg = line[1:].replace("\t", " ").partition(" ")
    if name.lower() in QUIT:
        return False
    command = COMMANDS.get(name.lower())
    if command is None:
        s.say(f"unknown command {line.split()[0]!r}; type :help for the list")
    else:
        command(s, arg.strip())
    return True


def _setup_readline() -> None:
    """Line editing, in-memory history and tab completion of commands, when the
    platform has readline. History is never written to disk."""
    try:
        import readline
    except ImportError:
        return
    names = sorted(":" + n for n in (*COMMANDS, *QUIT))

    def complete(text: str, state: int) -> str | None:
        matches = [n for n in names if n.startswith(text)]
        return matches[state] if state < len(matches) else None

    readline.set_completer(complete)
    readline.set_completer_delims(" \t")
    libedit = "libedit" in (readline.__doc__ or "")
    readline.parse_and_bind("bind ^I rl_complete" if libedit else "tab: complete")


def read_line(inp: TextIO, out: TextIO, interactive: bool) -> str:
    """One line of input; raises EOFError at the end. ``input()`` is used only on the
    real terminal, where readline hooks into it."""
    if interactive:
        return input(TTY_PROMPT)
    out.write(PLAIN_PROMPT)
    out.flush()
    line = inp.readline()
    if not line:
        raise EOFError
    return line.rstrip("\r\n")


def run(qa: Any, k: int | None = None, *, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Ask questions until :quit or Ctrl-D; returns the exit status. ``k``: passages
    per question (default 10, or fewer on a small index)."""
    inp = sys.stdin if stdin is None else stdin
    out = sys.stdout if stdout is None else stdout
    style = style_for(out)
    session = Session(qa, 0, out, bold=style.color, style=style)
    try:
        session.k, note = clamp_k(k, len(qa.index))
    except (RagdiploError, TypeError) as err:
        session.say(f"error: {err}")
        return 2
    if note:
        session.say(note)
    interactive = inp is sys.stdin and out is sys.stdout and _isatty(inp)
    if interactive:
        _setup_readline()
        session.say("Ask a question, or type :help. Ctrl-D leaves.")
    while True:
        try:
            line = read_line(inp, out, interactive)
        except (EOFError, KeyboardInterrupt):
            out.write("\n")
            out.flush()
            return 0
        if not handle(session, line):
            return 0
