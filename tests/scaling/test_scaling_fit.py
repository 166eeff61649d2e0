from __future__ import annotations

import numpy as np
import pytest

from scalenet.scaling import (
    A0_MIN,
    DEFAULT_FUNCTION,
    FUNCTION_NAMES,
    FUNCTIONS,
    TABLE3_SEARCHED,
    compare_functions,
    fit_dimension,
    fit_strategies,
    get_function,
    leave_one_stage_out,
)
from scalenet.space import Scaling

# (function, true parameters, stages fitted)
SYNTHETIC = [
    ("linear", (0.15,), (1, 2, 3)),
    ("squared", (0.02, 0.11), (1, 2, 3)),
    ("squared", (0.05, -0.03), (1, 2, 3, 4)),
    ("power", (0.12, 1.3), (1, 2, 3, 4, 5)),
    ("power", (0.3, 0.6), (1, 2, 3)),
    ("exponential", (0.1, 1.2), (1, 2, 3, 4, 5)),
    ("exponential", (0.2, 0.7), (1, 2, 3)),
    ("geometric", (0.13,), (1, 2, 3)),
]


@pytest.mark.parametrize(("name", "params", "stages"), SYNTHETIC)
def test_exact_recovery_from_synthetic_data(
    name: str, params: tuple[float, ...], stages: tuple[int, ...]
) -> None:
    fn = get_function(name)
    values = fn(np.asarray(stages), params)
    fit = fit_dimension(stages, values, name)
    np.testing.assert_allclose(fit.params, params, rtol=1e-6, atol=1e-9)
    assert max(abs(r) for r in fit.residuals) < 1e-9
    assert fit.active == ()
    assert fit.function == name


@pytest.mark.parametrize("name", FUNCTION_NAMES)
def test_every_function_is_one_at_stage_zero(name: str) -> None:
    fn = FUNCTIONS[name]
    params = [0.2, 1.5][: fn.num_params]
    assert float(fn(0.0, params)) == 1.0
    assert fn.param_names[0] == "a0" and fn.lower[0] == A0_MIN


@pytest.mark.parametrize("name", FUNCTION_NAMES)
def test_a0_constraint_active_when_data_decrease(name: str) -> None:
    fit = fit_dimension([1, 2, 3], [0.95, 0.9, 0.85], name)
    assert fit.params[0] == pytest.approx(A0_MIN, abs=1e-7)
    assert "a0" in fit.active
    if name == "squared":  # the free linear term takes the decrease
        assert fit.params[1] == pytest.approx(-0.05, rel=1e-3)
    else:  # the fit stays at (about) 1: every searched value lies below it
        assert all(r < 0 for r in fit.residuals)


def test_linear_a0_is_the_least_squares_slope_through_one() -> None:
    fit = fit_dimension([1, 2, 3], [1.08, 1.36, 1.48], "linear")
    # closed form: sum((y - 1) j) / sum(j^2) = (0.08 + 0.72 + 1.44) / 14 = 0.16
    assert fit.params[0] == pytest.approx(0.16, rel=1e-9)
    np.testing.assert_allclose(fit.residuals, [-0.08, 0.04, 0.0], atol=1e-9)
    assert fit.sse == pytest.approx(0.008, rel=1e-6)


def test_fit_strategies_per_dimension_and_predict() -> None:
    truth = [Scaling(1 + 0.1 * j, 1 + 0.05 * j, 1 + 0.2 * j) for j in (1, 2, 3)]
    fit = fit_strategies(truth, "linear")
    assert [d.params[0] for d in fit.dimensions] == pytest.approx([0.1, 0.05, 0.2])
    predicted = fit.predict(5)
    assert (predicted.depth, predicted.width, predicted.resolution) == pytest.approx(
        (1.5, 1.25, 2.0)
    )
    assert fit.rmse < 1e-9
    data = fit.to_json()
    assert data["depth"]["params"]["a0"] == pytest.approx(0.1)
    assert data["resolution"]["formula"] == "1 + a0*j"


def test_loso_is_zero_on_exact_data_and_holds_out_each_stage() -> None:
    truth = [Scaling(1.1**j, 1.05**j, 1.2**j) for j in (1, 2, 3, 4)]
    report = leave_one_stage_out(truth, "geometric")
    assert report.stages == (1, 2, 3, 4)
    assert report.rmse < 1e-8
    linear = leave_one_stage_out(truth, "linear")
    assert linear.rmse > 1e-3
    # stage 4 held out: linear through (1..3) underestimates a convex curve
    assert linear.errors[0][-1] < 0


def test_table3_model_selection_picks_the_default() -> None:
    rows = compare_functions(TABLE3_SEARCHED)
    assert next(fit.function for fit, _ in rows) == DEFAULT_FUNCTION == "geometric"
    losos = {loso.function: loso for _, loso in rows}
    assert losos["geometric"].rmse == pytest.approx(0.0615, abs=5e-4)
    assert losos["linear"].rmse == pytest.approx(0.0715, abs=5e-4)
    assert losos["geometric"].rmse < losos["linear"].rmse < losos["squared"].rmse
    # the two-parameter forms fit the three points better but extrapolate worse
    fits = {fit.function: fit for fit, _ in rows}
    assert fits["power"].rmse < fits["geometric"].rmse


@pytest.mark.parametrize(
    ("stages", "values", "message"),
    [
        ([], [], "at least one"),
        ([0, 1], [1.0, 1.1], "integers >= 1"),
        ([1, 2], [1.1, -1.0], "> 0"),
        ([1, 2], [1.1], "one length"),
    ],
)
def test_fit_dimension_rejects_bad_input(
    stages: list[int], values: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        fit_dimension(stages, values, "linear", dimension="depth")


def test_unknown_function_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"function 'cubic' not in \{linear, squared"):
        get_function("cubic")


def test_loso_needs_two_stages() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        leave_one_stage_out([Scaling(1.1, 1.1, 1.1)], "linear")
