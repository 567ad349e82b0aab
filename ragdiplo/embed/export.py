"""Export a local model folder's transformer to ONNX, once, into a cache folder.

The graph is made here from the weights already on disk (torch.onnx.export),
never downloaded. It reads packed rows: besides the token ids it takes each
token's position and segment, and a token attends only to tokens of its own
segment. One row can then carry several texts, each computed exactly as if it
were alone (OpenVINO fills fixed-size rows that way); a plain batch is the case
of one segment per row (ONNX Runtime).

It is written like index data: to a temporary name, fsynced, renamed into
place, then recorded (size and SHA-256) in ``export.json``, which is itself
replaced atomically. A missing, truncated or altered export does not match
its record and is made again; two processes exporting at once take turns on a
lock. The cache folder is ``$RAGDIPLO_CACHE`` or ``~/.cache/ragdiplo``.

An export is named by what it is made of, not where: the SHA-256 of the weights
and config and the graph's format. Every virtual environment that holds the same
model shares one export, and changed weights get a new one. Hashing 90 MB of
weights at every start would cost a tenth of a second, so each file's hash is
remembered in ``onnx/hashes.json`` beside its path, size and modification time.

Making an export takes seconds (torch is imported and traces the model), once per
machine and model. Just before it starts, the logger ``ragdiplo.embed.export``
says so at INFO (``PREPARING``): the command line shows that line, unless quiet,
so a first run that is slow explains itself; a run that finds its export says nothing.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from pathlib import Path
from typing import Any

from ragdiplo.durable import atomic_replace, atomic_write_json, read_json_capped, sha256_file
from ragdiplo.errors import IndexCorruptError, ModelError

FORMAT = "ragdiplo-onnx-export"
FORMAT_VERSION = 2  # 2: packed rows (input_ids, position_ids, segment_ids)
ONNX_FILE = "model.onnx"
RECORD = "export.json"
GRAPH_INPUTS = ("input_ids", "position_ids", "segment_ids")  # int64 (rows, tokens) each
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
CONFIG_FILE = "config.json"  # the architecture the weights are read with
HASHES = "hashes.json"  # path -> (bytes, mtime_ns, sha256) of files hashed before
MAX_HASHES_BYTES = 1 << 20
# said when an export is made: 7-17 s measured on busy 2-core machines, most of it importing torch and tracing
PREPARING = "preparing the embedding model for this machine (once, up to about 20 s; later runs reuse it from {folder})"

log = logging.getLogger(__name__)


def cache_root() -> Path:
    root = os.environ.get("RAGDIPLO_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "ragdiplo"


def _weights(folder: Path) -> Path:
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    raise ModelError(f"{folder}: no {' or '.join(WEIGHT_FILES)}; this model cannot be exported to ONNX")


def content_hash(path: Path) -> str:
    """SHA-256 of a file, remembered by its resolved path, size and modification
    time so an unchanged file is read once, not at every start."""
    path, stat = path.resolve(), path.stat()
    memo_file = cache_root() / "onnx" / HASHES
    seen = {"bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    try:
        memo = read_json_capped(memo_file, MAX_HASHES_BYTES, "it is rebuilt")
    except (IndexCorruptError, OSError):
        memo = {}
    memo = memo if isinstance(memo, dict) else {}
    known = memo.get(str(path))
    if isinstance(known, dict) and {k: known.get(k) for k in seen} == seen and isinstance(known.get("sha256"), str):
        return known["sha256"]
    digest = sha256_file(path)
    memo[str(path)] = {**seen, "sha256": digest}
    try:
        memo_file.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(memo_file, memo)
    except OSError:
        pass  # a read-only cache: hash again next time
    return digest


def _source(folder: Path) -> dict[str, Any]:
    """What an export is made from, by content: its weights and config."""
    weights, config = _weights(folder), folder / CONFIG_FILE
    source = {"weights_sha256": content_hash(weights), "bytes": weights.stat().st_size}
    if config.is_file():
        source["config_sha256"] = content_hash(config)
    return source


def export_folder(folder: Path, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the export of ``folder`` lives: ``cache_dir`` itself when given, else a
    subfolder of the cache named by the content it is made from and the graph's
    format (two library versions side by side keep an export each)."""
    if cache_dir is not None:
        return Path(cache_dir)
    key = hashlib.sha256(repr((FORMAT, FORMAT_VERSION, sorted(_source(folder).items()))).encode()).hexdigest()[:16]
    return cache_root() / "onnx" / f"{FORMAT}-v{FORMAT_VERSION}-{key}"


def _valid(target: Path, source: dict[str, Any]) -> bool:
    record_file, onnx_file = target / RECORD, target / ONNX_FILE
    if not record_file.is_file() or not onnx_file.is_file():
        return False
    try:
        record = read_json_capped(record_file, 1 << 16, "it is made again")
    except (IndexCorruptError, OSError):
        return False
    if not isinstance(record, dict) or record.get("format") != FORMAT or record.get("version") != FORMAT_VERSION:
        return False
    if record.get("source") != source or record.get("bytes") != onnx_file.stat().st_size:
        return False
    return bool(record.get("sha256") == sha256_file(onnx_file))


def ensure_export(folder: Path, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The path of a checked ONNX export of ``folder``, made if it is missing or
    does not match its record."""
    source = _source(folder)
    target = export_folder(folder, cache_dir)
    if _valid(target, source):
        return target / ONNX_FILE
    from filelock import FileLock

    try:
        target.mkdir(parents=True, exist_ok=True)
        with FileLock(target / "export.lock"):
            if not _valid(target, source):
                log.info(PREPARING.format(folder=cache_root() if cache_dir is None else target))
                _export(folder, target, source)
    except OSError as err:
        raise ModelError(
            f"{target}: cannot write the ONNX export ({err}); set RAGDIPLO_CACHE to a writable folder"
        ) from None
    return target / ONNX_FILE


def _write_atomically(target: Path, name: str, record_name: str, source: dict[str, Any], write: Any) -> None:
    """``write(tmp_path)`` makes the file; it becomes ``name`` by one rename, and its
    record (size, SHA-256, what it was made from) is replaced after it."""
    (target / record_name).unlink(missing_ok=True)
    file = target / name
    atomic_replace(file, lambda tmp: write(str(tmp)))
    record = {"format": FORMAT, "version": FORMAT_VERSION, "source": source,
              "bytes": file.stat().st_size, "sha256": sha256_file(file)}
    atomic_write_json(target / record_name, record)


def _export(folder: Path, target: Path, source: dict[str, Any]) -> None:
    try:
        import torch
        from transformers import AutoModel
    except ImportError as err:
        raise ModelError(f"exporting to ONNX needs torch and transformers ({err})") from None
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a one-time export, not worth a progress bar among ours
    try:  # eager attention takes the per-row (tokens x tokens) mask the segments make
        model = AutoModel.from_pretrained(str(folder), local_files_only=True, attn_implementation="eager").eval()
    finally:
        if shown:
            hf_logging.enable_progress_bar()
    names = list(GRAPH_INPUTS)
    example = (torch.ones((2, 8), dtype=torch.long), torch.arange(8).repeat(2, 1), torch.ones((2, 8), dtype=torch.long))
    axes = {n: {0: "rows", 1: "tokens"} for n in [*names, "last_hidden_state"]}

    def write(tmp: str) -> None:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            try:
                torch.onnx.export(
                    _Hidden(model), example, tmp, input_names=names, output_names=["last_hidden_state"],
                    dynamic_axes=axes, opset_version=17, dynamo=False,
                )
            except (RuntimeError, TypeError, ValueError) as err:  # the model refused the packed-row inputs
                raise ModelError(f"{folder}: cannot be exported for packed rows ({err}); it needs transformers>=5.0, "
                                 "or set RAGDIPLO_BACKEND=torch") from None

    _write_atomically(target, ONNX_FILE, RECORD, source, write)


def _hidden_module() -> Any:
    import torch

    class Hidden(torch.nn.Module):
        """The transformer's last hidden state for packed rows; pooling is done
        outside the graph. Padding is a segment of its own (0), so it attends to
        itself and never reaches a text."""

        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, position_ids: Any, segment_ids: Any) -> Any:
            apart = segment_ids[:, None, :, None] != segment_ids[:, None, None, :]
            mask = apart.to(torch.float32) * -1e9  # added to the attention scores: exp() of it is exactly 0
            return self.model(input_ids=input_ids, attention_mask=mask, position_ids=position_ids,
                              token_type_ids=torch.zeros_like(input_ids)).last_hidden_state

    return Hidden


def _Hidden(model: Any) -> Any:
    return _hidden_module()(model)
