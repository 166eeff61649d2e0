"""One reading of an architecture a user names: a preset, an arch or path string, or a JSON file.

Every command line and stage that takes a model (``scalenet-space flops ARCH``, ``scalenet-scaling
--base``, ``scalenet.supernet.create_model``, the `baselines` stage's ``compound_base``) resolves
it with :func:`resolve_path`, and checks it against a search space with :func:`checked_path`:

* a preset name: ``efficientnet_b0``, ``scalenet_s0`` (:data:`~scalenet.space.ARCH_PRESETS`, at
  scaling 1) or ``scalenet_s1`` .. ``scalenet_s5`` (Table 3's members, :func:`scalenet_path`);
* an arch string (``k3e1/k3e6*2/...``) or a path string (``...@d1.08,w1.04,r1.14``);
* a ``.json`` file holding a path (``{"path": ...}``, a family member ``S<j>.json``, or
  ``{"base": ..., "scaling": ...}``) or an arch (``{"stages": ...}``).
"""

from __future__ import annotations

import os
from typing import Literal

from scalenet.space.arch import BaseArch, Path, Scaling
from scalenet.space.files import read_json
from scalenet.space.presets import ARCH_PRESETS, TABLE3_STRATEGIES, get_arch, scalenet_path
from scalenet.space.space import SearchSpace

__all__ = ["MODEL_PRESETS", "checked_path", "is_preset", "resolve_path"]

#: Every name :func:`resolve_path` knows: the two arch presets and ScaleNet-S0..S5.
MODEL_PRESETS: tuple[str, ...] = (
    "efficientnet_b0",
    *(f"scalenet_s{j}" for j in range(len(TABLE3_STRATEGIES))),
)


def is_preset(name: object) -> bool:
    """Whether ``name`` is one of :data:`MODEL_PRESETS`."""
    return isinstance(name, str) and name.strip() in MODEL_PRESETS


def resolve_path(arch: str | os.PathLike[str] | Path, scaling: Scaling | None = None) -> Path:
    """The :class:`Path` behind a preset name, an arch or path string, or a JSON file.

    Args:
        arch: What the user named (a :class:`Path` is returned as it is).
        scaling: Replaces the path's scaling when given.

    Raises:
        ValueError: It is none of these, or the string or file does not parse (one line that
            names it; the presets are listed).
    """
    if isinstance(arch, Path):
        path = arch
    else:
        text = str(arch).strip()
        if text in ARCH_PRESETS:
            path = Path(get_arch(text))
        elif text in MODEL_PRESETS:
            path = scalenet_path(int(text.removeprefix("scalenet_s")))
        elif text.endswith(".json"):
            data = read_json(text, "ARCH file")
            try:
                path = Path(BaseArch.from_json(data)) if "stages" in data else Path.from_json(data)
            except (KeyError, TypeError, ValueError) as error:
                raise ValueError(f"ARCH file {text}: {error}") from None
        elif "/" in text or "@" in text or text.startswith("k"):
            path = Path.decode(text)
        else:
            raise ValueError(
                f"ARCH {text!r} is not a preset ({', '.join(MODEL_PRESETS)}), "
                "an arch or path string, or a .json file"
            )
    return path if scaling is None else Path(path.base, scaling)


def checked_path(
    arch: str | os.PathLike[str] | Path,
    space: SearchSpace,
    scaling: Scaling | None = None,
    *,
    presets: Literal["shape", "choices"] = "shape",
) -> Path:
    """:func:`resolve_path`, its base model checked against ``space``.

    An arch or path string and a file must use the space's choices (``space.validate``). A
    preset named on purpose may leave them (EfficientNet-B0 overrides two stage widths of
    Table 1), so by default only its shape is checked (``space.check_shape``: the number of
    stages); ``presets="choices"`` checks a preset like any arch.

    Raises:
        ValueError: From :func:`resolve_path`, or the base does not fit the space.
    """
    if presets not in ("shape", "choices"):
        raise ValueError(f"presets {presets!r} not in {{shape, choices}}")
    path = resolve_path(arch, scaling)
    if presets == "shape" and is_preset(arch):
        space.check_shape(path.base)
    else:
        space.validate(path.base)
    return path
