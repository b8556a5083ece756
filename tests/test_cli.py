"""The command line, run in-process with a tiny weights file."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from carsr_gui import cli, devices, image_io
from tests.conftest import drawn_image


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(drawn_image(30, 40)).save(folder / "a.png")
    Image.fromarray(drawn_image(24, 20, seed=2)).save(folder / "b c é.jpg", quality=95)
    (folder / "notes.txt").write_text("not an image")
    return folder


def size_of(path):
    with Image.open(path) as img:
        return img.size


def run(*args, weights):
    return cli.main([*map(str, args), "--weights", str(weights), "--tile", "96", "-q"])


def test_upscale_folder_writes_named_outputs(photos, tmp_path, tiny_weights, capsys):
    out = tmp_path / "out"
    assert run("upscale", photos, "-o", out, weights=tiny_weights) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a_x2.png", "b c é_x2.png"]
    assert size_of(out / "a_x2.png") == (80, 60)
    assert "notes.txt: skipped: not an image file" in capsys.readouterr().err


def test_failed_file_is_reported_and_the_batch_goes_on(photos, tmp_path, tiny_weights, capsys):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"this is text")
    out = tmp_path / "out"
    code = run("upscale", bad, photos / "a.png", "-o", out, "--format", "jpg", weights=tiny_weights)
    assert code == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("carsr: ")]
    assert lines == [
        f"carsr: {bad}: not an image carsr can read (unknown or unsupported format)",
        "carsr: 1 enlarged, 1 failed",
    ]
    assert (out / "a_x2.jpg").is_file()


def test_any_error_of_one_photo_ends_that_photo_not_the_batch(
    photos, tmp_path, tiny_weights, capsys, monkeypatch
):
    """A TensorFlow runtime error (no RuntimeError) or running out of memory: one line naming
    the file, and the next photo is processed."""
    from carsr_gui.engine import Engine
    from carsr_gui.tf_setup import tf

    real = Engine.upscale_photo
    errors = {
        "a.png": tf.errors.InternalError(None, None, "CUDA error: an illegal memory access\n"),
        "b c é.jpg": MemoryError(),
    }

    def upscale_photo(self, photo, *args, **kwargs):
        if photo.path is not None and photo.path.name in errors:
            raise errors[photo.path.name]
        return real(self, photo, *args, **kwargs)

    monkeypatch.setattr(Engine, "upscale_photo", upscale_photo)
    extra = write_photo(tmp_path / "z.png")
    out = tmp_path / "out"
    assert run("upscale", photos, extra, "-o", out, weights=tiny_weights) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("carsr: ")]
    assert lines == [
        f"carsr: {photos / 'notes.txt'}: skipped: not an image file",
        f"carsr: {photos / 'a.png'}: unexpected error (InternalError: CUDA error: "
        "an illegal memory access)",
        f"carsr: {photos / 'b c é.jpg'}: out of memory",
        "carsr: 1 enlarged, 2 failed",
    ]
    assert [p.name for p in out.iterdir()] == ["z_x2.png"]


def write_photo(path):
    Image.fromarray(drawn_image(20, 24)).save(path)
    return path


def test_a_photo_too_large_for_the_format_fails_before_it_is_processed(
    tmp_path, tiny_weights, capsys, monkeypatch
):
    from carsr_gui.engine import Engine

    calls = []
    monkeypatch.setattr(Engine, "upscale_photo", lambda self, *a, **k: calls.append(a))
    wide = tmp_path / "wide.png"
    Image.fromarray(drawn_image(4, 8200)).save(wide)  # 16400 pixels wide at 2x: not in a WebP
    out = tmp_path / "out"
    assert run("upscale", wide, "-o", out, "--format", "webp", weights=tiny_weights) == 1
    assert calls == []
    err = capsys.readouterr().err
    assert f"carsr: {wide}: 16400x8 is too large for webp (at most 16383 pixels a side)" in err


def test_existing_outputs_get_a_number_unless_overwrite(photos, tmp_path, tiny_weights):
    out = tmp_path / "out"
    for _ in range(2):
        assert run("upscale", photos / "a.png", "-o", out, weights=tiny_weights) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a_x2-1.png", "a_x2.png"]
    assert run("upscale", photos / "a.png", "-o", out, "--overwrite", weights=tiny_weights) == 0
    assert len(list(out.iterdir())) == 2


def test_an_input_is_never_overwritten(tmp_path, tiny_weights):
    src = tmp_path / "a_x2.png"
    Image.fromarray(drawn_image(10, 10)).save(src)
    before = src.read_bytes()
    # The output for "a_x2.png" in its own folder would be "a_x2_x2.png"; make the input clash.
    clash = tmp_path / "a_x2_x2.png"
    Image.fromarray(drawn_image(12, 12)).save(clash)
    assert run("upscale", src, clash, "-o", tmp_path, "--overwrite", weights=tiny_weights) == 0
    assert src.read_bytes() == before
    assert size_of(clash) == (12, 12)
    assert (tmp_path / "a_x2_x2-1.png").is_file()


@pytest.mark.parametrize("fmt", ["png", "jpg", "webp", "tiff"])
def test_formats_and_scale_four(photos, tmp_path, tiny_weights, fmt):
    out = tmp_path / "out"
    args = ("upscale", photos / "a.png", "-o", out, "--format", fmt, "--scale", "4")
    assert run(*args, weights=tiny_weights) == 0
    (written,) = out.iterdir()
    assert written.name == "a_x4." + ("tif" if fmt == "tiff" else fmt)
    assert size_of(written) == (160, 120)


@pytest.mark.parametrize(
    "argv",
    [
        ["upscale", "x.png"],  # no --output-dir
        ["upscale", "x.png", "-o", "d", "--scale", "3"],
        ["upscale", "x.png", "-o", "d", "--tile", "50"],
        ["upscale", "x.png", "-o", "d", "--device", "tpu"],
        ["frobnicate"],
        [],
    ],
)
def test_usage_errors_exit_2(argv):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2


def test_no_images_is_a_failure(tmp_path, tiny_weights):
    assert run("upscale", tmp_path, "-o", tmp_path / "o", weights=tiny_weights) == 1


def test_missing_weights_is_one_clear_line(photos, tmp_path, capsys):
    missing = tmp_path / "nope.weights.h5"
    code = cli.main(
        ["upscale", str(photos / "a.png"), "-o", str(tmp_path), "--weights", str(missing)]
    )
    assert code == 1
    assert capsys.readouterr().err.strip() == f"carsr: {missing}: model weights missing"


def test_eval_prints_bicubic_and_model_scores(tmp_path, tiny_weights, capsys):
    hr = tmp_path / "hr.png"
    Image.fromarray(drawn_image(64, 80)).save(hr)
    assert cli.main(["eval", str(hr), "--json", "--weights", str(tiny_weights)]) == 0
    data = json.loads(capsys.readouterr().out)
    (row,) = data["rows"]
    from carsr_gui import evaluate, metrics, resample

    truth, lr = evaluate.ground_truth(drawn_image(64, 80))
    assert row["bicubic_psnr"] == pytest.approx(metrics.psnr(resample.enlarge(lr), truth))
    assert 10 < row["model_psnr_y"] < 60 and 0 < row["model_ssim"] <= 1
    assert cli.main(["eval", str(hr), "--weights", str(tiny_weights)]) == 0
    table = capsys.readouterr().out
    assert "PSNR bicubic" in table and "mean of 1" in table


def test_eval_and_upscale_with_tta(tmp_path, tiny_weights, capsys):
    hr = tmp_path / "hr.png"
    Image.fromarray(drawn_image(64, 80)).save(hr)
    scores = {}
    for extra in ([], ["--tta"]):
        argv = ["eval", str(hr), "--json", "--weights", str(tiny_weights), "--precision", "fp32"]
        assert cli.main(argv + extra) == 0
        scores[bool(extra)] = json.loads(capsys.readouterr().out)["rows"][0]["model_psnr"]
    assert scores[True] != scores[False]
    assert run("upscale", hr, "-o", tmp_path / "out", "--tta", weights=tiny_weights) == 0
    assert size_of(tmp_path / "out" / "hr_x2.png") == (160, 128)
    # The per-photo bar counts the eight passes over each tile, and says so.
    argv = ["upscale", str(hr), "-o", str(tmp_path / "bar"), "--tta", "--tile", "96"]
    assert cli.main([*argv, "--weights", str(tiny_weights)]) == 0
    bar = capsys.readouterr().err
    assert "pass/s" in bar and "tile/s" not in bar


def test_info_describes_versions_devices_and_model(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "TensorFlow" in out and "sha256 verified" in out and "default device: CPU" in out


def test_console_script_is_installed():
    exe = shutil.which("carsr", path=str(Path(sys.executable).parent))
    assert exe, "carsr entry point missing: install the package (pip install -e .)"
    done = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("carsr ")


def test_output_path_numbering(tmp_path):
    (tmp_path / "p_x2.png").touch()
    assert (
        image_io.output_path(tmp_path / "p.jpg", tmp_path, 2, "png", False, set()).name
        == "p_x2-1.png"
    )
    assert (
        image_io.output_path(tmp_path / "p.jpg", tmp_path, 2, "png", True, set()).name == "p_x2.png"
    )
    protected = {(tmp_path / "p_x2.png").resolve()}
    assert (
        image_io.output_path(tmp_path / "p.jpg", tmp_path, 2, "png", True, protected).name
        == "p_x2-1.png"
    )


def test_bench_runs_each_part_in_a_process_of_its_own_and_reports_every_figure(capsys, monkeypatch):
    # The CPU as the bench's own process reads it, faked: a BF16 CPU without AVX2.
    cpuinfo = {"model name": "Test CPU", "flags": "fpu sse2 avx512f avx512_bf16"}
    monkeypatch.setattr(devices, "_cpuinfo", lambda: cpuinfo)
    # The engine's peak is its own: not this process's (the reference passes' parent), whose
    # resident memory the child inherited in ru_maxrss across fork and exec.
    held = np.ones(1500 << 20, np.uint8)
    started = time.perf_counter()
    argv = ["bench", "--size", "32x24", "--repeats", "1", "--xla", "--precision", "fp32"]
    assert cli.main([*argv, "--json"]) == 0
    elapsed = time.perf_counter() - started
    report = json.loads(capsys.readouterr().out)
    assert 0 < report["peak_rss_mb"] < held.nbytes / 2**20
    # The reference before, the engine and the reference after: three processes, not this one.
    assert len({*report["pids"], os.getpid()}) == 4
    assert report["cpu"] == "Test CPU (AVX-512 BF16; no AMX, no AVX-512 VNNI, no AVX-VNNI, no AVX2)"
    assert "CPU" in report["device"] and report["xla"] is True  # as the engine reported it
    assert report["reference_size"] == "32x24" and report["tile_overhead_pct"] is not None
    # Every time the report gives or implies was measured inside this call, one after another.
    output_mp = 64 * 48 / 1e6
    seconds = [output_mp / rate for rate in report["reference_mp_s"]]
    seconds += [report["first_image_s"], report["engine_s_per_image"]]
    seconds += [output_mp / report["whole_image_mp_s"], *report["startup"].values()]
    assert min(seconds) > 0 and sum(seconds) < elapsed
    assert set(report["startup"]) == {"import_tensorflow_s", "model_load_s"}


def test_bench_figures_follow_from_the_measured_seconds(monkeypatch):
    """The child processes' seconds faked, the figures worked out by hand: 1000x500 in, so
    2 output megapixels."""
    from carsr_gui import bench

    engine = {"device": "CPU (test), float32", "xla": False, "import_tensorflow_s": 3.0}
    engine |= {"precision": "fp32 (forced)"}
    engine |= {"model_load_s": 1.0, "first_s": 2.5, "later_s": 2.0, "whole_s": 1.6}
    engine |= {"peak_rss_mb": 900.0, "pid": 12}
    children = [{"reference_s": 0.5, "pid": 11}, engine, {"reference_s": 0.25, "pid": 13}]
    asked = []
    monkeypatch.setattr(bench, "_run_probe", lambda argv: asked.append(argv) or children.pop(0))
    monkeypatch.setattr(bench, "whole_pass_fits", lambda width, height: True)
    report = bench.run(1000, 500, device="cpu", precision="fp32", tile=512, repeats=3)
    assert ["--reference" in argv for argv in asked] == [True, False, True]
    assert all("--size=1000x500" in argv for argv in asked) and "--tile=512" in asked[1]
    assert report.reference_mp_s == (4.0, 8.0) and report.baseline_fp32_mp_s == 6.0
    assert report.engine_mp_s == 1.0 and report.speedup_vs_fp32 == pytest.approx(1 / 6)
    assert (report.first_image_s, report.engine_s_per_image) == (2.5, 2.0)
    assert report.whole_image_mp_s == 1.25 and report.tile_overhead_pct == pytest.approx(25.0)
    assert report.s_per_4000x3000_photo == 48.0 and report.pids == (11, 12, 13)
    assert report.startup == {"import_tensorflow_s": 3.0, "model_load_s": 1.0}


def test_the_bench_probe_runs_through_carsrs_own_entry_point(monkeypatch):
    """The frozen executable takes carsr's arguments, not ``-c CODE``."""
    from carsr_gui import __main__, bench

    command = bench.probe_command(["--size=8x8"])
    assert command[1:] == ["-m", "carsr_gui", "bench", "--probe", "--size=8x8"]
    assert __main__.route(command[3:]) == "cli"
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert bench.probe_command(["--xla"]) == [sys.executable, "bench", "--probe", "--xla"]


def test_bench_xla_option_reaches_the_engine(monkeypatch):
    from carsr_gui import bench

    seen = []
    monkeypatch.setattr(bench, "run", lambda *args: seen.append(args[-1]) or None)
    monkeypatch.setattr(bench, "probe", lambda *args: seen.append(args[-1]) or {})
    monkeypatch.setattr(bench, "to_json", lambda report: "")
    for flags in (["--xla"], ["--no-xla"], [], ["--probe", "--xla"], ["--probe"]):
        assert cli.main(["bench", "--json", *flags]) == 0
    assert seen == [True, False, False, True, False]


@pytest.mark.parametrize("size", ["12", "0x5", "axb"])
def test_bench_size_must_be_w_by_h(size):
    with pytest.raises(SystemExit) as exc:
        cli.main(["bench", "--size", size])
    assert exc.value.code == 2
