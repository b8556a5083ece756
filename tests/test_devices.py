import pytest

from carsr_gui import devices

FLAGS = {
    "AVX2 only": ({"fpu", "avx", "avx2", "fma"}, ["fp32", "int8"]),
    "AVX-512 BF16": ({"avx2", "avx512f", "avx512_bf16"}, ["fp32", "bf16", "int8"]),
    "AMX": ({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}, ["fp32", "bf16", "int8"]),
    "AVX-512 without BF16": ({"avx2", "avx512f", "avx512bw"}, ["fp32", "int8"]),
    "no /proc/cpuinfo": (set(), ["fp32", "int8"]),
}


@pytest.mark.parametrize("kind", list(FLAGS))
def test_the_candidates_timed_on_each_kind_of_cpu(monkeypatch, kind):
    """bfloat16 is timed only where the CPU has it (elsewhere it is emulated, many times
    slower); which candidate wins is measured (tests/test_precision.py), not read from flags."""
    flags, expected = FLAGS[kind]
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset(flags))
    assert devices.candidates("cpu") == expected


@pytest.mark.parametrize(
    ("bf16", "expected"), [(True, ["fp32", "bf16", "fp16"]), (False, ["fp32", "fp16"])]
)
def test_the_candidates_timed_on_a_gpu(monkeypatch, bf16, expected):
    monkeypatch.setattr(devices, "gpu_supports_bf16", lambda: bf16)
    assert devices.candidates("gpu") == expected


def test_without_tensorflow_lite_int8_is_not_a_candidate(monkeypatch):
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset({"avx2"}))
    monkeypatch.setattr(devices, "int8_available", lambda: False)
    assert devices.candidates("cpu") == ["fp32"]


def test_cpu_summary_names_the_features_that_set_the_speed(monkeypatch):
    monkeypatch.setattr(devices, "cpu_model", lambda: "Intel Xeon")
    monkeypatch.setattr(
        devices, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16", "avx512_vnni"})
    )
    assert devices.cpu_summary() == (
        "Intel Xeon (AVX-512 BF16, AVX-512 VNNI, AVX2; no AMX, no AVX-VNNI)"
    )


def test_cpuinfo_is_read_from_the_first_processor(monkeypatch, tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu avx2 amx_bf16\n\n"
        "processor\t: 1\nmodel name\t: Other\nflags\t\t: fpu\n"
    )
    monkeypatch.setattr(devices, "CPUINFO", info)
    devices._cpuinfo.cache_clear()
    try:
        assert devices.cpu_model() == "Test CPU"
        assert devices.cpu_flags() == {"fpu", "avx2", "amx_bf16"}
        assert devices.cpu_has_bf16()
    finally:
        devices._cpuinfo.cache_clear()


@pytest.mark.parametrize(
    ("function", "bad"), [("resolve_device", "tpu"), ("check_precision", "fp8")]
)
def test_unknown_choices_are_refused(function, bad):
    with pytest.raises(ValueError, match=bad):
        getattr(devices, function)(bad)
