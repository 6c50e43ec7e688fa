"""stylexfer's Hydra sweeper on Optuna's ask/tell API (`hydra/sweeper=stylexfer_optuna`): one study in a shared
storage, many workers, pruning of trials from their validation measures. Hydra finds it by scanning the
`hydra_plugins` namespace package; hparams_search=adain_optuna/johnson_optuna select it."""
