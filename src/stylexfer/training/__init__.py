"""Training: config schemas, data, Lightning systems, callbacks, run folders and the run itself.
The only layer that imports Lightning, Hydra and OmegaConf."""
