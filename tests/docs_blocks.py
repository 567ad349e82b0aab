"""The fenced blocks of README.md and docs/*.md: their docs-test markers, which of them show output, how a shown output
is compared with what its code printed, and how a page is rewritten with new outputs. Pure functions over text:
``tests/test_docs.py`` runs the blocks.

A block showing output is tied to the code that prints it in one of two ways:

- a ```console block: each ``$ `` line is a command, and the lines after it, up to the next ``$ `` line, are exactly
  what it prints (stdout and stderr together, as a terminal shows them);
- a ```text block with ``<!-- docs-test: output -->`` just above it: exactly what the block before it printed (a
  ```python block's stdout; a shell block's stdout and stderr together).

Lines are compared with trailing white space removed (a Markdown page cannot be trusted to keep it) and nothing else
forgiven, unless the block also carries ``<!-- docs-test: variable (what varies) -->``: then ``...`` on a line of the
block stands for any text on that line (a timing, a path), and every other character is still compared.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHELLS = {"bash", "sh", "shell", "console"}
RUN = SHELLS | {"python"}
NOT_RUN = {"text", "json", "jsonl"}  # output, formats: shown, not executed (json is parsed)
MARKER_KINDS = ("skip", "needs", "output", "variable")
PLACEHOLDER = "..."  # in a block marked variable: any text on its line
PROMPT = "$ "  # a command's line in a console block

_FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
_MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<kind>[a-z]+)\s*(?P<arg>.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    end: int  # 1-based line of the closing fence
    indent: str
    lang: str
    code: str
    markers: Mapping[str, str]  # kind -> argument: {"skip": "(reason)"}, {"needs": "path"}, {"output": ""}, ...

    @property
    def where(self) -> str:
        page = self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page.name
        return f"{page}:{self.line}"

    @property
    def shows_output(self) -> bool:
        """Whether the block shows what code prints, to be compared with it."""
        return self.lang == "console" or "output" in self.markers

    @property
    def variable(self) -> bool:
        return "variable" in self.markers


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of a Markdown page, with the docs-test marker lines just above each."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, lang, start = match.group(1), match.group(2).lower(), i
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), None)
        if end is None:
            raise AssertionError(f"{page.name}:{start + 1}: unclosed code fence")
        body = [line.removeprefix(indent) for line in lines[start + 1 : end]]
        found.append(Block(page, start + 1, end + 1, indent, lang, "\n".join(body) + "\n", _markers(lines, start)))
        i = end + 1
    return found


def _markers(lines: list[str], fence: int) -> dict[str, str]:
    """The docs-test markers on the lines above a fence, up to the first other non-blank line."""
    markers: dict[str, str] = {}
    for line in reversed(lines[:fence]):
        if not line.strip():
            continue
        mark = _MARKER.match(line)
        if not mark:
            break
        markers[mark.group("kind")] = mark.group("arg")
    return markers


def marker_problems(page_blocks: list[Block]) -> Iterable[str]:
    """What is wrong with the fences and markers of one page's blocks, one message each."""
    for i, block in enumerate(page_blocks):
        if block.lang not in RUN | NOT_RUN:
            yield f"{block.where}: fence language {block.lang!r}; use one of {sorted(RUN | NOT_RUN)} (```text for output)"
        for kind, arg in block.markers.items():
            if kind not in MARKER_KINDS:
                yield f"{block.where}: unknown docs-test marker {kind!r}; one of {MARKER_KINDS}"
            elif kind in ("skip", "variable") and not (arg.startswith("(") and arg.endswith(")") and len(arg) > 2):
                yield f"{block.where}: write the {kind} marker's reason as ({kind} reason)"
            elif kind == "needs" and not arg:
                yield f"{block.where}: a needs marker names a path"
            elif kind == "output" and arg:
                yield f"{block.where}: the output marker takes nothing after it"
        if ("skip" in block.markers or "needs" in block.markers) and block.lang not in RUN:
            yield f"{block.where}: a skip or needs marker above a block that is never run"
        if "output" in block.markers:
            if block.lang != "text":
                yield f"{block.where}: the output marker belongs above a ```text block"
            elif i == 0 or page_blocks[i - 1].lang not in RUN - {"console"}:
                yield f"{block.where}: an output block follows the python or shell block whose output it is"
        if block.variable and not block.shows_output:
            yield f"{block.where}: the variable marker belongs above an output block"
        if block.variable and PLACEHOLDER not in block.code:
            yield f"{block.where}: a variable block marks what varies with {PLACEHOLDER!r}"
        if block.lang == "console" and not block.code.startswith(PROMPT):
            yield f"{block.where}: a console block starts with a {PROMPT!r} command line"
        if block.lang == "text" and block.code.startswith(PROMPT):
            yield f"{block.where}: a command and its output go in a ```console block, which the test runs"


def producer(page_blocks: list[Block], block: Block) -> Block:
    """The block whose output an output-marked block shows: the one just before it."""
    return page_blocks[page_blocks.index(block) - 1]


def console_steps(block: Block) -> list[tuple[str, str]]:
    """A console block's commands, each with the output shown under it."""
    steps: list[tuple[str, list[str]]] = []
    for line in block.code.splitlines():
        if line.startswith(PROMPT):
            steps.append((line.removeprefix(PROMPT), []))
        elif steps:
            steps[-1][1].append(line)
    return [(command, "".join(line + "\n" for line in shown)) for command, shown in steps]


def console_text(steps: Iterable[tuple[str, str]]) -> str:
    """A console block's body from its commands and their outputs."""
    return "".join(f"{PROMPT}{command}\n{output}" for command, output in steps)


def shown_outputs(pages: Iterable[Path]) -> list[tuple[Block, str]]:
    """Every output the pages show, with its block: one per console command, one per output-marked block."""
    found: list[tuple[Block, str]] = []
    for page in pages:
        for block in blocks(page):
            if block.lang == "console":
                found += [(block, shown) for _, shown in console_steps(block)]
            elif "output" in block.markers:
                found.append((block, block.code))
    return found


def one_character_changes(shown: str, variable: bool) -> list[str]:
    """The shown text with each of its characters replaced in turn, and removed in turn on a line without
    placeholders (next to one, a removed character is what the placeholder stands for)."""
    changed: list[str] = []
    start = 0
    for line in shown.splitlines(keepends=True):
        held = [m.span() for m in re.finditer(re.escape(PLACEHOLDER), line)] if variable else []
        for i, char in enumerate(line.rstrip("\n")):
            if not any(a <= i < b for a, b in held):
                changed.append(shown[: start + i] + ("y" if char == "x" else "x") + shown[start + i + 1 :])
                if not held:
                    changed.append(shown[: start + i] + shown[start + i + 1 :])
        start += len(line)
    return changed


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def _line_pattern(line: str) -> re.Pattern[str]:
    return re.compile(".*?".join(re.escape(part) for part in line.split(PLACEHOLDER)), re.S)


def _line_matches(shown: str, printed: str, variable: bool) -> bool:
    if variable and PLACEHOLDER in shown:
        return _line_pattern(shown).fullmatch(printed) is not None
    return shown == printed


def differences(shown: str, printed: str, *, variable: bool = False) -> str | None:
    """None when a shown output matches what was printed; else a diff of the two (shown first)."""
    want, got = _lines(shown), _lines(printed)
    if len(want) == len(got) and all(_line_matches(w, g, variable) for w, g in zip(want, got)):
        return None
    return "\n".join(difflib.unified_diff(want, got, "shown in the page", "printed", lineterm=""))


def refreshed(shown: str, printed: str, *, variable: bool = False) -> str:
    """What a block should show now: the printed output, with the placeholders of a variable block kept where the
    shown lines still match, or still fit around what changed."""
    want, got = _lines(shown), _lines(printed)
    if variable:
        unused = [w for w in want if PLACEHOLDER in w]
        for i, line in enumerate(got):
            same = want[i] if i < len(want) and _line_matches(want[i], line, variable) else None
            kept = same or next((w for w in unused if _line_matches(w, line, variable)), None)
            if kept is None and len(want) == len(got) and PLACEHOLDER in want[i]:
                kept = _fitted(want[i], line)
            if kept is not None:
                got[i] = kept
                if kept in unused:
                    unused.remove(kept)
    return "".join(line + "\n" for line in got)


def _fitted(shown: str, printed: str) -> str | None:
    """The printed line with the shown line's placeholders put back where the two differ around them, or None."""
    parts = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, shown, printed, autojunk=False).get_opcodes():
        held = tag != "equal" and PLACEHOLDER in shown[i1:i2]
        parts.append(PLACEHOLDER if held else printed[j1:j2])
    fitted = "".join(parts)
    return (
        fitted
        if _line_matches(fitted, printed, True) and fitted.count(PLACEHOLDER) == shown.count(PLACEHOLDER)
        else None
    )


def rewrite(page: Path, bodies: Mapping[int, str]) -> None:
    """Replace the bodies of a page's blocks (keyed by their opening line) and write the page back."""
    lines = page.read_text(encoding="utf-8").splitlines(keepends=True)
    for block in sorted((b for b in blocks(page) if b.line in bodies), key=lambda b: b.line, reverse=True):
        body = [(block.indent + line).rstrip() + "\n" for line in bodies[block.line].splitlines()]
        lines[block.line : block.end - 1] = body
    page.write_text("".join(lines), encoding="utf-8")
