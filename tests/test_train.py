"""Training a tiny configuration on drawn images (never the shared data set)."""

import csv
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from carsr_gui import train as training
from tests.conftest import drawn_image


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    for i in range(6):
        Image.fromarray(drawn_image(72 + 8 * i, 96, seed=i)).save(folder / f"{i}.png")
    (folder / "tiny.png").write_bytes(b"")  # unreadable: reported and skipped
    return folder


def read_log(out):
    with (out / "log.csv").open() as f:
        return list(csv.DictReader(f))


def config(folder, out, **kw):
    base = dict(
        data=folder,
        val=folder,
        out=out,
        width=4,
        steps=12,
        steps_per_epoch=4,
        batch=4,
        patch=32,
        lr=3e-3,
        val_images=2,
        precision="fp32",
        seed=1,
    )
    return training.TrainConfig(**(base | kw))


def test_degradation_is_the_apps_pipeline():
    from carsr_gui import resample

    hr = drawn_image(50, 70)
    pair = training.degrade(hr)
    assert pair.hr.shape == (48, 68, 3)
    np.testing.assert_array_equal(pair.bicubic, resample.enlarge(resample.make_low_res(pair.hr)))


def test_batches_are_seeded_aligned_and_in_range():
    pairs = [training.degrade(drawn_image(64, 80, seed=s)) for s in range(3)]
    a = next(training.sample_batches(pairs, 5, 32, seed=3))
    b = next(training.sample_batches(pairs, 5, 32, seed=3))
    np.testing.assert_array_equal(a[0], b[0])
    assert a[0].shape == (5, 32, 32, 3) and a[0].dtype == np.float32
    assert a[1].min() >= 0 and a[1].max() <= 1


def test_jpeg_patch_is_the_whole_photos_enlargement_of_its_jpeg_context(monkeypatch):
    from carsr_gui import jpeg

    pair = training.degrade(drawn_image(96, 128, seed=4))
    rng = np.random.default_rng(0)
    # Without compression, a patch cut from its context's enlargement is the whole photo's
    # enlargement there, also at the borders: the context covers the bicubic filter's reach.
    monkeypatch.setattr(jpeg, "roundtrip", lambda img, quality: img)
    for top, left in [(0, 0), (10, 14), (32, 48), (48, 64 - 16)]:
        got = training.jpeg_patch(pair.low, top, left, 16, 50, rng)
        want = pair.bicubic[2 * top : 2 * top + 32, 2 * left : 2 * left + 32]
        np.testing.assert_array_equal(got, want)


def test_jpeg_batches_are_seeded_and_compressed():
    pairs = [training.degrade(drawn_image(64, 80, seed=s)) for s in range(3)]
    jpeg = dict(jpeg_quality=(30, 40), jpeg_fraction=1.0)
    a = next(training.sample_batches(pairs, 6, 32, seed=3, **jpeg))
    b = next(training.sample_batches(pairs, 6, 32, seed=3, **jpeg))
    clean = next(training.sample_batches(pairs, 6, 32, seed=3))
    np.testing.assert_array_equal(a[0], b[0])
    assert a[0].shape == clean[0].shape and a[0].dtype == np.float32
    # Same ground truth, degraded input: every patch was compressed.
    np.testing.assert_array_equal(a[1], clean[1])
    assert all(np.abs(a[0][i] - clean[0][i]).max() > 0 for i in range(6))


def blockiness(residual: np.ndarray) -> float:
    """How much the jumps of ``residual`` (a patch minus its clean degradation) peak on one
    column (and one row) of every 16: JPEG's 8x8 blocks after the 2x enlargement, at the phase
    of the patch's JPEG context. About 1.7 for noise without blocks."""
    r = residual.mean(-1)

    def peak(jumps):
        profile = np.array([jumps[p::16].mean() for p in range(16)])
        return profile.max() / np.median(profile)

    return (peak(np.abs(np.diff(r, axis=1)).mean(0)) + peak(np.abs(np.diff(r, axis=0)).mean(1))) / 2


def test_training_on_jpeg_degradation_feeds_blocky_patches(photo_folder, tmp_path, monkeypatch):
    from carsr_gui import resample

    # What training draws, each patch beside the one the same seed gives without JPEG.
    fed, real = [], training.sample_batches

    def spy(pairs, batch, patch, seed, jpeg_quality=None, jpeg_fraction=0.85):
        clean = real(pairs, batch, patch, seed)
        for x, y in real(pairs, batch, patch, seed, jpeg_quality, jpeg_fraction):
            fed.extend(zip(x, next(clean)[0], strict=True))
            yield x, y

    monkeypatch.setattr(training, "sample_batches", spy)
    out = tmp_path / "jpeg"
    training.train(
        config(photo_folder, out, steps=4, degradation="jpeg", jpeg_quality=(60, 80)),
        log=lambda m: None,
    )
    assert [int(r["step"]) for r in read_log(out)] == [4]
    assert len(fed) >= 16  # 4 steps of 4 patches
    compressed = [x - c for x, c in fed if np.abs(x - c).max() > 0]
    assert len(compressed) >= len(fed) // 2  # --jpeg-fraction 0.85

    # The same measure on a degradation without blocks: noise in the low-res.
    rng = np.random.default_rng(0)
    noise = []
    for pair in training.load_pairs(training.image_paths(photo_folder), 32):
        noisy = np.clip(pair.low + rng.normal(0, 6, pair.low.shape), 0, 255).astype(np.uint8)
        residual = (resample.enlarge(noisy).astype(np.float32) - pair.bicubic) / 255
        noise.append(blockiness(residual[:32, :32]))
    assert np.median([blockiness(r) for r in compressed]) > 1.5 * np.median(noise)


def test_training_lowers_the_loss_and_resumes_from_its_checkpoint(photo_folder, tmp_path):
    import keras

    from carsr_gui.model import build_model

    out = tmp_path / "run"
    messages = []
    weights = training.train(config(photo_folder, out, steps=8), log=messages.append)
    assert any("tiny.png: empty file" in m for m in messages)
    rows = read_log(out)
    assert [int(r["step"]) for r in rows] == [4, 8]

    # The trained weights do better than the initial ones on fresh patches.
    pairs = training.load_pairs(training.image_paths(photo_folder), 32)
    x, y = next(training.sample_batches(pairs, 16, 32, seed=99))
    keras.utils.set_random_seed(1)
    initial = build_model("carsr", width=4)
    trained = build_model("carsr", width=4)
    trained.load_weights(weights)

    def l1(m):
        return float(np.abs(m.predict(x, verbose=0) - y).mean())

    assert l1(trained) < l1(initial)
    with h5py.File(weights, "r") as f:
        assert "optimizer" not in f  # the shipped file holds the model's weights only

    assert keras.models.load_model(out / "checkpoint.keras").get_layer("dropout").rate == 0.0

    # Resume: the run continues at epoch 3 and the checkpoint holds the same weights; the new
    # --steps re-plans the cosine decay.
    with pytest.raises(SystemExit, match="trained without dropout"):
        training.train(config(photo_folder, out, dropout=0.25, resume=True), log=print)
    training.train(config(photo_folder, out, steps=12, resume=True), log=messages.append)
    assert any("resumed" in m and "epoch 2" in m for m in messages)
    rows = read_log(out)
    assert [int(r["step"]) for r in rows] == [4, 8, 12]
    state = json.loads((out / "state.json").read_text())
    assert state["epoch"] == 3 and state["config"]["loss"] == "l1"  # the checkpoint's own
    ckpt = keras.models.load_model(out / "checkpoint.keras")
    reloaded = build_model("carsr", width=4)
    reloaded.load_weights(out / "model.weights.h5")
    for a, b in zip(ckpt.get_weights(), reloaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert int(ckpt.optimizer.iterations) == 12
    assert ckpt.optimizer.get_config()["learning_rate"]["config"]["decay_steps"] == 12
    assert ckpt.loss == "mae" and not any("loss switched" in m for m in messages)

    # --loss on resume switches the loss and keeps the optimizer's state.
    training.train(
        config(photo_folder, out, steps=16, loss="mse", resume=True), log=messages.append
    )
    assert "loss switched to mse" in messages
    ckpt = keras.models.load_model(out / "checkpoint.keras")
    assert ckpt.loss == "mse" and int(ckpt.optimizer.iterations) == 16
    assert json.loads((out / "state.json").read_text())["config"]["loss"] == "mse"


def test_resume_needs_a_checkpoint(photo_folder, tmp_path):
    with pytest.raises(SystemExit, match=r"checkpoint.keras: nothing to resume"):
        training.train(config(photo_folder, tmp_path / "none", resume=True), log=print)


def test_checkpoint_holds_its_state_and_runs_saved_before_that_resume(photo_folder, tmp_path):
    import zipfile

    out = tmp_path / "run"
    training.train(config(photo_folder, out, steps=4), log=lambda m: None)
    ckpt = out / "checkpoint.keras"
    state = json.loads((out / "state.json").read_text())
    assert training.read_state(out) == state and state["epoch"] == 1
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.keras", "log.csv", "model.weights.h5", "state.json",
    ]  # fmt: skip  # written under temporary names, then moved

    # A checkpoint from before the state moved into it: the state comes from state.json; a
    # log row written after that checkpoint (old runs logged first) is not repeated.
    with zipfile.ZipFile(ckpt) as old:
        entries = {name: old.read(name) for name in old.namelist()}
    with zipfile.ZipFile(ckpt, "w") as old:
        for name, data in entries.items():
            if name != training.STATE_ENTRY:
                old.writestr(name, data)
    with (out / "log.csv").open("a") as f:
        f.write("2,8,9.0,0,0,0,lost\n")
    messages = []
    training.train(config(photo_folder, out, steps=8, resume=True), log=messages.append)
    assert any("resumed" in m and "epoch 1" in m for m in messages)
    rows = read_log(out)
    assert [int(r["step"]) for r in rows] == [4, 8] and rows[1]["time"] != "lost"
    assert training.read_state(out)["epoch"] == 2


def test_seed_variant_trains_and_resumes_under_mixed_bfloat16(photo_folder, tmp_path):
    import keras

    from carsr_gui.model import build_model

    out = tmp_path / "seed"
    try:
        cfg = config(photo_folder, out, variant="seed", precision="bf16", steps=4, dropout=0.3)
        weights = training.train(cfg, log=lambda m: None)
        ckpt = keras.models.load_model(out / "checkpoint.keras")
        training.train(
            config(
                photo_folder,
                out,
                variant="seed",
                precision="bf16",
                steps=8,
                dropout=0.3,
                resume=True,
            ),
            log=lambda m: None,
        )
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert ckpt.dtype_policy.name == "mixed_bfloat16"
    assert type(ckpt.optimizer).__name__ == "Adam"  # bfloat16 needs no loss scaling
    assert [int(r["step"]) for r in read_log(out)] == [4, 8]
    assert np.isfinite([float(r["loss"]) for r in read_log(out)]).all()
    # The shipped file is float32 and loads into a float32 seed model.
    seed = build_model("seed", width=4)
    seed.load_weights(weights)
    assert all(w.dtype == np.float32 for w in seed.get_weights())


def test_init_starts_a_new_run_from_given_weights(photo_folder, tmp_path, tiny_weights):
    from carsr_gui.model import build_model

    messages = []
    # A learning rate of ~0: the run's weights are the ones it started from.
    cfg = config(photo_folder, tmp_path / "ft", steps=4, lr=1e-12, init=tiny_weights, loss="mse")
    out = training.train(cfg, log=messages.append)
    assert f"started from {tiny_weights}" in messages
    start, tuned = build_model("carsr", width=4), build_model("carsr", width=4)
    start.load_weights(tiny_weights)
    tuned.load_weights(out)
    for a, b in zip(start.get_weights(), tuned.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)

    with pytest.raises(SystemExit, match=r"tiny.weights.h5: cannot start from these weights"):
        training.train(
            config(photo_folder, tmp_path / "bad", width=8, init=tiny_weights), log=print
        )
    with pytest.raises(SystemExit, match=r"missing.h5: model weights missing"):
        training.train(
            config(photo_folder, tmp_path / "bad", init=tmp_path / "missing.h5"), log=print
        )


def test_no_usable_photos_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="no usable training images"):
        training.train(config(tmp_path, tmp_path / "run"), log=lambda m: None)


def test_mirrored_strategy_on_two_logical_cpus_in_float32_and_float16(photo_folder, tmp_path):
    script = textwrap.dedent(f"""
        import carsr_gui.tf_setup
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import keras
        from pathlib import Path
        from carsr_gui import train as t
        s = t.make_strategy("mirrored")
        print("replicas", s.num_replicas_in_sync)
        for precision in ("fp32", "fp16"):
            out = Path({str(tmp_path)!r}) / precision
            cfg = t.TrainConfig(data=Path({str(photo_folder)!r}), out=out, width=4, steps=4,
                                steps_per_epoch=2, batch=4, patch=32, precision=precision,
                                strategy="mirrored")
            print("weights", t.train(cfg, log=print))
            ckpt = keras.models.load_model(out / "checkpoint.keras")
            print(precision, "optimizer", type(ckpt.optimizer).__name__, int(ckpt.optimizer.iterations))
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "replicas 2" in done.stdout
    # Loss scaling where float16 needs it, and only there.
    assert "fp32 optimizer Adam 4" in done.stdout
    assert "fp16 optimizer LossScaleOptimizer" in done.stdout
    for precision in ("fp32", "fp16"):
        rows = read_log(tmp_path / precision)
        assert [int(r["step"]) for r in rows] == [2, 4]
        assert np.isfinite([float(r["loss"]) for r in rows]).all()
        assert (tmp_path / precision / "model.weights.h5").is_file()


def test_installed_weights_load_as_the_bundled_model(tmp_path, tiny_weights, monkeypatch):
    from carsr_gui import resources
    from carsr_gui.engine import Engine

    card = training.install_weights(tiny_weights, tmp_path, {"summary": "tiny"})
    assert (card["variant"], card["width"]) == ("carsr", 4)
    monkeypatch.setattr(resources, "data_dir", lambda name: tmp_path)
    path, loaded = resources.bundled_weights()
    assert loaded == card and path == tmp_path / "carsr_x2.weights.h5"
    assert Engine(tile=96).card["summary"] == "tiny"


def test_jpeg_weights_install_beside_the_clean_ones(tmp_path, tiny_weights, monkeypatch):
    from carsr_gui import resources
    from carsr_gui.model_choice import Engines

    clean = training.install_weights(tiny_weights, tmp_path, {"summary": "tiny clean"})
    jpeg = training.install_weights(tiny_weights, tmp_path, {"summary": "tiny jpeg"}, "jpeg")
    assert jpeg["weights"] == "carsr_x2_jpeg.weights.h5" != clean["weights"]
    monkeypatch.setattr(resources, "data_dir", lambda name: tmp_path)
    assert resources.bundled_models() == ["clean", "jpeg"]
    assert resources.bundled_weights("jpeg") == (tmp_path / jpeg["weights"], jpeg)
    engines = Engines("auto", tile=96)
    assert {n: e.card["summary"] for n, e in engines.engines.items()} == {
        "clean": "tiny clean",
        "jpeg": "tiny jpeg",
    }


def test_a_batch_that_the_replicas_cannot_share_is_refused():
    training.check_batch(8, 4)
    with pytest.raises(SystemExit, match=r"--batch 6 must be a multiple of the 4 replicas"):
        training.check_batch(6, 4)


def test_workers_at_different_epochs_do_not_start(photo_folder, tmp_path, monkeypatch):
    exchanged = []

    def other_worker_at_epoch_2(strategy, worker, values, wait=False):
        exchanged.append((list(values), wait))
        return np.add(values, (2, 1))  # the other: at epoch 2, with one photo

    monkeypatch.setattr(training, "sum_over_workers", other_worker_at_epoch_2)
    worker = training.Worker(0, 2, "worker 0")
    run = training.Run(config(photo_folder, tmp_path), None, worker, tmp_path, print)
    run.start_epoch = 3
    with pytest.raises(SystemExit, match=r"worker 0 of 2: .*checkpoint.keras is at epoch 3 here"):
        run.prepare_data()
    # Each worker scores every other validation photo; all wait for the slowest to prepare.
    assert exchanged == [([3, 1], True)]  # val_images=2: worker 0's share is one photo
    run.start_epoch = 2
    run.prepare_data()  # the same epoch on both


def test_each_worker_draws_its_own_patches_and_a_resumed_run_the_same_ones(photo_folder, tmp_path):
    from types import SimpleNamespace

    run = training.Run(
        config(photo_folder, tmp_path, steps=8), None, training.Worker(), tmp_path, print
    )
    run.train_pairs = training.load_pairs(training.image_paths(photo_folder), 32)

    def drawn(pipeline: int, start_epoch: int = 0) -> np.ndarray:
        ctx = SimpleNamespace(
            get_per_replica_batch_size=lambda batch: batch // 2,
            num_replicas_in_sync=2,
            num_input_pipelines=2,
            input_pipeline_id=pipeline,
        )
        run.start_epoch = start_epoch
        return np.stack([x for x, _ in run.dataset(ctx).as_numpy_iterator()])

    first, second = drawn(0), drawn(1)
    assert first.shape == (8, 2, 32, 32, 3)  # 2 epochs of 4 steps, half the batch of 4 each
    assert not np.isclose(first, second).all(axis=(1, 2, 3, 4)).any()
    np.testing.assert_array_equal(drawn(1, start_epoch=1), second[4:])


class Crash(Exception):
    """The process ends here."""


@pytest.fixture(scope="module")
def compiled_model():
    import keras

    from carsr_gui.model import build_model

    model = build_model("carsr", width=4)
    model.compile(keras.optimizers.Adam(1e-3), loss="mae")
    model.optimizer.build(model.trainable_variables)
    return model


def epoch_files(model, folder, epoch):
    row = {"epoch": epoch, "step": 4 * epoch, "loss": "0.1"}
    state = {"epoch": epoch, "config": {"loss": "l1"}}
    training.save_epoch(model, folder, state, row, folder / "log.csv")


def check_loads(folder) -> int:
    """That a run folder loads and resumes: the checkpoint, its state, the weights, and a log
    that (trimmed as a resumed run trims it) has one row for each epoch; returns the epoch."""
    import keras

    from carsr_gui.model import build_model

    epoch = training.read_state(folder)["epoch"]
    keras.models.load_model(folder / training.CHECKPOINT)
    build_model("carsr", width=4).load_weights(folder / "model.weights.h5")
    training.trim_log(folder / "log.csv", epoch)
    assert [int(r["epoch"]) for r in read_log(folder)] == list(range(1, epoch + 1))
    assert sorted(p.name for p in folder.iterdir()) == [
        "checkpoint.keras", "log.csv", "model.weights.h5", "state.json",
    ]  # fmt: skip
    return epoch


@pytest.mark.parametrize("crash_before", range(5))
def test_a_crash_between_the_writes_of_an_epoch_leaves_a_run_that_loads(
    compiled_model, tmp_path, monkeypatch, crash_before
):
    from carsr_gui import atomic

    epoch_files(compiled_model, tmp_path, 1)
    writes, real = [], atomic.replace_with

    def replace_with(path, writer):
        if len(writes) == crash_before:
            raise Crash  # the process ends here
        writes.append(path.name)
        return real(path, writer)

    monkeypatch.setattr(atomic, "replace_with", replace_with)
    with pytest.raises(Crash):
        epoch_files(compiled_model, tmp_path, 2)
        raise Crash  # crash_before=4: after the last write
    monkeypatch.undo()
    # Once the checkpoint is written, the run is at epoch 2 and its log row is there.
    assert check_loads(tmp_path) == (2 if "checkpoint.keras" in writes else 1)
    assert writes[:3] == ["log.csv", "model.weights.h5", "checkpoint.keras"][: len(writes)]


def test_a_crash_inside_save_checkpoint_keeps_the_last_one(compiled_model, tmp_path, monkeypatch):
    import zipfile

    epoch_files(compiled_model, tmp_path, 1)

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    # After Keras wrote the new checkpoint's temporary file, adding the state fails.
    monkeypatch.setattr(zipfile.ZipFile, "writestr", full_disk)
    with pytest.raises(OSError, match="No space"):
        epoch_files(compiled_model, tmp_path, 2)
    monkeypatch.undo()
    assert check_loads(tmp_path) == 1


def other_weights(tiny_weights, path):
    from carsr_gui.model import build_model

    model = build_model("carsr", width=4)
    model.load_weights(tiny_weights)
    model.set_weights([w + 0.01 for w in model.get_weights()])
    model.save_weights(path)
    return path


@pytest.mark.parametrize("crash_before", range(4))
def test_a_crash_while_installing_weights_leaves_a_pair_the_app_accepts(
    tmp_path, tiny_weights, monkeypatch, crash_before
):
    from carsr_gui import atomic, resources

    folder = tmp_path / "model_weights"
    folder.mkdir()
    new = other_weights(tiny_weights, tmp_path / "new.weights.h5")
    training.install_weights(tiny_weights, folder, {"summary": "old"})
    writes, real = [], atomic.replace_with

    def replace_with(path, writer):
        if len(writes) == crash_before:
            raise Crash
        writes.append(path.name)
        return real(path, writer)

    monkeypatch.setattr(atomic, "replace_with", replace_with)
    with pytest.raises(Crash):
        training.install_weights(new, folder, {"summary": "new"})
    monkeypatch.undo()
    monkeypatch.setattr(resources, "data_dir", lambda name: folder)
    path, card = resources.bundled_weights()  # checks the sha256
    # Old until the card names the new weights (its second write), new from then on.
    assert card["summary"] == ("new" if crash_before >= 2 else "old")
    assert path.read_bytes() == (new if crash_before >= 2 else tiny_weights).read_bytes()

    training.install_weights(new, folder, {"summary": "again"})  # and the next install tidies
    assert sorted(p.name for p in folder.iterdir()) == ["carsr_x2.weights.h5", resources.CARD_NAME]


def test_every_training_option_is_a_command_line_option_with_its_default(tmp_path, monkeypatch):
    import argparse
    from dataclasses import MISSING, fields

    from carsr_gui import cli

    sub = next(a for a in cli.parser()._actions if isinstance(a, argparse._SubParsersAction))
    options = {s for a in sub.choices["train"]._actions for s in a.option_strings}
    args = cli.parser().parse_args(["train", "--data", "photos"])
    for f in fields(training.TrainConfig):
        assert f"--{f.name.replace('_', '-')}" in options
        assert getattr(args, f.name) == (Path("photos") if f.default is MISSING else f.default)

    # And the command line hands each one to the run.
    seen = []
    monkeypatch.setattr(training, "train", lambda cfg: seen.append(cfg))
    argv = ["train", "--data", "d", "--steps-per-epoch", "7", "--jpeg-quality", "40-50"]
    assert cli.main([*argv, "--resume", "--init", "w.h5", "--timeout", "5"]) == 0
    assert seen == [
        training.TrainConfig(
            data=Path("d"),
            steps_per_epoch=7,
            jpeg_quality=(40, 50),
            resume=True,
            init=Path("w.h5"),
            timeout=5.0,
        )
    ]
