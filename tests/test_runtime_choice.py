"""The runtime is chosen by what the CPU computes natively, not by the machine the
defaults were tuned on; ``$RAGDIPLO_BACKEND`` and ``backend=`` still decide; ONNX
Runtime's threads sleep instead of spinning. No model is loaded: the embedders
and ONNX Runtime's sessions are stand-ins."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import ragdiplo.embed.factory as factory
import ragdiplo.embed.onnx_backend as onnx_backend
import ragdiplo.embed.openvino_backend as openvino_backend
from ragdiplo.embed.base import Backend, Precision
from ragdiplo.embed.factory import CpuCapabilities, choose_runtime, parse_cpuinfo

AVX2 = CpuCapabilities("AuthenticAMD", 2, avx2=True)  # an AMD EPYC without AVX-512 or VNNI
AVX512 = CpuCapabilities("GenuineIntel", 2, avx2=True, avx512f=True, vnni=True)
AVX512_BF16 = CpuCapabilities("AuthenticAMD", 2, avx2=True, avx512f=True, avx512_bf16=True, vnni=True)
AMX = CpuCapabilities("GenuineIntel", 4, avx2=True, avx512f=True, amx_bf16=True, vnni=True)
NO_FLAGS = CpuCapabilities("arm64", 8)  # what a platform without /proc/cpuinfo reports

ONNX_FP32 = (Backend.ONNX, Precision.FLOAT32)
OPENVINO_BF16 = (Backend.OPENVINO, Precision.BFLOAT16)


@pytest.mark.parametrize(
    ("caps", "openvino", "expected"),
    [
        (AVX2, True, ONNX_FP32),  # OpenVINO would run float32: the slowest builder measured
        (AVX512, True, ONNX_FP32),
        (AVX512_BF16, True, OPENVINO_BF16),
        (AVX512_BF16, False, ONNX_FP32),
        (AMX, True, OPENVINO_BF16),
        (AMX, False, ONNX_FP32),
        (NO_FLAGS, True, ONNX_FP32),
    ],
    ids=["avx2", "avx512", "avx512-bf16", "avx512-bf16-no-openvino", "amx", "amx-no-openvino", "no-flags"],
)
def test_openvino_in_bfloat16_only_where_the_cpu_computes_it_and_openvino_is_installed(caps, openvino, expected):
    assert choose_runtime(caps, openvino) == expected


AMD_CPUINFO = """\
processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model name\t: AMD EPYC 9R14 96-Core Processor
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr sse sse2 ht syscall nx avx f16c avx2 \
avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16 avx512_vnni avx512_vbmi2
bugs\t\t: sysret_ss_attrs spectre_v1 spectre_v2

processor\t: 1
vendor_id\t: AuthenticAMD
cpu family\t: 25
model name\t: AMD EPYC 9R14 96-Core Processor
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr sse sse2 ht syscall nx avx f16c avx2 \
avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16 avx512_vnni avx512_vbmi2
bugs\t\t: sysret_ss_attrs spectre_v1 spectre_v2
"""

ARM_CPUINFO = """\
processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm bf16 i8mm
CPU implementer\t: 0x41

processor\t: 1
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm bf16 i8mm
CPU implementer\t: 0x41
"""


def test_proc_cpuinfo_is_read_into_capabilities():
    assert parse_cpuinfo(AMD_CPUINFO) == CpuCapabilities(
        "AuthenticAMD", 2, avx2=True, avx512f=True, avx512_bf16=True, amx_bf16=False, vnni=True
    )
    avx2_only = AMD_CPUINFO.replace(" avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16 avx512_vnni", "")
    assert parse_cpuinfo(avx2_only) == AVX2
    assert parse_cpuinfo(ARM_CPUINFO) == CpuCapabilities("", 2)  # no x86 flags: ONNX Runtime
    assert parse_cpuinfo("") == CpuCapabilities()


def test_a_flag_counts_only_when_every_core_lists_it():
    one_without = AMD_CPUINFO.replace(" avx512_bf16", "", 1)
    caps = parse_cpuinfo(one_without)
    assert caps.avx512f and not caps.avx512_bf16 and choose_runtime(caps, True) == ONNX_FP32


def test_amx_alone_counts_as_native_bfloat16():
    amx = AMD_CPUINFO.replace("avx512_bf16", "amx_bf16 amx_tile")
    assert parse_cpuinfo(amx).amx_bf16 and parse_cpuinfo(amx).native_bf16


def test_logical_cores_must_be_positive():
    with pytest.raises(ValueError, match="logical_cores"):
        CpuCapabilities(logical_cores=0)


@pytest.fixture
def fresh_capabilities():
    factory.cpu_capabilities.cache_clear()
    yield
    factory.cpu_capabilities.cache_clear()


def test_capabilities_are_read_here_without_raising(fresh_capabilities, monkeypatch, tmp_path):
    here = factory.cpu_capabilities()
    assert here.logical_cores >= 1
    monkeypatch.setattr(factory.sys, "platform", "linux")
    monkeypatch.setattr(factory, "CPUINFO", tmp_path / "missing")
    factory.cpu_capabilities.cache_clear()
    assert not factory.cpu_capabilities().native_bf16
    monkeypatch.setattr(factory.sys, "platform", "darwin")
    factory.cpu_capabilities.cache_clear()
    elsewhere = factory.cpu_capabilities()
    assert elsewhere == CpuCapabilities(elsewhere.vendor, os.cpu_count() or 1)  # no flags: ONNX Runtime


class _Made:
    """A stand-in embedder that records how it was asked for."""

    def __init__(self, model=None, **kwargs):
        self.model, self.kwargs = model, kwargs


class Onnx(_Made):
    pass


class OpenVino(_Made):
    pass


class Torch(_Made):
    pass


@pytest.fixture
def stand_ins(monkeypatch):
    """default_embedder with stand-ins for the three runtimes, OpenVINO installed."""
    monkeypatch.setattr(onnx_backend, "OnnxEmbedder", Onnx)
    monkeypatch.setattr(openvino_backend, "OpenVinoEmbedder", OpenVino)
    monkeypatch.setattr(factory, "SentenceTransformerEmbedder", Torch)
    monkeypatch.setattr(factory, "openvino_available", lambda: True)
    monkeypatch.delenv("RAGDIPLO_BACKEND", raising=False)

    def on(caps: CpuCapabilities) -> None:
        monkeypatch.setattr(factory, "cpu_capabilities", lambda: caps)

    return on


@pytest.mark.parametrize(("caps", "made"), [(AVX2, Onnx), (AVX512, Onnx), (AVX512_BF16, OpenVino), (AMX, OpenVino),
                                            (NO_FLAGS, Onnx)])
def test_the_default_embedder_follows_the_cpu(stand_ins, caps, made):
    stand_ins(caps)
    embedder = factory.default_embedder()
    assert type(embedder) is made
    if made is OpenVino:
        assert embedder.kwargs == {"bf16": None}  # OpenVINO confirms the bfloat16; the index records what it used


def test_without_openvino_a_bfloat16_cpu_gets_onnx_runtime(stand_ins, monkeypatch):
    stand_ins(AVX512_BF16)
    monkeypatch.setattr(factory, "openvino_available", lambda: False)
    assert type(factory.default_embedder()) is Onnx


@pytest.mark.parametrize(
    ("forced", "caps", "made"),
    [("onnx", AVX512_BF16, Onnx), ("openvino", AVX2, OpenVino), ("torch", AVX512_BF16, Torch), ("torch", AVX2, Torch)],
)
def test_ragdiplo_backend_overrides_the_cpu(stand_ins, monkeypatch, forced, caps, made):
    stand_ins(caps)
    monkeypatch.setenv("RAGDIPLO_BACKEND", forced)
    assert type(factory.default_embedder()) is made


def test_the_backend_argument_overrides_the_cpu_and_the_environment(stand_ins, monkeypatch):
    stand_ins(AVX512_BF16)
    monkeypatch.setenv("RAGDIPLO_BACKEND", "openvino")
    assert type(factory.default_embedder(backend=Backend.ONNX)) is Onnx
    stand_ins(AVX2)
    assert type(factory.default_embedder(backend="openvino", precision=Precision.FLOAT32)) is OpenVino
    assert factory.default_embedder(backend="openvino", precision=Precision.FLOAT32).kwargs == {"bf16": False}


class _Session:
    """Stands in for ``onnxruntime.InferenceSession``: keeps the options it was given."""

    made: list[object] = []

    def __init__(self, path, options, providers=None):
        _Session.made.append(options)

    def get_inputs(self):
        return []


@pytest.fixture
def sessions(monkeypatch):
    import onnxruntime

    _Session.made = []
    monkeypatch.setattr(onnxruntime, "InferenceSession", _Session)
    return _Session.made


def test_onnx_runtime_threads_sleep_instead_of_spinning():
    options = onnx_backend.session_options(3)
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (3, 1)
    assert onnx_backend.session_options(0).intra_op_num_threads == 1


def test_the_embedder_session_uses_every_usable_core_without_spinning(sessions):
    onnx_backend._load_session(Path("model.onnx"), onnx_backend.usable_cores())
    (options,) = sessions
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.intra_op_num_threads == onnx_backend.usable_cores()  # builds keep all cores


def test_the_reader_session_uses_at_most_two_threads_unless_told(sessions, monkeypatch):
    from ragdiplo.answer.readers import shipped

    monkeypatch.setattr(shipped, "usable_cores", lambda: 16)
    shipped.ExtractiveReader()
    monkeypatch.setattr(shipped, "usable_cores", lambda: 1)
    shipped.ExtractiveReader()
    shipped.ExtractiveReader(threads=5)
    assert [o.intra_op_num_threads for o in sessions] == [shipped.READER_THREADS, 1, 5]
    for options in sessions:
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
        assert options.inter_op_num_threads == 1

