"""Shared helpers of the supernet tests (also imported by the subprocess scripts)."""

from __future__ import annotations

import numpy as np
import torch

from scalenet.space import Path, SearchSpace, random_base_batch


class StageSampler:
    """A tiny stand-in for scalenet.sampling's HSS: j uniform, strategy uniform in grid j."""

    def __init__(self, space: SearchSpace, max_stage: int | None = None) -> None:
        self.space = space
        self.max_stage = space.scaling.max_stage if max_stage is None else max_stage

    def sample(self, rng: np.random.Generator) -> Path:
        base = random_base_batch(self.space, 1, rng).path(0, self.space).base
        stage = int(rng.integers(0, self.max_stage + 1))
        strategies = self.space.scaling.strategies(stage)
        return Path(base, strategies[int(rng.integers(len(strategies)))])


def random_paths(space: SearchSpace, count: int, seed: int) -> list[Path]:
    rng = np.random.default_rng(seed)
    sampler = StageSampler(space)
    return [sampler.sample(rng) for _ in range(count)]


@torch.no_grad()
def randomize(module: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial weights and BN statistics, so equality tests compare real numbers."""
    generator = torch.Generator().manual_seed(seed)
    for name, tensor in list(module.named_parameters()) + list(module.named_buffers()):
        if "running_var" in name:
            tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
        elif tensor.ndim <= 1:
            tensor.copy_(
                torch.randn(tensor.shape, generator=generator) * 0.3
                + (1.0 if name.endswith("weight") else 0.0)
            )
        else:
            fan_in = tensor[0].numel()
            tensor.copy_(torch.randn(tensor.shape, generator=generator) * (1.5 / fan_in) ** 0.5)
