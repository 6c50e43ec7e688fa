"""`python -m stylexfer.train`: the training entry point (Hydra owns this argv); the run itself
lives in stylexfer.training.run.

The overrides of a single run are composed and validated first, with Hydra and OmegaConf only, so a
typo (`lamda=7`, `model=adian`, `optim.lr=-1`) is answered in a second or two, before PyTorch,
Lightning or any data are imported. Sweeps (`-m`) and Hydra's own flags go straight to Hydra.
"""

from __future__ import annotations

import sys


def precheck(argv: list[str]) -> None:
    """Exit 2 with the run's own one-line message when the overrides in `argv` cannot make a config.

    Checks nothing (Hydra will) for flags (`-m`, `--cfg`) or `hydra.*` settings, which need Hydra's
    launcher; a config that passes here is composed and validated again by the run."""
    if any(arg.startswith("-") for arg in argv):
        return
    from hydra.errors import HydraException

    from stylexfer.errors import StylexferError
    from stylexfer.training.config import compose_config, validate
    from stylexfer.training.hydra_errors import explain_hydra_error

    overrides = [arg for arg in argv if not arg.lstrip("+~").startswith("hydra")]
    try:
        validate(compose_config(overrides))
    except HydraException as err:
        message = explain_hydra_error(err, overrides)
    except StylexferError as err:
        message = str(err)
    else:
        return
    print(f"stylexfer.train: error: {message}", file=sys.stderr)
    raise SystemExit(2)


if __name__ == "__main__":
    precheck(sys.argv[1:])
    from stylexfer.training.run import main

    main()
