"""Hydra finds the YAML of model families from other packages: every installed family that names a
``config_package`` (stylexfer.registry.Family) adds ``pkg://<config_package>`` to the config search
path, so ``python -m stylexfer.train model=<its name>`` composes its ``model/<name>.yaml``."""

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class StylexferFamiliesSearchPath(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        from stylexfer.registry import families

        for family in families():
            if family.config_package:
                search_path.append(provider=f"stylexfer-family-{family.name}",
                                   path=f"pkg://{family.config_package}")
