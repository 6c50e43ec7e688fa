"""The logger config group: tensorboard (default), csv, mlflow, wandb and many, each receiving the same
metrics, hyperparameters, validation pictures and final measures; bad tracker settings stop at start-up."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from stylexfer.experiments.report import read_job
from stylexfer.training import loggers as tracker_module
from stylexfer.training.config import ConfigError, validate
from stylexfer.training.run import RunResult, compose_config, run
from training_utils import TINY, make_data_root, run_train, subprocess_env, train_in_process

SERVER_START_S = 180  # an MLflow server on 2 busy cores takes about 45 s to answer


def train(tmp: Path, overrides: list[str], name: str = "run") -> RunResult:
    return train_in_process(tmp, [*TINY, *overrides], name)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_data_root(tmp_path_factory.mktemp("data"))


DATA = ["data.content_dir=content", "data.style_dir=style"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- the config group


@pytest.mark.parametrize("name", ["tensorboard", "csv", "mlflow", "wandb", "many"])
def test_each_logger_composes_and_validates(name: str) -> None:
    settings = validate(compose_config([f"logger={name}"]))
    assert settings.logger.name == name
    assert settings.logger.selected() == (["tensorboard", "csv"] if name == "many" else [name])


def test_tensorboard_stays_the_default() -> None:
    assert validate(compose_config([])).logger.selected() == ["tensorboard"]


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["logger=many", "logger.use=[tensorboard,neptune]"], "logger.use"),
        (["logger=many", "logger.use=[csv,csv]"], "logger.use"),
        (["logger=many", "logger.use=[]"], "logger.use"),
        (["logger=csv", "logger.use=[tensorboard]"], "logger.use"),
        (["logger=wandb", "logger.wandb.mode=sometimes"], "logger.wandb.mode"),
        (["logger=csv", "logger.csv.flush_logs_every_n_steps=0"], "logger.csv.flush_logs_every_n_steps"),
    ],
)
def test_bad_logger_settings_name_the_key(overrides: list[str], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        validate(compose_config(overrides))


def test_a_missing_tracker_package_is_one_line_with_the_pip_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real = tracker_module.importlib.util.find_spec
    monkeypatch.setattr(
        tracker_module.importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a)
    )
    with pytest.raises(ConfigError) as info:
        run(compose_config([*TINY, "logger=mlflow"]), output_dir=tmp_path / "run", base_dir=tmp_path)
    message = str(info.value)
    assert "\n" not in message and "pip install 'stylexfer[mlflow]'" in message, message
    assert not (tmp_path / "run").exists()  # refused before anything touched the disk


@pytest.mark.slow
def test_an_mlflow_server_that_is_down_stops_the_command_before_training(tmp_path: Path) -> None:
    port = free_port()  # closed: nothing listens there
    result = run_train(
        *TINY, "logger=mlflow", f"logger.mlflow.tracking_uri=http://127.0.0.1:{port}", "hydra.run.dir=run",
        cwd=tmp_path, timeout=120,
    )
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and "MLflow server" in lines[0], result.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()


# --------------------------------------------------------------------------- csv, many


@pytest.mark.slow
def test_logger_csv_writes_metrics_csv_with_the_final_measures(data_root: Path) -> None:
    result = train(data_root, ["logger=csv", *DATA], "csv")
    text = (result.output_dir / "csv" / "metrics.csv").read_text()
    header = text.splitlines()[0].split(",")
    for column in ("train/total", "val/content", "val/style", "hparams/eval/content_relu4_1"):
        assert column in header, header
    assert "style_weight: 10.0" in (result.output_dir / "csv" / "hparams.yaml").read_text()
    assert not (result.output_dir / "tensorboard").exists()
    assert (result.output_dir / "samples" / "step_0000002.png").is_file()  # the run folder has its pictures
    assert json.loads((result.output_dir / "final.json").read_text())["status"] == "finished"
    job = read_job(result.output_dir, result.output_dir.parent)  # what `stylexfer report` reads: no TensorBoard
    assert job.status == "finished" and job.step == 2 and "val/style" in job.metrics and job.run_measures


@pytest.mark.slow
def test_a_resumed_csv_run_appends_to_its_metrics(data_root: Path, tmp_path: Path) -> None:
    shutil.copytree(data_root / "content", tmp_path / "content")
    shutil.copytree(data_root / "style", tmp_path / "style")
    first = train(tmp_path, ["logger=csv", *DATA])
    rows = len((first.output_dir / "csv" / "metrics.csv").read_text().splitlines())
    train(tmp_path, ["logger=csv", *DATA, "trainer.max_steps=3", "ckpt_path=last"])
    assert len((first.output_dir / "csv" / "metrics.csv").read_text().splitlines()) > rows


# --------------------------------------------------------------------------- MLflow


def _check_mlflow_run(tracking_uri: str, experiment: str) -> None:
    """One MLflow run in `experiment` with the metrics, the params and at least one picture."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    runs = client.search_runs([found.experiment_id])
    assert len(runs) == 1
    data = runs[0].data
    for key in ("train/total", "val/content", "val/style", "hparams/eval/content_relu4_1"):
        assert key in data.metrics, sorted(data.metrics)
    assert [m.step for m in client.get_metric_history(runs[0].info.run_id, "train/total")] == [0, 1]
    assert data.params["model.style_weight"] == "10.0" and data.params["data.crop"] == "32"
    pictures = client.list_artifacts(runs[0].info.run_id, "val_stylized")
    assert [Path(a.path).name for a in pictures] == ["step_0000002.png"]


@pytest.mark.slow
@pytest.mark.parametrize("form", ["sqlite", "folder"])
def test_mlflow_without_a_server(data_root: Path, tmp_path: Path, form: str) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}" if form == "sqlite" else str(tmp_path / "mlruns")
    train(data_root, ["logger=mlflow", *DATA, f"logger.mlflow.tracking_uri={uri}",
                      f"logger.mlflow.experiment_name=serverless-{form}"], f"mlflow-{form}")
    if form == "folder":  # a folder holds a SQLite database (MLflow 3 refuses its file store by default)
        uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    _check_mlflow_run(uri, f"serverless-{form}")
    artifacts = (tmp_path / "mlruns" if form == "folder" else tmp_path) / "mlartifacts"
    assert list(artifacts.rglob("step_0000002.png"))  # beside the database, not in the working folder


@pytest.fixture
def mlflow_server(tmp_path: Path):
    """A real `mlflow server` on 127.0.0.1 (SQLite backend and artifacts in tmp_path), stopped at the end."""
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "artifacts")],
        stdout=log, stderr=subprocess.STDOUT, env=subprocess_env(), start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert process.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the MLflow server did not start in time"
            time.sleep(0.5)
        yield uri
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the server and the workers it started, nothing else
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)
        log.close()


@pytest.mark.slow
def test_mlflow_against_a_real_tracking_server(data_root: Path, mlflow_server: str) -> None:
    train(data_root, ["logger=mlflow", *DATA, f"logger.mlflow.tracking_uri={mlflow_server}",
                      "logger.mlflow.experiment_name=server"], "mlflow-server")
    _check_mlflow_run(mlflow_server, "server")


@pytest.mark.slow
def test_a_tracker_failing_mid_run_keeps_the_run_folder_whole(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from pytorch_lightning.loggers import MLFlowLogger

    calls = {"n": 0}
    real = MLFlowLogger.log_metrics

    def failing(self, metrics, step=None):  # the server goes away after the first step
        calls["n"] += 1
        if calls["n"] > 1:
            raise ConnectionError("API request to http://127.0.0.1:1 failed: connection refused")
        return real(self, metrics, step)

    monkeypatch.setattr(MLFlowLogger, "log_metrics", failing)
    result = train(data_root, ["logger=many", "logger.use=[mlflow,csv]", *DATA,
                               f"logger.mlflow.tracking_uri=sqlite:///{tmp_path / 'm.db'}"], "failing")
    assert result.global_step == 2
    names = {p.name for p in result.checkpoint_dir.glob("*.ckpt")}
    assert names == {"last.ckpt", "step_0000001.ckpt", "step_0000002.ckpt"}
    assert (result.output_dir / "samples" / "step_0000002.png").is_file()
    assert json.loads((result.output_dir / "final.json").read_text())["status"] == "finished"
    assert "val/total" in (result.output_dir / "csv" / "metrics.csv").read_text()  # the other logger went on
    assert "MLflowTracker stopped logging" in caplog.text


# --------------------------------------------------------------------------- Weights & Biases


def wandb_records(path: Path) -> list:
    """The records of a .wandb file (LevelDB log framing: 32 KiB blocks, 7-byte record headers, after a
    7-byte ':W&B' header), parsed with wandb's own protobuf messages."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, block, pending, chunks = 7, 32768, b"", []
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        pos += 7
        chunk, pos = data[pos : pos + length], pos + length
        if kind == 1:
            chunks.append(chunk)
        elif kind == 2:
            pending = chunk
        elif kind == 3:
            pending += chunk
        elif kind == 4:
            chunks.append(pending + chunk)
        else:
            break
    return [wandb_internal_pb2.Record.FromString(chunk) for chunk in chunks]


@pytest.mark.slow
def test_wandb_offline_run_folder_holds_the_metrics(
    data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(data_root / "wandb-config"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(data_root / "wandb-cache"))
    result = train(data_root, ["logger=wandb", *DATA], "wandb")
    files = list((result.output_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 1, list((result.output_dir / "wandb").rglob("*"))
    deadline = time.monotonic() + 60  # wandb-core writes the file behind wandb.finish(): wait for its exit record
    records = wandb_records(files[0])
    while not any(r.WhichOneof("record_type") == "exit" for r in records):
        assert time.monotonic() < deadline, "the offline run file never got its exit record"
        time.sleep(0.5)
        records = wandb_records(files[0])
    history: dict[str, list[str]] = {}
    config_keys: set[str] = set()
    for record in records:
        kind = record.WhichOneof("record_type")
        if kind == "history":
            for item in record.history.item:
                history.setdefault(item.key or "/".join(item.nested_key), []).append(item.value_json)
        elif kind == "config":
            config_keys |= {item.key for item in record.config.update}
    for key in ("train/total", "val/content", "val/style", "hparams/eval/content_relu4_1"):
        assert key in history, sorted(history)
    assert len(history["train/total"]) == 2
    assert any(key.startswith("val/stylized/") for key in history), sorted(history)  # a W&B image
    assert {"model.style_weight", "data.crop"} <= config_keys
