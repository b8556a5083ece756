"""Training: random patches of car photos, the seed's bicubic degradation, and a training step
of our own under a ``tf.distribute`` strategy (one device, several GPUs or several workers:
Keras 3's ``fit`` does not run under MultiWorkerMirroredStrategy, keras-team/keras#20585)."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from carsr_gui import atomic, image_io, jpeg, metrics, resample
from carsr_gui.model import MULTIPLE, build_model, inference
from carsr_gui.train_config import DEFAULT_TIMEOUT, LOSSES, TrainConfig

#: JPEG context around a patch, in low-res pixels: the bicubic filter's reach (2) and more, so
#: that a patch's enlargement equals the whole photo's; drawn at random per patch so that the
#: 8x8 block grid falls at every phase relative to the patch (and the 4-pixel pooling grid).
JPEG_CONTEXT = (4, 20)
CHECKPOINT = "checkpoint.keras"
#: The run's state (epoch, config) inside the checkpoint's zip, written with it in one step.
STATE_ENTRY = "carsr_state.json"


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


def psnr_sums(model, pairs: Sequence[Pair]) -> np.ndarray:
    """Sums of the RGB PSNR of the model and of bicubic over ``pairs`` (2-pixel border cropped),
    and their count: sums, so that workers that each score a share can add them up."""
    sums = np.zeros(3)
    for p in pairs:
        sums += (
            metrics.psnr(predict_whole(model, p.bicubic), p.hr),
            metrics.psnr(p.bicubic, p.hr),
            1,
        )
    return sums


def make_strategy(name: str, timeout: float = DEFAULT_TIMEOUT):
    """The tf.distribute strategy: Mirrored on several local GPUs, MultiWorker under TF_CONFIG.

    Under MultiWorker, a collective that waits more than ``timeout`` seconds for a worker fails,
    and so does the wait for the whole cluster at start (TensorFlow's default: an hour).
    """
    from carsr_gui.tf_setup import tf

    if name == "auto":
        if "TF_CONFIG" in os.environ:
            name = "multiworker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "default"
    if name == "multiworker":
        _bound_cluster_wait(timeout)
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout)
        try:
            return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
        except (tf.errors.DeadlineExceededError, tf.errors.UnavailableError):
            raise SystemExit(
                f"carsr: {_cluster_name()}: the other workers did not all join within "
                f"{timeout:g} s (--timeout): check that every worker in TF_CONFIG is started "
                "and reachable"
            ) from None
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "default":
        return tf.distribute.get_strategy()
    raise ValueError(f"unknown strategy {name!r}")


def _bound_cluster_wait(timeout: float) -> None:
    """Make the workers give up waiting for each other to join after ``timeout`` seconds.

    MultiWorkerMirroredStrategy sets up TensorFlow's coordination service, whose registration
    waits for every worker for an hour by default (it also notices, by heartbeats, a worker
    that has died, in about 10-20 s). It keeps a configuration made before it, so this makes
    the one it would make, with the wait bounded. Private TensorFlow API: no public one sets it.
    """
    from tensorflow.python.distribute import collective_all_reduce_strategy as collective
    from tensorflow.python.distribute import multi_worker_util
    from tensorflow.python.eager import context

    from carsr_gui.tf_setup import tf

    spec = tf.distribute.cluster_resolver.TFConfigClusterResolver().cluster_spec()
    if not spec.jobs:
        return
    jobs = [
        collective.coordination_config_pb2.CoordinatedJob(name=job, num_tasks=spec.num_tasks(job))
        for job in ("chief", "worker")
        if job in spec.jobs
    ]
    context.context().configure_coordination_service(
        service_type="standalone",
        service_leader=multi_worker_util.coordination_leader(spec),
        coordinated_jobs=jobs,
        cluster_register_timeout_in_ms=int(timeout * 1000),
    )
    # The leader (worker 0) too waits at most that long for the others to register.
    context.context().coordination_service.cluster_register_with_barrier = True


def _cluster_name() -> str:
    """``worker 1 of 2`` from TF_CONFIG, for messages before the strategy exists."""
    try:
        conf = json.loads(os.environ.get("TF_CONFIG", "{}"))
        count = sum(len(v) for k, v in conf["cluster"].items() if k in ("chief", "worker"))
        return f"{conf['task']['type']} {conf['task']['index']} of {count}"
    except (ValueError, KeyError, TypeError, AttributeError):
        return "this worker"


@dataclass(frozen=True)
class Worker:
    """Where this process stands in the cluster: index (0 is the chief) of count, and its
    name in TF_CONFIG's terms (``worker 1``, or ``chief 0`` where the cluster names a chief)."""

    index: int = 0
    count: int = 1
    task: str = "worker 0"

    @property
    def chief(self) -> bool:
        return self.index == 0

    @classmethod
    def of(cls, strategy) -> Worker:
        resolver = getattr(strategy, "cluster_resolver", None)
        spec = resolver.cluster_spec() if resolver is not None else None
        if not spec or not spec.jobs:
            return cls()
        # TensorFlow's order: the chief (if the cluster names one), then the workers.
        tasks = [
            (job, i)
            for job in ("chief", "worker")
            if job in spec.jobs
            for i in range(spec.num_tasks(job))
        ]
        me = (resolver.task_type, resolver.task_id)
        return cls(tasks.index(me), len(tasks), f"{me[0]} {me[1]}")

    def __str__(self) -> str:
        return f"{self.task} of {self.count}"


def sum_over_workers(
    strategy, worker: Worker, values: Sequence[float], wait: bool = False
) -> np.ndarray:
    """``values`` summed over the workers, each worker's counted once. A collective: every worker
    calls it at the same point. ``wait``: for as long as the slowest worker takes (a worker that
    dies meanwhile is noticed by TensorFlow's heartbeats), not the strategy's timeout."""
    if worker.count == 1:
        return np.asarray(values, np.float64)
    from carsr_gui.tf_setup import tf

    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=0) if wait else None
    share = tf.constant(
        np.asarray(values, np.float32) / (strategy.num_replicas_in_sync // worker.count)
    )

    def replica_sum():
        return tf.distribute.get_replica_context().all_reduce("SUM", share, options=options)

    total = strategy.experimental_local_results(tf.function(strategy.run)(replica_sum))[0]
    return total.numpy().astype(np.float64)


def read_state(out: Path) -> dict:
    """The state of the run in ``out`` to resume: the one saved inside its checkpoint (or, for
    runs from before that, ``state.json``); a one-line error when there is nothing to resume."""
    ckpt = out / CHECKPOINT
    if not ckpt.is_file():
        raise SystemExit(f"carsr: {ckpt}: nothing to resume (start without --resume)")
    try:
        with zipfile.ZipFile(ckpt) as zf:
            if STATE_ENTRY in zf.namelist():
                return json.loads(zf.read(STATE_ENTRY))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise SystemExit(f"carsr: {ckpt}: unreadable checkpoint ({exc})") from None
    try:
        return json.loads((out / "state.json").read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"carsr: {out / 'state.json'}: cannot resume: {exc}") from None


def save_checkpoint(model, folder: Path, state: dict) -> None:
    """Replace ``checkpoint.keras``, with the run's state inside it (so the two always agree),
    in one step; then ``state.json``, a readable copy of that state."""
    text = json.dumps(state, default=str)

    def write(tmp: Path) -> None:
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as zf:
            zf.writestr(STATE_ENTRY, text)

    atomic.replace_with(folder / CHECKPOINT, write)
    atomic.write_text(folder / "state.json", text)


def append_log(path: Path, row: dict) -> None:
    """Add ``row`` to the CSV log at ``path`` (with a header if new), replacing the file in one
    step: a crash leaves the log with or without the row, never half of it."""
    old = path.read_bytes() if path.exists() else b""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(row))
    if not old:
        writer.writeheader()
    writer.writerow(row)
    atomic.write_bytes(path, old + buf.getvalue().encode())


def save_epoch(model, folder: Path, state: dict, row: dict, log_path: Path | None) -> None:
    """Write what an epoch leaves, the checkpoint last: it is the one a resumed run starts from
    (and whose epoch trims the log, :func:`trim_log`), so a crash at any point leaves files that
    load and a log that, once trimmed, has a row for each epoch up to the checkpoint's."""
    if log_path is not None:
        append_log(log_path, row)
    save_float32_weights(model, folder / "model.weights.h5")
    save_checkpoint(model, folder, state)


def trim_log(path: Path, epochs: int) -> None:
    """Drop the rows of epochs after ``epochs`` (written before a checkpoint that a crash kept
    from being written), so that a resumed run does not repeat them."""
    if not path.exists():
        return
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    kept = [r for r in rows if int(r["epoch"]) <= epochs]
    if len(kept) == len(rows):
        return

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(kept)

    atomic.replace_with(path, write)


def weights_digest(model) -> str:
    """A short sha256 of the trainable weights: equal on workers that hold the same model."""
    digest = hashlib.sha256()
    for w in model.trainable_weights:
        digest.update(np.ascontiguousarray(np.asarray(w, np.float32)).tobytes())
    return digest.hexdigest()[:16]


def train(cfg: TrainConfig, log: Callable[[str], None] = print) -> Path | None:
    """Train (or resume) and write ``<out>/model.weights.h5`` in float32; return that path
    (``None`` on workers other than the chief, which write to a temporary folder)."""
    from carsr_gui import devices
    from carsr_gui.tf_setup import keras, tf

    # What can fail without the cluster fails first, on each worker.
    ckpt = cfg.out / CHECKPOINT
    state = read_state(cfg.out) if cfg.resume else None
    if state is None and cfg.init is not None:
        check_layout(cfg.init, cfg.variant, cfg.width)

    strategy = make_strategy(cfg.strategy, cfg.timeout)
    worker = Worker.of(strategy)
    # The other workers train in step but stay quiet: the chief speaks for the cluster.
    say = log if worker.chief else lambda message: None
    if worker.count > 1:
        say(f"{worker.count} workers, {strategy.num_replicas_in_sync} replicas in sync")
    check_batch(cfg.batch, strategy.num_replicas_in_sync)
    keras.utils.set_random_seed(cfg.seed)
    policy = devices.training_policy(cfg.precision)
    keras.mixed_precision.set_global_policy(policy)
    say(f"precision policy: {policy}")

    if worker.chief:
        cfg.out.mkdir(parents=True, exist_ok=True)
        folder = cfg.out
    else:
        folder = Path(tempfile.mkdtemp(prefix="carsr-worker-"))
    run = Run(cfg, strategy, worker, folder, say)
    try:
        run.restore_or_build(state)
        run.prepare_data()
        run.loop()
        if worker.count > 1:
            log(f"{worker}: finished with weights {weights_digest(run.model)}")
        return cfg.out / "model.weights.h5" if worker.chief else None
    except (
        tf.errors.UnavailableError,
        tf.errors.DeadlineExceededError,
        tf.errors.CancelledError,
        tf.errors.AbortedError,
    ) as exc:
        if worker.count == 1:
            raise
        raise SystemExit(
            f"carsr: {worker}: {lost_contact(str(exc.message))}; "
            + resume_advice(ckpt, run.saved_step, cfg.resume)
        ) from None
    finally:
        if not worker.chief:
            shutil.rmtree(folder, ignore_errors=True)


def check_batch(batch: int, replicas: int) -> None:
    if batch % replicas:
        raise SystemExit(f"carsr: --batch {batch} must be a multiple of the {replicas} replicas")


def resume_advice(ckpt: Path, step: int | None, resumed: bool) -> str:
    """What a run that ended early leaves to continue from: ``step`` is the step of this run's
    last checkpoint (the one it resumed from, or one it wrote), ``None`` if there is none."""
    if step is not None:
        return f"{ckpt} holds step {step} of this run: --resume continues from step {step}"
    if ckpt.is_file() and not resumed:
        return f"no checkpoint of this run yet ({ckpt} is an earlier run's): start it again"
    return "no checkpoint of this run yet: start it again"


def lost_contact(message: str) -> str:
    """What TensorFlow's message on a failed collective says, in one line: the peer and the
    reason, without the traceback of the graph node."""
    import re

    peer = re.search(r"/job:(\w+)/replica:\d+/task:(\d+)", message)
    lines = [
        line.strip()
        for line in message.splitlines()
        if line.strip()
        and not line.startswith(("Graph execution error", "Detected at node", "  File"))
    ]
    reason = lines[0].removeprefix("Collective ops is aborted by: ").rstrip(":") if lines else "?"
    return f"lost contact with {f'{peer[1]} {peer[2]}' if peer else 'the other workers'} ({reason})"


def check_same_epoch(worker: Worker, start_epoch: int, epoch_sum: float, ckpt: Path) -> None:
    """Fail unless every worker starts at ``start_epoch`` (``epoch_sum`` is the workers' sum):
    their copies of the run folder could differ."""
    if epoch_sum != start_epoch * worker.count:
        raise SystemExit(
            f"carsr: {worker}: {ckpt} is at epoch {start_epoch} here but not on "
            "every worker: --resume needs the same run folder on every worker"
        )


def epoch_batches(
    cfg: TrainConfig,
    pairs: Sequence[Pair],
    epochs: range,
    per_replica: int,
    local_replicas: int,
    pipeline: int,
) -> Iterator:
    """The batches of input pipeline (worker) ``pipeline`` for ``epochs``: seeded with the epoch,
    so that a resumed run draws the patches a straight run would, and with the pipeline, so that
    each worker draws its own."""
    qualities = cfg.jpeg_quality if cfg.degradation == "jpeg" else None
    for epoch in epochs:
        seed = cfg.seed * 100_003 + epoch + pipeline * 2**32
        gen = sample_batches(pairs, per_replica, cfg.patch, seed, qualities, cfg.jpeg_fraction)
        for _ in range(cfg.steps_per_epoch * local_replicas):
            yield next(gen)


class Run:
    """One training run on this worker, in the parts that :func:`train` calls in order: restore
    or build the model, prepare the photos, then the loop of epochs (steps, validation, saving).
    """

    def __init__(self, cfg: TrainConfig, strategy, worker: Worker, folder: Path, say) -> None:
        self.cfg = cfg
        self.strategy = strategy
        self.worker = worker
        self.folder = folder  # where this worker saves: the run folder on the chief
        self.say = say
        self.model = None
        self.loss_name = cfg.loss or "l1"
        self.start_epoch = 0
        #: The optimizer step of this run's last checkpoint (None: there is none yet).
        self.saved_step: int | None = None
        self.train_pairs: list[Pair] = []
        self.val_pairs: list[Pair] = []

    @property
    def epochs(self) -> int:
        return max(1, -(-self.cfg.steps // self.cfg.steps_per_epoch))

    def restore_or_build(self, state: dict | None) -> None:
        """The checkpoint's model and optimizer (``state``: the run to resume), or a new model."""
        from carsr_gui.tf_setup import keras

        cfg, say = self.cfg, self.say
        # The learning rate is a function of the step and the config alone, so a resumed run
        # with a new --steps re-plans the rest of the cosine decay to end at the new total.
        schedule = keras.optimizers.schedules.CosineDecay(cfg.lr, cfg.steps, alpha=0.02)
        with self.strategy.scope():
            if state is not None:
                model = keras.models.load_model(cfg.out / CHECKPOINT)
                model.optimizer.learning_rate = schedule
                self.start_epoch = int(state["epoch"])
                self.saved_step = int(model.optimizer.iterations.numpy())
                say(f"resumed from {cfg.out / CHECKPOINT} at epoch {self.start_epoch}")
                if cfg.loss and LOSSES[cfg.loss] != model.loss:
                    # Recompiling with the same optimizer keeps Adam's moments and step count.
                    model.compile(model.optimizer, loss=LOSSES[cfg.loss])
                    say(f"loss switched to {cfg.loss}")
            else:
                model = build_model(cfg.variant, width=cfg.width)
                if cfg.init is not None:
                    model.load_weights(cfg.init)
                    say(f"started from {cfg.init}")
                # Under mixed_float16, compile wraps Adam in a LossScaleOptimizer (float16 alone
                # needs loss scaling).
                model.compile(keras.optimizers.Adam(schedule), loss=LOSSES[cfg.loss or "l1"])
            # Adam's slots are made here, in the strategy's scope, not inside the replicated step.
            if not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)
            # The loss in use, for the state: on --resume without --loss, the checkpoint's own.
            self.loss_name = next(k for k, v in LOSSES.items() if v == model.loss)
            dropout = model.get_layer("dropout")
            # Keras gives a Dropout layer its random state only when made with a rate above 0.
            if cfg.dropout > 0 and not hasattr(dropout, "seed_generator"):
                raise SystemExit(
                    f"carsr: {cfg.out / CHECKPOINT} was trained without dropout; resume it with 0"
                )
            dropout.rate = cfg.dropout
        self.model = model

    def prepare_data(self) -> None:
        """Decode and degrade the photos (after the model: a checkpoint that cannot be resumed
        fails before minutes of decoding), then agree with the other workers on the epoch."""
        cfg, worker = self.cfg, self.worker
        t0 = time.perf_counter()
        self.train_pairs = load_pairs(image_paths(cfg.data), cfg.patch, self.say)
        if not self.train_pairs:
            raise SystemExit(f"carsr: {cfg.data}: no usable training images")
        # Validation on JPEG runs scores one fixed quality in the middle of the range; each
        # worker scores its share of the photos.
        val_q = sum(cfg.jpeg_quality) // 2 if cfg.degradation == "jpeg" else None
        val_paths = image_paths(cfg.val)[: cfg.val_images] if cfg.val else []
        mine = val_paths[worker.index :: worker.count]
        self.val_pairs = load_pairs(mine, MULTIPLE, self.say, val_q)
        # All wait here for the slowest to prepare its photos.
        epoch_sum, n_val = sum_over_workers(
            self.strategy, worker, [self.start_epoch, len(self.val_pairs)], wait=True
        )
        check_same_epoch(worker, self.start_epoch, epoch_sum, cfg.out / CHECKPOINT)
        self.say(
            f"{len(self.train_pairs)} training photos, {n_val:.0f} validation photos "
            f"prepared in {time.perf_counter() - t0:.0f} s"
        )

    def dataset(self, ctx):
        """This worker's batches: ``--batch`` is the global batch, split over the replicas."""
        from carsr_gui.tf_setup import tf

        cfg = self.cfg
        per_replica = ctx.get_per_replica_batch_size(cfg.batch)
        local_replicas = ctx.num_replicas_in_sync // ctx.num_input_pipelines

        def batches() -> Iterator:
            epochs = range(self.start_epoch, self.epochs)
            return epoch_batches(
                cfg, self.train_pairs, epochs, per_replica, local_replicas, ctx.input_pipeline_id
            )

        spec = tf.TensorSpec((per_replica, cfg.patch, cfg.patch, 3), tf.float32)
        return tf.data.Dataset.from_generator(batches, output_signature=(spec, spec)).prefetch(4)

    def train_step(self):
        """One optimizer step on the next global batch, as a function of the batch iterator."""
        from carsr_gui.tf_setup import tf

        model, strategy = self.model, self.strategy
        optimizer = model.optimizer
        # The network with its upsamplings folded trains a fifth faster (README, *Speed*); the
        # seed's activity penalty and dropout need the model's own call.
        fold = self.cfg.variant == "carsr" and self.cfg.dropout == 0
        folded = inference(model) if fold else None

        def replica_step(x, y):
            with tf.GradientTape() as tape:
                pred = folded(x)[0] if folded else model(x, training=True)
                # Keras divides the mean loss by the replicas in sync: the optimizer sums the
                # replicas' gradients into those of the global batch.
                loss = model.compute_loss(x, y, pred, training=True)
                scaled = optimizer.scale_loss(loss)
            grads = tape.gradient(scaled, model.trainable_variables)
            optimizer.apply(grads, model.trainable_variables)
            return loss

        @tf.function
        def step(iterator):
            losses = strategy.run(replica_step, args=next(iterator))
            return strategy.reduce("SUM", losses, axis=None)

        return step

    def validate(self) -> tuple[float, float]:
        """Mean PSNR of the model over the validation photos and its gain over bicubic, each
        worker scoring its share. The workers wait for the slowest (shares of whole photos are
        unequal), not for the timeout: a dead one is noticed by the heartbeats."""
        got, base, n = sum_over_workers(
            self.strategy, self.worker, psnr_sums(self.model, self.val_pairs), wait=True
        )
        return (got / n, (got - base) / n) if n else (float("nan"), float("nan"))

    def loop(self) -> None:
        from tqdm import tqdm

        cfg, worker = self.cfg, self.worker
        step = self.train_step()
        batches = iter(self.strategy.distribute_datasets_from_function(self.dataset))
        log_path = cfg.out / "log.csv"
        if worker.chief:
            if not cfg.resume:
                log_path.unlink(missing_ok=True)
            trim_log(log_path, self.start_epoch)
        for epoch in range(self.start_epoch, self.epochs):
            t = time.perf_counter()
            total = 0.0
            with tqdm(
                total=cfg.steps_per_epoch,
                desc=f"epoch {epoch + 1}/{self.epochs}",
                unit="step",
                disable=None if worker.chief else True,  # None: a bar on a terminal only
                file=sys.stderr,
                leave=False,
            ) as bar:
                for i in range(cfg.steps_per_epoch):
                    total += float(step(batches))
                    bar.set_postfix(loss=f"{total / (i + 1):.4f}", refresh=False)
                    bar.update()
            secs = time.perf_counter() - t
            val, gain = self.validate()
            row = {
                "epoch": epoch + 1,
                "step": (epoch + 1) * cfg.steps_per_epoch,
                "loss": f"{total / cfg.steps_per_epoch:.6f}",
                "val_psnr": f"{val:.3f}",
                "val_gain_db": f"{gain:.3f}",
                "patches_per_s": f"{cfg.steps_per_epoch * cfg.batch / secs:.1f}",
                "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            }
            # The others write the same files to their temporary folder, as TensorFlow's
            # multi-worker guide does: saving stays the same work on every worker.
            state = {"epoch": epoch + 1, "config": {**asdict(cfg), "loss": self.loss_name}}
            save_epoch(self.model, self.folder, state, row, log_path if worker.chief else None)
            self.saved_step = int(self.model.optimizer.iterations.numpy())
            self.say(" ".join(f"{k}={v}" for k, v in row.items()))


def check_layout(weights: Path, variant: str, width: int) -> None:
    """Fail in one line unless ``weights`` are a carsr weights file of this variant and width."""
    from carsr_gui.resources import WeightsError
    from carsr_gui.runner import weights_layout

    try:
        layout = weights_layout(weights)
    except WeightsError as exc:
        raise SystemExit(f"carsr: {exc}") from None
    if layout != (variant, width):
        raise SystemExit(
            f"carsr: {weights}: cannot start from these weights: they are the {layout[0]} variant "
            f"of width {layout[1]}, this run is {variant} of width {width}"
        )


def save_float32_weights(model, path: Path) -> None:
    """Replace ``path`` with the weights of ``model`` (not its optimizer's state) in one step.
    Variables are float32 under mixed precision, so a float32 rebuild loads them as they are."""
    from carsr_gui.tf_setup import keras

    # An uncompiled copy (clone_model would copy the compilation): the weights of a compiled
    # model are saved with the optimizer's state.
    bare = keras.Model.from_config(model.get_config())
    bare.set_weights(model.get_weights())
    atomic.replace_with(path, bare.save_weights)


def install_weights(src: Path, folder: Path, card: dict, name: str = "clean") -> dict:
    """Copy trained weights into ``folder`` (the bundled ``model_weights``) as the bundled weights
    ``name`` (a key of :data:`~carsr_gui.resources.MODEL_CARDS`), with their model card.

    ``card`` holds what is known of the training and its figures; the file name, variant, width
    and sha256 are filled in here so that they always describe the file actually shipped.

    The app checks the weights against the card's sha256, and no order of replacing two files
    keeps them matched throughout; so the new weights first go in beside the old ones, under a
    name of their own, and the card names them there while the usual name is replaced. A crash
    at any point leaves a card and the weights it names, old or new (and perhaps that extra
    file, replaced by the next install).
    """
    from carsr_gui.resources import MODEL_CARDS, sha256
    from carsr_gui.runner import weights_layout

    stem = "carsr_x2" if name == "clean" else f"carsr_x2_{name.replace('-', '_')}"
    dest = folder / f"{stem}.weights.h5"
    incoming = folder / f"{stem}.incoming.weights.h5"
    card_path = folder / MODEL_CARDS[name]
    atomic.replace_with(incoming, lambda tmp: shutil.copyfile(src, tmp))
    variant, width = weights_layout(incoming)
    card = {
        **card,
        "weights": dest.name,
        "variant": variant,
        "width": width,
        "sha256": sha256(incoming),
    }

    def write_card(weights: Path) -> None:
        atomic.write_text(card_path, json.dumps({**card, "weights": weights.name}, indent=2) + "\n")

    write_card(incoming)
    atomic.replace_with(dest, lambda tmp: shutil.copyfile(incoming, tmp))
    write_card(dest)
    incoming.unlink()
    return card


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on the loopback interface (held open until all are
    found, so that none is handed out twice)."""
    import socket

    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def local_cluster(count: int) -> list[str]:
    """The ``TF_CONFIG`` of each of ``count`` workers on this machine (worker 0 is the chief)."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(count)]}
    return [
        json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
        for i in range(count)
    ]


def worker_argv(argv: Sequence[str]) -> list[str]:
    """The command line a local worker runs: ``argv`` minus ``--workers N`` (also written
    ``--workers=N`` or abbreviated), with the multi-worker strategy."""
    out, skip = [], False
    for token in argv:
        name, eq, _ = token.partition("=")
        if skip:
            skip = False
        elif len(name) >= 4 and "--workers".startswith(name):
            skip = not eq
        else:
            out.append(token)
    return [*out, "--strategy", "multiworker"]


def carsr_command() -> list[str]:
    """How to start ``carsr`` in a new process."""
    if getattr(sys, "frozen", False):  # the packaged app's executable is ``carsr`` itself
        return [sys.executable]
    return [sys.executable, "-m", "carsr_gui"]


def run_local_workers(args: Sequence[str], count: int, grace: float) -> int:
    """Run ``carsr <args>`` as ``count`` worker processes of one local cluster and wait for them.

    Each worker gets its ``TF_CONFIG`` and an equal share of the CPU cores for TensorFlow's
    threads. When one fails, the others end on their own within their timeout; any still
    running ``grace`` seconds later is stopped. Returns the first failing exit status, else 0.
    """
    import subprocess

    command = [*carsr_command(), *args]
    threads = str(max(1, (os.cpu_count() or 1) // count))
    procs = []
    for tf_config in local_cluster(count):
        env = {**os.environ, "TF_CONFIG": tf_config}
        env.setdefault("TF_NUM_INTRAOP_THREADS", threads)
        procs.append(subprocess.Popen(command, env=env))
    failed, deadline = 0, None
    try:
        while any(p.poll() is None for p in procs):
            codes = [p.returncode for p in procs if p.returncode]
            if codes and deadline is None:
                failed, deadline = codes[0], time.monotonic() + grace
            elif deadline is not None and time.monotonic() > deadline:
                break
            time.sleep(0.2)
    except KeyboardInterrupt:  # the workers got the same Ctrl-C from the terminal
        failed = 130
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(10)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    failed = failed or next((p.returncode for p in procs if p.returncode), 0)
    return failed if failed > 0 else 1 if failed else 0
