"""Disk primitives that keep an index whole: checksums, fsync, atomic replace,
size-capped JSON and the single-writer lock.

A process may be killed at any instruction, so every write goes to a new name
first and becomes visible only through one ``os.replace``; readers need no
lock because of that. Writers do take one (``filelock``: an OS lock that dies
with its process, so a killed writer never leaves a stale lock behind).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

from ragdiplo.errors import ConfigError, IndexCorruptError, IndexLockedError, IndexUnavailableError, IndexWriteError

LOCK_FILE = "write.lock"
DEFAULT_LOCK_TIMEOUT = 60.0


class Remedy(NamedTuple):
    """What repairs a damaged file, told to a library user (``text``: what to call)
    and to a command-line user (``cli``: what to run; None: the same words)."""

    text: str
    cli: str | None = None


def corrupt(what: str, remedy: Remedy | str) -> IndexCorruptError:
    """The error for a damaged file: what is wrong with it, then the remedy."""
    fix = remedy if isinstance(remedy, Remedy) else Remedy(remedy)
    return IndexCorruptError(f"{what}; {fix.text}", cli_message=f"{what}; {fix.cli}" if fix.cli else None)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
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


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _new_file_mode() -> int:
    return 0o666 & ~_umask()


def _new_folder_mode() -> int:
    return 0o777 & ~_umask()


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
    fd, name = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, _new_file_mode())  # mkstemp makes 0600; a written file gets the usual permissions
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
    """Parse a JSON file no larger than ``max_bytes``; anything else is corrupt."""
    size = path.stat().st_size
    if size > max_bytes:
        raise corrupt(f"{path}: {size} bytes is over the {max_bytes}-byte limit for this file", remedy)
    try:
        with open(path, "rb") as f:
            return json.loads(f.read(max_bytes + 1).decode("utf-8"))
    except PermissionError as err:
        raise not_permitted(path, err) from None
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise corrupt(f"{path}: corrupt or truncated ({err})", remedy) from None


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


# -- generations: folders of data files swapped in by one manifest replace ----------------------

DATA_PREFIX = "data-"
_DATA_DIR = re.compile(r"data-[0-9a-f]{16}")


def _holds(folder: Path, files: dict[str, dict[str, Any]]) -> bool:
    """True when ``folder`` holds exactly ``files``, byte for byte."""
    found = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    return found == set(files) and all(file_record(folder / n) == r for n, r in files.items())


def _remove_debris(root: Path, manifest_name: str) -> None:
    """Temporary files and folders of a killed writer, and generations the manifest
    does not name (a save that failed at its last step); only the lock holder calls this."""
    for debris in root.glob(".tmp-*"):
        shutil.rmtree(debris) if debris.is_dir() else debris.unlink()
    current = _current_data(root, manifest_name)
    if current is None:
        return  # no readable manifest: which generation is current cannot be told, so none is removed
    for old in root.glob(DATA_PREFIX + "*"):
        if old.name != current and old.is_dir():
            shutil.rmtree(old)


def _current_data(root: Path, manifest_name: str) -> str | None:
    """The generation the manifest names, None when it cannot be read."""
    try:
        data = json.loads((root / manifest_name).read_text(encoding="utf-8")).get("data")
    except (OSError, ValueError, AttributeError):
        return None
    return data if isinstance(data, str) else None


def write_generation(
    root: Path,
    fill: Callable[[Path], None],
    manifest: Callable[[str, dict[str, dict[str, Any]]], dict[str, Any]],
    manifest_name: str,
) -> dict[str, Any]:
    """Write a new generation of data under ``root`` and make it current.

    ``fill`` writes the data files into an empty folder; ``manifest`` builds the
    manifest from the generation folder's name and the files' records. The caller
    holds the write lock. Until the final ``os.replace`` of the manifest, readers
    see the previous generation; afterwards the older generations are removed.
    """
    try:
        _remove_debris(root, manifest_name)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
        created: Path | None = None
        try:
            os.chmod(tmp, _new_folder_mode())  # mkdtemp makes 0700; other users of a shared index must read it
            fill(tmp)
            files = {p.relative_to(tmp).as_posix(): file_record(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
            fsync_tree(tmp)
            data_dir = DATA_PREFIX + hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]
            target = root / data_dir
            if target.exists() and not _holds(target, files):
                shutil.rmtree(target)  # half deleted by a writer killed while cleaning up
            if target.exists():
                shutil.rmtree(tmp)
            else:
                os.rename(tmp, target)
                created = target
            fsync_path(root)
            result = manifest(data_dir, files)
            atomic_write_json(root / manifest_name, result)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            if created is not None and _current_data(root, manifest_name) != created.name:
                shutil.rmtree(created, ignore_errors=True)  # no orphan left to fill a full disk
            raise
    except OSError as err:
        raise not_writable(root, err) from None
    for old in root.glob(DATA_PREFIX + "*"):
        if old.name != data_dir:
            shutil.rmtree(old, ignore_errors=True)
    return result


def check_file_table(manifest: dict[str, Any], required: tuple[str, ...], where: Path, remedy: Remedy | str) -> None:
    """The manifest's data folder and file names must be plain names inside the
    index folder, so a crafted manifest cannot make the loader read elsewhere."""
    data, files = manifest.get("data"), manifest.get("files")
    if not isinstance(data, str) or not _DATA_DIR.fullmatch(data):
        raise corrupt(f"{where}: bad data folder name {data!r}", remedy)
    if not isinstance(files, dict) or not set(required) <= set(files):
        raise corrupt(f"{where}: the file table is missing entries", remedy)
    for name, record in files.items():
        parts = PurePosixPath(name).parts
        if not parts or PurePosixPath(name).is_absolute() or ".." in parts or "\\" in name:
            raise corrupt(f"{where}: unsafe file name {name!r} in the file table", remedy)
        if not isinstance(record, dict) or not isinstance(record.get("bytes"), int) or "sha256" not in record:
            raise corrupt(f"{where}: bad file record for {name!r}", remedy)


def check_files(
    data: Path, files: dict[str, dict[str, Any]], verify: bool, remedy: Remedy | str, *, extra: bool = True
) -> None:
    """Every data file is present and has its recorded size, and with ``verify``
    its recorded SHA-256; the error names the file and says what is wrong. With
    ``extra``, a file in ``data`` that ``files`` does not list is an error too."""
    if extra and data.is_dir():
        unlisted = sorted({p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file()} - set(files))
        if unlisted:
            raise corrupt(f"{data / unlisted[0]}: not listed in the manifest", remedy)
    for name, record in files.items():
        file = data / name
        if not file.is_file():
            raise corrupt(f"{file}: missing from the index", remedy)
        size = file.stat().st_size
        if size != record["bytes"]:
            raise corrupt(f"{file}: truncated or resized ({size} bytes, expected {record['bytes']})", remedy)
        if verify and sha256_file(file) != record["sha256"]:
            raise corrupt(f"{file}: checksum mismatch (corrupt or modified)", remedy)
