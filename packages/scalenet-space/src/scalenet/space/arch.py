"""Typed architecture values: blocks, stages, base architectures, scaling strategies and paths.

Every value is a frozen dataclass with a readable string form and a JSON form; both round-trip
exactly (``decode(encode(x)) == x``).

String codec (short keys, timm-like):

* block: ``k<kernel>e<expand>`` plus ``se`` when squeeze-and-excitation is on, e.g. ``k5e6se``;
* stage: blocks joined by ``-``; an optional ``c<channels>:`` prefix overrides the stage's output
  channels (presets such as EfficientNet-B0 need it); ``k3e6se*2`` repeats a block on decoding
  (1..:data:`MAX_REPEAT` times: Table 1's stages have at most 4 blocks, and a bound keeps a typo
  such as ``*99999999999`` from exhausting memory);
* base architecture: stages joined by ``/``;
* scaling: ``d<depth>,w<width>,r<resolution>``, e.g. ``d1.08,w1.04,r1.14``;
* path: ``<base architecture>@<scaling>``.

The JSON forms are strict (see :mod:`scalenet.space.fields`): ints where an int is meant (numpy
integers accepted; bools and floats such as ``3.7`` refused), bools for ``se``, real numbers for
the scaling coefficients; a wrong type is a ``ValueError`` naming the field, e.g.
``block: se must be a bool, got 'no'``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from scalenet.space.fields import (
    require_bool,
    require_int,
    require_list,
    require_number,
    require_object,
)

__all__ = [
    "MAX_REPEAT",
    "BaseArch",
    "BlockSpec",
    "Path",
    "Scaling",
    "StageSpec",
]

#: Largest ``*n`` repeat count of the stage string form.
MAX_REPEAT = 64

_BLOCK_RE = re.compile(r"^k(?P<k>\d+)e(?P<e>\d+)(?P<se>se)?(?:\*(?P<rep>\d+))?$")
_STAGE_CHS_RE = re.compile(r"^c(?P<c>\d+):(?P<rest>.*)$")
_SCALING_RE = re.compile(r"^d(?P<d>[^,]+),w(?P<w>[^,]+),r(?P<r>[^,]+)$")


def _format_float(value: float) -> str:
    # repr() is the shortest string that parses back to the same float: exact round-trip.
    return repr(float(value))


@dataclass(frozen=True)
class BlockSpec:
    """One MBConv block of a base architecture.

    Attributes:
        kernel: Depthwise kernel size (3, 5 or 7 in Table 1).
        expand: Expand rate of the hidden layer (1 in stage 1, else 3 or 6).
        se: Whether the block has a squeeze-and-excitation module.
    """

    kernel: int
    expand: int
    se: bool

    def __post_init__(self) -> None:
        if not isinstance(self.kernel, int) or isinstance(self.kernel, bool) or self.kernel < 1:
            raise ValueError(f"block: kernel must be a positive int, got {self.kernel!r}")
        if self.kernel % 2 == 0:
            raise ValueError(f"block: kernel must be odd, got {self.kernel}")
        if not isinstance(self.expand, int) or isinstance(self.expand, bool) or self.expand < 1:
            raise ValueError(f"block: expand must be a positive int, got {self.expand!r}")
        if not isinstance(self.se, bool):
            raise ValueError(f"block: se must be a bool, got {self.se!r}")

    def encode(self) -> str:
        """Return the string form, e.g. ``k5e6se``."""
        return f"k{self.kernel}e{self.expand}{'se' if self.se else ''}"

    @classmethod
    def decode(cls, text: str) -> BlockSpec:
        """Parse the string form written by :meth:`encode`."""
        match = _BLOCK_RE.match(text.strip())
        if match is None or match.group("rep") is not None:
            raise ValueError(f"block: cannot parse {text!r} (expected e.g. 'k5e6se' or 'k3e3')")
        return cls(int(match.group("k")), int(match.group("e")), match.group("se") is not None)

    def to_json(self) -> dict[str, Any]:
        """Return the JSON-ready form."""
        return {"kernel": self.kernel, "expand": self.expand, "se": self.se}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BlockSpec:
        """Build from the JSON form written by :meth:`to_json`."""
        _require_keys("block", data, ("kernel", "expand", "se"))
        return cls(
            require_int(data["kernel"], "block: kernel"),
            require_int(data["expand"], "block: expand"),
            require_bool(data["se"], "block: se"),
        )


@dataclass(frozen=True)
class StageSpec:
    """The blocks of one stage (a group of blocks at one resolution) of a base architecture.

    Attributes:
        blocks: The stage's blocks, first block first (the first one carries the stride).
        out_chs: Output channels overriding the search space's value for this stage, or None.
    """

    blocks: tuple[BlockSpec, ...]
    out_chs: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.blocks, tuple):
            object.__setattr__(self, "blocks", tuple(self.blocks))
        if len(self.blocks) == 0:
            raise ValueError("stage: needs at least one block")
        if self.out_chs is not None and (
            not isinstance(self.out_chs, int) or isinstance(self.out_chs, bool) or self.out_chs < 1
        ):
            raise ValueError(f"stage: out_chs must be a positive int or None, got {self.out_chs!r}")

    @property
    def depth(self) -> int:
        """Number of blocks."""
        return len(self.blocks)

    def encode(self) -> str:
        """Return the string form, e.g. ``c24:k3e6se-k3e6se``."""
        body = "-".join(block.encode() for block in self.blocks)
        return body if self.out_chs is None else f"c{self.out_chs}:{body}"

    @classmethod
    def decode(cls, text: str) -> StageSpec:
        """Parse the string form; ``k3e6se*2`` repeats a block (1..:data:`MAX_REPEAT` times)."""
        text = text.strip()
        out_chs: int | None = None
        chs_match = _STAGE_CHS_RE.match(text)
        if chs_match is not None:
            out_chs = int(chs_match.group("c"))
            text = chs_match.group("rest")
        if not text:
            raise ValueError("stage: empty block list")
        blocks: list[BlockSpec] = []
        for token in text.split("-"):
            match = _BLOCK_RE.match(token.strip())
            if match is None:
                raise ValueError(
                    f"block: cannot parse {token!r} (expected e.g. 'k5e6se' or 'k3e3')"
                )
            block = BlockSpec(
                int(match.group("k")), int(match.group("e")), match.group("se") is not None
            )
            repeat = int(match.group("rep") or 1)
            if not 1 <= repeat <= MAX_REPEAT:
                raise ValueError(
                    f"block: repeat count {repeat} in {token.strip()!r} not in 1..{MAX_REPEAT}"
                )
            blocks.extend([block] * repeat)
        return cls(tuple(blocks), out_chs)

    def to_json(self) -> dict[str, Any]:
        """Return the JSON-ready form."""
        data: dict[str, Any] = {"blocks": [block.to_json() for block in self.blocks]}
        if self.out_chs is not None:
            data["out_chs"] = self.out_chs
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StageSpec:
        """Build from the JSON form written by :meth:`to_json`."""
        _require_keys("stage", data, ("blocks",))
        out_chs = data.get("out_chs")
        blocks = tuple(
            BlockSpec.from_json(block) for block in require_list(data["blocks"], "stage: blocks")
        )
        return cls(blocks, None if out_chs is None else require_int(out_chs, "stage: out_chs"))


@dataclass(frozen=True)
class BaseArch:
    """A base architecture: the blocks of every stage (scaling stage 0 of a family).

    Attributes:
        stages: One :class:`StageSpec` per stage of the search space, in order.
    """

    stages: tuple[StageSpec, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.stages, tuple):
            object.__setattr__(self, "stages", tuple(self.stages))
        if len(self.stages) == 0:
            raise ValueError("arch: needs at least one stage")

    @property
    def depths(self) -> tuple[int, ...]:
        """Number of blocks per stage."""
        return tuple(stage.depth for stage in self.stages)

    def encode(self) -> str:
        """Return the string form: stages joined by ``/``."""
        return "/".join(stage.encode() for stage in self.stages)

    @classmethod
    def decode(cls, text: str) -> BaseArch:
        """Parse the string form written by :meth:`encode`."""
        if not text.strip():
            raise ValueError("arch: empty string")
        stages = []
        for index, part in enumerate(text.strip().split("/"), start=1):
            try:
                stages.append(StageSpec.decode(part))
            except ValueError as error:
                raise ValueError(f"arch stage {index}: {error}") from None
        return cls(tuple(stages))

    def to_json(self) -> dict[str, Any]:
        """Return the JSON-ready form."""
        return {"stages": [stage.to_json() for stage in self.stages]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BaseArch:
        """Build from the JSON form written by :meth:`to_json`."""
        _require_keys("arch", data, ("stages",))
        stages = require_list(data["stages"], "arch: stages")
        found = []
        for index, stage in enumerate(stages, start=1):
            try:
                found.append(StageSpec.from_json(stage))
            except ValueError as error:
                raise ValueError(f"arch stage {index}: {error}") from None
        return cls(tuple(found))

    def __str__(self) -> str:
        return self.encode()


@dataclass(frozen=True)
class Scaling:
    """A scaling strategy: depth, width and resolution coefficients (eqs. 14-16).

    Attributes:
        depth: Depth coefficient d (blocks per stage become ceil(n * d)).
        width: Width coefficient w (channels become ceil(c * w)).
        resolution: Resolution coefficient r (input side becomes ceil(R0 * r)).
    """

    depth: float = 1.0
    width: float = 1.0
    resolution: float = 1.0

    def __post_init__(self) -> None:
        for name in ("depth", "width", "resolution"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"scaling: {name} must be a number, got {value!r}")
            if not (value > 0 and value < float("inf")):
                raise ValueError(f"scaling: {name} must be a positive finite number, got {value!r}")
            object.__setattr__(self, name, float(value))

    def encode(self) -> str:
        """Return the string form, e.g. ``d1.08,w1.04,r1.14``."""
        return (
            f"d{_format_float(self.depth)},w{_format_float(self.width)},"
            f"r{_format_float(self.resolution)}"
        )

    @classmethod
    def decode(cls, text: str) -> Scaling:
        """Parse the string form written by :meth:`encode`."""
        match = _SCALING_RE.match(text.strip())
        if match is None:
            raise ValueError(f"scaling: cannot parse {text!r} (expected e.g. 'd1.08,w1.04,r1.14')")
        values = []
        for key, name in (("d", "depth"), ("w", "width"), ("r", "resolution")):
            try:
                values.append(float(match.group(key)))
            except ValueError:
                raise ValueError(f"scaling: {name} {match.group(key)!r} is not a number") from None
        return cls(*values)

    def to_json(self) -> dict[str, Any]:
        """Return the JSON-ready form."""
        return {"depth": self.depth, "width": self.width, "resolution": self.resolution}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Scaling:
        """Build from the JSON form written by :meth:`to_json`."""
        _require_keys("scaling", data, ("depth", "width", "resolution"))
        return cls(
            *(
                require_number(data[name], f"scaling: {name}")
                for name in ("depth", "width", "resolution")
            )
        )

    def __str__(self) -> str:
        return self.encode()


@dataclass(frozen=True)
class Path:
    """A path of the super-supernet: a base architecture and the strategy that scales it.

    Attributes:
        base: The base architecture.
        scaling: The scaling strategy applied to it.
    """

    base: BaseArch
    scaling: Scaling = Scaling()

    def encode(self) -> str:
        """Return the string form ``<arch>@<scaling>``."""
        return f"{self.base.encode()}@{self.scaling.encode()}"

    @classmethod
    def decode(cls, text: str) -> Path:
        """Parse ``<arch>@<scaling>``; a bare architecture string gets the identity scaling."""
        text = text.strip()
        if "@" in text:
            arch_text, scaling_text = text.split("@", 1)
            return cls(BaseArch.decode(arch_text), Scaling.decode(scaling_text))
        return cls(BaseArch.decode(text), Scaling())

    def to_json(self) -> dict[str, Any]:
        """Return the JSON-ready form (with the string form alongside, for humans)."""
        return {
            "path": self.encode(),
            "base": self.base.to_json(),
            "scaling": self.scaling.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Path:
        """Build from the JSON form written by :meth:`to_json` (or from ``{"path": str}``)."""
        require_object(data, "path")
        if "base" in data:
            scaling = Scaling.from_json(data["scaling"]) if "scaling" in data else Scaling()
            return cls(BaseArch.from_json(data["base"]), scaling)
        if "path" in data:
            text = data["path"]
            if not isinstance(text, str):
                raise ValueError(f"path: 'path' must be a path string, got {text!r}")
            return cls.decode(text)
        raise ValueError("path: JSON needs a 'base' (and 'scaling') or a 'path' key")

    def dumps(self) -> str:
        """Return the JSON text of :meth:`to_json`."""
        return json.dumps(self.to_json(), sort_keys=True)

    def __str__(self) -> str:
        return self.encode()


def _require_keys(what: str, data: Any, keys: tuple[str, ...]) -> None:
    require_object(data, what)
    missing = [key for key in keys if key not in data]
    if missing:
        raise ValueError(f"{what}: JSON is missing key(s) {', '.join(missing)}")
