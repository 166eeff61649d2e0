"""Section: retrained models on the held-out split, with paired comparisons."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from _stats import PairedDifference, accuracy_interval, paired_difference

from _report.fmt import (
    integer,
    mapping,
    mflops,
    missing,
    mparams,
    number,
    optional,
    sequence,
    table,
)
from _report.model import BASELINES, FAMILY_NAMES, FAMILY_ORDER, Context, ReportError


@dataclass(frozen=True)
class Evaluated:
    """One trained and evaluated model of outputs/evaluate/metrics.json."""

    key: str
    family: str
    stage: int
    flops: float
    params: float
    top1: float  # percent
    raw: dict[str, Any]


def _top1_interval(e: Evaluated) -> str:
    images = e.raw.get("test_images")
    if images is None:
        return "–"
    total = int(number(images))
    low, high = accuracy_interval(round(e.top1 * total / 100), total)
    return f"[{low:.2f}, {high:.2f}]"


@dataclass(frozen=True)
class Comparison:
    """Model ``first`` against ``second`` on the same test images."""

    kind: str  # "family" (ScaleNet vs a baseline at one stage) or "scaling" (S_max vs S0)
    first: Evaluated
    second: Evaluated
    result: PairedDifference


def _label(e: Evaluated) -> str:
    return f"{FAMILY_NAMES.get(e.family, e.family)} S{e.stage}"


def evaluated_models(ctx: Context) -> list[Evaluated] | None:
    """The models of evaluate/metrics.json, or None when it is missing."""
    metrics = ctx.inputs.json("evaluate/metrics.json")
    if metrics is None:
        return None
    return [
        Evaluated(
            key=key,
            family=str(model["family"]),
            stage=int(model["stage"]),
            flops=number(model["flops"], f"{key}.flops"),
            params=number(model["params"], f"{key}.params"),
            top1=100 * number(model["top1"], f"{key}.top1"),
            raw=model,
        )
        for key, value in mapping(metrics["models"], "models").items()
        for model in (mapping(value, key),)
    ]


def paired_comparisons(ctx: Context, entries: list[Evaluated]) -> list[Comparison] | None:
    """ScaleNet vs each baseline per stage and S_max vs S0 per family, on the same images.

    None when evaluate/predictions.json is missing (a run made before predictions were kept).
    Computed once per report (2,000 bootstrap resamples per pair) and kept on ``ctx``.
    """
    if ctx.comparisons is not None:
        return ctx.comparisons
    data = ctx.inputs.json("evaluate/predictions.json")
    if data is None:
        return None
    labels = np.asarray(sequence(data["labels"], "labels"))
    predictions = mapping(data["models"], "models")
    correct: dict[str, np.ndarray] = {}
    for e in entries:
        if e.key not in predictions:
            raise ReportError(f"no predictions of {e.key}")
        predicted = np.asarray(sequence(predictions[e.key], e.key))
        if predicted.shape != labels.shape:
            raise ReportError(f"{e.key}: {predicted.size} predictions for {labels.size} labels")
        correct[e.key] = predicted == labels
    by_family: dict[str, dict[int, Evaluated]] = {}
    for e in entries:
        by_family.setdefault(e.family, {})[e.stage] = e
    pairs: list[tuple[str, Evaluated, Evaluated]] = []
    ours = by_family.get("scalenet", {})
    for stage in sorted(ours):
        for baseline in BASELINES:
            if stage in by_family.get(baseline, {}):
                pairs.append(("family", ours[stage], by_family[baseline][stage]))
    for family in [f for f in FAMILY_ORDER if f in by_family]:
        stages = sorted(by_family[family])
        if len(stages) >= 2:
            pairs.append(("scaling", by_family[family][stages[-1]], by_family[family][stages[0]]))
    ctx.comparisons = [
        Comparison(kind, a, b, paired_difference(correct[a.key], correct[b.key], seed=index))
        for index, (kind, a, b) in enumerate(pairs)
    ]
    return ctx.comparisons


def comparison_lines(comparisons: list[Comparison]) -> list[str]:
    """The table of paired differences and the sentences that read it."""
    if not comparisons:
        return []
    images = comparisons[0].result.images
    rows = [
        [
            _label(c.first),
            _label(c.second),
            f"{c.first.top1:.2f}",
            f"{c.second.top1:.2f}",
            c.result.interval(),
            f"{c.result.only_a} / {c.result.only_b}",
            f"{c.result.p_value:.2g}",
            c.result.verdict(_label(c.first), _label(c.second)),
        ]
        for c in comparisons
    ]
    lines = [
        f"Paired comparisons on the same {images:,} test images: the difference of top-1 "
        "(points) with its 95 % bootstrap interval over the images (2,000 resamples), the images "
        "only one of the two gets right, and McNemar's exact p-value; a difference is "
        "significant when its interval excludes 0 (`pipelines/_stats.py`):",
        "",
        *table(
            [
                "model A",
                "model B",
                "A top-1",
                "B top-1",
                "A - B [95 % CI]",
                "only A / only B right",
                "McNemar p",
                "verdict",
            ],
            rows,
            "llrrrrrl",
        ),
    ]
    family = [c for c in comparisons if c.kind == "family"]
    if family:
        better = [c for c in family if c.result.significant and c.result.difference > 0]
        worse = [c for c in family if c.result.significant and c.result.difference < 0]
        level = len(family) - len(better) - len(worse)
        lines += [
            "",
            f"ScaleNet's family against the baselines, {len(family)} paired comparisons: "
            f"significantly better in {len(better)}"
            + (f" ({', '.join(_pair(c) for c in better)})" if better else "")
            + f", significantly worse in {len(worse)}"
            + (f" ({', '.join(_pair(c) for c in worse)})" if worse else "")
            + f", no significant difference in {level}.",
        ]
    scaling = [c for c in comparisons if c.kind == "scaling"]
    if scaling:
        parts = [
            f"{FAMILY_NAMES.get(c.first.family, c.first.family)} S{c.first.stage} vs "
            f"S{c.second.stage} {c.result.interval()} "
            f"({_direction(c.result)})"
            for c in scaling
        ]
        lines += ["", "Does accuracy rise with the scaling stage? " + "; ".join(parts) + "."]
    return lines


def _direction(result: PairedDifference) -> str:
    if not result.significant:
        return "not significant"
    return "significantly higher" if result.difference > 0 else "significantly lower"


def _pair(c: Comparison) -> str:
    return f"S{c.first.stage} vs {FAMILY_NAMES.get(c.second.family, c.second.family)}"


def section_evaluate(ctx: Context) -> list[str]:
    entries = evaluated_models(ctx)
    if entries is None:
        return [missing(ctx.inputs.name("evaluate/metrics.json"), "evaluate")]
    families = sorted(
        {e.family for e in entries},
        key=lambda f: (FAMILY_ORDER.index(f) if f in FAMILY_ORDER else len(FAMILY_ORDER), f),
    )
    entries.sort(key=lambda e: (families.index(e.family), e.stage, e.key))
    rows = [
        [
            FAMILY_NAMES.get(e.family, e.family),
            f"S{e.stage}",
            mflops(e.flops),
            optional(e.raw.get("budget"), mflops),
            mparams(e.params),
            optional(e.raw.get("resolution"), lambda v: str(round(number(v)))),
            f"{e.top1:.2f}",
            _top1_interval(e),
            optional(e.raw.get("top5"), lambda v: f"{100 * number(v):.2f}"),
            optional(e.raw.get("latency_ms"), lambda v: f"{number(v):.2f}"),
            optional(e.raw.get("epochs"), lambda v: f"{number(v):g}"),
            optional(e.raw.get("train_images"), integer),
        ]
        for e in entries
    ]
    held_out = sorted(
        {
            f"{integer(e.raw['test_images'])} images of the `{e.raw['test_split']}` split"
            for e in entries
            if "test_images" in e.raw and "test_split" in e.raw
        }
    )
    where = held_out[0] if len(held_out) == 1 else "the held-out split"
    lines = [
        f"Every family member retrained from scratch and evaluated on {where} "
        f"(`{ctx.inputs.name('evaluate/metrics.json')}`; top-1 and top-5 in %, FLOPs counted on "
        "the network, latency of a batch-1 forward on one CPU thread):",
        "",
        *table(
            [
                "family",
                "model",
                "MFLOPs",
                "budget (MFLOPs)",
                "params (M)",
                "resolution (px)",
                "top-1 (%)",
                "95 % CI",
                "top-5 (%)",
                "latency (ms)",
                "epochs",
                "train images",
            ],
            rows,
            "llrrrrrrrrrr",
        ),
    ]
    comparisons = paired_comparisons(ctx, entries)
    if comparisons is None:
        lines += [
            "",
            missing(ctx.inputs.name("evaluate/predictions.json"), "evaluate")
            + " (per-image predictions: no paired comparison)",
        ]
    else:
        lines += ["", *comparison_lines(comparisons)]
    by_family = {f: {e.stage: e for e in entries if e.family == f} for f in families}
    if "scalenet" in by_family:
        ours = by_family["scalenet"]
        sentences = []
        for baseline in families:
            theirs = by_family[baseline]
            common = sorted(set(ours) & set(theirs))
            if baseline == "scalenet" or not common:
                continue
            gaps = [ours[j].top1 - theirs[j].top1 for j in common]
            wins = sum(gap > 0 for gap in gaps)
            ratio = sum(ours[j].flops / theirs[j].flops for j in common) / len(common)
            sentences.append(
                f"against {FAMILY_NAMES.get(baseline, baseline)} it is more accurate at {wins} of "
                f"{len(common)} scaling stages (mean top-1 difference "
                f"{sum(gaps) / len(gaps):+.2f} points, at {ratio:.2f}x its FLOPs on average)"
            )
        if sentences:
            lines += ["", "ScaleNet's family: " + "; ".join(sentences) + "."]
    epochs = sorted({number(e.raw["epochs"]) for e in entries if "epochs" in e.raw})
    if epochs:
        lines += [
            "",
            f"Every model was trained for {', '.join(f'{v:g}' for v in epochs)} epoch(s) "
            "(supplementary A: 300 on ImageNet): a schedule this short ranks how fast a network "
            "learns as much as how well it ends up.",
        ]
    from _report.plots import plot_accuracy

    by_flops = {
        f: [(e.stage, e.flops / 1e6, e.top1) for e in entries if e.family == f] for f in families
    }
    by_params = {
        f: [(e.stage, e.params / 1e6, e.top1) for e in entries if e.family == f] for f in families
    }
    lines += [
        "",
        ctx.figure(
            "accuracy_flops.png",
            "Top-1 accuracy vs FLOPs",
            lambda path: plot_accuracy(
                by_flops,
                path,
                xlabel="MFLOPs (multiply-accumulates, log scale)",
                title="Top-1 vs FLOPs",
            ),
        ),
        "",
        ctx.figure(
            "accuracy_params.png",
            "Top-1 accuracy vs parameters",
            lambda path: plot_accuracy(
                by_params, path, xlabel="parameters (M, log scale)", title="Top-1 vs parameters"
            ),
        ),
    ]
    return lines
