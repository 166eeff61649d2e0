from __future__ import annotations

import numpy as np
import pytest

from scalenet.scaling import (
    EFFICIENTNET,
    CompoundCoefficients,
    compound_family,
    compound_grid,
    grid_search_compound,
    solve_phi,
)
from scalenet.space import BaseArch, Path, Scaling, SearchSpace, count, get_arch


def test_grid_counts_match_supplementary_g() -> None:
    exact = compound_grid()
    assert len(exact) == 10_286
    assert len(compound_grid(exact=False)) == 10_285  # the paper's count (float64)
    extra = set(exact) - set(compound_grid(exact=False))
    assert extra == {CompoundCoefficients(1.9, 1.0, 1.0)}
    assert EFFICIENTNET in set(exact)
    assert all(abs(c.flops_factor - 2) <= 0.1 + 1e-12 for c in exact)


def test_coefficients_and_scaling() -> None:
    assert EFFICIENTNET.flops_factor == pytest.approx(1.2 * 1.1**2 * 1.15**2)
    s = EFFICIENTNET.scaling(2.0)
    assert (s.depth, s.width, s.resolution) == pytest.approx((1.44, 1.21, 1.3225))
    with pytest.raises(ValueError, match="beta must be a number >= 1"):
        CompoundCoefficients(1.2, 0.9, 1.1)


def test_grid_search_finds_the_known_optimum() -> None:
    target = Scaling(1.4, 1.1, 1.1)

    def evaluator(base: BaseArch, scaling: Scaling) -> float:
        return -(
            (scaling.depth - target.depth) ** 2
            + (scaling.width - target.width) ** 2
            + (scaling.resolution - target.resolution) ** 2
        )

    result = grid_search_compound(get_arch("scalenet_s0"), evaluator)
    assert result.evaluated == 10_286
    assert result.best == CompoundCoefficients(1.4, 1.1, 1.1)  # 1.4*1.21*1.21 = 2.05 is on the grid
    assert result.accuracy == pytest.approx(0.0)
    assert len(result.top) == 10 and result.top[0][0] == result.best
    small = grid_search_compound(get_arch("scalenet_s0"), evaluator, [EFFICIENTNET])
    assert small.best == EFFICIENTNET and small.evaluated == 1


def test_solve_phi_lands_as_near_as_a_dense_scan(imagenet: SearchSpace) -> None:
    # d, w and r all round up, so FLOPs(phi) has steps of several percent: compare with a scan
    base = get_arch("efficientnet_b0")
    previous = 0.0
    for stage in (1, 2, 3):
        target = 2**stage * 390_000_000
        phi, cost = solve_phi(imagenet, base, target)
        assert cost.flops == count(imagenet, Path(base, EFFICIENTNET.scaling(phi))).flops
        scan = min(
            abs(count(imagenet, Path(base, EFFICIENTNET.scaling(p))).flops - target)
            for p in np.linspace(phi - 0.3, phi + 0.3, 301)
        )
        assert abs(cost.flops - target) <= scan
        assert abs(cost.flops / target - 1) < 0.07
        assert previous < phi < stage + 0.5
        previous = phi


def test_compound_family(imagenet: SearchSpace) -> None:
    family = compound_family(imagenet, get_arch("scalenet_s0"), 3, 300_000_000)
    assert family.method == "compound" and len(family.members) == 4
    phis = [m.phi for m in family.members[1:]]
    assert phis == sorted(phis)
    assert all(m.kind == "compound" for m in family.members[1:])
    assert "compound scaling, alpha 1.2" in family.to_markdown()


def test_budgets_below_the_base_model_are_refused(imagenet: SearchSpace) -> None:
    base = get_arch("scalenet_s0")  # 352,691,328 FLOPs on imagenet
    with pytest.raises(ValueError, match=r"budget 300,000,000 FLOPs is below the base model's "):
        solve_phi(imagenet, base, 300_000_000)
    phi, cost = solve_phi(imagenet, base, 352_691_328)  # any phi > 0 adds blocks and channels
    assert (phi, cost.flops) == (0.0, 352_691_328)
    with pytest.raises(ValueError, match=r"f_1 = 2 x f0 = 2 FLOPs is below") as info:
        compound_family(imagenet, base, 3, 1)
    assert "\n" not in str(info.value)


def test_stage_0_may_miss_f0_as_the_baselines_stage_needs(fmnist: SearchSpace) -> None:
    # pipelines/baselines.py: B0's blocks on fmnist (4,203,776 FLOPs) at the default f0 = 4 M:
    # S0 is the base as it is (+5.1 %), S1.. are solved from f_1 = 8 M on
    base = BaseArch.decode("k3e1se/k3e6se*2/k5e6se*2/k3e6se*3/k5e6se*3/k5e6se*3/k3e6se")
    family = compound_family(fmnist, base, 5, 4_000_000)
    assert family.members[0].cost.flops == 4_203_776
    assert family.members[0].rel_error == pytest.approx(0.050944)
    assert [m.budget for m in family.members] == [4_000_000 * 2**j for j in range(6)]
    assert all(m.phi is not None and m.phi > 0 for m in family.members[1:])
