"""Training: random patches of car photos, the seed's bicubic degradation, Keras ``fit``."""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from carsr_gui import image_io, jpeg, metrics, resample
from carsr_gui.model import MULTIPLE, Variant, build_model

LOSSES = {"l1": "mae", "mse": "mse"}
DEGRADATIONS = ("clean", "jpeg")
#: JPEG context around a patch, in low-res pixels: the bicubic filter's reach (2) and more, so
#: that a patch's enlargement equals the whole photo's; drawn at random per patch so that the
#: 8x8 block grid falls at every phase relative to the patch (and the 4-pixel pooling grid).
JPEG_CONTEXT = (4, 20)


@dataclass
class TrainConfig:
    data: Path
    val: Path | None = None
    out: Path = Path("runs/carsr")
    variant: Variant = "carsr"
    width: int = 64
    steps: int = 20_000
    batch: int = 16
    patch: int = 64
    lr: float = 1e-3
    # None: L1 for a new run, the checkpoint's own loss on --resume.
    loss: str | None = None
    # The seed's Dropout(0.3) after the first pool: noise in the features of a regression net
    # slows fitting and costs PSNR, and inference never uses it, so training turns it off.
    dropout: float = 0.0
    # "jpeg": most patches' low-res is saved as a JPEG of a random quality before enlarging.
    degradation: str = "clean"
    jpeg_quality: tuple[int, int] = (30, 95)
    jpeg_fraction: float = 0.85
    steps_per_epoch: int = 250
    val_images: int = 50
    seed: int = 0
    precision: str = "auto"
    strategy: str = "auto"
    resume: bool = False
    # A new run that starts from these weights (e.g. the bundled ones) with a fresh optimizer.
    init: Path | None = None


@dataclass
class Pair:
    """A training photo as the model sees it: ground truth and its degraded, re-enlarged copy."""

    hr: np.ndarray
    bicubic: np.ndarray
    low: np.ndarray


def degrade(hr: np.ndarray, jpeg_quality: int | None = None) -> Pair:
    """Crop to a multiple of 4, shrink 2x (saved as a JPEG of ``jpeg_quality`` if given) and
    enlarge back 2x with Pillow's bicubic filter."""
    hr = resample.crop_to_multiple(hr, MULTIPLE)
    low = resample.make_low_res(hr)
    if jpeg_quality is not None:
        low = jpeg.roundtrip(low, jpeg_quality)
    return Pair(hr, resample.enlarge(low), low)


def load_pairs(
    paths: Sequence[Path],
    min_size: int,
    log: Callable[[str], None] = print,
    jpeg_quality: int | None = None,
) -> list[Pair]:
    """Decode and degrade every photo once, so that each step only crops arrays in memory."""
    pairs = []
    for path in paths:
        try:
            hr = image_io.load(path).rgb
        except image_io.ImageError as exc:
            log(f"carsr: {exc}")
            continue
        if min(hr.shape[:2]) >= min_size:
            pairs.append(degrade(hr, jpeg_quality))
    return pairs


def jpeg_patch(
    low: np.ndarray, top: int, left: int, size: int, quality: int, rng: np.random.Generator
) -> np.ndarray:
    """The bicubic enlargement of the low-res patch at ``(top, left)`` (``size`` low-res pixels
    square) after its neighbourhood was saved as a JPEG of ``quality``: the degradation of a
    compressed photo, computed on a patch's worth of pixels instead of the whole photo."""
    lo, hi = JPEG_CONTEXT
    y0 = max(0, top - int(rng.integers(lo, hi)))
    x0 = max(0, left - int(rng.integers(lo, hi)))
    y1 = min(low.shape[0], top + size + int(rng.integers(lo, hi)))
    x1 = min(low.shape[1], left + size + int(rng.integers(lo, hi)))
    up = resample.enlarge(jpeg.roundtrip(low[y0:y1, x0:x1], quality))
    dy, dx = 2 * (top - y0), 2 * (left - x0)
    return up[dy : dy + 2 * size, dx : dx + 2 * size]


def sample_batches(
    pairs: Sequence[Pair],
    batch: int,
    patch: int,
    seed: int,
    jpeg_quality: tuple[int, int] | None = None,
    jpeg_fraction: float = 0.85,
) -> Iterator:
    """Endless ``(bicubic, hr)`` float32 batches of random patches with horizontal flips.

    Offsets are multiples of 4, the grid that tiling uses at inference, so that the bicubic
    filter's phase and the max-pool grid look the same to the model in training and in use.
    With ``jpeg_quality=(lo, hi)``, a ``jpeg_fraction`` of the patches are made from a JPEG of a
    quality drawn from ``lo..hi`` (inclusive) instead of the clean low-res.
    """
    rng = np.random.default_rng(seed)
    # JPEG draws come from their own stream: a seed picks the same patches with or without them.
    jpeg_rng = np.random.default_rng([seed, 1])
    # Large photos hold more distinct patches: sample photos in proportion to their area.
    area = np.array([p.hr.shape[0] * p.hr.shape[1] for p in pairs], dtype=np.float64)
    prob = area / area.sum()
    while True:
        x = np.empty((batch, patch, patch, 3), np.uint8)
        y = np.empty_like(x)
        for i, k in enumerate(rng.choice(len(pairs), size=batch, p=prob)):
            p = pairs[k]
            top = rng.integers(0, (p.hr.shape[0] - patch) // MULTIPLE + 1) * MULTIPLE
            left = rng.integers(0, (p.hr.shape[1] - patch) // MULTIPLE + 1) * MULTIPLE
            sl = np.s_[top : top + patch, left : left + patch]
            y[i] = p.hr[sl]
            if jpeg_quality and jpeg_rng.random() < jpeg_fraction:
                q = int(jpeg_rng.integers(jpeg_quality[0], jpeg_quality[1] + 1))
                x[i] = jpeg_patch(p.low, top // 2, left // 2, patch // 2, q, jpeg_rng)
            else:
                x[i] = p.bicubic[sl]
            if rng.random() < 0.5:
                x[i], y[i] = x[i, :, ::-1], y[i, :, ::-1]
        yield x.astype(np.float32) / 255.0, y.astype(np.float32) / 255.0


def image_paths(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in image_io.INPUT_SUFFIXES)


def predict_whole(model, bicubic: np.ndarray) -> np.ndarray:
    """Whole-image inference of a (multiple-of-4) uint8 image, returned as uint8."""
    x = bicubic[None].astype(np.float32) / 255.0
    y = np.asarray(model(x, training=False), dtype=np.float32)[0]
    return np.clip(np.rint(y * 255.0), 0, 255).astype(np.uint8)


def validate(model, pairs: Sequence[Pair]) -> tuple[float, float]:
    """Mean RGB PSNR of the model and of bicubic over ``pairs`` (2-pixel border cropped)."""
    got = [metrics.psnr(predict_whole(model, p.bicubic), p.hr) for p in pairs]
    base = [metrics.psnr(p.bicubic, p.hr) for p in pairs]
    return float(np.mean(got)), float(np.mean(base))


def make_strategy(name: str):
    """The tf.distribute strategy: Mirrored on several local GPUs, MultiWorker under TF_CONFIG."""
    from carsr_gui.tf_setup import tf

    if name == "auto":
        if "TF_CONFIG" in os.environ:
            name = "multiworker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "default"
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "default":
        return tf.distribute.get_strategy()
    raise ValueError(f"unknown strategy {name!r}")


def train(cfg: TrainConfig, log: Callable[[str], None] = print) -> Path:
    """Train (or resume) and write ``<out>/model.weights.h5`` in float32; return that path."""
    from carsr_gui import devices
    from carsr_gui.tf_setup import keras, tf

    cfg.out.mkdir(parents=True, exist_ok=True)
    ckpt = cfg.out / "checkpoint.keras"
    state_file = cfg.out / "state.json"
    keras.utils.set_random_seed(cfg.seed)
    policy = devices.training_policy(cfg.precision)
    keras.mixed_precision.set_global_policy(policy)
    log(f"precision policy: {policy}")

    strategy = make_strategy(cfg.strategy)
    start_epoch = 0
    # The learning rate is a function of the step and the config alone, so a resumed run with a
    # new --steps re-plans the rest of the cosine decay to end at the new total.
    schedule = keras.optimizers.schedules.CosineDecay(cfg.lr, cfg.steps, alpha=0.02)
    with strategy.scope():
        if cfg.resume and ckpt.exists():
            model = keras.models.load_model(ckpt)
            model.optimizer.learning_rate = schedule
            start_epoch = json.loads(state_file.read_text())["epoch"]
            log(f"resumed from {ckpt} at epoch {start_epoch}")
            if cfg.loss and LOSSES[cfg.loss] != model.loss:
                # Recompiling with the same optimizer keeps Adam's moments and step count.
                model.compile(model.optimizer, loss=LOSSES[cfg.loss])
                log(f"loss switched to {cfg.loss}")
        else:
            model = build_model(cfg.variant, width=cfg.width)
            if cfg.init is not None:
                check_layout(cfg.init, cfg.variant, cfg.width)
                model.load_weights(cfg.init)
                log(f"started from {cfg.init}")
            model.compile(keras.optimizers.Adam(schedule), loss=LOSSES[cfg.loss or "l1"])
        # The loss in use, for state.json: on --resume without --loss, the checkpoint's own.
        loss_name = next(k for k, v in LOSSES.items() if v == model.loss)
        dropout = model.get_layer("dropout")
        # Keras gives a Dropout layer its random state only when it is made with a rate above 0.
        if cfg.dropout > 0 and not hasattr(dropout, "seed_generator"):
            raise SystemExit(f"carsr: {ckpt} was trained without dropout; resume it with 0")
        dropout.rate = cfg.dropout

    # The model first: a checkpoint that cannot be resumed fails before minutes of decoding.
    t0 = time.perf_counter()
    train_pairs = load_pairs(image_paths(cfg.data), cfg.patch, log)
    if not train_pairs:
        raise SystemExit(f"carsr: {cfg.data}: no usable training images")
    # Validation on JPEG runs scores one fixed quality in the middle of the range.
    val_q = sum(cfg.jpeg_quality) // 2 if cfg.degradation == "jpeg" else None
    val_paths = image_paths(cfg.val)[: cfg.val_images] if cfg.val else []
    val_pairs = load_pairs(val_paths, MULTIPLE, log, val_q)
    log(
        f"{len(train_pairs)} training photos, {len(val_pairs)} validation photos "
        f"prepared in {time.perf_counter() - t0:.0f} s"
    )

    epochs = max(1, -(-cfg.steps // cfg.steps_per_epoch))

    # Seeding the sampler with the epoch makes a resumed run draw the patches a straight run would.
    def batches() -> Iterator:
        for epoch in range(start_epoch, epochs):
            gen = sample_batches(
                train_pairs,
                cfg.batch,
                cfg.patch,
                cfg.seed * 100_003 + epoch,
                cfg.jpeg_quality if cfg.degradation == "jpeg" else None,
                cfg.jpeg_fraction,
            )
            for _ in range(cfg.steps_per_epoch):
                yield next(gen)

    spec = tf.TensorSpec((cfg.batch, cfg.patch, cfg.patch, 3), tf.float32)
    ds = tf.data.Dataset.from_generator(batches, output_signature=(spec, spec)).prefetch(4)

    log_path = cfg.out / "log.csv"
    new_log = not log_path.exists() or not cfg.resume

    class Progress(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            secs = time.perf_counter() - self.t
            val, base = validate(self.model, val_pairs) if val_pairs else (float("nan"),) * 2
            row = {
                "epoch": epoch + 1,
                "step": (epoch + 1) * cfg.steps_per_epoch,
                "loss": f"{logs['loss']:.6f}",
                "val_psnr": f"{val:.3f}",
                "val_gain_db": f"{val - base:.3f}",
                "patches_per_s": f"{cfg.steps_per_epoch * cfg.batch / secs:.1f}",
                "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            }
            with log_path.open("a", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(row))
                if f.tell() == 0:
                    writer.writeheader()
                writer.writerow(row)
            log(" ".join(f"{k}={v}" for k, v in row.items()))
            save_float32_weights(self.model, cfg.out / "model.weights.h5")
            self.model.save(ckpt)
            state_file.write_text(
                json.dumps(
                    {"epoch": epoch + 1, "config": {**asdict(cfg), "loss": loss_name}}, default=str
                )
            )

    if new_log and log_path.exists():
        log_path.unlink()
    model.fit(
        ds,
        epochs=epochs,
        initial_epoch=start_epoch,
        steps_per_epoch=cfg.steps_per_epoch,
        callbacks=[Progress()],
        verbose=2 if os.environ.get("CI") else 1,
    )
    return cfg.out / "model.weights.h5"


def check_layout(weights: Path, variant: str, width: int) -> None:
    """Fail in one line unless ``weights`` are a carsr weights file of this variant and width."""
    from carsr_gui.engine import _weights_layout
    from carsr_gui.resources import WeightsError

    try:
        layout = _weights_layout(weights)
    except WeightsError as exc:
        raise SystemExit(f"carsr: {exc}") from None
    if layout != (variant, width):
        raise SystemExit(
            f"carsr: {weights}: cannot start from these weights: they are the {layout[0]} variant "
            f"of width {layout[1]}, this run is {variant} of width {width}"
        )


def save_float32_weights(model, path: Path) -> None:
    """Write the weights of ``model`` (not its optimizer's state) to ``path`` atomically.
    Variables are float32 under mixed precision, so a float32 rebuild loads them as they are."""
    from carsr_gui.tf_setup import keras

    tmp = path.with_name(path.name.removesuffix(".weights.h5") + ".tmp.weights.h5")
    # An uncompiled copy (clone_model would copy the compilation): the weights of a compiled
    # model are saved with the optimizer's state.
    bare = keras.Model.from_config(model.get_config())
    bare.set_weights(model.get_weights())
    bare.save_weights(tmp)
    os.replace(tmp, path)


def install_weights(src: Path, folder: Path, card: dict) -> dict:
    """Copy trained weights into ``folder`` (the bundled ``model_weights``) with their model card.

    ``card`` holds what is known of the training and its figures; the file name, variant, width
    and sha256 are filled in here so that they always describe the file actually shipped.
    """
    import shutil

    from carsr_gui.engine import _weights_layout
    from carsr_gui.resources import CARD_NAME, sha256

    dest = folder / "carsr_x2.weights.h5"
    tmp = dest.with_name(".incoming.weights.h5")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)
    variant, width = _weights_layout(dest)
    card = {
        **card,
        "weights": dest.name,
        "variant": variant,
        "width": width,
        "sha256": sha256(dest),
    }
    (folder / CARD_NAME).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return card
