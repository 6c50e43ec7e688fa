"""Judging experiments: λ-independent measures of stylized pictures (`measures`), `stylexfer evaluate`
(`evaluate`) and sweep reports (`report`). Uses files/, inference/, nets/ and losses; never Lightning,
Hydra or OmegaConf (run folders are read as plain YAML/JSON)."""
