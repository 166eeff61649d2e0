"""Section: super-supernet training (HSS and uniform)."""

from __future__ import annotations

from typing import Any

from _report.fmt import acc, compare, integer, mapping, missing, number, optional, table
from _report.model import _EVAL_KEY, SAMPLER_NAMES, SAMPLERS, Context, ReportError


def section_supernet(ctx: Context) -> list[str]:
    lines: list[str] = []
    evals: dict[str, dict[str, Any]] = {}
    trainings: dict[str, dict[str, Any]] = {}
    curves: dict[str, list[tuple[float, float]]] = {}
    absent: list[str] = []
    for name in SAMPLERS:
        stage = f"train_supernet@{name}"
        evaluation = ctx.inputs.json(f"supernet/{name}/eval.json")
        if evaluation is None:
            absent.append(missing(ctx.inputs.name(f"supernet/{name}/eval.json"), stage))
        else:
            evals[name] = mapping(evaluation, "eval.json")
        training = ctx.inputs.json(f"supernet/{name}/training.json")
        if training is None:
            absent.append(missing(ctx.inputs.name(f"supernet/{name}/training.json"), stage))
        else:
            trainings[name] = mapping(training, "training.json")
        rows = ctx.inputs.jsonl(f"supernet/{name}/metrics.jsonl")
        if rows is None:
            absent.append(missing(ctx.inputs.name(f"supernet/{name}/metrics.jsonl"), stage))
        else:
            curves[name] = [
                (number(row["iteration"], "iteration"), number(row["loss"], "loss"))
                for row in rows
                if isinstance(row, dict) and "iteration" in row and "loss" in row
            ]
    for line in absent:
        lines += [line, ""]
    if evals:
        top1: dict[str, dict[tuple[int, str], float]] = {}
        for name, evaluation in evals.items():
            top1[name] = {}
            for key, value in mapping(evaluation["top1"], "top1").items():
                match = _EVAL_KEY.match(key)
                if match is None:
                    raise ReportError(f"top1: key {key!r} is not stage<j>_largest|smallest")
                top1[name][(int(match["j"]), match["which"])] = number(value, key)
        stages = sorted({j for values in top1.values() for j, _ in values})
        headers = ["scaling stage j"]
        for name in evals:
            label = SAMPLER_NAMES.get(name, name)
            headers += [f"{label}: largest path", f"{label}: smallest path"]
        rows = []
        for j in stages:
            row = [str(j)]
            for name in evals:
                row += [
                    optional(top1[name].get((j, "largest")), acc),
                    optional(top1[name].get((j, "smallest")), acc),
                ]
            rows.append(row)
        images = sorted(
            {str(evaluation.get("minival_images", "?")) for evaluation in evals.values()}
        )
        lines.append(
            f"Mini-val top-1 (%, {'/'.join(images)} images, BN recalibrated per path) of the "
            "largest and the smallest path of each scaling stage, per super-supernet:"
        )
        lines.append("")
        lines += table(headers, rows, "r" * len(headers))
        lines.append("")
        means = {
            name: sum(values.values()) / len(values) for name, values in top1.items() if values
        }
        summary = [f"{SAMPLER_NAMES.get(name, name)} {acc(mean)} %" for name, mean in means.items()]
        sentence = f"Averaged over the evaluated paths, top-1 is {' vs '.join(summary)}"
        if "hss" in means and "uniform" in means:
            sentence += (
                " ("
                + compare(
                    means["hss"],
                    means["uniform"],
                    ("HSS", "uniform"),
                    lambda v: f"{v:.1f} points",
                )
                + ")"
            )
        order = []
        for name, values in top1.items():
            both = [j for j in stages if (j, "largest") in values and (j, "smallest") in values]
            wins = sum(values[(j, "largest")] > values[(j, "smallest")] for j in both)
            order.append(
                f"{wins} of {len(both)} scaling stages for {SAMPLER_NAMES.get(name, name)}"
            )
        lines.append(
            sentence + f"; the largest path beats the smallest one in {' and '.join(order)}."
        )
        lines.append("")
        rows = []
        for name in SAMPLERS:
            if name not in evals and name not in trainings:
                continue
            evaluation = evals.get(name, {})
            training = trainings.get(name, {})
            rows.append(
                [
                    SAMPLER_NAMES[name],
                    optional(training.get("iterations", evaluation.get("iterations")), integer),
                    optional(training.get("batch_size"), integer),
                    optional(training.get("lr"), lambda v: f"{number(v):g}"),
                    str(training.get("width_mode", evaluation.get("width_mode", "–"))),
                    optional(evaluation.get("final_loss"), lambda v: f"{number(v):.3f}"),
                    optional(evaluation.get("train_seconds"), lambda v: f"{number(v):.1f}"),
                    optional(
                        evaluation.get("train_images_per_second"), lambda v: f"{number(v):.1f}"
                    ),
                ]
            )
        lines += table(
            [
                "sampler",
                "iterations",
                "batch",
                "lr",
                "width mode",
                "final loss",
                "train time (s)",
                "images/s",
            ],
            rows,
            "lrrrlrrr",
        )
        losses = {
            name: number(evaluation["final_loss"])
            for name, evaluation in evals.items()
            if "final_loss" in evaluation
        }
        if "hss" in losses and "uniform" in losses:
            lines += [
                "",
                f"Final training loss: HSS {losses['hss']:.3f} vs uniform {losses['uniform']:.3f} ("
                + compare(
                    losses["uniform"],
                    losses["hss"],
                    ("HSS", "uniform"),
                    lambda v: f"{v:.3f}",
                    higher="lower",
                )
                + ").",
            ]
    curves = {name: points for name, points in curves.items() if points}
    if curves:
        from _report.plots import plot_loss

        lines += [
            "",
            ctx.figure(
                "supernet_loss.png",
                "Training loss of the super-supernets",
                lambda path: plot_loss(curves, path),
            ),
        ]
    return lines
