"""Search spaces of base models (Table 1), declared as YAML data.

A space file lists the fixed layers (stem, head, classifier), the per-stage choices and the
scaling space of Table 2. Shipped spaces live in ``scalenet/space/spaces/*.yaml`` and are loaded by
name with :func:`load_space`; any other YAML file of the same shape loads by its path.

Channel overrides (``c<N>:`` in the stage string): an architecture of the space has every stage's
output channels fixed by the space, so :meth:`SearchSpace.validate` accepts an override only when
it equals the space's ``c``. The shipped presets (:data:`~scalenet.space.presets.ARCH_PRESETS`)
are the exception: their channels are part of their published definition (EfficientNet-B0 has 24
and 112 where Table 1 has 32 and 96), so their overrides are not reported; everything else about
them is checked like any architecture. :meth:`SearchSpace.check_shape` checks the stage count only.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path as FilePath
from typing import Any

import yaml

from scalenet.space.arch import BaseArch, BlockSpec, Path, Scaling, StageSpec
from scalenet.space.fields import require_number
from scalenet.space.presets import ARCH_PRESETS
from scalenet.space.scaling_space import ScalingSpace

__all__ = ["SearchSpace", "StageChoices", "list_spaces", "load_space"]

_SPACE_KEYS = {
    "name",
    "description",
    "resolution",
    "in_chs",
    "stem_chs",
    "stem_stride",
    "head_chs",
    "num_classes",
    "se_ratio",
    "activation",
    "gate",
    "budget_unit",
    "budget_tolerance",
    "stages",
    "scaling",
}
_STAGE_KEYS = {"n", "c", "s", "k", "e", "se"}


@dataclass(frozen=True)
class StageChoices:
    """What one stage of the search space allows.

    Attributes:
        min_depth: Fewest blocks (n_min).
        max_depth: Most blocks (n_max).
        out_chs: Output channels of every block of the stage.
        stride: Stride of the stage's first block.
        kernels: Allowed depthwise kernel sizes.
        expands: Allowed expand rates.
        se: Allowed SE settings (``(False, True)`` means searchable).
    """

    min_depth: int
    max_depth: int
    out_chs: int
    stride: int
    kernels: tuple[int, ...]
    expands: tuple[int, ...]
    se: tuple[bool, ...]

    @property
    def ops_per_block(self) -> int:
        """Number of distinct blocks (kernel x expand x SE)."""
        return len(self.kernels) * len(self.expands) * len(self.se)

    @property
    def num_choices(self) -> int:
        """Number of distinct stages: sum over n of ops_per_block ** n."""
        return sum(self.ops_per_block**depth for depth in range(self.min_depth, self.max_depth + 1))

    def blocks(self) -> list[BlockSpec]:
        """Every allowed block."""
        return [
            BlockSpec(kernel, expand, se)
            for kernel in self.kernels
            for expand in self.expands
            for se in self.se
        ]


@dataclass(frozen=True)
class SearchSpace:
    """A search space of base models plus its scaling space.

    Attributes:
        name: Short name (the YAML file's stem for shipped spaces).
        resolution: Base input resolution R0 (224 for ImageNet).
        in_chs: Input image channels (3, never scaled).
        stem_chs: Output channels of the 3x3 stem conv.
        stem_stride: Stride of the stem conv (2 in Table 1).
        head_chs: Output channels of the final 1x1 conv (1280, never scaled).
        num_classes: Classifier outputs.
        se_ratio: SE squeeze ratio of the block input channels.
        activation: Activation name used by model builders.
        gate: SE gate name used by model builders.
        budget_unit: f0 is rounded to a multiple of this many FLOPs.
        budget_tolerance: A path fits scaling stage j when |FLOPs - f_j| <= tolerance * 2**j.
        stages: Per-stage choices, stage 1 first.
        scaling: The scaling space (Table 2).
        description: Free text.
    """

    name: str
    resolution: int
    in_chs: int
    stem_chs: int
    stem_stride: int
    head_chs: int
    num_classes: int
    se_ratio: float
    activation: str
    gate: str
    budget_unit: int
    budget_tolerance: int
    stages: tuple[StageChoices, ...]
    scaling: ScalingSpace
    description: str = ""

    @property
    def num_stages(self) -> int:
        """Number of stages (7 in Table 1)."""
        return len(self.stages)

    @property
    def max_blocks(self) -> int:
        """Largest n_max over the stages."""
        return max(stage.max_depth for stage in self.stages)

    def stage_out_chs(self, arch: BaseArch) -> tuple[int, ...]:
        """Output channels of every stage of ``arch`` (its overrides, else the space's)."""
        return tuple(
            stage.out_chs if stage.out_chs is not None else choices.out_chs
            for stage, choices in zip(arch.stages, self.stages, strict=True)
        )

    def problems(self, arch: BaseArch) -> list[str]:
        """Everything that keeps ``arch`` out of this space, one line each (empty if none).

        A stage's channel override must equal the space's channels, except in a shipped preset
        (see the module docstring).
        """
        if len(arch.stages) != self.num_stages:
            return [
                f"arch has {len(arch.stages)} stages, space {self.name!r} has {self.num_stages}"
            ]
        found = []
        # Preset-ness costs an encode: only ask when some stage overrides the space's channels.
        check_channels = any(
            stage.out_chs not in (None, choices.out_chs)
            for stage, choices in zip(arch.stages, self.stages, strict=True)
        ) and not _is_preset(arch)
        for index, (stage, choices) in enumerate(zip(arch.stages, self.stages, strict=True), 1):
            if check_channels and stage.out_chs not in (None, choices.out_chs):
                found.append(f"stage {index}: out_chs {stage.out_chs} not in {{{choices.out_chs}}}")
            if not choices.min_depth <= stage.depth <= choices.max_depth:
                found.append(
                    f"stage {index}: {stage.depth} blocks not in "
                    f"{choices.min_depth}..{choices.max_depth}"
                )
            for block_index, block in enumerate(stage.blocks, 1):
                where = f"stage {index} block {block_index}"
                if block.kernel not in choices.kernels:
                    found.append(f"{where}: kernel {block.kernel} not in {_set(choices.kernels)}")
                if block.expand not in choices.expands:
                    found.append(f"{where}: expand {block.expand} not in {_set(choices.expands)}")
                if block.se not in choices.se:
                    found.append(f"{where}: se {block.se} not in {_set(choices.se)}")
        return found

    def validate(self, arch: BaseArch) -> BaseArch:
        """Return ``arch`` if it lies in this space.

        Raises:
            ValueError: Naming every offending stage, block and field, e.g.
                ``stage 3 block 1: kernel 9 not in {3, 5, 7}`` or ``stage 1: out_chs 999 not in
                {16}``.
        """
        found = self.problems(arch)
        if found:
            raise ValueError("; ".join(found))
        return arch

    def check_shape(self, arch: BaseArch) -> BaseArch:
        """Return ``arch`` if it has this space's number of stages (presets may leave the choices).

        Raises:
            ValueError: If the number of stages differs.
        """
        if len(arch.stages) != self.num_stages:
            raise ValueError(
                f"arch has {len(arch.stages)} stages, space {self.name!r} has {self.num_stages}"
            )
        return arch

    @property
    def num_base_models(self) -> int:
        """Exact number of base models: the product over stages of sum_n ops ** n."""
        return math.prod(stage.num_choices for stage in self.stages)

    @property
    def num_paths(self) -> int:
        """Exact size of the joint space: base models x scaling strategies (stage 0 included)."""
        return self.num_base_models * self.scaling.num_strategies

    def largest_arch(self) -> BaseArch:
        """The base model with the most blocks, largest kernel and expand, SE where allowed."""
        return BaseArch(
            tuple(
                StageSpec((BlockSpec(max(c.kernels), max(c.expands), max(c.se)),) * c.max_depth)
                for c in self.stages
            )
        )

    def smallest_arch(self) -> BaseArch:
        """The base model with the fewest blocks, smallest kernel and expand, no SE if allowed."""
        return BaseArch(
            tuple(
                StageSpec((BlockSpec(min(c.kernels), min(c.expands), min(c.se)),) * c.min_depth)
                for c in self.stages
            )
        )

    def extreme_paths(self) -> dict[str, Path]:
        """The largest and the smallest path of every scaling stage, by name.

        ``stage<m>_largest`` is :meth:`largest_arch` under the stage's largest depth, width and
        resolution coefficients, ``stage<m>_smallest`` :meth:`smallest_arch` under its smallest
        ones; stages in order, largest first. The super-supernet stage reports their accuracy.
        """
        paths: dict[str, Path] = {}
        for stage in range(self.scaling.max_stage + 1):
            grid = self.scaling.grid(stage)
            paths[f"stage{stage}_largest"] = Path(
                self.largest_arch(),
                Scaling(max(grid.depth), max(grid.width), max(grid.resolution)),
            )
            paths[f"stage{stage}_smallest"] = Path(
                self.smallest_arch(),
                Scaling(min(grid.depth), min(grid.width), min(grid.resolution)),
            )
        return paths

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "<dict>") -> SearchSpace:
        """Build and validate a space from its YAML mapping.

        Raises:
            ValueError: Naming the file and the offending key.
        """
        if not isinstance(data, dict):
            raise ValueError(f"{source}: a space must be a mapping")
        unknown = sorted(set(data) - _SPACE_KEYS)
        if unknown:
            raise ValueError(
                f"{source}: unknown key(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(sorted(_SPACE_KEYS))}"
            )
        required = _SPACE_KEYS - {"description", "stem_stride", "activation", "gate", "se_ratio"}
        missing = sorted(required - set(data))
        if missing:
            raise ValueError(f"{source}: missing key(s) {', '.join(missing)}")
        stages = tuple(
            _stage_from_dict(stage, where=f"{source}: stages[{index}]")
            for index, stage in enumerate(_as_list(data["stages"], f"{source}: stages"), start=1)
        )
        if not stages:
            raise ValueError(f"{source}: stages is empty")
        scaling = data["scaling"]
        if not isinstance(scaling, dict) or set(scaling) != {"depth", "width", "resolution"}:
            raise ValueError(
                f"{source}: scaling must have exactly the keys depth, width, resolution"
            )
        try:
            scaling_space = ScalingSpace.from_ranges(
                scaling["depth"], scaling["width"], scaling["resolution"]
            )
        except (TypeError, ValueError) as error:
            raise ValueError(f"{source}: {error}") from None
        fields = {
            key: _positive_int(data[key], f"{source}: {key}")
            for key in (
                "resolution",
                "in_chs",
                "stem_chs",
                "head_chs",
                "num_classes",
                "budget_unit",
            )
        }
        tolerance = _positive_int(data["budget_tolerance"], f"{source}: budget_tolerance")
        se_ratio = require_number(data.get("se_ratio", 0.25), f"{source}: se_ratio")
        if not 0 < se_ratio <= 1:
            raise ValueError(f"{source}: se_ratio must be in (0, 1], got {se_ratio}")
        return cls(
            name=str(data["name"]),
            description=str(data.get("description", "")),
            stem_stride=_positive_int(data.get("stem_stride", 2), f"{source}: stem_stride"),
            se_ratio=se_ratio,
            activation=str(data.get("activation", "hard_swish")),
            gate=str(data.get("gate", "hard_sigmoid")),
            budget_tolerance=tolerance,
            stages=stages,
            scaling=scaling_space,
            **fields,
        )

    def to_json(self) -> dict[str, Any]:
        """JSON summary of the space (its choices and scaling grids)."""
        return {
            "name": self.name,
            "resolution": self.resolution,
            "in_chs": self.in_chs,
            "stem_chs": self.stem_chs,
            "stem_stride": self.stem_stride,
            "head_chs": self.head_chs,
            "num_classes": self.num_classes,
            "se_ratio": self.se_ratio,
            "budget_unit": self.budget_unit,
            "budget_tolerance": self.budget_tolerance,
            "stages": [
                {
                    "n": [c.min_depth, c.max_depth],
                    "c": c.out_chs,
                    "s": c.stride,
                    "k": list(c.kernels),
                    "e": list(c.expands),
                    "se": list(c.se),
                }
                for c in self.stages
            ],
            "scaling": self.scaling.to_json(),
        }


@functools.cache
def _preset_strings() -> frozenset[str]:
    return frozenset(BaseArch.decode(text).encode() for text in ARCH_PRESETS.values())


def _is_preset(arch: BaseArch) -> bool:
    return arch.encode() in _preset_strings()


def _set(values: tuple[Any, ...]) -> str:
    return "{" + ", ".join(str(value) for value in values) + "}"


def _as_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{where}: must be a list, got {type(value).__name__}")
    return value


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{where}: must be a positive integer, got {value!r}")
    return value


def _stage_from_dict(data: Any, *, where: str) -> StageChoices:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: must be a mapping with keys {', '.join(sorted(_STAGE_KEYS))}")
    unknown = sorted(set(data) - _STAGE_KEYS)
    missing = sorted(_STAGE_KEYS - set(data))
    if unknown or missing:
        raise ValueError(
            f"{where}: keys must be {', '.join(sorted(_STAGE_KEYS))}"
            + (f"; unknown {', '.join(unknown)}" if unknown else "")
            + (f"; missing {', '.join(missing)}" if missing else "")
        )
    depth = _as_list(data["n"], f"{where}.n")
    if len(depth) != 2:
        raise ValueError(f"{where}.n: expected [n_min, n_max], got {depth}")
    min_depth = _positive_int(depth[0], f"{where}.n[0]")
    max_depth = _positive_int(depth[1], f"{where}.n[1]")
    if max_depth < min_depth:
        raise ValueError(f"{where}.n: n_max {max_depth} < n_min {min_depth}")
    kernels = tuple(_positive_int(k, f"{where}.k") for k in _as_list(data["k"], f"{where}.k"))
    if not kernels or any(k % 2 == 0 for k in kernels):
        raise ValueError(f"{where}.k: needs odd kernel sizes, got {list(kernels)}")
    expands = tuple(_positive_int(e, f"{where}.e") for e in _as_list(data["e"], f"{where}.e"))
    se = tuple(_as_list(data["se"], f"{where}.se"))
    if not se or any(not isinstance(flag, bool) for flag in se):
        raise ValueError(f"{where}.se: must list true and/or false, got {list(se)}")
    if not expands:
        raise ValueError(f"{where}.e: needs at least one expand rate")
    return StageChoices(
        min_depth=min_depth,
        max_depth=max_depth,
        out_chs=_positive_int(data["c"], f"{where}.c"),
        stride=_positive_int(data["s"], f"{where}.s"),
        kernels=tuple(sorted(set(kernels))),
        expands=tuple(sorted(set(expands))),
        se=tuple(sorted(set(se))),
    )


def list_spaces() -> list[str]:
    """Names of the shipped spaces."""
    folder = resources.files("scalenet.space") / "spaces"
    return sorted(entry.name[:-5] for entry in folder.iterdir() if entry.name.endswith(".yaml"))


def load_space(name_or_path: str | FilePath) -> SearchSpace:
    """Load a shipped space by name (``imagenet``, ``imagenet100``, ``fmnist``) or a YAML file.

    Raises:
        ValueError: If the name is unknown (listing the shipped ones) or the file is malformed.
    """
    text_name = str(name_or_path)
    if text_name in list_spaces():
        resource = resources.files("scalenet.space") / "spaces" / f"{text_name}.yaml"
        text, source = resource.read_text(encoding="utf-8"), f"space {text_name!r}"
    elif text_name.endswith((".yaml", ".yml")):
        file_path = FilePath(text_name)
        if not file_path.is_file():
            raise ValueError(f"space file {text_name} does not exist")
        text, source = file_path.read_text(encoding="utf-8"), text_name
    else:
        raise ValueError(
            f"space {text_name!r} not in {{{', '.join(list_spaces())}}} and not a .yaml file"
        )
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(f"{source}: not valid YAML ({error})") from None
    return SearchSpace.from_dict(data, source=source)
