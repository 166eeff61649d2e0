"""The categorical genome of a base model, for NSGA-II.

Per stage: one gene for the number of blocks (index into ``n_min..n_max``), then for every block
slot up to ``n_max`` three genes: kernel, expand and SE choice indices. Slots past the stage's
depth are carried but inactive (they come back when a mutation deepens the stage). Every gene is
an index ``0..size - 1``, so uniform crossover and per-gene uniform mutation never leave the space.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from scalenet.space import BaseArch, BlockSpec, SearchSpace, StageSpec

__all__ = ["GenomeCodec"]


@dataclass(frozen=True)
class GenomeCodec:
    """Encode and decode base models of ``space`` as lists of choice indices.

    Attributes:
        space: The search space.
    """

    space: SearchSpace

    @cached_property
    def sizes(self) -> tuple[int, ...]:
        """Number of choices of every gene, in genome order."""
        sizes: list[int] = []
        for choices in self.space.stages:
            sizes.append(choices.max_depth - choices.min_depth + 1)
            per_block = (len(choices.kernels), len(choices.expands), len(choices.se))
            sizes.extend(per_block * choices.max_depth)
        return tuple(sizes)

    @cached_property
    def _sizes(self) -> tuple[int, ...]:
        return self.sizes

    @property
    def length(self) -> int:
        """Number of genes."""
        return len(self.sizes)

    def decode(self, genes: Sequence[int]) -> BaseArch:
        """The base model of a genome (inactive slots are ignored).

        Raises:
            ValueError: If the genome has the wrong length or a gene is out of range.
        """
        if len(genes) != self.length:
            raise ValueError(
                f"genome has {len(genes)} genes, space {self.space.name!r} needs {self.length}"
            )
        stages = []
        position = 0
        for index, choices in enumerate(self.space.stages, start=1):
            depth = choices.min_depth + self._gene(genes, position, index, "depth")
            position += 1
            blocks = []
            for slot in range(choices.max_depth):
                if slot < depth:
                    kernel = choices.kernels[self._gene(genes, position, index, "kernel")]
                    expand = choices.expands[self._gene(genes, position + 1, index, "expand")]
                    se = choices.se[self._gene(genes, position + 2, index, "se")]
                    blocks.append(BlockSpec(kernel, expand, se))
                position += 3
            stages.append(StageSpec(tuple(blocks)))
        return BaseArch(tuple(stages))

    def encode(self, arch: BaseArch) -> list[int]:
        """A genome of ``arch``; inactive slots copy the stage's last block.

        Raises:
            ValueError: If ``arch`` is not in the space.
        """
        self.space.validate(arch)
        genes: list[int] = []
        for stage, choices in zip(arch.stages, self.space.stages, strict=True):
            genes.append(stage.depth - choices.min_depth)
            for slot in range(choices.max_depth):
                block = stage.blocks[min(slot, stage.depth - 1)]
                genes.extend(
                    (
                        choices.kernels.index(block.kernel),
                        choices.expands.index(block.expand),
                        choices.se.index(block.se),
                    )
                )
        return genes

    def random(self, rng: np.random.Generator) -> list[int]:
        """A uniformly drawn genome."""
        return [int(rng.integers(size)) for size in self.sizes]

    def _gene(self, genes: Sequence[int], position: int, stage: int, name: str) -> int:
        value = int(genes[position])
        size = self._sizes[position]
        if not 0 <= value < size:
            raise ValueError(f"stage {stage}: {name} gene {value} not in 0..{size - 1}")
        return value
