"""Training on a cluster of worker processes on 127.0.0.1 (MultiWorkerMirroredStrategy)."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from PIL import Image

from carsr_gui import train as training
from tests.conftest import drawn_image

TINY = [
    "--width", "4", "--batch", "4", "--patch", "32", "--lr", "3e-3", "--precision", "fp32",
    "--seed", "1", "--val-images", "2",
]  # fmt: skip


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    for i in range(6):
        Image.fromarray(drawn_image(72 + 8 * i, 96, seed=i)).save(folder / f"{i}.png")
    return folder


def carsr(*args: str) -> list[str]:
    return [sys.executable, "-m", "carsr_gui", "train", *args]


def digests(output: str) -> dict[str, str]:
    """Worker -> digest of its weights at the end, from each worker's last line."""
    return dict(re.findall(r"(worker \d of 2): finished with weights (\w+)", output))


def test_two_workers_train_one_model_and_resume(photo_folder, tmp_path):
    import keras

    from carsr_gui.model import build_model

    out = tmp_path / "run"
    common = ["--data", str(photo_folder), "--val", str(photo_folder), "--out", str(out), *TINY]
    scratch = tmp_path / "tmp"  # the temporary folders of the workers other than the chief
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    done = subprocess.run(
        carsr(*common, "--steps", "8", "--steps-per-epoch", "4", "--workers", "2"),
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert not list(scratch.iterdir())  # worker 1 wrote its copies there and removed them
    assert "2 workers, 2 replicas in sync" in done.stdout
    # Both workers hold the same weights, and the chief wrote them.
    found = digests(done.stdout)
    assert set(found) == {"worker 0 of 2", "worker 1 of 2"}, done.stdout
    assert len(set(found.values())) == 1
    trained = build_model("carsr", width=4)
    trained.load_weights(out / "model.weights.h5")
    assert training.weights_digest(trained) == found["worker 0 of 2"]
    assert [int(r["step"]) for r in read_log(out)] == [4, 8]
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.keras", "log.csv", "model.weights.h5", "state.json",
    ]  # fmt: skip

    # The loss fell: the trained weights do better than initial ones on fresh patches.
    pairs = training.load_pairs(training.image_paths(photo_folder), 32)
    x, y = next(training.sample_batches(pairs, 16, 32, seed=99))
    keras.utils.set_random_seed(1)
    initial = build_model("carsr", width=4)

    def l1(m):
        return float(np.abs(m.predict(x, verbose=0) - y).mean())

    assert l1(trained) < l1(initial)

    # The cluster resumes from the chief's checkpoint; the new --steps re-plans the decay.
    done = subprocess.run(
        carsr(*common, "--steps", "12", "--steps-per-epoch", "4", "--workers", "2", "--resume"),
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "at epoch 2" in done.stdout
    assert len(set(digests(done.stdout).values())) == 1
    assert [int(r["step"]) for r in read_log(out)] == [4, 8, 12]
    assert training.read_state(out)["epoch"] == 3
    ckpt = keras.models.load_model(out / "checkpoint.keras")
    assert int(ckpt.optimizer.iterations) == 12


def read_log(out):
    import csv

    with (out / "log.csv").open() as f:
        return list(csv.DictReader(f))


def test_a_lost_worker_ends_the_run_in_one_line_and_keeps_the_checkpoint(photo_folder, tmp_path):
    import keras

    out = tmp_path / "run"
    timeout = 20
    cmd = carsr(
        "--data", str(photo_folder), "--out", str(out), *TINY, "--steps", "40",
        "--steps-per-epoch", "2", "--strategy", "multiworker", "--timeout", str(timeout),
    )  # fmt: skip
    workers = [
        subprocess.Popen(
            cmd,
            # The killed worker leaves its temporary folder behind: in tmp_path, not /tmp.
            env={**os.environ, "TF_CONFIG": tf_config, "TMPDIR": str(tmp_path)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tf_config in training.local_cluster(2)
    ]
    chief, other = workers
    try:
        # The chief reports an epoch (two steps) once both workers have made them.
        for line in chief.stdout:
            if line.startswith("epoch=1 "):
                break
        other.kill()
        lost = time.monotonic()
        _, err = chief.communicate(timeout=timeout + 60)
        waited = time.monotonic() - lost
    finally:
        for p in workers:
            p.kill()
            p.communicate()
    assert chief.returncode == 1
    message = err.strip().splitlines()[-1]
    assert message.startswith("carsr: worker 0 of 2: lost contact with worker 1 ("), err[-3000:]
    assert message.endswith(
        f"{out / 'checkpoint.keras'} holds step 2 of this run: --resume continues from step 2"
    )
    # Within the timeout (a dead worker is noticed sooner, by its missing heartbeats), with room
    # for a loaded machine.
    assert waited < timeout + 30
    # The last completed epoch's checkpoint is whole, its state with it.
    assert training.read_state(out)["epoch"] == 1
    assert int(keras.models.load_model(out / "checkpoint.keras").optimizer.iterations) == 2
    assert json.loads((out / "state.json").read_text())["epoch"] == 1


def test_a_worker_alone_gives_up_waiting_for_the_others(photo_folder, tmp_path):
    tf_config = training.local_cluster(2)[0]
    start = time.monotonic()
    done = subprocess.run(
        carsr("--data", str(photo_folder), "--out", str(tmp_path / "run"), *TINY, "--timeout", "5"),
        env={**os.environ, "TF_CONFIG": tf_config},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "carsr: worker 0 of 2: the other workers did not all join within 5 s (--timeout): "
        "check that every worker in TF_CONFIG is started and reachable"
    )
    assert time.monotonic() - start < 60  # TensorFlow's own wait is an hour
    assert not (tmp_path / "run").exists()


def test_local_cluster_configs():
    configs = [json.loads(c) for c in training.local_cluster(3)]
    addresses = configs[0]["cluster"]["worker"]
    assert len(set(addresses)) == 3 and all(a.startswith("127.0.0.1:") for a in addresses)
    assert [c["task"] for c in configs] == [{"type": "worker", "index": i} for i in range(3)]
    assert all(c["cluster"] == configs[0]["cluster"] for c in configs)


def test_lost_contact_names_the_worker_and_the_reason_in_one_line():
    message = (
        "Graph execution error:\n\nDetected at node CollectiveReduceV2 defined at (most recent "
        'call last):\n  File "carsr_gui/train.py", line 511, in train_step\n\n'
        "Collective ops is aborted by: recvmsg:Connection reset by peer\nAdditional GRPC error "
        "information from remote target /job:worker/replica:0/task:1 while calling "
        "/tensorflow.WorkerService/RecvBuf:\n [[{{node CollectiveReduceV2}}]]"
    )
    assert training.lost_contact(message) == (
        "lost contact with worker 1 (recvmsg:Connection reset by peer)"
    )
    assert training.lost_contact("") == "lost contact with the other workers (?)"


def test_the_local_workers_get_the_command_line_without_workers():
    argv = ["train", "--data", "d", "--workers", "2", "--width", "4", "--work=3", "--wor", "5"]
    assert training.worker_argv(argv) == [
        "train",
        "--data",
        "d",
        "--width",
        "4",
        "--strategy",
        "multiworker",
    ]


#: A worker whose validation (psnr_sums) does ``{action}`` first if it is worker 1.
WORKER = """
import json, os, sys, time
from carsr_gui import cli, train
if json.loads(os.environ["TF_CONFIG"])["task"]["index"] == 1:
    real = train.psnr_sums
    def psnr_sums(model, pairs):
        {action}
        return real(model, pairs)
    train.psnr_sums = psnr_sums
sys.exit(cli.main(["train", *sys.argv[1:]]))
"""


def run_pair(folder, action: str, *args: str) -> list[subprocess.CompletedProcess]:
    """Two workers of one local cluster running ``carsr train args``, worker 1 with ``action``
    before its validation; their outcomes once both have ended (output in files: a full pipe
    would stall a worker, and with it the other)."""
    script = WORKER.format(action=action)
    workers, logs = [], []
    for i, tf_config in enumerate(training.local_cluster(2)):
        logs.append((folder / f"{i}.out", folder / f"{i}.err"))
        with logs[-1][0].open("w") as out, logs[-1][1].open("w") as err:
            workers.append(
                subprocess.Popen(
                    [sys.executable, "-c", script, *args],
                    env={**os.environ, "TF_CONFIG": tf_config},
                    stdout=out,
                    stderr=err,
                )
            )
    try:
        codes = [p.wait(240) for p in workers]
    finally:
        for p in workers:
            p.kill()
            p.wait()
    return [
        subprocess.CompletedProcess(p.args, code, out.read_text(), err.read_text())
        for p, code, (out, err) in zip(workers, codes, logs, strict=True)
    ]


def test_validation_waits_for_a_slow_worker_beyond_the_timeout(photo_folder, tmp_path):
    out = tmp_path / "run"
    chief, other = run_pair(
        tmp_path,
        "time.sleep(12)",  # beyond --timeout: shares of whole photos take unequal times
        "--data", str(photo_folder), "--val", str(photo_folder), "--out", str(out), *TINY,
        "--steps", "2", "--steps-per-epoch", "2", "--timeout", "6",
    )  # fmt: skip
    assert chief.returncode == 0, chief.stderr[-3000:]
    assert other.returncode == 0, other.stderr[-3000:]
    assert [int(r["step"]) for r in read_log(out)] == [2]
    assert len(set(digests(chief.stdout + other.stdout).values())) == 1


def test_a_worker_lost_in_the_first_epoch_advises_no_earlier_runs_checkpoint(
    photo_folder, tmp_path
):
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.keras").write_bytes(b"an earlier run's")
    chief, other = run_pair(
        tmp_path,
        "os._exit(3)",  # worker 1 dies before the first checkpoint
        "--data", str(photo_folder), "--val", str(photo_folder), "--out", str(out), *TINY,
        "--steps", "4", "--steps-per-epoch", "2", "--timeout", "20",
    )  # fmt: skip
    assert other.returncode == 3
    assert chief.returncode == 1
    message = chief.stderr.strip().splitlines()[-1]
    assert message.startswith("carsr: worker 0 of 2: lost contact with "), chief.stderr[-3000:]
    assert message.endswith(
        f"no checkpoint of this run yet ({out / 'checkpoint.keras'} is an earlier run's): "
        "start it again"
    )
    assert (out / "checkpoint.keras").read_bytes() == b"an earlier run's"


def test_resume_advice_names_what_is_there(tmp_path):
    ckpt = tmp_path / "checkpoint.keras"
    assert (
        training.resume_advice(ckpt, None, False) == "no checkpoint of this run yet: start it again"
    )
    assert training.resume_advice(ckpt, 500, True) == (
        f"{ckpt} holds step 500 of this run: --resume continues from step 500"
    )
    ckpt.touch()
    assert "is an earlier run's" in training.resume_advice(ckpt, None, False)
    # On --resume, the checkpoint there is this run's, and it knows its step.
    assert (
        training.resume_advice(ckpt, None, True) == "no checkpoint of this run yet: start it again"
    )


def test_when_one_local_worker_fails_the_others_are_stopped(tmp_path, monkeypatch):
    import subprocess as sp

    script = textwrap.dedent(f"""
        import json, os, pathlib, sys, time
        index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
        folder = pathlib.Path({str(tmp_path)!r})
        (folder / f"{{index}}.started").touch()
        if index == 0:  # fails once the others are running
            while len(list(folder.glob("*.started"))) < 3:
                time.sleep(0.05)
            sys.exit(3)
        time.sleep(600)
    """)
    started = []

    class Popen(sp.Popen):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(training, "carsr_command", lambda: [sys.executable, "-c", script])
    monkeypatch.setattr(sp, "Popen", Popen)
    assert training.run_local_workers([], 3, grace=0.5) == 3
    assert [p.returncode for p in started] == [3, -signal.SIGKILL, -signal.SIGKILL]
