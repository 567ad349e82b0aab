"""Disk primitives that keep an index whole: checksums, fsync, atomic replace,
size-capped JSON, the single-writer lock, and what in an index folder is its own.

A process may be killed at any instruction, so every write goes to a new name
first and becomes visible only through one ``os.replace``; readers need no
lock because of that. Writers do take one (``filelock``: an OS lock that dies
with its process, so a killed writer never leaves a stale lock behind). A writer
removes only what it made or its manifest names (``own_entry``): an index folder
may hold a user's files too, and a folder that is not an index is not written.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from ragdiplo.errors import ConfigError, IndexCorruptError, IndexLockedError, IndexUnavailableError, IndexWriteError

LOCK_FILE = "write.lock"
PLACEHOLDERS = frozenset({"README.md", "README", "README.txt", ".gitkeep", ".gitignore"})  # kept by repositories: never touched
DEFAULT_LOCK_TIMEOUT = 60.0
MAX_JSON_DEPTH = 64  # nesting levels; ragdiplo's own JSON files use fewer than 8
_NO_LINKS = getattr(os, "O_NOFOLLOW", 0)  # an open that refuses a symbolic link in the last place of the path


class Remedy(NamedTuple):
    """What repairs a damaged file: what a library user calls (``text``), what a command-line user runs (``cli``)."""

    text: str
    cli: str | None = None


def corrupt(what: str, remedy: Remedy | str) -> IndexCorruptError:
    """The error for a damaged file: what is wrong with it, then the remedy."""
    fix = remedy if isinstance(remedy, Remedy) else Remedy(remedy)
    return IndexCorruptError(f"{what}; {fix.text}", cli_message=f"{what}; {fix.cli}" if fix.cli else None)


def lmode(path: Path) -> int | None:
    """The mode of ``path`` itself (a link is not followed); None when nothing is there."""
    try:
        return os.lstat(path).st_mode
    except FileNotFoundError:
        return None


def _no_links(path: str, flags: int) -> int:
    """An ``open`` opener that refuses a symbolic link in the last place of the path."""
    return os.open(path, flags | _NO_LINKS)


def sha256_file(path: Path, *, follow_links: bool = True) -> str:
    h = hashlib.sha256()
    with open(path, "rb", opener=None if follow_links else _no_links) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_record(path: Path) -> dict[str, Any]:
    """What the manifest keeps per data file: its size (a truncation shows
    without reading it) and its SHA-256 (any other change)."""
    return {"bytes": path.stat().st_size, "sha256": sha256_file(path)}


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    """Flush every file and folder under ``folder`` (children first) to disk."""
    for path in sorted(folder.rglob("*"), reverse=True) + [folder]:
        fsync_path(path)


def not_permitted(path: Path, err: OSError) -> IndexUnavailableError:
    """A permission problem named as one: the index is fine, rebuilding would not help."""
    return IndexUnavailableError(
        f"{err.filename or path}: permission denied; the index is not damaged: ask its owner for read "
        f"access (e.g. `chmod -R a+rX {path}`), or run as a user who may read it"
    )


def atomic_replace(path: str | os.PathLike[str], write: Callable[[Path], None]) -> None:
    """Make ``path`` by ``write(tmp)`` into a temporary sibling, fsynced, then one
    rename: readers, and a run interrupted half-way, see the old file or the new
    one, never a truncated one that parses."""
    path = Path(path)
    tmp = _new_temp(path.parent, path.suffix)
    try:
        write(tmp)
        fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_path(path.parent)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Replace ``path`` by ``text`` atomically (see :func:`atomic_replace`)."""
    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    atomic_replace(path, write)


def atomic_write_json(path: Path, obj: Any) -> None:
    """Replace ``path`` by ``obj`` as JSON: readers see the old file or the new one."""
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False))


SEAL = "manifest_sha256"


def _content_sha256(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def seal(manifest: dict[str, Any]) -> dict[str, Any]:
    """``manifest`` with the SHA-256 of its own content under ``SEAL``: the data
    files have checksums in it, and this is the manifest's, so a changed byte
    anywhere in it (a chunker setting, a count) is caught, not used."""
    body = {k: v for k, v in manifest.items() if k != SEAL}
    return {**body, SEAL: _content_sha256(body)}


def check_seal(manifest: dict[str, Any], where: Path, remedy: Remedy | str) -> None:
    """``manifest`` is exactly what ``seal`` sealed."""
    body = {k: v for k, v in manifest.items() if k != SEAL}
    if manifest.get(SEAL) != _content_sha256(body):
        what = "has no checksum" if SEAL not in manifest else "does not match its checksum"
        raise corrupt(f"{where}: {what} (corrupt or edited by hand)", remedy)


def read_json_capped(path: Path, max_bytes: int, remedy: Remedy | str) -> Any:
    """Parse a JSON file, not a symbolic link, no larger than ``max_bytes`` and
    nested no deeper than ``MAX_JSON_DEPTH``; anything else is corrupt."""
    try:
        with open(path, "rb", opener=_no_links) as f:
            size = os.fstat(f.fileno()).st_size
            text = f.read(max_bytes + 1) if size <= max_bytes else b""
    except PermissionError as err:
        raise not_permitted(path, err) from None
    except OSError:
        if not stat.S_ISLNK(lmode(path) or 0):
            raise
        raise corrupt(f"{path}: is a symbolic link, not a file of its own", remedy) from None
    if size > max_bytes:
        raise corrupt(f"{path}: {size} bytes is over the {max_bytes}-byte limit for this file", remedy)
    try:
        value = json.loads(text.decode("utf-8"))
        deep = not _depth_at_most(value, MAX_JSON_DEPTH)
    except RecursionError:  # deeper than Python's own parser goes
        deep = True
    except (UnicodeDecodeError, ValueError) as err:
        raise corrupt(f"{path}: corrupt or truncated ({err})", remedy) from None
    if deep:
        raise corrupt(f"{path}: corrupt (JSON nested more than {MAX_JSON_DEPTH} levels deep)", remedy)
    return value


def _depth_at_most(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists and objects no more than ``limit`` deep (no recursion)."""
    todo: list[tuple[Any, int]] = [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, (list, dict)):
            if depth > limit:
                return False
            todo.extend((x, depth + 1) for x in (item.values() if isinstance(item, dict) else item))
    return True


@contextmanager
def write_lock(root: Path, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[Path]:
    """Hold ``root/write.lock`` for the block; wait up to ``timeout`` seconds for it."""
    from filelock import FileLock, Timeout

    if not 0 <= timeout < float("inf"):  # FileLock waits forever for -1 (and for nan, inf)
        must = f"must be a number of seconds, 0 or more (got {timeout:g})"
        raise ConfigError(f"lock_timeout {must}", cli_message=f"--lock-timeout {must}")
    if root.exists() and not root.is_dir():
        file = f"{root}: is a file, not an index folder"
        raise IndexWriteError(f"{file}; pass a folder path", cli_message=f"{file}; pass a folder path with --index")
    lock_path = root / LOCK_FILE
    mode = lmode(lock_path)
    if mode is not None and not stat.S_ISREG(mode):  # filelock cannot take it; removing it is the remedy
        what = "a folder" if stat.S_ISDIR(mode) else "a symbolic link" if stat.S_ISLNK(mode) else "not a file"
        raise IndexWriteError(f"{lock_path}: is {what}, not the lock file an index keeps; nothing was changed; "
                              f"remove {lock_path} and run again (the index itself is not touched by that)")
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(lock_path, timeout=timeout)
        lock.acquire()
    except Timeout:
        busy = f"{lock_path}: another process is writing this index (waited {timeout:g} s); let it finish and run again"
        raise IndexLockedError(
            f"{busy}, or wait longer (lock_timeout=SECONDS)", cli_message=f"{busy}, or wait longer with --lock-timeout"
        ) from None
    except OSError as err:
        raise not_writable(root, err) from None
    try:
        yield lock_path
    finally:
        lock.release()


def not_writable(root: Path, err: OSError) -> IndexWriteError:
    what = f"{root}: cannot write the index here ({err.strerror or err}); the existing index is unchanged; "
    return IndexWriteError(
        what + "make the folder writable, free disk space, or choose another folder",
        cli_message=what + "make the folder writable, free disk space, or choose another --index",
    )


def claim(root: Path, corpus: str | os.PathLike[str] | None, manifest_name: str, fmt: str) -> None:
    """Refuse, before anything in it is touched, an index folder that is, lies in or holds
    the ``corpus``, or that is neither empty nor an index (its manifest has format ``fmt``,
    damaged or not: a repair rewrites it; or it holds a generation, or only ours and ``PLACEHOLDERS``)."""
    r, c = Path(root).resolve(), Path(corpus if corpus is not None else root).resolve()
    how = "is" if r == c else "lies inside" if r.is_relative_to(c) else "holds" if c.is_relative_to(r) else ""
    if corpus is not None and how:
        what = f"{root}: the index folder {how} the corpus ({corpus}); nothing was changed; keep an index apart from it:"
        raise IndexWriteError(f"{what} pass a folder outside {corpus} as the index path",
                              cli_message=f"{what} pass --index a folder outside {corpus}")
    manifest = _loose_json(root / manifest_name) if root.is_dir() else None  # (the folder may be a link)
    if not root.is_dir() or isinstance(manifest, dict) and manifest.get("format") == fmt:
        return  # missing (the writer makes it), or a file (write_lock says so), or an index
    try:
        names = sorted(os.listdir(root))
    except OSError as err:
        raise not_writable(root, err) from None
    if any(GENERATION_NAME.fullmatch(n) and (own_entry(root / n) or _is_folder(root / n) and
                                             stat.S_ISREG(lmode(root / n / "documents.jsonl") or 0)) for n in names):
        return  # a generation: ours, or of a version that did not mark them
    foreign = [n for n in names if n != LOCK_FILE and not own_entry(root / n)
               and not (n in PLACEHOLDERS and stat.S_ISREG(lmode(root / n) or 0))]
    if foreign:
        shown = ", ".join(map(repr, foreign[:3])) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        what = (f"{root}: not an index folder: it holds {shown}, which ragdiplo did not write; nothing was changed; "
                "choose an empty or new folder for the index, or move those files out of this one")
        raise IndexWriteError(what, cli_message=what.replace("folder for the index", "folder for --index"))


# -- generations: folders of data files swapped in by one manifest replace ----------------------

DATA_PREFIX = "data-"
GENERATION_NAME = re.compile(r"data-[0-9a-f]{16}")
TEMP_PREFIX = ".tmp-ragdiplo-"  # a random 16-hex-digit token follows: names only a writer of ours makes
_TEMP = re.compile(r"\.tmp-ragdiplo-[0-9a-f]{16}(\.[A-Za-z0-9]{1,16})?")
MARK = ".ragdiplo-generation"  # written first into every generation folder, and listed in its file table
_MARK_TEXT = b"a generation of a ragdiplo index: ragdiplo removes it once its manifest names another\n"


def _is_folder(path: Path) -> bool:
    return stat.S_ISDIR(lmode(path) or 0)


def _new_temp(folder: Path, suffix: str = "", *, directory: bool = False) -> Path:
    """A new temporary file, or folder holding the mark, named as only ours are (usual permissions)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NO_LINKS
    while True:
        path = folder / f"{TEMP_PREFIX}{secrets.token_hex(8)}{suffix}"
        try:
            path.mkdir() if directory else os.close(os.open(path, flags, 0o666))
        except FileExistsError:
            continue
        if directory:
            (path / MARK).write_bytes(_MARK_TEXT)
        return path


def own_entry(path: Path) -> bool:
    """Whether a writer of ours made ``path`` (an entry of an index folder) and may remove it: a generation or temporary
    folder holding the mark (or empty: the mark goes last), or a temporary file. Anything else, a link too, is left alone."""
    name, mark = path.name, path / MARK
    try:
        mode = lmode(path) or 0
        if stat.S_ISDIR(mode) and (GENERATION_NAME.fullmatch(name) or _TEMP.fullmatch(name)):
            text = mark.read_bytes() if stat.S_ISREG(lmode(mark) or 0) and mark.stat().st_size <= len(_MARK_TEXT) else None
            if text == _MARK_TEXT:
                return True
            with os.scandir(path) as entries:  # empty, or a mark cut short by a kill and nothing else
                return {e.name for e in entries} <= ({MARK} if text is not None and _MARK_TEXT.startswith(text) else set())
    except OSError:
        return False  # unreadable: not known to be ours
    return stat.S_ISREG(mode) and _TEMP.fullmatch(name) is not None


def _remove_own(path: Path) -> None:
    """Remove an entry of ours (or a link), a folder's mark last."""
    if not _is_folder(path):
        return path.unlink()
    with os.scandir(path) as entries:
        for e in entries:
            if e.name != MARK:
                shutil.rmtree(e.path) if e.is_dir(follow_symlinks=False) else os.unlink(e.path)
    (path / MARK).unlink(missing_ok=True)
    path.rmdir()


def _loose_json(path: Path) -> Any:
    """A JSON file's content, or None when it is missing, a link, too big, too deep or not JSON."""
    try:
        return read_json_capped(path, 64 * 2**20, "")
    except (OSError, IndexCorruptError):
        return None


def recorded_generation(root: Path, manifest_name: str, fmt: str) -> str | None:
    """The generation a manifest of format ``fmt`` names when its seal (if any) holds; the next save removes it."""
    m = _loose_json(root / manifest_name)
    data = m.get("data") if isinstance(m, dict) and m.get("format") == fmt and (SEAL not in m or seal(m) == m) else None
    return data if isinstance(data, str) and GENERATION_NAME.fullmatch(data) else None


def data_files(folder: Path) -> set[str]:
    """Everything under a generation folder but its folders (links too), by relative path."""
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if not _is_folder(p)}


def _holds(folder: Path, files: dict[str, dict[str, Any]]) -> bool:
    """True when ``folder`` holds exactly ``files``, files of its own, byte for byte."""
    return data_files(folder) == set(files) and all(
        stat.S_ISREG(lmode(folder / n) or 0) and file_record(folder / n) == r for n, r in files.items())


def write_generation(
    root: Path,
    fill: Callable[[Path], None],
    manifest: Callable[[str, dict[str, dict[str, Any]]], dict[str, Any]],
    manifest_name: str,
    current: str | None,
) -> dict[str, Any]:
    """Write a new generation of data under ``root`` and make it current.

    ``fill`` writes the data files into an empty folder; ``manifest`` builds the
    manifest from the generation folder's name and the files' records. The caller
    holds the write lock and ``claim``ed the folder. Until the final ``os.replace``
    of the manifest, readers see the previous generation, ``current``; then it and
    any other entries of ours (``own_entry``) are removed, and nothing else.
    """
    try:
        for entry in root.iterdir():  # a killed writer's leftovers; generations only when ``current`` is known
            if own_entry(entry) and (_TEMP.fullmatch(entry.name) or current is not None and entry.name != current):
                _remove_own(entry)
        tmp = _new_temp(root, directory=True)
        created: Path | None = None
        try:
            fill(tmp)
            files = {p.relative_to(tmp).as_posix(): file_record(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
            fsync_tree(tmp)
            data_dir = DATA_PREFIX + hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]
            target, mode = root / data_dir, lmode(root / data_dir)
            if mode is not None:  # ours, recorded, or this very generation half removed by an older writer
                half = _is_folder(target) and data_files(target) <= set(files)
                if not (own_entry(target) or data_dir == current or half):
                    what = (f"{target}: a folder ragdiplo did not write has the name the index's data needs; nothing "
                            f"was changed; move it out of {root}, or choose another")
                    raise IndexWriteError(f"{what} folder for the index", cli_message=f"{what} --index")
                if not (stat.S_ISDIR(mode) and _holds(target, files)):
                    _remove_own(target)
            if lmode(target) is not None:
                _remove_own(tmp)
            else:
                os.rename(tmp, target)
                created = target
            fsync_path(root)
            result = manifest(data_dir, files)
            atomic_write_json(root / manifest_name, result)
        except BaseException:
            if lmode(tmp) is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            written = _loose_json(root / manifest_name)  # the new manifest, if it was replaced before the failure
            if created is not None and not (isinstance(written, dict) and written.get("data") == created.name):
                shutil.rmtree(created, ignore_errors=True)  # no orphan left to fill a full disk
            raise
    except OSError as err:
        raise not_writable(root, err) from None
    for entry in root.iterdir():
        if entry.name != data_dir and (entry.name == current or own_entry(entry)):
            try:
                _remove_own(entry)
            except OSError:
                pass  # the next writer removes it
    return result
