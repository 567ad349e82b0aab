"""Every code block in README.md and docs/*.md runs, and so does every script in examples/.

A page's blocks run in order in a scratch copy of the repository's inputs (``seeds/``, ``gold/``, ``examples/``,
``benchmarks/``, an ``index/`` of the seeds built once per session, and ``../shared`` when the repository has it beside
it): ```python blocks share one namespace per page; ```bash / ```sh / ```console blocks run in ``bash -e`` with the
test's own interpreter and ``ragdiplo`` first on ``PATH``. ```json blocks must parse. A block is left out only by a
marker on the line just above it, so every exception is visible in the page itself:

    <!-- docs-test: skip (why) -->        never run (installs packages, needs a model or a server, takes minutes)
    <!-- docs-test: needs PATH -->        run when PATH exists relative to the page's working folder, else skipped

Every fence must name its language (```text for output), so no block escapes by accident.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
COPIED = ("seeds", "gold", "examples", "benchmarks")  # what a page may read, copied so no block writes into the repo
SHELLS = {"bash", "sh", "shell", "console"}
RUN = SHELLS | {"python"}
NOT_RUN = {"text", "json", "jsonl"}  # output, formats: shown, not executed (json is parsed)
BLOCK_TIMEOUT_S = 180

_FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
_MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<kind>skip|needs)\s*(?P<arg>.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    marker: tuple[str, str] | None  # ("skip", "(reason)") or ("needs", "path")

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of a Markdown page, with the docs-test marker just above each."""
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
            raise AssertionError(f"{page.relative_to(ROOT)}:{start + 1}: unclosed code fence")
        body = [line.removeprefix(indent) for line in lines[start + 1 : end]]
        above = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        mark = _MARKER.match(above)
        marker = (mark.group("kind"), mark.group("arg")) if mark else None
        found.append(Block(page, start + 1, lang, "\n".join(body) + "\n", marker))
        i = end + 1
    return found


def shell_commands(block: Block) -> str:
    """A shell block's script; in a console block only the ``$ `` lines are commands."""
    if block.lang != "console":
        return block.code
    return "\n".join(line[2:] for line in block.code.splitlines() if line.startswith("$ ")) + "\n"


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)  # this venv's python and ragdiplo come first
    env.update(
        PATH=bin_dir + os.pathsep + env.get("PATH", ""),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        NO_COLOR="1",
        PYTHONUNBUFFERED="1",
    )
    env.pop("RAGDIPLO_BACKEND", None)  # the pages describe the defaults
    return env


@pytest.fixture(scope="session")
def seeds_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeds indexed once per session with the real bundled model, as ``ragdiplo index`` makes it."""
    path = tmp_path_factory.mktemp("docs-index") / "index"
    subprocess.run(
        [sys.executable, "-m", "ragdiplo", "index", str(ROOT / "seeds"), "--index", str(path), "-q"],
        check=True,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        timeout=BLOCK_TIMEOUT_S,
    )
    return path


@pytest.fixture
def workspace(tmp_path: Path, seeds_index: Path) -> Path:
    """A folder laid out like the repository's root (and its ``../shared``), holding copies only."""
    work = tmp_path / "main"
    work.mkdir()
    for name in COPIED:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, work / name)
    shutil.copytree(seeds_index, work / "index")
    shared = ROOT.parent / "shared"
    if shared.is_dir():
        (tmp_path / "shared").symlink_to(shared)
    return work


def run_block(block: Block, namespace: dict[str, object], work: Path) -> str | None:
    """Run one block in ``work``; the reason it was left out, or None when it ran."""
    if block.marker and block.marker[0] == "skip":
        return f"{block.where}: {block.marker[1]}"
    if block.marker and block.marker[0] == "needs" and not (work / block.marker[1]).exists():
        return f"{block.where}: needs {block.marker[1]}, absent here"
    if block.lang == "python":
        # padded so a traceback's line numbers are the page's own
        code = compile("\n" * block.line + block.code, str(block.page.relative_to(ROOT)), "exec")
        exec(code, namespace)
    elif block.lang in SHELLS:
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", shell_commands(block)],
            check=False,
            cwd=work,
            env=child_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT_S,
        )
        if done.returncode != 0:
            pytest.fail(
                f"{block.where}: the {block.lang} block exited with status {done.returncode}\n"
                f"--- block ---\n{block.code}--- stdout ---\n{done.stdout[-3000:]}\n"
                f"--- stderr ---\n{done.stderr[-3000:]}",
                pytrace=False,
            )
    elif block.lang in ("json", "jsonl"):
        text = block.code.strip()
        try:
            json.loads(text) if block.lang == "json" else [json.loads(line) for line in text.splitlines()]
        except json.JSONDecodeError as err:
            pytest.fail(f"{block.where}: the {block.lang} block does not parse: {err}", pytrace=False)
    return None


@pytest.mark.integration
@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_code_blocks_run(page: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(workspace)
    for name, value in child_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("RAGDIPLO_BACKEND", raising=False)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    left_out = [reason for block in blocks(page) if (reason := run_block(block, namespace, workspace))]
    for reason in left_out:  # shown by -ra as one line each, with the page's reason
        print(f"left out: {reason}")


@pytest.mark.integration
@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_examples_run(script: Path, workspace: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(workspace / "examples" / script.name)],
        check=False,
        cwd=workspace,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT_S,
    )
    assert done.returncode == 0, f"examples/{script.name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_blocks_are_labelled_and_skips_give_a_reason(page: Path) -> None:
    for block in blocks(page):
        assert block.lang in RUN | NOT_RUN, (
            f"{block.where}: fence language {block.lang!r}; use one of {sorted(RUN | NOT_RUN)} (```text for output)"
        )
        if block.marker:
            kind, arg = block.marker
            assert arg, f"{block.where}: a docs-test {kind} marker needs a reason or a path"
            if kind == "skip":
                assert arg.startswith("(") and arg.endswith(")"), f"{block.where}: write the reason as (reason)"
            assert block.lang in RUN, f"{block.where}: a marker above a block that is never run"


def anchors(page: Path) -> set[str]:
    """The heading anchors GitHub makes for a page: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    headings = re.findall(r"^#+\s+(.+?)\s*$", text, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_at_files_and_headings(page: Path) -> None:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        path = (page.parent / file).resolve() if file else page
        assert path.exists(), f"{page.relative_to(ROOT)}: the link {target!r} points at nothing"
        if anchor and path.suffix == ".md":
            assert anchor in anchors(path), f"{page.relative_to(ROOT)}: the link {target!r} names no heading there"


def test_readme_holds_the_command_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert ci in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_cited_tests_exist(page: Path) -> None:
    """A promise that names its test (`test_x.py::test_y`, or `::test_z` for the same file) names one that exists."""
    file = None
    for named, test in re.findall(
        r"`(?:tests/)?(?:reliability/)?(test_\w+\.py)?::(test_\w+)`", page.read_text("utf-8")
    ):
        file = named or file
        assert file, f"{page.relative_to(ROOT)}: `::{test}` follows no test file"
        sources = [p.read_text("utf-8") for p in (ROOT / "tests").rglob(file)]
        assert any(f"def {test}(" in src for src in sources), f"{page.relative_to(ROOT)}: no test {file}::{test}"
