"""Every code block in README.md and docs/*.md runs, every output it shows is what its code prints, and every script in
examples/ runs.

A page's blocks run in order in a scratch copy of the repository's inputs (``seeds/``, ``gold/``, ``examples/``,
``benchmarks/``, an ``index/`` of the seeds built once per session, and ``../shared`` when the repository has it beside
it): ```python blocks share one namespace per page; ```bash / ```sh / ```console blocks run in ``bash -e`` with the
test's own interpreter and ``ragdiplo`` first on ``PATH``. ```json blocks must parse. A ```console block's output and a
```text block marked ``output`` are compared with what their code prints (``docs_blocks.py`` says how);
``--update-docs`` writes what it prints into the pages instead. A block is left out only by a marker on the lines just
above it, so every exception is visible in the page itself:

    <!-- docs-test: skip (why) -->        never run (installs packages, needs a model or a server, takes minutes)
    <!-- docs-test: needs PATH -->        run when PATH exists relative to the page's working folder, else skipped
    <!-- docs-test: output -->            this ```text block is exactly what the block before it printed
    <!-- docs-test: variable (what) -->   in this output block, ``...`` stands for any text on its line

Every fence must name its language (```text for output), so no block escapes by accident.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from docs_blocks import (
    ROOT,
    SHELLS,
    Block,
    blocks,
    console_steps,
    console_text,
    differences,
    marker_problems,
    one_character_changes,
    producer,
    refreshed,
    rewrite,
    shown_outputs,
)

PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
COPIED = ("seeds", "gold", "examples", "benchmarks")  # what a page may read, copied so no block writes into the repo
BLOCK_TIMEOUT_S = 180


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
    for name in ("RAGDIPLO_BACKEND", "COLUMNS", "LINES"):  # the pages describe the defaults and 80 columns
        env.pop(name, None)
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


@dataclass
class PageRun:
    """What running a page's blocks found: the blocks left out, and each output block that differs from what its code
    printed, with the diff and what the block should show instead."""

    left_out: list[str] = field(default_factory=list)
    differing: list[tuple[Block, str, str]] = field(default_factory=list)


def _shell(block: Block, script: str, work: Path) -> str:
    """A shell script's stdout and stderr together, as a terminal shows them; a non-zero exit fails the test."""
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        check=False,
        cwd=work,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=BLOCK_TIMEOUT_S,
    )
    if done.returncode != 0:
        pytest.fail(
            f"{block.where}: the {block.lang} block exited with status {done.returncode}\n"
            f"--- ran ---\n{script}\n--- output ---\n{done.stdout[-6000:]}",
            pytrace=False,
        )
    return done.stdout


def _python(block: Block, namespace: dict[str, object]) -> str:
    """What a python block prints, run in the page's namespace."""
    # padded so a traceback's line numbers are the page's own
    code = compile("\n" * block.line + block.code, block.where.rpartition(":")[0], "exec")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(code, namespace)
    return printed.getvalue()


def _left_out(block: Block, page_blocks: list[Block], printed: dict[int, str | None], work: Path) -> str | None:
    if "skip" in block.markers:
        return block.markers["skip"]
    if "needs" in block.markers and not (work / block.markers["needs"]).exists():
        return f"needs {block.markers['needs']}, absent here"
    if "output" in block.markers and printed.get(producer(page_blocks, block).line) is None:
        return "the output of the block above, which is left out"
    return None


def _compare(run: PageRun, block: Block, printed: str) -> None:
    diff = differences(block.code, printed, variable=block.variable)
    if diff:
        run.differing.append((block, diff, refreshed(block.code, printed, variable=block.variable)))


def _console(run: PageRun, block: Block, work: Path) -> None:
    steps = console_steps(block)
    printed = [_shell(block, command, work) for command, _ in steps]
    diffs = [differences(shown, out, variable=block.variable) for (_, shown), out in zip(steps, printed)]
    if any(diffs):
        body = console_text(
            (cmd, refreshed(shown, out, variable=block.variable)) for (cmd, shown), out in zip(steps, printed)
        )
        run.differing.append((block, "\n".join(d for d in diffs if d), body))


def run_page(page: Path, work: Path, namespace: dict[str, object]) -> PageRun:
    """Run a page's blocks in order in ``work`` and compare every output block with what its code printed."""
    run, page_blocks = PageRun(), blocks(page)
    printed: dict[int, str | None] = {}  # by opening line: what a block printed, None when it was left out
    for block in page_blocks:
        reason = _left_out(block, page_blocks, printed, work)
        printed[block.line] = None
        if reason:
            run.left_out.append(f"{block.where}: {reason}")
        elif block.lang == "python":
            printed[block.line] = _python(block, namespace)
        elif block.lang == "console":
            _console(run, block, work)
        elif block.lang in SHELLS:
            printed[block.line] = _shell(block, block.code, work)
        elif "output" in block.markers:
            _compare(run, block, printed[producer(page_blocks, block).line] or "")
        elif block.lang in ("json", "jsonl"):
            text = block.code.strip()
            try:
                json.loads(text) if block.lang == "json" else [json.loads(line) for line in text.splitlines()]
            except json.JSONDecodeError as err:
                pytest.fail(f"{block.where}: the {block.lang} block does not parse: {err}", pytrace=False)
    return run


def check_outputs(run: PageRun, update: bool) -> None:
    """Fail on every output block that differs from what was printed; with ``update``, write the page instead."""
    if not run.differing:
        return
    if update:
        rewrite(run.differing[0][0].page, {block.line: body for block, _, body in run.differing})
        return
    pytest.fail(
        "\n\n".join(
            f"{block.where}: the output shown is not what the code prints\n{diff}" for block, diff, _ in run.differing
        )
        + "\n\nIf the code is right, `python -m pytest tests/test_docs.py --update-docs` writes what it prints now.",
        pytrace=False,
    )


@pytest.mark.integration
@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_code_blocks_run_and_print_what_the_page_shows(
    page: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    monkeypatch.chdir(workspace)
    for name, value in child_env().items():
        monkeypatch.setenv(name, value)
    for name in ("RAGDIPLO_BACKEND", "COLUMNS", "LINES"):
        monkeypatch.delenv(name, raising=False)
    run = run_page(page, workspace, {"__name__": "__docs__"})
    for reason in run.left_out:  # shown by -ra as one line each, with the page's reason
        print(f"left out: {reason}")
    check_outputs(run, update=request.config.getoption("update_docs"))


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


CONVERTING: dict[str, str] = {}  # pages that still show an output the old way; the test passing there fails until removed


@pytest.mark.parametrize(
    "page",
    [pytest.param(p, marks=pytest.mark.xfail(reason=CONVERTING[p.relative_to(ROOT).as_posix()], strict=True))
     if p.relative_to(ROOT).as_posix() in CONVERTING else p for p in PAGES],
    ids=lambda p: str(p.relative_to(ROOT)),
)  # fmt: skip
def test_blocks_are_labelled_and_markers_are_well_formed(page: Path) -> None:
    problems = list(marker_problems(blocks(page)))
    assert not problems, "\n".join(problems)


def test_every_shown_output_fails_the_check_when_one_character_changes() -> None:
    outputs = shown_outputs(PAGES)
    assert outputs, "no page shows an output"
    for block, shown in outputs:
        assert differences(shown, shown, variable=block.variable) is None, block.where
        for changed in one_character_changes(shown, block.variable):
            assert differences(changed, shown, variable=block.variable), f"{block.where}: {changed!r} passes"


PAGE = """# A page

```python
print("hello")
print(2 + 2)
```

<!-- docs-test: output -->
```text
hello
4
```

<!-- docs-test: variable (the time taken) -->
```console
$ echo one; echo two >&2
one
two
$ printf 'took %d ms\\n' "$RANDOM"
took ... ms
```
"""


@pytest.mark.parametrize(
    ("shown", "altered"),
    [("\nhello\n", "\nhellp\n"), ("\n4\n", "\n5\n"), ("\ntwo\n", "\ntw\n"), ("\ntook ...", "\ntool ...")],
)
def test_a_page_showing_other_output_fails_and_update_writes_what_was_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shown: str, altered: str
) -> None:
    monkeypatch.chdir(tmp_path)
    page = tmp_path / "page.md"
    page.write_text(PAGE, encoding="utf-8")
    assert not run_page(page, tmp_path, {}).differing
    page.write_text(PAGE.replace(shown, altered, 1), encoding="utf-8")
    run = run_page(page, tmp_path, {})
    with pytest.raises(pytest.fail.Exception, match="page.md:\\d+: the output shown is not what the code prints"):
        check_outputs(run, update=False)
    check_outputs(run, update=True)
    assert page.read_text(encoding="utf-8") == PAGE  # the placeholder kept


@pytest.mark.integration
def test_a_copy_of_the_readme_with_one_output_character_changed_fails(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's console blocks, copied to a page of their own, pass; with one character of an output changed the
    page fails, on that block alone."""
    monkeypatch.chdir(workspace)
    readme = ROOT / "README.md"
    console = [b for b in blocks(readme) if b.lang == "console"]
    copy = "".join(
        "".join(f"<!-- docs-test: {kind} {arg} -->\n" for kind, arg in b.markers.items())
        + f"```console\n{b.code}```\n\n"
        for b in console
    )
    page = tmp_path / "README.md"
    page.write_text(copy, encoding="utf-8")
    assert not run_page(page, workspace, {}).differing
    lines = copy.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("$ ")) + 1  # the first output line
    lines[at] = lines[at][:-2] + ("x" if lines[at][-2] != "x" else "y") + "\n"
    page.write_text("".join(lines), encoding="utf-8")
    run = run_page(page, workspace, {})
    assert [block.line for block, _, _ in run.differing] == [blocks(page)[0].line]


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
