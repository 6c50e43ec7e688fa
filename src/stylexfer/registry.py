"""The model-family registry: the one place the rest of stylexfer asks about a family.

A family (``stylexfer.registry.Family``) is one network with everything specific to it: the model-file
layout and importers, the inference runner, the export graph, the Lightning system and its config
schema. Code above the families never names one; it asks::

    family = get_family(spec.kind)           # UnknownFamilyError (one line, the installed names) if absent
    family.needs_style, family.build_net(weights), family.runner(net, policy, tiles)
    family_names()                           # the installed families, sorted

Families are found in two ways, through the same :func:`register_family` call: every sub-package of
``stylexfer.families`` (each exposes ``family``), and every entry point of the group
``stylexfer.families`` (installed packages; see ``examples/stylexfer-identity``). An entry point names a
:class:`Family` instance or a zero-argument callable returning one. Loading is lazy: the first question
imports the families, nothing before.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

from stylexfer.errors import ModelFileError

if TYPE_CHECKING:
    from torch import Tensor, nn

# ModelSpec / ModelWeights (stylexfer.files.spec) sit above the registry: named, not imported.
ModelSpec: TypeAlias = Any
ModelWeights: TypeAlias = Any

ENTRY_POINT_GROUP = "stylexfer.families"
BUILTIN_PACKAGE = "stylexfer.families"  # each sub-package is a built-in family exposing `family`


def builtin_family_names() -> list[str]:
    """The folders under stylexfer/families/ (found, not imported: the registry sits below them)."""
    import pkgutil
    from importlib.util import find_spec

    spec = find_spec(BUILTIN_PACKAGE)
    locations = spec.submodule_search_locations if spec is not None else None
    return sorted(m.name for m in pkgutil.iter_modules(locations or []) if m.ispkg)


class UnknownFamilyError(ModelFileError):
    """A family name that no installed package provides (a one-line message naming those that are)."""


class Family:
    """What a model family provides. Subclass it in the family's folder; see docs "Adding a model family".

    Class attributes describe the family; the methods are called by the model-file reader/writer
    (files/modelfile.py), the façade (inference/stylizer.py), export, info and training.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""             # e.g. "… arbitrary-style": messages, the GUI, `info`
    architecture: ClassVar[str] = ""      # one line for `stylexfer info`
    needs_style: ClassVar[bool] = False   # style images at run time (encode_styles, --style)
    supports_mask: ClassVar[bool] = False  # one style per mask region
    # training: "module:attribute" of the LightningModule and its config dataclass (imported by
    # stylexfer.training only, so the stylize path never loads Lightning or Hydra)
    system: ClassVar[str] = ""
    schema: ClassVar[str] = ""
    config_package: ClassVar[str | None] = None  # a package holding model/<name>.yaml, for outside families
    importers: ClassVar[Mapping[str, str]] = {}  # `stylexfer import KIND` -> "module:function(files)"
    # "module:attribute" of a dict name -> files.download.PublicModel: its public weights for `stylexfer download`
    public_models: ClassVar[str] = ""
    # the module of the family's file layout: when set, the model-file, info and export methods below
    # call its functions of the same name, imported lazily (export_* without the spec)
    files_module: ClassVar[str] = ""
    runner_class: ClassVar[str] = ""  # "module:Class" of the runner, built as Class(net, policy, tiles)
    checkpoint_part: ClassVar[str] = ""  # a part every checkpoint's net has ("decoder."), after its prefix
    fp32_modules: ClassVar[tuple[str, ...]] = ()  # net.get_submodule names for fp32_layers
    export_inputs: ClassVar[tuple[str, ...]] = ()  # ONNX input names ...
    export_axes: ClassVar[Mapping[str, Mapping[int, str]]] = {}  # ... and their dynamic axes

    def _files(self, method: str) -> Any:
        if not self.files_module:
            raise NotImplementedError(f"{type(self).__name__}.{method}: set files_module or override it")
        return getattr(importlib.import_module(self.files_module), method)

    # ---- model file
    def spec_of_metadata(self, metadata: Mapping[str, str], where: str) -> ModelSpec:
        return self._files("spec_of_metadata")(metadata, where)

    def metadata_of(self, weights: ModelWeights) -> dict[str, str]:
        """Family-specific safetensors metadata (besides format, format_version, kind)."""
        return self._files("metadata_of")(weights)

    def split_tensors(self, spec: ModelSpec, tensors: dict[str, Tensor], where: str) -> ModelWeights:
        """Our safetensors file's tensors -> ModelWeights (the reverse of join_tensors)."""
        return self._files("split_tensors")(spec, tensors, where)

    def join_tensors(self, weights: ModelWeights) -> dict[str, Tensor]:
        return self._files("join_tensors")(weights)

    def spec_of_checkpoint(self, hparams: Mapping[str, Any], state: Mapping[str, Tensor], prefix: str,
                           where: str) -> ModelSpec:
        """A training checkpoint's spec, from its hyper-parameters (cheap: no tensor is read)."""
        return self._files("spec_of_checkpoint")(hparams, state, prefix, where)

    def weights_of_checkpoint(self, spec: ModelSpec, state: Mapping[str, Tensor], prefix: str,
                              where: str) -> ModelWeights:
        return self._files("weights_of_checkpoint")(spec, state, prefix, where)

    def checkpoint_net_prefix(self, prefix: str) -> str:
        """The key prefix every checkpoint of this family has (to check a block's claim)."""
        return f"{prefix}{self.checkpoint_part}"

    def owns_state_dict(self, state: Mapping[str, Tensor]) -> bool:
        """A foreign plain state dict (.pth) this family converts on the fly."""
        return False

    def convert_state_dict(self, state: Mapping[str, Tensor], source: str) -> ModelWeights:
        raise NotImplementedError

    def build_net(self, weights: ModelWeights) -> nn.Module:
        return self._files("build_net")(weights)

    def weights_of(self, net: nn.Module, spec: ModelSpec) -> ModelWeights:
        return self._files("weights_of")(net, spec)

    def describe(self, spec: ModelSpec) -> str:
        return self.title

    def info(self, spec: ModelSpec, shapes: Mapping[str, Any], prefix: str,
             normalize: tuple[Tensor, Tensor] | None, random_encoder: bool) -> dict[str, Any]:
        """`stylexfer info` facts: parameters per part, normalisation, output_range, extra keys."""
        return self._files("info")(spec, shapes, prefix, normalize, random_encoder)

    # ---- inference
    def runner(self, net: nn.Module, policy: Any, tiles: Any) -> Any:
        """The object that stylizes with `net` (see stylexfer.inference.stylizer for its protocol)."""
        if not self.runner_class:
            raise NotImplementedError(f"{type(self).__name__}.runner: set runner_class or override it")
        return load_target(self.runner_class)(net, policy, tiles)

    def fp32_layers(self, net: nn.Module) -> list[nn.Module]:
        """Layers that stay fp32 when the rest runs in bf16 (those reading or writing pixels)."""
        return [net.get_submodule(name) for name in self.fp32_modules]

    # ---- export
    def export_graph(self, net: nn.Module, spec: ModelSpec, size: tuple[int, int]) -> tuple[nn.Module, tuple]:
        """(traceable module, example inputs) for TorchScript/ONNX."""
        return self._files("export_graph")(net, size)

    def export_names(self) -> tuple[list[str], dict[str, dict[int, str]]]:
        """ONNX input names and dynamic axes (the output is "stylized")."""
        if not self.export_inputs:
            raise NotImplementedError(f"{type(self).__name__}.export_names: set export_inputs or override it")
        return list(self.export_inputs), {name: dict(axes) for name, axes in self.export_axes.items()}

    def export_reference(self, net: nn.Module, spec: ModelSpec, inputs: tuple) -> Tensor:
        return self._files("export_reference")(net, inputs)


_FAMILIES: dict[str, Family] = {}
_loaded = False


def register_family(family: Family | Callable[[], Family]) -> Family:
    """Add a family (built-in or outside); the last registration of a name wins."""
    made = family() if callable(family) and not isinstance(family, Family) else family
    if not isinstance(made, Family) or not made.name:
        raise TypeError(f"{made!r} is not a stylexfer.registry.Family with a name")
    _FAMILIES[made.name] = made
    return made


def load_target(target: str) -> Any:
    """The object a "module:attribute" string names (the training side reaches systems this way)."""
    module, _, attribute = target.partition(":")
    value: Any = importlib.import_module(module)
    for part in attribute.split(".") if attribute else ():
        value = getattr(value, part)
    return value


def _discover() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    builtins = builtin_family_names()
    for name in builtins:
        register_family(load_target(f"{BUILTIN_PACKAGE}.{name}:family"))
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name in builtins:
            continue  # an old install's metadata naming the built-ins again
        try:
            register_family(point.load())
        except Exception as err:  # a broken plugin must not take the built-ins down with it
            import warnings

            warnings.warn(f"model family {point.name!r} ({point.value}) failed to load: {err}", stacklevel=2)


def family_names() -> list[str]:
    """The installed families, sorted."""
    _discover()
    return sorted(_FAMILIES)


def get_family(name: str, *, where: str = "") -> Family:
    """The family called `name`; UnknownFamilyError (one line, naming the installed ones) otherwise."""
    _discover()
    try:
        return _FAMILIES[name]
    except (KeyError, TypeError):
        prefix = f"{where}: " if where else ""
        raise UnknownFamilyError(
            f"{prefix}unknown model family {name!r}; installed: {', '.join(family_names())} "
            "(a family from another package needs that package installed)"
        ) from None


def families() -> list[Family]:
    return [_FAMILIES[name] for name in family_names()]


def import_kinds() -> dict[str, str]:
    """Every `stylexfer import` kind the installed families declare -> its "module:function" (light: the
    CLI's parser lists them without importing torch)."""
    return {kind: target for family in families() for kind, target in family.importers.items()}
