"""Shipped architectures and scaling strategies.

* ``efficientnet_b0``: EfficientNet-B0 expressed in the Table 1 space (SE on every block; its
  stage channels 24 and 112 differ from Table 1's 32 and 96, so those stages override them).
* ``scalenet_s0``: the base model published with the official ScaleNet release.
* :data:`TABLE3_STRATEGIES`: Table 3's searched (S1-S3) and generalized (S4, S5) strategies.
"""

from __future__ import annotations

from scalenet.space.arch import BaseArch, Path, Scaling

__all__ = ["ARCH_PRESETS", "TABLE3_STRATEGIES", "get_arch", "scalenet_path"]

ARCH_PRESETS: dict[str, str] = {
    "efficientnet_b0": ("k3e1se/c24:k3e6se*2/k5e6se*2/k3e6se*3/c112:k5e6se*3/k5e6se*4/k3e6se"),
    "scalenet_s0": (
        "k5e1se/k5e6se/k7e6se-k7e6se-k5e6se-k3e6se/k5e6se*2/k7e6se*2/k7e6se-k5e6se-k7e6se/k5e6se"
    ),
}

#: Table 3 of the supplementary material: ScaleNet-S0..S5 (S1-S3 searched, S4-S5 generalized).
TABLE3_STRATEGIES: tuple[Scaling, ...] = (
    Scaling(1.000, 1.000, 1.000),
    Scaling(1.080, 1.040, 1.140),
    Scaling(1.360, 1.200, 1.355),
    Scaling(1.480, 1.400, 1.580),
    Scaling(1.653, 1.534, 2.042),
    Scaling(1.848, 1.688, 2.378),
)


def get_arch(name: str) -> BaseArch:
    """The preset architecture ``name``.

    Raises:
        ValueError: If ``name`` is not a preset (the message lists them).
    """
    if name not in ARCH_PRESETS:
        raise ValueError(f"preset {name!r} not in {{{', '.join(sorted(ARCH_PRESETS))}}}")
    return BaseArch.decode(ARCH_PRESETS[name])


def scalenet_path(scaling_stage: int) -> Path:
    """ScaleNet-S<j>: the published S0 scaled by Table 3's strategy for scaling stage j (0..5)."""
    if not 0 <= scaling_stage < len(TABLE3_STRATEGIES):
        raise ValueError(f"scaling_stage {scaling_stage} not in 0..{len(TABLE3_STRATEGIES) - 1}")
    return Path(get_arch("scalenet_s0"), TABLE3_STRATEGIES[scaling_stage])
