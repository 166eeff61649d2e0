from __future__ import annotations

import copy

import pytest
import torch
from supernet_testutils import random_paths, randomize

from scalenet.data import fixed_batches, synthetic_images
from scalenet.space import Path, SearchSpace
from scalenet.supernet import SupernetEvaluator, SuperSupernet, recalibrate_bn, top1


@pytest.fixture(scope="module")
def setup(tiny_space: SearchSpace) -> tuple[SuperSupernet, list, list]:
    net = SuperSupernet(tiny_space)
    randomize(net, seed=3)
    train = fixed_batches(synthetic_images(64, side=16, seed=1), 16)
    val = fixed_batches(synthetic_images(40, side=16, seed=2), 16)
    return net, train, val


def test_accepts_both_call_forms_and_caches(setup: tuple, tiny_space: SearchSpace) -> None:
    net, train, val = setup
    evaluator = SupernetEvaluator(net, train, val, recalib_batches=2)
    path = random_paths(tiny_space, 1, seed=9)[0]
    accuracy = evaluator(path)
    assert 0.0 <= accuracy <= 100.0
    assert accuracy * 40 / 100 == pytest.approx(round(accuracy * 40 / 100))  # k of 40 correct
    assert evaluator(path.base, path.scaling) == accuracy
    assert evaluator(path.encode()) == accuracy
    assert evaluator.stats() == {"calls": 3, "cached": 1, "hits": 2}


def test_evaluation_leaves_the_supernet_unchanged(setup: tuple, tiny_space: SearchSpace) -> None:
    net, train, val = setup
    net.train()
    state = {key: value.clone() for key, value in net.state_dict().items()}
    previous = net.set_active(Path(tiny_space.smallest_arch()), "right")
    SupernetEvaluator(net, train, val, recalib_batches=2, side="both")(
        random_paths(tiny_space, 1, 4)[0]
    )
    assert all(torch.equal(state[key], value) for key, value in net.state_dict().items())
    assert net.training and net.active == previous


def test_tensor_pairs_with_batch_size(setup: tuple, tiny_space: SearchSpace) -> None:
    net, _, _ = setup
    data = synthetic_images(40, side=16, seed=2)
    pair = data.batch(torch.arange(40).numpy())
    by_pair = SupernetEvaluator(net, pair, pair, recalib_batches=2, batch_size=16, side="left")
    by_batches = SupernetEvaluator(
        net, fixed_batches(data, 16), fixed_batches(data, 16), recalib_batches=2, side="left"
    )
    path = random_paths(tiny_space, 1, seed=6)[0]
    assert by_pair(path) == by_batches(path)


def test_recalibration_is_a_cumulative_mean(tiny_space: SearchSpace) -> None:
    net = SuperSupernet(tiny_space, width_mode="left")
    net.set_active(Path(tiny_space.smallest_arch()), "left")
    batches = [(torch.randn(8, 3, 16, 16) + offset, torch.zeros(8)) for offset in (1.0, 3.0)]
    assert recalibrate_bn(net, batches, 5) == 2
    chs = net.active.stem.out_chs  # type: ignore[union-attr]
    with torch.no_grad():
        means = [net.stem_conv(x, chs, "left").mean((0, 2, 3)) for x, _ in batches]
    torch.testing.assert_close(net.stem_bn.running_mean[:chs], 0.5 * (means[0] + means[1]))
    assert net.stem_bn.momentum == 0.1


def test_bad_side_and_arguments(setup: tuple) -> None:
    net, train, val = setup
    with pytest.raises(ValueError, match="side 'middle'"):
        SupernetEvaluator(net, train, val, side="middle")
    with pytest.raises(ValueError, match="recalib_batches must be >= 0"):
        SupernetEvaluator(net, train, val, recalib_batches=-1)
    with pytest.raises(TypeError, match="scaling goes with a BaseArch"):
        SupernetEvaluator(net, train, val)(
            Path(net.space.smallest_arch()), Path(net.space.smallest_arch()).scaling
        )


def test_accuracy_does_not_depend_on_what_was_evaluated_before(tiny_space: SearchSpace) -> None:
    """A shuffled, advancing stream recalibrates every path on its first batches all the same."""
    from scalenet.data import ShuffledBatches

    net = SuperSupernet(tiny_space)
    randomize(net, seed=3)
    val = fixed_batches(synthetic_images(40, side=16, seed=2), 16)

    def evaluator() -> SupernetEvaluator:
        stream = ShuffledBatches(synthetic_images(64, side=16, seed=1), 8, seed=5)
        return SupernetEvaluator(net, stream, val, recalib_batches=2)

    paths = random_paths(tiny_space, 11, seed=12)
    first = evaluator()
    alone = first.evaluate(paths[0])
    for other in paths[1:]:
        first.evaluate(other)
    assert first.evaluate(paths[0]) == alone  # after 10 other paths
    later = evaluator()
    assert [later.evaluate(path) for path in reversed(paths)][::-1][0] == alone  # other order
    assert len(first.train_batches) == 2


def test_both_sums_the_logits_of_the_recalibrated_sides(
    setup: tuple, tiny_space: SearchSpace
) -> None:
    """The official tester's combination: each side recalibrated, then the logits summed."""
    net, train, val = setup
    state = copy.deepcopy(net.state_dict())
    path = random_paths(tiny_space, 1, seed=8)[0]
    logits = {}
    for side in ("left", "right"):
        one = SupernetEvaluator(net, train, val, recalib_batches=2, side=side)
        net.set_active(path, side)
        recalibrate_bn(net, one.train_batches, 2)
        net.eval()
        with torch.no_grad():
            logits[side] = torch.cat([net(images) for images, _ in val])
        net.train()
    labels = torch.cat([labels for _, labels in val])
    expected = top1(logits["left"] + logits["right"], labels)
    both = SupernetEvaluator(net, train, val, recalib_batches=2, side="both")
    net.load_state_dict(state)  # the manual recalibration changed the shared supernet
    assert both(path) == expected


def test_forward_chunk_does_not_change_the_accuracy(setup: tuple, tiny_space: SearchSpace) -> None:
    # The mini-val forward is cut into chunks (eval mode: per-image results); recalibration
    # batches stay whole. Chunks of 3 images, of 16 (= the batch) and one per image agree.
    net, train, val = setup
    paths = random_paths(tiny_space, 4, seed=12)
    scores = {
        chunk: [
            SupernetEvaluator(net, train, val, recalib_batches=2, forward_chunk=chunk).evaluate(p)
            for p in paths
        ]
        for chunk in (1, 3, 16)
    }
    assert scores[1] == scores[3] == scores[16]


def test_forward_chunk_must_be_positive(setup: tuple) -> None:
    net, train, val = setup
    with pytest.raises(ValueError, match="forward_chunk must be >= 1, got 0"):
        SupernetEvaluator(net, train, val, forward_chunk=0)
