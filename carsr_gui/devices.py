"""Which device runs the model, and in which precision."""

from __future__ import annotations

import contextlib
import functools
import platform
from pathlib import Path

DEVICES = ("auto", "cpu", "gpu")
PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")
#: The precisions Keras runs (a dtype policy each); int8 runs in TensorFlow Lite, on the CPU.
FLOAT_PRECISIONS = ("fp32", "bf16", "fp16")
_POLICY = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}
NAMES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "int8": "int8"}


CPUINFO = Path("/proc/cpuinfo")
#: The CPU features that decide the precision, as ``/proc/cpuinfo`` names them and as people do.
CPU_FEATURES = {
    "amx_bf16": "AMX",
    "avx512_bf16": "AVX-512 BF16",
    "avx512_vnni": "AVX-512 VNNI",
    "avx_vnni": "AVX-VNNI",
    "avx2": "AVX2",
}


@functools.cache
def _cpuinfo() -> dict[str, str]:
    """The first processor's fields in ``/proc/cpuinfo`` (empty where there is none: macOS,
    Windows)."""
    try:
        text = CPUINFO.read_text()
    except OSError:
        return {}
    fields = {}
    for line in text.split("\n\n")[0].splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def cpu_flags() -> frozenset[str]:
    return frozenset(_cpuinfo().get("flags", "").split())


def cpu_model() -> str:
    return _cpuinfo().get("model name") or platform.processor() or platform.machine()


def cpu_summary() -> str:
    """The CPU and the features that set its speed, e.g. ``AMD EPYC (AVX2; no AVX-512 BF16,
    no AMX)``: printed with every speed figure."""
    flags = cpu_flags()
    have = [name for flag, name in CPU_FEATURES.items() if flag in flags]
    lack = [f"no {name}" for flag, name in CPU_FEATURES.items() if flag not in flags]
    return f"{cpu_model()} ({'; '.join(filter(None, [', '.join(have), ', '.join(lack)]))})"


def cpu_has_bf16() -> bool:
    """True where the CPU computes bfloat16 natively (AVX-512 BF16 or AMX). Elsewhere bf16 is
    emulated and many times slower, so it is not worth timing; where it is native it may still
    lose to float32 (docs/performance.md)."""
    return not cpu_flags().isdisjoint({"avx512_bf16", "amx_bf16"})


def gpus() -> list:
    from carsr_gui.tf_setup import tf

    return tf.config.list_physical_devices("GPU")


def enable_memory_growth() -> None:
    """Let TensorFlow take GPU memory as it needs it rather than all of it at start."""
    from carsr_gui.tf_setup import tf

    for gpu in gpus():
        # RuntimeError: the GPU is already initialised and the setting is fixed for this process.
        with contextlib.suppress(RuntimeError):
            tf.config.experimental.set_memory_growth(gpu, True)


def gpu_name(index: int = 0) -> str:
    from carsr_gui.tf_setup import tf

    try:
        details = tf.config.experimental.get_device_details(gpus()[index])
        return details.get("device_name", "GPU")
    except (IndexError, ValueError):
        return "GPU"


def gpu_supports_bf16() -> bool:
    from carsr_gui.tf_setup import tf

    try:
        cc = tf.config.experimental.get_device_details(gpus()[0]).get("compute_capability", (0, 0))
    except (IndexError, ValueError):
        return False
    return tuple(cc) >= (8, 0)


def resolve_device(device: str) -> str:
    """``auto`` becomes ``gpu`` when TensorFlow sees one, else ``cpu``; ``gpu`` requires one."""
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if device == "cpu":
        return "cpu"
    have_gpu = bool(gpus())
    if device == "gpu" and not have_gpu:
        raise RuntimeError("no GPU visible to TensorFlow (see the README's GPU notes)")
    return "gpu" if have_gpu else "cpu"


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    return precision


def int8_available() -> bool:
    """Whether TensorFlow Lite's interpreter (inside TensorFlow) is there to run int8."""
    import importlib.util

    try:
        return importlib.util.find_spec("tensorflow.lite.python.interpreter") is not None
    except ImportError:
        return False


def candidates(device: str) -> list[str]:
    """The precisions worth timing on ``device`` (:mod:`carsr_gui.precision` times them): float32
    always; bfloat16 where the hardware has it (elsewhere it is emulated, many times slower);
    float16 on GPUs; int8 on CPUs, through TensorFlow Lite."""
    if device == "gpu":
        return ["fp32", "bf16", "fp16"] if gpu_supports_bf16() else ["fp32", "fp16"]
    return ["fp32"] + ["bf16"] * cpu_has_bf16() + ["int8"] * int8_available()


def policy_name(precision: str) -> str:
    return _POLICY[precision]


def training_policy(precision: str) -> str:
    """Keras's dtype policy for training in ``precision``; ``auto`` takes the fastest float
    precision that the measured choice for the bundled architecture timed on this device."""
    check_precision(precision)
    if precision == "int8":
        raise ValueError("int8 runs the trained model; training needs fp32, bf16 or fp16")
    if precision == "auto":
        from carsr_gui import precision as measured

        precision = measured.fastest_float(measured.bundled_choice("gpu" if gpus() else "cpu"))
    return policy_name(precision)


def describe(device: str, precision: str) -> str:
    """What the status bar and the CLI say, e.g. ``GPU: NVIDIA H100, bfloat16``."""
    where = f"GPU: {gpu_name()}" if device == "gpu" else f"CPU ({platform.machine()})"
    return f"{where}, {NAMES[precision]}"
