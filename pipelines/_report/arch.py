"""Section: the searched base architecture."""

from __future__ import annotations

from _report.family import family_file
from _report.fmt import missing
from _report.model import Context
from scalenet.search import SearchResult


def _space_rows(name: str | None, count: int) -> list[str]:
    labels = [f"stage {i + 1}" for i in range(count)]
    if not name:
        return labels
    try:
        from scalenet.space import load_space

        space = load_space(name)
    except (ImportError, ValueError, OSError):
        return labels
    if len(space.stages) != count:
        return labels
    return [
        f"stage {i + 1}\n{stage.out_chs} ch, stride {stage.stride}"
        for i, stage in enumerate(space.stages)
    ]


def section_arch(ctx: Context) -> list[str]:
    result = ctx.inputs.typed("search/result.json", SearchResult.from_json)
    source = "search/result.json"
    if result is not None:
        arch = result.base
    else:  # the search result is gone: the family's base
        source, family = family_file(ctx)
        if family is None:
            return [missing(ctx.inputs.name("search/result.json"), "search")]
        arch = family.base
    blocks = [block for stage in arch.stages for block in stage.blocks]
    kernels = sorted({block.kernel for block in blocks})
    expands = sorted({block.expand for block in blocks})
    se = sum(block.se for block in blocks)
    mix = ", ".join(f"k{k} ×{sum(b.kernel == k for b in blocks)}" for k in kernels)
    expand_mix = ", ".join(f"e{e} ×{sum(b.expand == e for b in blocks)}" for e in expands)
    space = ctx.params.get("space")
    labels = _space_rows(space if isinstance(space, str) else None, len(arch.stages))
    from _report.plots import plot_arch

    stages = [[(b.kernel, b.expand, b.se) for b in stage.blocks] for stage in arch.stages]
    image = ctx.figure(
        "base_arch.png",
        "Block diagram of the searched base model",
        lambda path: plot_arch(stages, labels, path, title="Searched base model"),
    )
    return [
        f"The searched base model (`{ctx.inputs.name(source)}`): `{arch.encode()}`.",
        "",
        image,
        "",
        f"It has {len(blocks)} blocks over {len(arch.stages)} stages (depths "
        f"{'-'.join(str(d) for d in arch.depths)}); kernels {mix}; expand rates {expand_mix}; "
        f"SE in {se} of {len(blocks)} blocks.",
    ]
