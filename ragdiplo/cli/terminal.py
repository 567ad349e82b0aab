"""Text from documents, indexes and error messages, made safe for a terminal;
and what the CLI prints when it fails.

Documents are untrusted: an ESC inside an article would otherwise reach the
terminal raw (clear the screen, set the window title), C1 controls act the same
on some terminals, and U+2028 or a bidi override (U+202E) makes a document id
read as something else. Such characters are shown as Python escapes instead;
newlines and tabs stay. The few colour codes ragdiplo itself prints are kept.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import replace

from ragdiplo._version import __version__
from ragdiplo.cli.format import BOLD, DIM, HIGHLIGHT, RESET, UNSAFE_CHARS, Style
from ragdiplo.cli.format import escape_char as _escape
from ragdiplo.errors import QuestionError

INTERNAL_ERROR = 3  # exit status of an unexpected error (a bug): one line, the traceback saved to a file

OWN_CODES = (BOLD, HIGHLIGHT, DIM, RESET)  # the colour codes format.py prints

# the unsafe characters are listed in format.py, which escapes them in the data it lays out
_PLAIN = re.compile(UNSAFE_CHARS)
_LINE = re.compile(UNSAFE_CHARS[:-1] + "\t\n]")  # the same, and tab and newline: a line stays one line


def safe_output(text: str) -> str:
    """An answer, passage or document as printed by ``ask`` and the REPL: escaped,
    ragdiplo's own colour codes kept."""
    return escape_controls(text, OWN_CODES)


def safe_render(render: Callable[[Style], str], style: Style) -> str:
    """What ``render(style)`` prints (an answer with its citations), safe for a
    terminal. A document may hold the very codes ragdiplo colours with
    (``\x1b[0m``), which cannot be told from ragdiplo's own once printed
    together; so colour is used only when the plain rendering holds no unsafe
    character, and otherwise the plain rendering is printed, all of it escaped."""
    plain = render(replace(style, color=False))
    if not style.color or _PLAIN.search(plain):
        return escape_controls(plain)
    return safe_output(render(style))


def escape_controls(text: str, keep: Iterable[str] = ()) -> str:
    """``text`` with every unsafe character shown as ``\\x1b`` or ``\\u202e``;
    the exact sequences in ``keep`` (ragdiplo's own colour codes) pass unchanged."""
    kept = tuple(keep)
    if not kept:
        return _PLAIN.sub(lambda m: _escape(m.group()), text)
    pattern = re.compile("|".join([*map(re.escape, sorted(kept, key=len, reverse=True)), UNSAFE_CHARS]))
    return pattern.sub(lambda m: m.group() if m.group() in kept else _escape(m.group()), text)


def escape_line(text: str) -> str:
    """``text`` for a place that must stay one line (an error line, a table cell):
    escaped as :func:`escape_controls` does, newlines and tabs too."""
    return _LINE.sub(lambda m: _escape(m.group()), text)


def escape_json(text: str) -> str:
    """JSON text with the unsafe characters JSON leaves raw (C1, separators, bidi,
    lone surrogates) written as ``\\uXXXX``: the same JSON to a parser, safe to print."""
    return _PLAIN.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def check_input(args: argparse.Namespace) -> None:
    """Bytes that are not UTF-8 in a question are the user's to fix, not a crash:
    ``ask`` refuses them, and the REPL reads them as U+FFFD and goes on."""
    question = getattr(args, "question", None)
    if isinstance(question, str) and any("\udc80" <= c <= "\udcff" for c in question):
        raise QuestionError("the question holds bytes that are not UTF-8; type it again, or convert it with iconv")
    if getattr(args, "command", None) == "repl" and hasattr(sys.stdin, "reconfigure"):
        sys.stdin.reconfigure(errors="replace")


def internal_error_line() -> str:
    """The one line for the exception being handled, which is a bug: what it was,
    and the file its traceback was saved to, to attach to a report."""
    err = sys.exc_info()[1]
    what = escape_line(f"{type(err).__name__}: {err}")[:300]
    return f"ragdiplo: internal error ({what}); this is a bug, please report it with the traceback saved in {_save_traceback()}"


def _save_traceback() -> str:
    import tempfile
    import traceback

    try:
        fd, name = tempfile.mkstemp(prefix="ragdiplo-traceback-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.write(f"ragdiplo {__version__}, Python {sys.version.split()[0]}, {sys.platform}\nargv: {sys.argv!r}\n\n")
            traceback.print_exc(file=f)
    except OSError as err:
        return f"(the traceback could not be saved: {err.strerror or err})"
    return name
