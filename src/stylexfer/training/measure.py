"""The measures of a finished run: the code behind `stylexfer evaluate` (stylexfer.measures,
the same VGG-19 and formulas) applied to the run's own fixed validation pairs, at the size training
validates at (data.crop). They go into final.json ("evaluate"), TensorBoard's HParams tab (eval/*), and
the Hydra task function returns two of them (OBJECTIVES) for the Optuna searches to minimise.

During a search the same measures are taken at every validation and handed to the search's listener
(`validation_listener`), which may stop a hopeless trial (pruning): `ReportMeasures`.

Numbers from here and from `stylexfer evaluate` (which resizes to --size) share their formulas, not
their picture size: compare runs with runs, and evaluate outputs with evaluate outputs.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import Dataset

from stylexfer.measures import OBJECTIVES, Judge, mean_measures
from stylexfer.training.systems import StyleTransferSystem

RANDOM_VGG_NOTE = "the measuring VGG-19 has random weights: these numbers check the pipeline only"


@functools.cache  # one per device and process: a sweep's jobs in one process share it
def judge_for(device: torch.device) -> Judge:
    return Judge("auto", device=device)


@torch.no_grad()
def measure_pairs(system: StyleTransferSystem, pairs: Dataset) -> tuple[dict[str, float], dict[str, Any]]:
    """(mean measures over the pairs, what they were measured on) for the system as it is now."""
    device = next(system.parameters()).device
    judge = judge_for(device)
    was_training = system.training
    system.eval()
    rows = []
    shape: tuple[int, ...] = ()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an eval-mode notice per call is no news here
            for index in range(len(pairs)):  # type: ignore[arg-type]
                item = pairs[index]
                content = item["content"][None].to(device).float()
                style = item["style"][None].to(device).float()
                output = system.stylize(content, style)
                rows.append(judge.measure(output, content, system.judge_style(style)))
                shape = tuple(content.shape[-2:])
    finally:
        system.train(was_training)
    info = {
        "on": f"{len(rows)} fixed validation pair(s) at {'x'.join(map(str, shape))} px",
        "vgg_weights": judge.vgg_weights,
        "objectives": list(OBJECTIVES),
        "note": RANDOM_VGG_NOTE if judge.random_vgg else None,
    }
    return mean_measures(rows), info


def objectives(measures: dict[str, float]) -> tuple[float, float] | None:
    """The two values an Optuna study minimises (content distance, style distance), if measured."""
    if not all(name in measures for name in OBJECTIVES):
        return None
    content, style = (float(measures[name]) for name in OBJECTIVES)
    return content, style


# (global step, measures) -> True to stop the run (the trial is pruned). Set by a search that runs this
# process's training as one of its trials (hydra_plugins.stylexfer_optuna); None outside a search.
ValidationListener = Callable[[int, dict[str, float]], bool]
_listener: ValidationListener | None = None


@contextlib.contextmanager
def validation_listener(listener: ValidationListener) -> Iterator[None]:
    """Runs started inside this block report their validation measures to `listener`."""
    global _listener
    previous, _listener = _listener, listener
    try:
        yield
    finally:
        _listener = previous


def active_listener() -> ValidationListener | None:
    return _listener


class ReportMeasures(pl.Callback):
    """At each validation before the last step: the end-of-run measures on the fixed validation pairs,
    handed to the listener; when it says so the run stops after this validation (`pruned_at` holds the step)."""

    def __init__(self, pairs: Dataset, listener: ValidationListener) -> None:
        self.pairs, self.listener = pairs, listener
        self.last: tuple[int, dict[str, float], dict[str, Any]] | None = None  # (step, measures, info)
        self.pruned_at: int | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or self.pruned_at is not None:
            return
        step = int(trainer.global_step)
        measures, info = measure_pairs(pl_module, self.pairs)  # type: ignore[arg-type]
        self.last = (step, measures, info)  # the end-of-run measures too, when this is the last step
        if 0 < trainer.max_steps <= step:
            return  # the run is complete: its measures are its result, not a reason to stop it
        if self.listener(step, measures):
            self.pruned_at = step
            trainer.should_stop = True
