import pytest

from carsr_gui import devices

FLAGS = {
    "AVX2 only": ({"fpu", "avx", "avx2", "fma"}, "fp32"),
    "AVX-512 BF16": ({"avx2", "avx512f", "avx512_bf16"}, "bf16"),
    "AMX": ({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}, "bf16"),
    "AVX-512 without BF16": ({"avx2", "avx512f", "avx512bw"}, "fp32"),
    "no /proc/cpuinfo": (set(), "fp32"),
}


@pytest.mark.parametrize("kind", list(FLAGS))
def test_auto_precision_on_each_kind_of_cpu(monkeypatch, kind):
    flags, expected = FLAGS[kind]
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset(flags))
    assert devices.resolve_precision("auto", "cpu") == expected
    assert devices.resolve_precision("fp32", "cpu") == "fp32"  # an explicit choice stays


def test_cpu_summary_names_the_features_that_set_the_speed(monkeypatch):
    monkeypatch.setattr(devices, "cpu_model", lambda: "Intel Xeon")
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))
    assert devices.cpu_summary() == "Intel Xeon (AVX-512 BF16, AVX2; no AMX)"


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
    ("function", "bad"), [("resolve_device", "tpu"), ("resolve_precision", "fp8")]
)
def test_unknown_choices_are_refused(function, bad):
    with pytest.raises(ValueError, match=bad):
        getattr(devices, function)(*([bad] if function == "resolve_device" else [bad, "cpu"]))
