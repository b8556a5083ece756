"""Faults during a job: an unwritable or full output folder, cancel and interrupt, missing or
damaged weights, GPU out of memory. Nothing partial is left, inputs are untouched (hashed),
finished outputs are kept, and each error names the file."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile

import numpy as np
import pytest
from PIL import Image

from carsr_gui import cli, devices, image_io, resources
from carsr_gui.engine import Cancelled, CancelToken, Engine
from carsr_gui.runner import ModelRunner
from tests.corpus import Corpus, pattern


@pytest.fixture
def corpus(tmp_path):
    c = Corpus(tmp_path / "in")
    yield c
    assert c.changed() == [], "an input file was changed"


@pytest.fixture
def photos(corpus):
    return [
        corpus.image(f"{name}.png", Image.fromarray(pattern(8, 6, seed=i)))
        for i, name in enumerate("abc")
    ]


def upscale(*paths, out, weights, extra=()):
    argv = ["upscale", *map(str, paths), "-o", str(out), "--weights", str(weights), "-q", *extra]
    return cli.main(argv)


def error_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("carsr: ")]


def disk_fills_on(monkeypatch, calls: set[int]) -> None:
    """Encoding the ``calls``-th outputs (1-based) writes a little, then finds the disk full."""
    real_save = Image.Image.save
    count = 0

    def save(self, fp, *args, **kwargs):
        nonlocal count
        count += 1
        if count in calls:
            fp.write(b"\x89PNG partial data" * 64)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save)


# -- output folder ---------------------------------------------------------------------------


def test_read_only_output_folder(photos, tmp_path, tiny_weights, capsys, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    if os.access(out, os.W_OK):  # root ignores the mode: refuse as the kernel would
        real_mkstemp = tempfile.mkstemp

        def mkstemp(*args, dir=None, **kwargs):
            if dir is not None and os.path.samefile(dir, out):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(dir))
            return real_mkstemp(*args, dir=dir, **kwargs)

        monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    try:
        assert upscale(*photos[:2], out=out, weights=tiny_weights) == 1
        lines = error_lines(capsys)
        assert lines == [
            *(
                f"carsr: {out / f'{n}_x2.png'}: cannot write in {out}: Permission denied"
                for n in "ab"
            ),
            "carsr: 2 failed",
        ]
        assert list(out.iterdir()) == []
    finally:
        out.chmod(0o755)


def test_full_disk_names_file_and_folder_leaves_nothing_and_goes_on(
    photos, tmp_path, tiny_weights, capsys, monkeypatch
):
    out = tmp_path / "out"
    disk_fills_on(monkeypatch, {2})
    assert upscale(*photos, out=out, weights=tiny_weights) == 1
    assert error_lines(capsys) == [
        f"carsr: {out / 'b_x2.png'}: cannot write in {out}: No space left on device",
        "carsr: 2 enlarged, 1 failed",
    ]
    assert sorted(p.name for p in out.iterdir()) == ["a_x2.png", "c_x2.png"]  # no temp file
    assert all(p.stat().st_size > 0 for p in out.iterdir())


def test_full_disk_keeps_the_output_it_was_replacing(photos, tmp_path, tiny_weights, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    previous = out / "a_x2.png"
    previous.write_bytes(b"an earlier result")
    disk_fills_on(monkeypatch, {1})
    assert upscale(photos[0], out=out, weights=tiny_weights, extra=["--overwrite"]) == 1
    assert previous.read_bytes() == b"an earlier result"
    assert list(out.iterdir()) == [previous]


def test_save_failure_removes_its_temporary_file(tmp_path, monkeypatch):
    disk_fills_on(monkeypatch, {1})
    with pytest.raises(image_io.ImageError) as info:
        image_io.save(tmp_path / "o.png", pattern(4, 4))
    assert str(info.value) == f"{tmp_path / 'o.png'}: cannot write in {tmp_path}: " + os.strerror(
        errno.ENOSPC
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("links", [True, False], ids=["hard-links", "no-hard-links"])
def test_a_file_is_replaced_only_when_asked(tmp_path, monkeypatch, links):
    """Two saves to one name (the second queued before the first was written): the second is
    refused, not written over the first, unless its own write was told to replace."""
    if not links:  # FAT, some network shares: the writer claims the name instead

        def no_link(*args):
            raise OSError(errno.EPERM, os.strerror(errno.EPERM))

        monkeypatch.setattr(os, "link", no_link)
    target = tmp_path / "o.png"
    image_io.save(target, pattern(4, 4))
    first = target.read_bytes()
    with pytest.raises(image_io.ImageError) as info:
        image_io.save(target, pattern(6, 6))
    assert str(info.value) == f"{target}: exists already; not replaced"
    assert target.read_bytes() == first
    image_io.save(target, pattern(6, 6), replace=True)
    with Image.open(target) as img:
        assert img.size == (6, 6)
    assert [p.name for p in tmp_path.iterdir()] == ["o.png"]  # no temporary file left


def test_stop_on_error_stops_cleanly(photos, tmp_path, tiny_weights, capsys, monkeypatch):
    out = tmp_path / "out"
    disk_fills_on(monkeypatch, {2})
    assert upscale(*photos, out=out, weights=tiny_weights, extra=["--stop-on-error"]) == 1
    err = capsys.readouterr().err
    assert f"carsr: {out / 'b_x2.png'}: cannot write in {out}" in err
    assert "carsr: stopped at the first failure: 1 not processed" in err
    assert err.splitlines()[-1] == "carsr: 1 enlarged, 1 failed, 1 cancelled"
    assert [p.name for p in out.iterdir()] == ["a_x2.png"]


# -- cancel and interrupt --------------------------------------------------------------------


def test_cancel_in_the_middle_of_an_image(engine):
    token = CancelToken()
    seen = []

    def progress(done, total):
        seen.append((done, total))
        if done == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        engine.upscale(pattern(60, 60), progress=progress, cancel=token)
    assert seen[-1][0] == 2 < seen[-1][1]


def test_interrupt_in_the_middle_of_a_batch_keeps_finished_outputs(
    corpus, tmp_path, tiny_weights, capsys, monkeypatch
):
    small = corpus.image("small.png", Image.fromarray(pattern(8, 6)))
    large = corpus.image("large.png", Image.fromarray(pattern(60, 60)))  # 4 tiles of 96
    real_forward = ModelRunner.forward
    calls = 0

    def forward(self, x, *args):
        nonlocal calls
        calls += x.shape[1] > 8  # not the engine's 8x8 warm-up
        if calls == 3:  # the second tile of the second image
            raise KeyboardInterrupt
        return real_forward(self, x, *args)

    monkeypatch.setattr(ModelRunner, "forward", forward)
    out = tmp_path / "out"
    assert upscale(small, large, out=out, weights=tiny_weights, extra=["--tile", "96"]) == 130
    assert f"carsr: {large}: interrupted; no partial output written" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["small_x2.png"]


# -- weights -------------------------------------------------------------------------------


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """A copy of the bundled weights folder that the program finds as its own."""
    copy = tmp_path / "install" / "model_weights"
    shutil.copytree(resources.data_dir("model_weights"), copy)
    real = resources.data_dir
    monkeypatch.setattr(
        resources, "data_dir", lambda name: copy if name == "model_weights" else real(name)
    )
    return copy


def test_damaged_weights_error_names_the_file_and_the_fix(installed, photos, tmp_path, capsys):
    card = resources.load_card(installed)
    weights = installed / card["weights"]
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(resources.WeightsError) as info:
        Engine()
    assert str(info.value).startswith(f"{weights}: model weights damaged")
    assert resources.FIX in str(info.value)

    out = tmp_path / "out"
    assert cli.main(["upscale", str(photos[0]), "-o", str(out), "-q"]) == 1
    assert error_lines(capsys) == [f"carsr: {info.value}"]
    assert not out.exists() or list(out.iterdir()) == []


def test_missing_weights_error_names_the_file(installed):
    weights = installed / resources.load_card(installed)["weights"]
    weights.unlink()
    with pytest.raises(resources.WeightsError, match="model weights missing") as info:
        Engine()
    assert str(weights) in str(info.value)


def test_missing_model_card_is_a_weights_error(installed):
    (installed / resources.CARD_NAME).unlink()
    with pytest.raises(resources.WeightsError, match="model card missing"):
        Engine()


def test_a_weights_option_pointing_at_junk_names_that_file(photos, tmp_path, capsys):
    junk = tmp_path / "junk.weights.h5"
    junk.write_bytes(b"not weights at all")
    assert upscale(photos[0], out=tmp_path / "out", weights=junk) == 1
    lines = error_lines(capsys)
    assert len(lines) == 1 and lines[0].startswith(f"carsr: {junk}: ")


# -- GPU out of memory -----------------------------------------------------------------------


def out_of_memory_above(monkeypatch, size: int | None) -> None:
    """``ModelRunner.forward`` fails as a GPU does for tiles larger than ``size`` (all, if None), and
    only while the engine is on the GPU."""
    from carsr_gui.tf_setup import tf

    real_forward = ModelRunner.forward

    def forward(self, x, *args):
        if self.device == "gpu" and (size is None or x.shape[1] > size):
            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")
        return real_forward(self, x, *args)

    monkeypatch.setattr(ModelRunner, "forward", forward)


def test_gpu_out_of_memory_retries_with_smaller_tiles(tiny_model, monkeypatch):
    img = pattern(70, 90, seed=4)
    expected = Engine(model=tiny_model, tile=96, margin=28).upscale(img).output
    engine = Engine(model=tiny_model, tile=192, margin=28)
    engine.runner.device = "gpu"  # as if TensorFlow had found one
    out_of_memory_above(monkeypatch, 96)
    result = engine.upscale(img)
    assert result.notes == ["out of memory on GPU at tile 192: retrying with tile 96"]
    assert np.abs(result.output.astype(int) - expected.astype(int)).max() <= 1
    assert "GPU" in result.device


def test_gpu_out_of_memory_at_every_size_continues_on_the_cpu(tiny_model, monkeypatch):
    engine = Engine(model=tiny_model, tile=192, margin=28)
    engine.runner.device = "gpu"
    out_of_memory_above(monkeypatch, None)
    result = engine.upscale(pattern(30, 40))
    assert result.output.shape == (60, 80, 3)
    assert result.notes == [
        "out of memory on GPU at tile 192: retrying with tile 96",
        f"out of GPU memory even at small tiles: continuing on the {result.device}",
    ]
    assert result.device.startswith("CPU")


def test_moving_to_the_cpu_drops_the_gpus_precision(tiny_weights, monkeypatch, tmp_path):
    """A GPU's bfloat16 would run many times slower on most CPUs: the runner rebuilds in float32
    where the CPU was never measured (the move happens inside a job, where nothing is timed),
    with the same weights."""
    from carsr_gui import precision

    monkeypatch.setenv(precision.CACHE_DIR_ENV, str(tmp_path))  # an empty cache
    monkeypatch.setattr(precision, "measure", _no_timing_in_a_job)
    runner = ModelRunner(tiny_weights, device="cpu", precision="bf16")
    runner.device = "gpu"  # as if it had been built on one
    runner.move_to_cpu()
    assert (runner.device, runner.precision) == ("cpu", "fp32")
    assert runner.keras_model.dtype_policy.name == "float32"
    img = pattern(40, 40, seed=2)
    tiled = Engine(runner=runner, tile=96, margin=28).upscale(img).output
    fp32 = Engine(tiny_weights, device="cpu", precision="fp32", tile=96, margin=28)
    assert np.array_equal(tiled, fp32.upscale(img).output)


@pytest.mark.parametrize("cpu_choice", ["bf16", "int8"])
def test_moving_to_the_cpu_takes_the_cpus_cached_choice(
    tiny_weights, monkeypatch, tmp_path, cpu_choice
):
    from carsr_gui import precision

    monkeypatch.setenv(precision.CACHE_DIR_ENV, str(tmp_path))
    runner = ModelRunner(tiny_weights, device="cpu", precision="fp16")
    choice = precision.Choice(cpu_choice, key=precision.cache_key("cpu", runner.architecture))
    precision._store(choice)
    monkeypatch.setattr(precision, "measure", _no_timing_in_a_job)
    monkeypatch.setattr(devices, "candidates", lambda device: ["fp32", "bf16", "int8"])
    runner.device = "gpu"
    runner.move_to_cpu()
    assert (runner.device, runner.precision) == ("cpu", cpu_choice)
    result = Engine(runner=runner, tile=96, margin=28).upscale(pattern(40, 40, seed=2))
    assert result.output.shape == (80, 80, 3)
    assert result.device.endswith({"bf16": "bfloat16", "int8": "int8"}[cpu_choice])


def _no_timing_in_a_job(*args, **kwargs):
    raise AssertionError("precisions were timed inside a job")
