"""stylexfer's Hydra plugin: an Optuna sweeper whose study resumes (see `resuming`). Hydra finds it by
scanning the `hydra_plugins` namespace package; it is used by hparams_search=adain_optuna/johnson_optuna."""
