from __future__ import annotations

import pickle

import numpy as np
import pytest

from scalenet.sampling import (
    NO_STAGE,
    BaseSampler,
    HierarchicalSampler,
    PathSampler,
    PathSource,
    SampledBatch,
    UniformSampler,
    draw_paths,
    make_sampler,
    resolve_stage_weights,
    stage_of,
    stage_window,
)
from scalenet.space import Budgets, Path, SearchSpace, count, count_batch, load_space

SAMPLER_NAMES = ["hss", "uniform"]


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def encode_all(sampled: SampledBatch, space: SearchSpace) -> list[str]:
    return [path.encode() for path in sampled.paths(space)]


# --- base-model sampler -------------------------------------------------------------------------


def test_base_sampler_draws_valid_identity_scaled_models(fmnist: SearchSpace) -> None:
    sampler = BaseSampler(fmnist)
    batch = sampler.sample_batch(200, rng(1))
    assert len(batch) == 200
    assert np.all(batch.depth == 1.0) and np.all(batch.width == 1.0)
    assert np.all(batch.resolution == 1.0)
    for path in batch.paths(fmnist):
        fmnist.validate(path.base)
    # Stage 2 allows 1..3 blocks: all three occur.
    assert set(batch.depths[:, 1].tolist()) == {1, 2, 3}


def test_base_sampler_one_is_first_of_batch(fmnist: SearchSpace) -> None:
    sampler = BaseSampler(fmnist)
    one = sampler.sample(rng(5))
    assert one == sampler.sample_batch(1, rng(5)).path(0, fmnist).base


# --- determinism, one path vs batch, pickling, checkpointing ------------------------------------


@pytest.mark.parametrize("name", SAMPLER_NAMES)
def test_same_seed_same_paths(fmnist: SearchSpace, name: str) -> None:
    sampler = make_sampler(name, fmnist)
    first = sampler.sample_batch(64, rng(7))
    second = sampler.sample_batch(64, rng(7))
    assert encode_all(first, fmnist) == encode_all(second, fmnist)
    assert np.array_equal(first.scaling_stage, second.scaling_stage)
    assert encode_all(sampler.sample_batch(64, rng(8)), fmnist) != encode_all(first, fmnist)


@pytest.mark.parametrize("name", ["hss", "uniform"])
def test_draw_paths_is_the_seeded_batch_with_its_flops(fmnist: SearchSpace, name: str) -> None:
    paths, flops = draw_paths(name, fmnist, 12, 5)
    batch = make_sampler(name, fmnist).sample_batch(12, rng(5))
    assert [p.encode() for p in paths] == encode_all(batch, fmnist)
    assert flops == [count(fmnist, path).flops for path in paths]
    assert all(type(value) is int for value in flops)
    assert draw_paths(name, fmnist, 0, 5) == ([], [])
    with pytest.raises(ValueError, match="unknown option"):
        draw_paths("uniform", fmnist, 2, 5, stage_weights="uniform")


def test_golden_first_path_is_machine_independent(fmnist: SearchSpace) -> None:
    # numpy's PCG64 streams are platform independent: this string is the same everywhere.
    path = HierarchicalSampler(fmnist).sample(rng(0))
    assert path == Path.decode(path.encode())
    assert path.encode() == GOLDEN_HSS_SEED0


GOLDEN_HSS_SEED0 = (
    "k3e1/k5e6se-k5e6se-k7e6/k7e6se-k3e6se-k5e3se/k3e6/k3e6/k5e6se-k7e3se/k7e6se@d1.28,w1.24,r1.21"
)


@pytest.mark.parametrize("name", SAMPLER_NAMES)
def test_sample_is_first_of_batch(fmnist: SearchSpace, name: str) -> None:
    sampler = make_sampler(name, fmnist)
    assert sampler.sample(rng(3)) == sampler.sample_batch(1, rng(3)).batch.path(0, fmnist)
    assert isinstance(sampler, PathSampler) and isinstance(sampler, PathSource)


def test_a_fixed_path_is_a_path_source_not_a_sampler(fmnist: SearchSpace) -> None:
    class Fixed:
        def sample(self, rng: np.random.Generator) -> Path:
            return Path(fmnist.smallest_arch())

    assert isinstance(Fixed(), PathSource) and not isinstance(Fixed(), PathSampler)


@pytest.mark.parametrize("name", SAMPLER_NAMES)
def test_pickle_roundtrip_samples_the_same(fmnist: SearchSpace, name: str) -> None:
    sampler = make_sampler(name, fmnist, scaling_stage=2)
    data = pickle.dumps(sampler)
    assert len(data) < 20_000
    clone = pickle.loads(data)
    assert clone == sampler
    assert encode_all(clone.sample_batch(16, rng(2)), fmnist) == encode_all(
        sampler.sample_batch(16, rng(2)), fmnist
    )


def test_checkpointing_the_generator_state_resumes_the_stream(fmnist: SearchSpace) -> None:
    sampler = HierarchicalSampler(fmnist)
    generator = rng(11)
    sampler.sample_batch(10, generator)
    state = generator.bit_generator.state  # what a trainer checkpoints
    expected = [sampler.sample(generator).encode() for _ in range(5)]
    resumed = np.random.default_rng()
    resumed.bit_generator.state = state
    assert [sampler.sample(resumed).encode() for _ in range(5)] == expected


# --- HSS ----------------------------------------------------------------------------------------


def test_hss_uniform_stage_shares_within_one_percent(fmnist: SearchSpace) -> None:
    # Issue 3: each scaling stage's share is 1/(M+1) +- 1% (absolute) over 100,000 paths.
    sampled = HierarchicalSampler(fmnist).sample_batch(100_000, rng(0))
    shares = np.bincount(sampled.scaling_stage, minlength=4) / 100_000
    assert fmnist.scaling.max_stage == 3
    assert np.all(np.abs(shares - 0.25) <= 0.01), shares


def test_hss_strategies_lie_in_the_drawn_stage_grid(fmnist: SearchSpace) -> None:
    sampled = HierarchicalSampler(fmnist).sample_batch(5_000, rng(4))
    batch = sampled.batch
    assert np.array_equal(
        stage_of(fmnist.scaling, batch.depth, batch.width, batch.resolution), sampled.scaling_stage
    )
    # Inside stage 3 every grid value occurs (7 depths, 7 widths, 3 resolutions).
    stage3 = sampled.scaling_stage == 3
    assert len(set(batch.depth[stage3].tolist())) == 7
    assert len(set(batch.width[stage3].tolist())) == 7
    assert set(batch.resolution[stage3].tolist()) == {1.43, 1.5, 1.57}
    assert np.all(batch.depth[sampled.scaling_stage == 0] == 1.0)


def test_hss_grid_size_weights_follow_the_grid_sizes(fmnist: SearchSpace) -> None:
    sizes = np.array([grid.size for grid in fmnist.scaling.stages], dtype=float)
    assert sizes.tolist() == [1, 48, 75, 147]
    sampler = HierarchicalSampler(fmnist, stage_weights="grid_size")
    assert np.allclose(sampler.probabilities, sizes / sizes.sum())
    sampled = sampler.sample_batch(50_000, rng(0))
    shares = np.bincount(sampled.scaling_stage, minlength=4) / 50_000
    assert np.all(np.abs(shares - sizes / sizes.sum()) <= 0.01), shares


def test_hss_explicit_weights(fmnist: SearchSpace) -> None:
    sampler = HierarchicalSampler(fmnist, stage_weights=[0, 1, 0, 3])
    assert sampler.stage_weights == (0.0, 1.0, 0.0, 3.0)
    stages = sampler.sample_batch(20_000, rng(0)).scaling_stage
    assert set(stages.tolist()) == {1, 3}
    assert abs(np.mean(stages == 3) - 0.75) < 0.01


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ("paper", "stage_weights 'paper' not in {uniform, grid_size}"),
        ([1, 1, 1], "needs 4 weights"),
        ([0, 0, 0, 0], "sum to a positive value"),
        ([1, -1, 1, 1], "must be finite and >= 0"),
        ([1, float("nan"), 1, 1], "must be finite and >= 0"),
    ],
)
def test_hss_bad_weights_are_one_clear_error(
    fmnist: SearchSpace, weights: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("{", r"\{").replace("}", r"\}")):
        HierarchicalSampler(fmnist, stage_weights=weights)  # type: ignore[arg-type]


def test_resolve_stage_weights_normalizes(fmnist: SearchSpace) -> None:
    assert resolve_stage_weights(fmnist.scaling, (2, 2, 4, 0)).tolist() == [0.25, 0.25, 0.5, 0.0]


def test_stage_weights_as_a_numpy_array(fmnist: SearchSpace) -> None:
    weights = np.array([2, 2, 4, 0], dtype=np.int64)
    assert resolve_stage_weights(fmnist.scaling, weights).tolist() == [0.25, 0.25, 0.5, 0.0]
    sampler = HierarchicalSampler(fmnist, stage_weights=np.array([0.0, 1.0, 0.0, 3.0]))  # type: ignore[arg-type]
    assert sampler.stage_weights == (0.0, 1.0, 0.0, 3.0)
    assert type(sampler.stage_weights[0]) is float
    assert sampler == HierarchicalSampler(fmnist, stage_weights=[0, 1, 0, 3])
    assert sampler.probabilities.tolist() == [0.0, 0.25, 0.0, 0.75]


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        (["1", "1", "1", "1"], "stage_weights[0] must be a number, got '1'"),
        ([1, "a", 1, 1], "stage_weights[1] must be a number, got 'a'"),
        ([1, 1, None, 1], "stage_weights[2] must be a number, got None"),
        ([True, 1, 1, 1], "stage_weights[0] must be a number, got True"),
        ([1, 1, 1, [1]], "stage_weights[3] must be a number, got [1]"),
        (np.array(["a", "b", "c", "d"]), "stage_weights[0] must be a number, got 'a'"),
        (np.ones((2, 2)), "stage_weights must be one weight per scaling stage, got an array of shape (2, 2)"),
        (5, "stage_weights must be one of {uniform, grid_size} or a sequence of numbers, got 5"),
        (b"1111", "stage_weights must be one of {uniform, grid_size} or a sequence of numbers, got b'1111'"),
    ],
)  # fmt: skip
def test_non_numeric_stage_weights_name_stage_weights(
    fmnist: SearchSpace, weights: object, message: str
) -> None:
    for build in (
        lambda: resolve_stage_weights(fmnist.scaling, weights),  # type: ignore[arg-type]
        lambda: HierarchicalSampler(fmnist, stage_weights=weights),  # type: ignore[arg-type]
    ):
        with pytest.raises(ValueError) as info:
            build()
        assert str(info.value) == message


# --- uniform sampler ----------------------------------------------------------------------------


def test_uniform_draws_each_dimension_uniformly_over_the_union(fmnist: SearchSpace) -> None:
    n = 100_000
    sampled = UniformSampler(fmnist).sample_batch(n, rng(0))
    batch = sampled.batch
    union_depth = fmnist.scaling.union("depth")
    union_resolution = fmnist.scaling.union("resolution")
    assert len(union_depth) == 17 and union_depth[0] == 1.0
    assert len(union_resolution) == 9 and union_resolution[0] == 1.0
    for values, union in (
        (batch.depth, union_depth),
        (batch.width, fmnist.scaling.union("width")),
        (batch.resolution, union_resolution),
    ):
        freq = np.array([np.mean(values == value) for value in union])
        assert freq.sum() == pytest.approx(1.0)
        assert np.all(np.abs(freq - 1 / len(union)) < 0.005), freq
    # Independence: P(d = 1, w = 1) = 1/17**2.
    joint = np.mean((batch.depth == 1.0) & (batch.width == 1.0))
    assert joint == pytest.approx(1 / 289, abs=0.001)


def test_uniform_reports_the_grid_stage_or_minus_one(fmnist: SearchSpace) -> None:
    n = 200_000
    stages = UniformSampler(fmnist).sample_batch(n, rng(1)).scaling_stage
    shares = [np.mean(stages == j) for j in (NO_STAGE, 0, 1, 2, 3)]
    # Exact probabilities: |grid_j| / (17 * 17 * 9) = 1, 48, 75, 147 in 2,601.
    expected = [1 - 271 / 2601, 1 / 2601, 48 / 2601, 75 / 2601, 147 / 2601]
    assert np.allclose(shares, expected, atol=0.002), shares


def test_stage_of_known_points(fmnist: SearchSpace) -> None:
    stages = stage_of(
        fmnist.scaling,
        np.array([1.0, 1.04, 1.0, 1.64, 1.2]),
        np.array([1.0, 1.16, 1.08, 1.4, 1.36]),
        np.array([1.0, 1.0, 1.0, 1.57, 1.07]),
    )
    assert stages.tolist() == [0, 1, NO_STAGE, 3, NO_STAGE]


# --- restrictions -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLER_NAMES)
@pytest.mark.parametrize("stage", [0, 1, 3])
def test_restriction_to_one_scaling_stage(fmnist: SearchSpace, name: str, stage: int) -> None:
    sampled = make_sampler(name, fmnist, scaling_stage=stage).sample_batch(500, rng(0))
    assert np.all(sampled.scaling_stage == stage)
    grid = fmnist.scaling.grid(stage)
    for path in sampled.paths(fmnist):
        assert grid.contains(path.scaling)


@pytest.mark.parametrize("name", SAMPLER_NAMES)
def test_flops_window_by_rejection(fmnist: SearchSpace, fmnist_budgets: Budgets, name: str) -> None:
    window = stage_window(fmnist_budgets, 2)
    assert window == (14_000_000.0, 18_000_000.0)
    sampler = make_sampler(name, fmnist, scaling_stage=2, flops_window=window)
    sampled = sampler.sample_batch(300, rng(0))
    assert len(sampled) == 300
    flops = count_batch(fmnist, sampled.batch).flops
    assert np.all((flops >= window[0]) & (flops <= window[1]))
    assert np.all(sampled.scaling_stage == 2)
    one = sampler.sample(rng(0))
    assert window[0] <= count(fmnist, one).flops <= window[1]
    # Deterministic too.
    again = sampler.sample_batch(300, rng(0))
    assert encode_all(sampled, fmnist) == encode_all(again, fmnist)


def test_uniform_flops_window_without_stage(fmnist: SearchSpace, fmnist_budgets: Budgets) -> None:
    # Stage 0's window under the unrestricted uniform sampler: rare (under 1%) but reachable.
    sampler = UniformSampler(fmnist, flops_window=stage_window(fmnist_budgets, 0))
    flops = count_batch(fmnist, sampler.sample_batch(50, rng(0)).batch).flops
    assert np.all(np.abs(flops - 4_000_000) <= 500_000)


def test_empty_flops_window_fails_clearly(fmnist: SearchSpace) -> None:
    sampler = HierarchicalSampler(fmnist, scaling_stage=0, flops_window=(1e9, 2e9), max_tries=3)
    with pytest.raises(
        ValueError, match=r"hss sampler: flops_window .* accepted 0 of 3,000 candidates"
    ):
        sampler.sample_batch(1_000, rng(0))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"scaling_stage": 4}, "scaling_stage 4 not in 0..3"),
        ({"scaling_stage": -1}, "scaling_stage -1 not in 0..3"),
        ({"flops_window": (5.0, 1.0)}, "flops_window must be"),
        ({"max_tries": 0}, "max_tries must be an integer >= 1"),
    ],
)
@pytest.mark.parametrize("name", SAMPLER_NAMES)
def test_bad_restrictions(fmnist: SearchSpace, name: str, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_sampler(name, fmnist, **options)


# --- factory and sizes --------------------------------------------------------------------------


def test_make_sampler_errors(fmnist: SearchSpace) -> None:
    with pytest.raises(ValueError, match=r"sampler 'foo' not in \{hss, uniform\}"):
        make_sampler("foo", fmnist)
    with pytest.raises(ValueError, match=r"uniform sampler: unknown option.* stage_weights"):
        make_sampler("uniform", fmnist, stage_weights="uniform")
    assert isinstance(make_sampler("hss", fmnist, stage_weights="grid_size"), HierarchicalSampler)


@pytest.mark.parametrize("name", SAMPLER_NAMES)
def test_negative_and_zero_sizes(fmnist: SearchSpace, name: str) -> None:
    sampler = make_sampler(name, fmnist)
    with pytest.raises(ValueError, match="size must be >= 0, got -1"):
        sampler.sample_batch(-1, rng(0))
    empty = sampler.sample_batch(0, rng(0))
    assert len(empty) == 0 and empty.scaling_stage.shape == (0,)


def test_samplers_work_on_imagenet_shapes() -> None:
    space = load_space("imagenet")
    for name in SAMPLER_NAMES:
        for path in make_sampler(name, space).sample_batch(20, rng(0)).paths(space):
            space.validate(path.base)
