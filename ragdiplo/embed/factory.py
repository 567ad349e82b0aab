"""Which embedder runs a model: chosen by what the CPU computes natively.
OpenVINO in bfloat16 builds on a CPU with bfloat16 instructions, ONNX Runtime in
float32 everywhere else and for questions, sentence-transformers (torch) for the
models neither can run.

The rule is the CPU's, not the machine's the defaults were first tuned on
(``choose_runtime``). On an AMD EPYC with AVX512-BF16, OpenVINO in bfloat16
embedded a build about twice as fast as ONNX Runtime in float32 and built
indexes 2.1-3.2x as fast as Haystack's. On an AMD EPYC with AVX2 only, OpenVINO
runs float32 and was the slowest choice (builds 0.81-1.73x the peer's), so such
a CPU gets ONNX Runtime. On an Intel Xeon with AVX512-BF16 the rule still picks
OpenVINO, though ONNX Runtime built the seeds faster there (docs/results.md,
Performance); ``$RAGDIPLO_BACKEND=onnx`` is the way to it. ONNX Runtime starts
in a tenth of a second without torch, which is most of a cold question, so it
embeds questions on every CPU. Their vectors of one model agree closely enough
to be mixed in one index (``ragdiplo.index.compat``), so the choice is a matter
of speed only.

Kept apart from ``base`` so the backends can import the shared names there
without a cycle through this choice.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ragdiplo.embed.base import (
    DEFAULT_MODEL_ID,
    Backend,
    Embedder,
    Precision,
    SentenceTransformerEmbedder,
    default_model_path,
)
from ragdiplo.errors import ModelError

CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class CpuCapabilities:
    """What the CPU reports, as far as the choice of runtime goes: its vendor,
    its logical cores and its instruction sets (Linux's flag names). All flags
    False is the conservative reading where they cannot be read."""

    vendor: str = ""
    logical_cores: int = 1
    avx2: bool = False
    avx512f: bool = False
    avx512_bf16: bool = False  # AVX-512 bfloat16 dot products
    amx_bf16: bool = False  # AMX tiles in bfloat16
    vnni: bool = False  # avx_vnni or avx512_vnni: int8 dot products

    def __post_init__(self) -> None:
        if self.logical_cores < 1:
            raise ValueError(f"logical_cores must be at least 1, not {self.logical_cores}")

    @classmethod
    def from_flags(cls, flags: set[str] | frozenset[str], vendor: str = "", logical_cores: int = 1) -> CpuCapabilities:
        """The capabilities named by a set of Linux CPU flags (``avx512_bf16`` ...)."""
        return cls(
            vendor=vendor,
            logical_cores=logical_cores,
            avx2="avx2" in flags,
            avx512f="avx512f" in flags,
            avx512_bf16="avx512_bf16" in flags,
            amx_bf16="amx_bf16" in flags,
            vnni=bool(flags & {"avx_vnni", "avx512_vnni"}),
        )

    @property
    def native_bf16(self) -> bool:
        """True when the CPU multiplies in bfloat16 itself; elsewhere OpenVINO
        falls back to float32, where it is no faster than ONNX Runtime."""
        return self.avx512_bf16 or self.amx_bf16


def parse_cpuinfo(text: str) -> CpuCapabilities:
    """``CpuCapabilities`` from the text of Linux's ``/proc/cpuinfo``: the first
    ``vendor_id``, one logical core per ``processor`` entry, and the flags every
    core lists (on a hybrid CPU, what any thread may run on). Text without
    ``flags`` lines (another architecture) gives no flags."""
    vendor, cores = "", 0
    common: set[str] | None = None
    for line in text.splitlines():
        key, colon, value = line.partition(":")
        key = key.strip()
        if not colon:
            continue
        if key == "processor":
            cores += 1
        elif key == "vendor_id" and not vendor:
            vendor = value.strip()
        elif key == "flags":
            flags = set(value.split())
            common = flags if common is None else common & flags
    return CpuCapabilities.from_flags(common or set(), vendor, max(1, cores))


@lru_cache(maxsize=1)
def cpu_capabilities() -> CpuCapabilities:
    """This CPU's capabilities: ``/proc/cpuinfo`` on Linux; elsewhere the
    machine's architecture as the vendor, ``os.cpu_count()`` and no flags (ONNX Runtime, which is
    right on any CPU). Read once per process; never raises."""
    cores = os.cpu_count() or 1
    if sys.platform.startswith("linux"):
        try:
            return parse_cpuinfo(CPUINFO.read_text(encoding="utf-8", errors="replace"))
        except (OSError, ValueError):
            return CpuCapabilities(logical_cores=cores)
    return CpuCapabilities(vendor=platform.machine(), logical_cores=cores)


def choose_runtime(caps: CpuCapabilities, openvino_installed: bool) -> tuple[Backend, Precision]:
    """The runtime and precision that build indexes fastest on a CPU like ``caps``:
    OpenVINO in bfloat16 where the CPU computes bfloat16 natively (AVX512-BF16 or
    AMX) and OpenVINO is installed, else ONNX Runtime in float32. Without native
    bfloat16 OpenVINO computes in float32 and was the slowest runtime measured
    (an AMD EPYC with AVX2 only); with it, it embedded twice as fast as ONNX
    Runtime (an AMD EPYC with AVX512-BF16)."""
    if openvino_installed and caps.native_bf16:
        return Backend.OPENVINO, Precision.BFLOAT16
    return Backend.ONNX, Precision.FLOAT32


def openvino_available() -> bool:
    """True when the ``openvino`` package is installed (found, not imported)."""
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


def default_embedder(
    model: str | os.PathLike[str] | None = None,
    backend: Backend | str | None = None,
    precision: Precision | str | None = None,
) -> Embedder:
    """The embedder the command line and ``QA`` use for a local mean-pooling model
    (the bundled one): the runtime ``choose_runtime`` picks for this CPU
    (OpenVINO where it computes bfloat16 natively, else ONNX Runtime); any other
    model runs in sentence-transformers. ``backend`` (or ``$RAGDIPLO_BACKEND``)
    forces one. ``precision`` is OpenVINO's: float32 keeps it there, bfloat16 or
    None uses bfloat16 where OpenVINO finds the CPU computes it natively. Both
    runtimes start without importing torch."""
    forced = backend or os.environ.get("RAGDIPLO_BACKEND")
    choice = Backend(forced or _fastest_runtime())
    if choice is not Backend.TORCH and (model is None or Path(model).is_dir()):
        from ragdiplo.embed.onnx_backend import OnnxEmbedder, supports

        if supports(default_model_path() if model is None else Path(model)):
            if choice is Backend.OPENVINO:
                from ragdiplo.embed.openvino_backend import OpenVinoEmbedder

                try:
                    return OpenVinoEmbedder(model, bf16=False if precision == Precision.FLOAT32 else None)
                except ModelError:
                    if forced:
                        raise  # asked for by name: say why it cannot run
            return OnnxEmbedder(model)  # also where OpenVINO is installed but cannot run here
    return SentenceTransformerEmbedder(model)


def _fastest_runtime() -> Backend:
    """The backend ``choose_runtime`` picks here; OpenVINO confirms the bfloat16
    itself when it compiles the model, and the index records what it used."""
    return choose_runtime(cpu_capabilities(), openvino_available())[0]


def _check_model(model_id: str, model: str | os.PathLike[str] | None) -> None:
    """The bundled model is found from its id alone; another model's folder must be given."""
    if model is None and model_id != DEFAULT_MODEL_ID:
        raise ModelError(
            f"the index was built with the model {model_id!r}; {how_to_embed_for(model_id)}",
            cli_message=f"the index was built with the model {model_id!r}; pass its folder with --model PATH",
        )


def query_embedder(model_id: str = DEFAULT_MODEL_ID, model: str | os.PathLike[str] | None = None) -> Embedder:
    """The embedder for questions to an index of ``model_id`` (made by any
    backend): ONNX Runtime, whose vectors agree with all of them and which
    starts fastest (a cold start is mostly loading the model);
    ``$RAGDIPLO_BACKEND=torch`` keeps torch."""
    _check_model(model_id, model)
    forced = os.environ.get("RAGDIPLO_BACKEND")
    return default_embedder(model, Backend.TORCH if forced == Backend.TORCH.value else Backend.ONNX)


def index_embedder(
    model_id: str,
    backend: Backend | None = None,
    precision: Precision = Precision.FLOAT32,
    model: str | os.PathLike[str] | None = None,
) -> Embedder:
    """The embedder to edit an index of ``model_id``: the backend and precision
    the index records when they can run here (an edit then embeds new texts
    exactly as a rebuild would), else the default one, whose vectors still agree
    with the index's. An index made in bfloat16 gets the default one on a CPU
    without native bfloat16: OpenVINO would compute in float32 there, as slowly
    as it can and no closer to the index. The bundled model is found from the id
    alone; another model's folder must be given as ``model``."""
    _check_model(model_id, model)
    if backend == Backend.OPENVINO and precision == Precision.BFLOAT16 and not cpu_capabilities().native_bf16:
        backend = None
    if backend is not None:
        try:
            return default_embedder(model, backend, precision)
        except ModelError:
            pass  # e.g. OpenVINO not installed here: any backend of the model will do
    return default_embedder(model)


def how_to_embed_for(model_id: str) -> str:
    """What to pass to edit or search an index of ``model_id``, for an error message."""
    if model_id != DEFAULT_MODEL_ID:
        return f"pass an embedder of that model, e.g. default_embedder('path/to/{model_id}')"
    return "leave the embedder out (edit_index(path), QA.load(path)) or pass default_embedder()"
