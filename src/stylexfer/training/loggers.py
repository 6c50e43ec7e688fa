"""The trackers a run writes to (`logger=tensorboard|csv|mlflow|wandb|many`), through Lightning's loggers.

Every chosen logger receives the same metrics (Lightning sends them), the flat hyperparameters of the
run, the validation pictures (:func:`log_image`, each tracker through its own image API) and the final
measures (:func:`log_final`). The run folder (final.json, samples/, checkpoints/) never depends on a
tracker: a tracker that fails in the middle of a run is reported once and left out, and the run goes on.
"""

from __future__ import annotations

import csv
import importlib.util
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import CSVLogger, Logger, MLFlowLogger, TensorBoardLogger, WandbLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from torch import Tensor

from stylexfer.errors import one_line
from stylexfer.training.config import ConfigError, LoggerConfig

log = logging.getLogger(__name__)

PACKAGES = {"mlflow": "mlflow", "wandb": "wandb"}  # logger -> the module it needs (an optional extra)
SERVER_TIMEOUT_S = 5.0  # the start-up check of a tracking server: a dead one fails in seconds, not minutes


# --------------------------------------------------------------------------- start-up checks


def check_loggers(cfg: LoggerConfig, *, base_dir: Path) -> None:
    """Before anything touches the disk: each chosen tracker's package is installed and an MLflow
    tracking server answers. ConfigError (one line, exit 2) otherwise."""
    for name in cfg.selected():
        package = PACKAGES.get(name)
        if package is not None and importlib.util.find_spec(package) is None:
            raise ConfigError(
                f"logger={name} needs the {package} package, which is not installed: "
                f"pip install 'stylexfer[{name}]' (or choose another logger, e.g. logger=tensorboard)"
            )
    if "mlflow" in cfg.selected():
        uri = mlflow_tracking_uri(cfg, output_dir=None, base_dir=base_dir)
        if uri is not None and uri.startswith(("http://", "https://")):
            check_server(uri)


def check_server(uri: str, *, timeout: float = SERVER_TIMEOUT_S) -> None:
    """An MLflow tracking server answers its /health endpoint, or ConfigError naming the address."""
    health = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(health, timeout=timeout) as response:  # noqa: S310 - a user-given http(s) URL
            response.read(64)
    except urllib.error.HTTPError as err:
        raise ConfigError(
            f"logger.mlflow.tracking_uri={uri}: the server answered {err.code} at {health}, "
            "not an MLflow tracking server; check the address"
        ) from err
    except (OSError, ValueError) as err:
        reason = getattr(err, "reason", None) or err
        raise ConfigError(
            f"logger.mlflow.tracking_uri={uri}: cannot reach the MLflow server ({one_line(reason)}); "
            "start it (mlflow server --host 127.0.0.1 --port <port>) or choose another logger"
        ) from err


def mlflow_tracking_uri(cfg: LoggerConfig, *, output_dir: Path | None, base_dir: Path) -> str | None:
    """logger.mlflow.tracking_uri made absolute: a folder or a relative sqlite:/// file against
    `base_dir`; null: $MLFLOW_TRACKING_URI, else sqlite:///<output_dir>/mlflow.db (None before the
    run folder is known). A folder becomes the SQLite database <folder>/mlflow.db: MLflow 3 refuses its
    file store unless MLFLOW_ALLOW_FILE_STORE=true is set, and then the folder is that file store."""
    uri = cfg.mlflow.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        return None if output_dir is None else f"sqlite:///{output_dir / 'mlflow.db'}"
    if uri.startswith("sqlite:///"):
        path = uri[len("sqlite:///") :]
        return f"sqlite:///{(base_dir / path).resolve()}" if path and not path.startswith("/") else uri
    if "://" in uri or uri.startswith("file:"):
        return uri
    folder = (base_dir / uri).resolve()
    if os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").lower() in ("1", "true"):
        return str(folder)
    return f"sqlite:///{folder / 'mlflow.db'}"


# --------------------------------------------------------------------------- tolerant trackers


class _Tolerant:
    """A remote tracker whose failure mid-run (a server gone, a quota, a network cut) is logged once,
    after which it is left out; the checkpoints, samples and final.json of the run folder carry on."""

    failed: str | None = None

    def guard(self, what: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.failed is not None:
            return None
        try:
            return call(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - a tracker must never be what stops a run
            self.failed = one_line(err)
            log.warning(
                "%s stopped logging (%s failed: %s); training goes on and the run folder keeps every "
                "checkpoint, sample and final.json",
                type(self).__name__,
                what,
                self.failed,
            )
            return None

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self.guard("log_metrics", super().log_metrics, metrics, step)  # type: ignore[misc]

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        self.guard("log_hyperparams", super().log_hyperparams, params, *args, **kwargs)  # type: ignore[misc]

    def save(self) -> None:
        self.guard("save", super().save)  # type: ignore[misc]

    def finalize(self, status: str = "success") -> None:
        self.guard("finalize", super().finalize, status)  # type: ignore[misc]

    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        self.guard("after_save_checkpoint", super().after_save_checkpoint, checkpoint_callback)  # type: ignore[misc]


class MLflowTracker(_Tolerant, MLFlowLogger):
    """MLFlowLogger that a failing server cannot stop the run with."""


class WandbTracker(_Tolerant, WandbLogger):
    """WandbLogger that a failing service cannot stop the run with."""


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer deletes an existing metrics.csv; a resumed run appends to it instead
    (starting from the columns it already has)."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as handle:
                self.metrics_keys = sorted(next(csv.reader(handle), []))


class RunCSVLogger(CSVLogger):
    """CSVLogger writing <run dir>/csv/metrics.csv, kept and appended to when the run is resumed."""

    @property
    def experiment(self) -> Any:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment


# --------------------------------------------------------------------------- construction


def build_loggers(cfg: LoggerConfig, *, output_dir: Path, base_dir: Path) -> list[Logger]:
    """The Lightning loggers of `cfg.selected()`, all writing under `output_dir` (or to their server)."""
    run_name = f"{output_dir.parent.name}/{output_dir.name}"  # outputs/<date>/<time> -> "<date>/<time>"
    loggers: list[Logger] = []
    save_dir = str(output_dir)
    for name in cfg.selected():
        logger: Logger
        if name == "tensorboard":
            logger = TensorBoardLogger(save_dir=save_dir, name="tensorboard", version="", default_hp_metric=False)
        elif name == "csv":
            flush = cfg.csv.flush_logs_every_n_steps
            logger = RunCSVLogger(save_dir=save_dir, name="csv", version="", flush_logs_every_n_steps=flush)
        elif name == "mlflow":
            uri = mlflow_tracking_uri(cfg, output_dir=output_dir, base_dir=base_dir)
            assert uri is not None  # output_dir given
            # a server-less store keeps a new experiment's artifacts beside its database (MLflow's
            # default would be ./mlruns in whatever folder the command runs in)
            database = Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None
            logger = MLflowTracker(
                experiment_name=cfg.mlflow.experiment_name,
                run_name=cfg.mlflow.run_name or run_name,
                tracking_uri=uri,
                tags=dict(cfg.mlflow.tags) or None,
                log_model=cfg.mlflow.log_model,
                artifact_location=str(database.parent / "mlartifacts") if database is not None else None,
            )
        else:  # wandb (LoggerConfig checked the names)
            wandb = cfg.wandb
            extra: dict[str, Any] = {"tags": list(wandb.tags)} if wandb.tags else {}
            if wandb.mode is not None:
                extra["mode"] = wandb.mode
            logger = WandbTracker(
                project=wandb.project,
                entity=wandb.entity,
                name=wandb.name or run_name,
                save_dir=save_dir,
                log_model=wandb.log_model,
                **extra,
            )
        loggers.append(logger)
    return loggers


# --------------------------------------------------------------------------- what every logger receives


def log_image(loggers: Iterable[Any], key: str, image: Tensor, step: int) -> None:
    """A picture (3, H, W) in [0, 1] to every logger that can show one, each through its own API:
    TensorBoard's add_image, an MLflow artifact `<key>/step_0000500.png`, a W&B Image. The CSV logger
    has no pictures; the run folder's samples/ holds them all."""
    for logger in loggers:
        _guarded(logger, "log_image", _log_image_to, logger, key, image, step)


def _guarded(logger: Logger, what: str, call: Callable[..., Any], *args: Any) -> None:
    """`call(*args)`, through the guard of a tracker that must not stop the run."""
    if isinstance(logger, _Tolerant):
        logger.guard(what, call, *args)
    else:
        call(*args)


def _log_image_to(logger: Logger, key: str, image: Tensor, step: int) -> None:
    if isinstance(logger, TensorBoardLogger):
        logger.experiment.add_image(key, image, step)
    elif isinstance(logger, MLFlowLogger):
        if logger.run_id is not None:
            logger.experiment.log_image(
                logger.run_id, _hwc_uint8(image), artifact_file=f"{key.replace('/', '_')}/step_{step:07d}.png"
            )
    elif isinstance(logger, WandbLogger):
        logger.log_image(key=key, images=[_hwc_uint8(image)], step=step)


def _hwc_uint8(image: Tensor) -> Any:
    """(3, H, W) float in [0, 1] -> (H, W, 3) uint8 numpy array, what MLflow and W&B take."""
    return (image.detach().float().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()


def log_start(loggers: Iterable[Logger], hparams: Mapping[str, Any]) -> None:
    """The run's flat hyperparameters to the trackers at the start, so a run that stops early still
    shows them. TensorBoard gets them at the end, with the final metrics (its HParams tab pairs them)."""
    for logger in loggers:
        if not isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(dict(hparams))


def log_final(loggers: Iterable[Logger], hparams: Mapping[str, Any], metrics: Mapping[str, float], step: int) -> None:
    """The final measures to every logger: TensorBoard's HParams entry (hyperparameters with these
    metrics), a last point of each metric elsewhere."""
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(dict(hparams), dict(metrics))
        else:
            logger.log_hyperparams(dict(hparams))
            logger.log_metrics(dict(metrics), step)
        logger.save()


def close_loggers(loggers: Iterable[Logger]) -> None:
    """End what a tracker keeps open past the Trainer (a W&B run lives until wandb.finish)."""
    for logger in loggers:
        if isinstance(logger, WandbLogger) and logger._experiment is not None:
            _guarded(logger, "finish", logger.experiment.finish)
