from __future__ import annotations

import numpy as np
import pytest

from scalenet.search import GenomeCodec
from scalenet.space import random_base_batch


def test_sizes_follow_the_space(space) -> None:  # type: ignore[no-untyped-def]
    codec = GenomeCodec(space)
    # fmnist: stages 1 and 7 hold 1 block, stages 2-6 up to 3: 7 depth genes + 3 per slot.
    assert codec.length == 7 + 3 * (1 + 3 * 5 + 1)
    assert codec.sizes[:4] == (1, 3, 1, 2)  # stage 1: depth 1..1, k in {3,5,7}, e in {1}, se


def test_roundtrip_random_archs(space) -> None:  # type: ignore[no-untyped-def]
    codec = GenomeCodec(space)
    batch = random_base_batch(space, 50, np.random.default_rng(3))
    for path in batch.paths(space):
        assert codec.decode(codec.encode(path.base)) == path.base
    rng = np.random.default_rng(0)
    for _ in range(50):
        genes = codec.random(rng)
        assert space.problems(codec.decode(genes)) == []
        assert codec.encode(codec.decode(genes)) is not None


def test_bad_genomes(space) -> None:  # type: ignore[no-untyped-def]
    codec = GenomeCodec(space)
    with pytest.raises(ValueError, match="genes"):
        codec.decode([0, 1])
    genes = [0] * codec.length
    genes[1] = 3
    with pytest.raises(ValueError, match=r"stage 1: kernel gene 3 not in 0\.\.2"):
        codec.decode(genes)
