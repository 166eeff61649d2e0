from __future__ import annotations

import math

import pytest

from scalenet.scaling import (
    FUNCTION_NAMES,
    TABLE3_SEARCHED,
    fit_strategies,
    project_to_budget,
    short_resolution,
    solve_monotone,
)
from scalenet.space import BaseArch, Path, Scaling, SearchSpace, count, get_arch

IMAGENET_F0 = 300_000_000  # the imagenet space's Monte Carlo f0 (compute_budgets, seed 0)


@pytest.mark.parametrize("base_name", ["scalenet_s0", "efficientnet_b0"])
@pytest.mark.parametrize("function", FUNCTION_NAMES)
@pytest.mark.parametrize("f0", [IMAGENET_F0, 350_000_000])
def test_projection_hits_the_budget_within_one_percent(
    imagenet: SearchSpace, base_name: str, function: str, f0: int
) -> None:
    base = get_arch(base_name)
    fit = fit_strategies(TABLE3_SEARCHED, function)
    for stage in (4, 5):
        fitted = fit.predict(stage)
        target = 2**stage * f0
        proj = project_to_budget(imagenet, base, fitted, target)  # default mode "rw"
        assert abs(proj.rel_error) <= 0.01
        assert proj.flops_after == count(imagenet, Path(base, proj.after)).flops
        assert proj.flops_before == count(imagenet, Path(base, fitted)).flops
        assert proj.after.depth == fitted.depth
        if abs(proj.after.width / fitted.width - 1) > 0:
            # width is only touched when resolution alone misses by more than 1 %
            r_only = project_to_budget(imagenet, base, fitted, target, "r")
            assert abs(r_only.rel_error) > 0.01


def test_resolution_projection_keeps_d_and_w_and_picks_the_nearest_side(
    imagenet: SearchSpace,
) -> None:
    base = get_arch("scalenet_s0")
    fitted = fit_strategies(TABLE3_SEARCHED, "geometric").predict(4)
    target = 16 * IMAGENET_F0
    proj = project_to_budget(imagenet, base, fitted, target, "r")
    assert (proj.after.depth, proj.after.width) == (fitted.depth, fitted.width)
    side = proj.cost_after.resolution
    assert side == math.ceil(224 * proj.after.resolution - 1e-9)

    def flops_at(px: int) -> int:
        return count(imagenet, Path(base, Scaling(fitted.depth, fitted.width, px / 224))).flops

    error = abs(proj.flops_after - target)
    assert error <= abs(flops_at(side - 1) - target)
    assert error <= abs(flops_at(side + 1) - target)
    assert flops_at(side - 1) < target <= flops_at(side + 1) or side in (1,)
    assert proj.rel_error == pytest.approx(-0.0027, abs=2e-4)
    assert proj.rel_error_before == pytest.approx((proj.flops_before - target) / target)


def test_resolution_alone_can_miss_by_more_than_one_percent(imagenet: SearchSpace) -> None:
    # a side crossing a multiple of 32 grows every stage at once: r alone lands 3 % off here
    base = get_arch("scalenet_s0")
    fitted = fit_strategies(TABLE3_SEARCHED, "power").predict(5)
    r_only = project_to_budget(imagenet, base, fitted, 32 * IMAGENET_F0, "r")
    assert r_only.rel_error == pytest.approx(0.0301, abs=1e-3)
    rw = project_to_budget(imagenet, base, fitted, 32 * IMAGENET_F0, "rw")
    assert abs(rw.rel_error) < 0.0015
    assert rw.after.resolution <= r_only.after.resolution
    assert rw.after.width == round(rw.after.width, 4) != fitted.width  # nudged, 4 decimals


def test_all_mode_scales_by_a_common_factor(imagenet: SearchSpace) -> None:
    base = get_arch("efficientnet_b0")
    fitted = fit_strategies(TABLE3_SEARCHED, "linear").predict(4)
    proj = project_to_budget(imagenet, base, fitted, 16 * IMAGENET_F0, "all")
    factor = proj.after.depth / fitted.depth
    # one common factor, each value then on the grid of 4 decimals
    assert proj.after.width / fitted.width == pytest.approx(factor, abs=1e-4)
    assert proj.after.resolution / fitted.resolution == pytest.approx(factor, abs=1e-4)
    for value in (proj.after.depth, proj.after.width, proj.after.resolution):
        assert value == round(value, 4)
    assert factor > 1  # the linear fit is below budget
    assert abs(proj.rel_error) < 0.01


def test_a_nudged_width_is_short_not_a_bisection_artefact(fmnist: SearchSpace) -> None:
    # The default run's S5: the width bisection stopped at w = 2.0000000000266422, a width that
    # rounds up only the channel counts above ~20 (the rounding guard of eq. 15), so its path
    # string read "w2.0000000000266422". Widths are now solved on 4 decimals.
    base = BaseArch.decode(
        "k7e1/k3e6se-k5e6se/k5e3se-k3e6se-k5e3/k3e6se/k7e3-k7e6/k7e6se-k7e6-k3e3se/k3e3"
    )
    fitted = Scaling(1.7462493759238407, 1.9180, 1.926)
    proj = project_to_budget(fmnist, base, fitted, 128_000_000, "rw")
    # Near w = 2.0 the 4-decimal widths step by a whole channel in every stage (w = 2.0 gives
    # -1.06 % at 72 px, w = 2.0001 +4.8 %), so no width at 72-73 px lands within 1 %; the sides
    # further out are tried, and 75 px with w = 1.85 (written short: 1.8438 names the same
    # network) lands at +0.24 %.
    assert proj.after == Scaling(1.7462493759238407, 1.85, 2.34)
    assert "w1.85,r2.34" in Path(base, proj.after).encode()
    assert (proj.cost_after.resolution, proj.flops_after) == (75, 128_309_376)
    assert proj.rel_error == pytest.approx(0.0024, abs=1e-4)
    at_72 = count(fmnist, Path(base, Scaling(fitted.depth, 2.0, 2.25))).flops
    assert at_72 == 126_637_968  # the best readable width at the bracketing sides: -1.06 %
    hair = count(fmnist, Path(base, Scaling(fitted.depth, 2.0000000000266422, 2.25))).flops
    assert 126_637_968 < hair < 128_000_000  # the old, unreadable answer (-0.30 %)


def test_rw_widens_the_side_window_only_when_the_bracketing_sides_fall_short(
    fmnist: SearchSpace,
) -> None:
    base = BaseArch.decode(
        "k7e1/k3e6se-k5e6se/k5e3se-k3e6se-k5e3/k3e6se/k7e3-k7e6/k7e6se-k7e6-k3e3se/k3e3"
    )
    fitted = Scaling(1.7462493759238407, 1.9180, 1.926)
    r_only = project_to_budget(fmnist, base, fitted, 128_000_000, "r")
    side = r_only.cost_after.resolution
    # every 4-decimal width at the bracketing sides misses by more than 1 %
    for px in (side - 1, side, side + 1):
        for width in (1.9, 1.95, 1.9844, 2.0, 2.0001, 2.05):
            flops = count(fmnist, Path(base, Scaling(fitted.depth, width, px / 32))).flops
            assert abs(flops / 128_000_000 - 1) > 0.01, (px, width)
    proj = project_to_budget(fmnist, base, fitted, 128_000_000, "rw")
    assert abs(proj.rel_error) <= 0.01
    assert 1 < abs(proj.cost_after.resolution - side) <= 16


def test_none_mode_only_reports(fmnist: SearchSpace) -> None:
    base = get_arch("scalenet_s0")
    with pytest.raises(ValueError, match="stage 3"):
        # scalenet_s0 has 4 blocks in stage 3; fmnist allows 3 (shape check only ignores it)
        fmnist.validate(base)
    scaling = Scaling(1.5, 1.4, 1.6)
    arch = get_arch("efficientnet_b0")
    proj = project_to_budget(fmnist, arch, scaling, 10_000_000, "none")
    assert proj.after == scaling and proj.flops_after == proj.flops_before


def test_bad_mode_and_target(imagenet: SearchSpace) -> None:
    base = get_arch("scalenet_s0")
    with pytest.raises(ValueError, match=r"project 'x' not in \{r, rw, all, none\}"):
        project_to_budget(imagenet, base, Scaling(), 10**9, "x")
    with pytest.raises(ValueError, match="must be > 0"):
        project_to_budget(imagenet, base, Scaling(), 0)


@pytest.mark.parametrize(
    ("side", "r0", "expected"),
    [(458, 224, 2.044), (224, 224, 1.0), (256, 224, 1.14), (37, 32, 1.15)],
)
def test_short_resolution(side: int, r0: int, expected: float) -> None:
    value = short_resolution(side, r0)
    assert value == expected
    assert math.ceil(round(r0 * value, 9)) == side


def test_solve_monotone_on_a_step_function() -> None:
    # FLOPs(x) = 100 * floor(x): target 250 is between steps 200 and 300; ties go to smaller x
    x = solve_monotone(lambda v: 100 * math.floor(v), 250, 1.0)
    assert 100 * math.floor(x) in (200, 300)
    x = solve_monotone(lambda v: 100 * math.floor(v), 290, 1.0)
    assert math.floor(x) == 3
    with pytest.raises(ValueError, match="cannot reach"):
        solve_monotone(lambda v: 5, 10, 1.0)
