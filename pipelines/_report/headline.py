"""The report's first screen: the three questions with their intervals, and the design."""

from __future__ import annotations

from pathlib import Path

from _stats import PairedDifference

from _report.evaluate import evaluated_models, paired_comparisons
from _report.family import family_file
from _report.fmt import integer, mapping, missing, number, table
from _report.model import FAMILY_NAMES, Context
from _report.rank import rank_difference, standalone_difference
from scalenet.space import Budgets


def _answer(results: list[tuple[str, PairedDifference]]) -> str:
    """Yes / no / not resolved, from paired differences that should all be positive."""
    if not results:
        return "not available"
    if all(r.significant and r.difference > 0 for _, r in results):
        return "**yes**"
    if any(r.significant and r.difference < 0 for _, r in results):
        return "**no**"
    return "**not resolved**"


def headline(ctx: Context) -> list[str]:
    """The report's first screen: three questions, answered with their intervals."""
    return [
        "**Headline** (95 % intervals; the sections below give every number and its source):",
        "",
        *table(["question", "answer", "evidence"], headline_rows(ctx), "lll"),
        "",
    ]


def headline_rows(ctx: Context) -> list[list[str]]:
    """The headline's (question, answer, evidence) rows (scripts/compare_runs.py reads them too)."""
    rows: list[list[str]] = []
    entries = evaluated_models(ctx)
    comparisons = None if entries is None else paired_comparisons(ctx, entries)
    if comparisons is None:
        rows.append(
            [
                "Did the search find a better base than random and compound scaling?",
                "not available",
                missing(ctx.inputs.name("evaluate/predictions.json"), "evaluate"),
            ]
        )
    else:
        family = [c for c in comparisons if c.kind == "family"]
        first = min((c.first.stage for c in family), default=None)
        at_base = [
            (FAMILY_NAMES[c.second.family], c.result) for c in family if c.first.stage == first
        ]
        better = sum(c.result.significant and c.result.difference > 0 for c in family)
        evidence = "; ".join(
            f"vs {FAMILY_NAMES.get(c.second.family, c.second.family)} {c.result.interval()}"
            for c in family
            if c.first.stage == first
        )
        if evidence:
            evidence += f" (all stages: significantly better in {better} of {len(family)})"
        rows.append(
            [
                "Did the search find a better base than random and compound scaling? "
                f"(top-1 difference, points, at S{first})",
                _answer(at_base),
                evidence or "no comparison",
            ]
        )
    for question, found in (
        ("Does HSS rank paths better than uniform? (Kendall τ, eqs. 4-6)", rank_difference(ctx)),
        (
            "Does HSS rank paths better than uniform? (Kendall tau-b vs stand-alone training)",
            standalone_difference(ctx),
        ),
    ):
        if found is None:
            rows.append([question, "not available", "see section 5"])
            continue
        value, low, high = found
        answer = "**yes**" if low > 0 else "**no**" if high < 0 else "**not resolved**"
        rows.append([question, answer, f"HSS - uniform {value:+.3f} [{low:+.3f}, {high:+.3f}]"])
    rel, scalenet = family_file(ctx)
    budgets = ctx.inputs.json("budgets.json")
    if scalenet is None or budgets is None:
        rows.append(
            [
                "Did generalization hit the budgets?",
                "not available",
                missing(ctx.inputs.name(rel), "generalize"),
            ]
        )
    else:
        stages = Budgets.from_json(budgets)  # tolerance_at: tolerance x f_j / f0, any j
        tolerance = stages.tolerance
        hits = [
            (
                m.stage,
                m.cost.flops / m.budget - 1,
                abs(m.cost.flops - m.budget) <= stages.tolerance_at(m.stage),
            )
            for m in scalenet.members
            if m.kind == "generalized"
        ]
        answer = (
            "not available"
            if not hits
            else "**yes**"
            if all(inside for _, _, inside in hits)
            else "**no**"
        )
        rows.append(
            [
                "Did generalization hit the budgets? (generalized members, FLOPs vs budget)",
                answer,
                "; ".join(
                    f"S{j} {100 * gap:+.2f} % ({'within' if inside else 'outside'} the "
                    f"stage's tolerance ±{100 * tolerance / stages.f0:.1f} %)"
                    for j, gap, inside in hits
                )
                or "no generalized member",
            ]
        )
    return rows


def design(ctx: Context) -> list[str]:
    """The opening paragraph on the run's design: what the budget of this machine buys, and why."""
    params = ctx.params
    manifest = ctx.inputs.json_file((Path(ctx.data_dir) / "manifest.json").as_posix())
    sections = [params.get(name) for name in ("prepare", "train_supernet", "retrain", "evaluate")]
    if manifest is None or not all(isinstance(section, dict) for section in sections):
        return []
    train, retrain, evaluate = (mapping(section, "params") for section in sections[1:])
    splits = mapping(manifest["splits"], "splits")
    minival = int(number(mapping(splits["minival"], "minival")["num_samples"]))
    held_out = "test" if "test" in splits else "val"
    test_total = int(number(mapping(splits[held_out], held_out)["num_samples"]))
    test = test_total if evaluate.get("test_images") is None else int(evaluate["test_images"])
    step = int(train["batch_size"]) * int(train.get("processes", 1))
    images = (
        "the whole train split"
        if retrain.get("train_images") is None
        else (f"{integer(retrain['train_images'])} train images")
    )
    stages = ", ".join(f"S{j}" for j in retrain["stages"])
    return [
        "**Design of the run.** "
        f"Each super-supernet trains {integer(train['iterations'])} steps of {step} images "
        f"({integer(int(train['iterations']) * step)} images, `train_supernet`). Paths are "
        f"scored on a mini-val of {integer(minival)} images held out of train "
        f"({minival // max(1, len(manifest['classes']))} a class; the paper holds out 50 a "
        "class): one path's top-1 near "
        f"60 % has a standard error of {100 * (0.24 / minival) ** 0.5:.1f} points there. "
        f"Members {stages} of each family are retrained on {images} for "
        f"{number(retrain['epochs']):g} epoch(s) and evaluated on {integer(test)} of the "
        f"{integer(test_total)} `{held_out}` images, where a top-1 near 90 % has a standard error "
        f"of {100 * (0.09 / test) ** 0.5:.2f} points and two models are compared image by image "
        "(paired intervals). Why these sizes, what they cost on 2 CPU cores and what they "
        'cannot show: docs/running.md, "The default run\'s design"; `configs/` has the '
        "full-scale settings.",
        "",
    ]
