"""The sweeper's config node, `hydra/sweeper=stylexfer_optuna` (registered in Hydra's ConfigStore when Hydra
scans its plugins; no `from __future__ import annotations`: Hydra runs this file outside sys.modules, where
dataclasses cannot resolve string annotations). Typed, so a misspelt key fails at composition with the
closest valid keys."""

from dataclasses import dataclass, field
from typing import Optional

from hydra.core.config_store import ConfigStore


@dataclass
class SamplerConf:
    name: str = "tpe"  # tpe | random
    seed: Optional[int] = None  # noqa: UP045 - OmegaConf reads the annotation; `int | None` needs 3.10 at runtime


@dataclass
class StylexferOptunaSweeperConf:
    _target_: str = "hydra_plugins.stylexfer_optuna.sweeper.StylexferOptunaSweeper"
    study_name: str = "stylexfer"
    # None: the journal file <sweep dir>/optuna.journal; a path: a journal file there (a shared file system for
    # workers on several machines); a URL with "://": an RDB storage (sqlite:///..., postgresql://...)
    storage: Optional[str] = None  # noqa: UP045
    n_trials: int = 20  # the size of the whole study: finished and pruned trials of every worker count
    objective: str = "pareto"  # pareto: (content distance, style distance), both minimised; sum: their sum
    pruner: str = "none"  # median | hyperband | none (pruning needs objective=sum)
    heartbeat: float = 10.0  # seconds; a running trial silent for 3 heartbeats is failed and proposed again
    sampler: SamplerConf = field(default_factory=SamplerConf)
    params: dict[str, str] = field(default_factory=dict)  # Hydra sweep syntax: interval(), tag(log, ...), a,b,c
    # many workers fill one sweep folder (one trial folder each): stylexfer's run-folder guard then locks
    # each trial's folder, not the sweep folder as a whole
    shares_sweep_dir: bool = True


ConfigStore.instance().store(
    group="hydra/sweeper", name="stylexfer_optuna", node=StylexferOptunaSweeperConf, provider="stylexfer"
)
