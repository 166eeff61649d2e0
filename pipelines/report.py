"""DVC stage `report`: one markdown report (plus PNGs) of the pipeline's outputs.

Reads params.yaml, the data manifest and the files the other stages write under --outputs, and
writes --out (markdown) and its figures into --figures (PNGs linked relatively from the
markdown). Every number in the report is read from those files; the sentences under the tables
are computed from them. A section whose input is missing says so in one line (so the report
works on partial runs); a malformed input fails with the file's name (exit 2). The output is
deterministic: the same inputs give byte-identical files.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _common import fail, read_params
from _stats import PairedDifference, accuracy_interval, paired_difference

from scalenet.space.files import read_jsonl, write_text

FIGURES = (
    "sampling.png",
    "supernet_loss.png",
    "base_arch.png",
    "scaling_fit.png",
    "accuracy_flops.png",
    "accuracy_params.png",
)
SAMPLERS = ("hss", "uniform")
SAMPLER_NAMES = {"hss": "HSS", "uniform": "uniform"}
FAMILY_ORDER = ("scalenet", "compound", "random")
FAMILY_NAMES = {"scalenet": "ScaleNet", "compound": "compound", "random": "random"}
BASELINES = ("compound", "random")
FAMILY_FILES = ("family/scalenet/family.json", "family/members/family.json")
COEFFICIENT_NAMES = {"kendall": "Kendall τ", "spearman": "Spearman ρ", "pearson": "Pearson r"}
_EVAL_KEY = re.compile(r"^stage(?P<j>\d+)_(?P<which>largest|smallest)$")


class ReportError(Exception):
    """An input holds something the report cannot read (the message names the problem)."""


class Tracker:
    """Which input file a section touched last: an error in a section is blamed on it."""

    def __init__(self) -> None:
        self.last: str | None = None


class Document(dict[str, Any]):
    """A JSON object that remembers its file: indexing marks the file as the one in use, and a
    missing key is a ReportError naming it (not a bare KeyError)."""

    def __init__(self, data: dict[str, Any], source: str, tracker: Tracker) -> None:
        super().__init__(data)
        self.source = source
        self.tracker = tracker

    def __getitem__(self, key: str) -> Any:
        self.tracker.last = self.source
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.tracker.last = self.source
        return super().get(key, default)

    def __missing__(self, key: str) -> Any:
        raise ReportError(f"missing key {key!r}")


# ---------------------------------------------------------------------------------------------
# Reading inputs


class Inputs:
    """The pipeline outputs, read once each: a missing file is None, a malformed one fails."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._cache: dict[str, Any] = {}
        self.read: list[str] = []
        self.tracker = Tracker()

    def _loads(self, text: str, shown: str) -> Any:
        return json.loads(text, object_hook=lambda data: Document(data, shown, self.tracker))

    def name(self, rel: str) -> str:
        """The file as shown in the report and in errors (``<outputs>/<rel>``)."""
        return (Path(self.root) / rel).as_posix()

    def json(self, rel: str) -> Any:
        """Parsed JSON of ``<outputs>/<rel>``, or None when the file is missing."""
        return self.json_file(self.name(rel))

    def json_file(self, shown: str) -> Any:
        """Parsed JSON of the file ``shown``, or None when it is missing."""
        self.read.append(shown)
        if shown not in self._cache:
            file = Path(shown)
            value = None
            if file.is_file():
                try:
                    value = self._loads(file.read_text(encoding="utf-8"), shown)
                except (json.JSONDecodeError, UnicodeDecodeError) as error:
                    fail(f"{shown}: not valid JSON ({error})")
            self._cache[shown] = value
        return self._cache[shown]

    def jsonl(self, rel: str) -> list[Any] | None:
        """Parsed JSON lines of ``<outputs>/<rel>``, or None when the file is missing."""
        shown = self.name(rel)
        self.read.append(shown)
        if shown not in self._cache:
            rows: list[Any] | None = None
            if Path(shown).is_file():
                try:
                    rows = read_jsonl(
                        shown, strict=True, loads=lambda line: self._loads(line, shown)
                    )
                except ValueError as error:
                    fail(str(error))
            self._cache[shown] = rows
        return self._cache[shown]

    def cost_files(self) -> list[str]:
        """Relative names of the per-stage cost files, sorted."""
        folder = Path(self.root) / "cost"
        if not folder.is_dir():
            return []
        return sorted(f"cost/{file.name}" for file in folder.glob("*.json") if file.is_file())


@dataclass
class Context:
    """What every section needs: the inputs, where figures go and how the markdown links them."""

    inputs: Inputs
    params: dict[str, Any]
    params_file: str
    data_dir: str
    figures: Path
    link: str
    commit: str | None
    written: list[str] = field(default_factory=list)
    #: Paired comparisons, computed once (the evaluation section and the headline both use them).
    comparisons: list[Any] | None = None

    def figure(self, name: str, alt: str, draw: Callable[[Path], Any]) -> str:
        """Draw figure ``name`` with ``draw(path)`` and return its markdown image line."""
        draw(self.figures / name)
        self.written.append(name)
        return f"![{alt}]({self.link}/{name})"


def missing(shown: str, stage: str) -> str:
    """The one line a section (or part of one) shows when its input file is absent."""
    return f"*Not available: `{shown}` missing (run `dvc repro {stage}`).*"


def number(value: Any, what: str = "value") -> float:
    """``value`` as a float; anything else (bool, str, None) is a ReportError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ReportError(f"{what} must be a number, got {value!r}")
    return float(value)


def mapping(value: Any, what: str) -> dict[str, Any]:
    """``value`` if it is a JSON object, else a ReportError."""
    if not isinstance(value, dict):
        raise ReportError(f"{what} must be an object, got {type(value).__name__}")
    return value


def sequence(value: Any, what: str) -> list[Any]:
    """``value`` if it is a JSON array, else a ReportError."""
    if not isinstance(value, list):
        raise ReportError(f"{what} must be an array, got {type(value).__name__}")
    return value


def stage_items(value: Any, what: str) -> list[tuple[int, Any]]:
    """A ``{"0": x, "1": y}`` object as [(0, x), (1, y)], sorted by stage."""
    try:
        return sorted((int(key), item) for key, item in mapping(value, what).items())
    except ValueError:
        raise ReportError(f"{what}: keys must be scaling stages 0, 1, ...") from None


# ---------------------------------------------------------------------------------------------
# Formatting (fixed, so re-runs are byte-identical)


def integer(value: Any) -> str:
    """``4,000,000``."""
    return f"{round(number(value)):,}"


def mflops(value: Any) -> str:
    """FLOPs in millions, one decimal: ``4.0``."""
    return f"{number(value) / 1e6:,.1f}"


def mparams(value: Any) -> str:
    """Parameters in millions, three decimals: ``0.183``."""
    return f"{number(value) / 1e6:,.3f}"


def percent(share: Any) -> str:
    """A share in [0, 1] as a percentage, one decimal: ``37.3 %``."""
    return f"{100 * number(share):.1f} %"


def acc(value: Any) -> str:
    """An accuracy already in percent, one decimal: ``56.0``."""
    return f"{number(value):.1f}"


def coef(value: Any) -> str:
    """A coefficient or error, three decimals."""
    return f"{number(value):.3f}"


def optional(value: Any, render: Callable[[Any], str]) -> str:
    """``render(value)``, or an en dash for None."""
    return "–" if value is None else render(value)


def plain(value: Any) -> str:
    """A params.yaml value as YAML would spell it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> list[str]:
    """A markdown table; ``align`` has one letter per column (``l`` or ``r``)."""
    if len(align) != len(headers):
        raise ValueError(f"align {align!r} must have one letter per column ({len(headers)})")
    rule = ["---:" if letter == "r" else "---" for letter in align]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def compare(
    first: float,
    second: float,
    names: tuple[str, str],
    render: Callable[[float], str],
    *,
    higher: str = "higher",
) -> str:
    """``"HSS higher by 2.1"`` / ``"uniform higher by 0.3"`` / ``"level"``, from the numbers."""
    difference = first - second
    if render(abs(difference)) == render(0.0):
        return "level"
    winner = names[0] if difference > 0 else names[1]
    return f"{winner} {higher} by {render(abs(difference))}"


# ---------------------------------------------------------------------------------------------
# Sections


def section_summary(ctx: Context) -> list[str]:
    lines: list[str] = []
    params = ctx.params
    space = params.get("space")
    budgets = ctx.inputs.json("budgets.json")
    rows = [["search space", f"`{space}`" if space else "not available"]]
    if budgets is not None:
        rows.append(
            [
                "budgets",
                f"f0 = {integer(budgets['f0'])} FLOPs, scaling stages 0-{budgets['max_stage']}",
            ]
        )
    manifest_name = (Path(ctx.data_dir) / "manifest.json").as_posix()
    manifest = ctx.inputs.json_file(manifest_name)
    if manifest is None:
        rows.append(["data", missing(manifest_name, "prepare")])
    else:
        splits = mapping(manifest["splits"], f"{manifest_name}: splits")
        order = ("train", "minival", "val", "test")
        sizes = ", ".join(
            f"{name} {integer(mapping(splits[name], name)['num_samples'])}"
            for name in sorted(
                splits, key=lambda n: (order.index(n) if n in order else len(order), n)
            )
        )
        source = mapping(manifest.get("source", {}), "source")
        rows.append(
            [
                "data",
                f"`{Path(ctx.data_dir).as_posix()}`: {len(manifest['classes'])} classes, "
                f"{sizes} images ({manifest.get('image_format', '?')} format; source "
                f"{source.get('format', '?')} at `{source.get('path', '?')}`)",
            ]
        )
    rows.append(["git commit", f"`{ctx.commit}`" if ctx.commit else "not available"])
    rows.append(["parameters", f"`{ctx.params_file}`"])
    lines += table(["item", "value"], rows, "ll")
    lines.append("")
    sections = [(name, value) for name, value in params.items() if isinstance(value, dict)]
    lines.append(
        f"Parameters of the {len(sections)} stage sections of `{ctx.params_file}` "
        "(the shared `space` key is above):"
    )
    lines.append("")
    rows = [
        [f"`{name}`", "; ".join(f"{key} = {plain(item)}" for key, item in value.items())]
        for name, value in sections
    ]
    lines += table(["section", "parameters"], rows, "ll")
    return lines


def section_budgets(ctx: Context) -> list[str]:
    budgets = ctx.inputs.json("budgets.json")
    if budgets is None:
        return [missing(ctx.inputs.name("budgets.json"), "budgets")]
    values = stage_items(budgets["budgets"], "budgets")
    tolerances = dict(stage_items(budgets["tolerances"], "tolerances"))
    rows = []
    for j, budget in values:
        if j not in tolerances:
            raise ReportError(f"tolerances: no entry for scaling stage {j}")
        tolerance = number(tolerances[j], f"tolerances.{j}")
        rows.append(
            [
                str(j),
                integer(budget),
                mflops(budget),
                integer(tolerance),
                f"{mflops(number(budget) - tolerance)} – {mflops(number(budget) + tolerance)}",
            ]
        )
    lines = table(
        [
            "scaling stage j",
            "budget f_j (FLOPs)",
            "f_j (MFLOPs)",
            "tolerance ± (FLOPs)",
            "window (MFLOPs)",
        ],
        rows,
        "rrrrr",
    )
    ratios = sorted(
        {
            f"{number(values[i + 1][1]) / number(values[i][1]):g}"
            for i in range(len(values) - 1)
            if number(values[i][1])
        }
    )
    growth = (
        f"each scaling stage multiplies the budget by {ratios[0]}"
        if len(ratios) == 1
        else f"the budget grows by factors {', '.join(ratios)}"
    )
    lines += [
        "",
        f"f0 = {integer(budgets['f0'])} FLOPs is the mean FLOPs of {integer(budgets['samples'])} "
        f"random base models ({integer(budgets['mean_flops'])}, seed {budgets['seed']}) rounded "
        f"to a multiple of {integer(budgets['unit'])}; {growth}, up to "
        f"f_{values[-1][0]} = {mflops(values[-1][1])} MFLOPs.",
    ]
    return lines


def section_sampling(ctx: Context) -> list[str]:
    lines: list[str] = []
    stats = ctx.inputs.json("sampling/stats.json")
    histogram = ctx.inputs.json("sampling/histogram.json")
    if stats is None:
        lines.append(missing(ctx.inputs.name("sampling/stats.json"), "sampling"))
    else:
        samplers = mapping(stats["samplers"], "samplers")
        names = [name for name in SAMPLERS if name in samplers] + sorted(
            name for name in samplers if name not in SAMPLERS
        )
        budgets = stage_items(stats["budgets"], "budgets")
        headers = ["j", "f_j (MFLOPs)"]
        for name in names:
            label = SAMPLER_NAMES.get(name, name)
            headers += [f"{label}: in stage", f"{label}: median / f_j", f"{label}: in window"]
        rows = []
        for j, budget in budgets:
            row = [str(j), mflops(budget)]
            for name in names:
                sampler = mapping(samplers[name], name)
                stage = mapping(sampler["stages"], "stages").get(str(j), {})
                row += [
                    percent(sampler["stage_share"][str(j)]),
                    optional(stage.get("median_ratio"), lambda v: f"{number(v):.2f}"),
                    percent(sampler["window_share"][str(j)]),
                ]
            rows.append(row)
        total = ["all", ""]
        for name in names:
            sampler = samplers[name]
            total += [
                percent(1.0 - number(sampler["no_stage_share"])),
                "",
                percent(sampler["window_share_total"]),
            ]
        rows.append(total)
        lines += table(headers, rows, "r" * len(headers))
        lines.append("")
        lines.append(
            "*in stage*: share of the sampler's paths drawn for (HSS) or lying in the grid of "
            "(uniform) scaling stage j; *median / f_j*: median FLOPs of those paths over the "
            "budget; *in window*: share of all paths with FLOPs in f_j ± tol_j."
        )
        if "hss" in samplers and "uniform" in samplers:
            hss, uniform = samplers["hss"], samplers["uniform"]
            hss_total = number(hss["window_share_total"])
            uniform_total = number(uniform["window_share_total"])
            relation = compare(
                100 * hss_total,
                100 * uniform_total,
                ("HSS", "uniform"),
                lambda v: f"{v:.1f} points",
            )
            hss_low = min(stage_items(hss["window_share"], "window_share"), key=lambda i: i[1])
            uniform_low = min(
                stage_items(uniform["window_share"], "window_share"), key=lambda i: i[1]
            )
            lines += [
                "",
                f"Out of {integer(hss['paths'])} paths each, HSS puts {percent(hss_total)} inside "
                f"a budget window vs {percent(uniform_total)} for uniform sampling ({relation}). "
                f"The least-covered window is f{hss_low[0]} with {percent(hss_low[1])} of the "
                f"HSS paths, against f{uniform_low[0]} with {percent(uniform_low[1])} of the "
                f"uniform paths; {percent(uniform['no_stage_share'])} of the uniform paths lie in "
                f"no scaling stage's grid (HSS: {percent(hss['no_stage_share'])}).",
            ]
    lines.append("")
    if histogram is None:
        lines.append(missing(ctx.inputs.name("sampling/histogram.json"), "sampling"))
        return lines
    edges = [number(value, "bin_edges") for value in sequence(histogram["bin_edges"], "bin_edges")]
    hist_samplers = mapping(histogram["samplers"], "samplers")
    counts = {
        name: [number(c, "counts") for c in sequence(mapping(value, name)["counts"], "counts")]
        for name, value in hist_samplers.items()
    }
    for name, bins in counts.items():
        if len(bins) + 1 != len(edges):
            raise ReportError(f"{name}: {len(bins)} counts for {len(edges)} bin edges")
    budget_values = [
        number(value, "budgets") for value in sequence(histogram["budgets"], "budgets")
    ]
    tolerances = dict(stage_items(stats["tolerances"], "tolerances")) if stats is not None else {}
    windows = [(value, number(tolerances.get(j, 0.0))) for j, value in enumerate(budget_values)]
    shares = (
        {
            name: [number(v) for _, v in stage_items(value["window_share"], "window_share")]
            for name, value in mapping(stats["samplers"], "samplers").items()
        }
        if stats is not None
        else {}
    )
    from _report_plots import plot_sampling

    paths = ", ".join(
        f"{SAMPLER_NAMES.get(name, name)} {integer(sum(row))}"
        for name, row in sorted(counts.items())
    )
    lines.append(
        ctx.figure(
            "sampling.png",
            "FLOPs distribution of HSS and uniform sampling",
            lambda path: plot_sampling(
                edges,
                counts,
                windows,
                shares,
                path,
                title=f"{histogram.get('space', '')}: sampled paths ({paths})",
            ),
        )
    )
    return lines


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
        from _report_plots import plot_loss

        lines += [
            "",
            ctx.figure(
                "supernet_loss.png",
                "Training loss of the super-supernets",
                lambda path: plot_loss(curves, path),
            ),
        ]
    return lines


def section_rank(ctx: Context) -> list[str]:
    metrics = ctx.inputs.json("rank/metrics.json")
    if metrics is None:
        return [missing(ctx.inputs.name("rank/metrics.json"), "rank")]
    samplers = mapping(metrics, "metrics")
    names = [name for name in SAMPLERS if name in samplers] + sorted(
        name for name in samplers if name not in SAMPLERS
    )
    keys = sorted(
        {
            key
            for name in names
            for key in mapping(samplers[name], name)
            if key not in ("count", "notes")
        },
        key=lambda key: (
            list(COEFFICIENT_NAMES).index(key) if key in COEFFICIENT_NAMES else 99,
            key,
        ),
    )
    rows = [
        [COEFFICIENT_NAMES.get(key, key)]
        + [optional(samplers[name].get(key), coef) for name in names]
        for key in keys
    ]
    rows.append(["paths (Q)"] + [optional(samplers[name].get("count"), integer) for name in names])
    lines = [
        "Correlation between the mini-val top-1 of Q paths on each super-supernet and their "
        "FLOPs (supplementary B: a well-ranked super-supernet puts bigger paths higher):",
        "",
        *table(
            ["coefficient"] + [SAMPLER_NAMES.get(name, name) for name in names],
            rows,
            "l" + "r" * len(names),
        ),
    ]
    # The rank stage writes an undefined coefficient (a constant accuracy vector) as null, with
    # the reason in the sampler's notes; "–" in the table.
    for name in names:
        notes = mapping(samplers[name].get("notes", {}), f"{name} notes")
        for key, reason in sorted(notes.items()):
            label = COEFFICIENT_NAMES.get(key, key)
            lines += ["", f"{SAMPLER_NAMES.get(name, name)}: {label} undefined ({reason})."]
    if "hss" in samplers and "uniform" in samplers:
        hss, uniform = samplers["hss"], samplers["uniform"]
        both = [k for k in keys if hss.get(k) is not None and uniform.get(k) is not None]
        if not both:
            return [*lines, "", "No coefficient is defined for both samplers: no comparison."]
        key = "kendall" if "kendall" in both else both[0]
        label = COEFFICIENT_NAMES.get(key, key)
        agree = sum(number(hss[k]) > number(uniform[k]) for k in both)
        verdict = compare(
            number(hss[key]), number(uniform[key]), ("HSS", "uniform"), coef, higher="higher"
        )
        lines += [
            "",
            f"HSS ranks the paths with {label} {coef(hss[key])} vs {coef(uniform[key])} for "
            f"uniform ({verdict}); HSS has the higher value on {agree} of "
            f"{len(both)} coefficients.",
        ]
    return lines + rank_interval_lines(ctx, keys)


def _interval(value: Any) -> str:
    item = mapping(value, "interval")
    if item.get("low") is None or item.get("high") is None:
        return "–"
    return f"[{number(item['low']):+.3f}, {number(item['high']):+.3f}]"


def _known(item: Any) -> tuple[float, float, float] | None:
    """(value, low, high) of an interval of rank/intervals.json, or None when undefined."""
    if item is None or item.get("value") is None or item.get("low") is None:
        return None
    return number(item["value"]), number(item["low"]), number(item["high"])


def rank_difference(ctx: Context, key: str = "kendall") -> tuple[float, float, float] | None:
    """(value, low, high) of the paired HSS - uniform difference of ``key``, when known."""
    intervals = ctx.inputs.json("rank/intervals.json")
    if intervals is None or intervals.get("difference") is None:
        return None
    return _known(mapping(mapping(intervals["difference"], "difference")[key], key))


def _significance(low: float, high: float, first: str, second: str) -> str:
    if low > 0:
        return f"{first} significantly higher"
    if high < 0:
        return f"{second} significantly higher"
    return "not significant (the interval includes 0)"


def standalone_lines(ctx: Context, agreement: Any) -> list[str]:
    """Kendall tau-b of each super-supernet vs the same paths trained stand-alone."""
    if agreement is None:
        return ["", missing(ctx.inputs.name("standalone/paths.csv"), "standalone")]
    samplers = mapping(agreement["samplers"], "standalone samplers")
    rows = [
        [
            SAMPLER_NAMES.get(name, name),
            optional(mapping(value, name).get("value"), lambda v: f"{number(v):+.3f}"),
            _interval(value),
        ]
        for name, value in samplers.items()
    ]
    count = integer(agreement["paths"])
    lines = [
        "",
        f"Against the ranking researchers trust more: Kendall's tau-b between each "
        f"super-supernet's mini-val top-1 of {count} of these paths and the top-1 of the same "
        "paths trained on their own (`standalone` stage: the retrain recipe, shortened; "
        f"`{ctx.inputs.name('standalone/paths.csv')}`):",
        "",
        *table(["super-supernet", "Kendall tau-b", "95 % CI"], rows, "lrr"),
    ]
    difference = agreement.get("difference")
    found = _known(difference)
    if found is not None:
        first, second = (SAMPLER_NAMES.get(n, n) for n in sequence(difference["of"], "of"))
        value, low, high = found
        lines += [
            "",
            f"{first} - {second}: {value:+.3f} [{low:+.3f}, {high:+.3f}]: "
            f"{_significance(low, high, first, second)}.",
        ]
    return lines


def standalone_difference(ctx: Context) -> tuple[float, float, float] | None:
    """(value, low, high) of HSS - uniform in Kendall tau-b vs stand-alone, when known."""
    intervals = ctx.inputs.json("rank/intervals.json")
    if intervals is None or intervals.get("standalone") is None:
        return None
    return _known(mapping(intervals["standalone"], "standalone").get("difference"))


def rank_interval_lines(ctx: Context, keys: list[str]) -> list[str]:
    """The bootstrap intervals of the rank stage (rank/intervals.json), when present."""
    intervals = ctx.inputs.json("rank/intervals.json")
    if intervals is None:
        return ["", missing(ctx.inputs.name("rank/intervals.json"), "rank")]
    samplers = mapping(intervals["samplers"], "samplers")
    names = [name for name in SAMPLERS if name in samplers] + sorted(
        name for name in samplers if name not in SAMPLERS
    )
    difference = intervals.get("difference")
    headers = ["coefficient"] + [f"{SAMPLER_NAMES.get(n, n)} 95 % CI" for n in names]
    if difference is not None:
        first, second = (SAMPLER_NAMES.get(n, n) for n in sequence(difference["of"], "of"))
        headers.append(f"{first} - {second} [95 % CI]")
    rows = []
    for key in keys:
        row = [COEFFICIENT_NAMES.get(key, key)]
        row += [_interval(mapping(samplers[n], n)[key]) for n in names]
        if difference is not None:
            item = mapping(difference[key], key)
            shown = "–" if item.get("value") is None else f"{number(item['value']):+.3f} "
            row.append(shown + _interval(item) if item.get("value") is not None else shown)
        rows.append(row)
    some = mapping(samplers[names[0]], names[0])[keys[0]] if names and keys else {}
    lines = [
        "",
        f"Percentile bootstrap intervals over the Q paths ({integer(some.get('resamples', 0))} "
        "resamples; `" + ctx.inputs.name("rank/intervals.json") + "`), and of the paired "
        "difference: each resample draws one set of paths for both super-supernets:",
        "",
        *table(headers, rows, "l" + "r" * (len(headers) - 1)),
    ]
    lines += standalone_lines(ctx, intervals.get("standalone"))
    found = rank_difference(ctx)
    if found is not None:
        value, low, high = found
        if low > 0:
            verdict = "HSS ranks significantly better than uniform"
        elif high < 0:
            verdict = "uniform ranks significantly better than HSS"
        else:
            verdict = "the difference is not significant: the interval includes 0"
        lines += [
            "",
            f"Kendall τ (eqs. 4-6), HSS - uniform: {value:+.3f} [{low:+.3f}, {high:+.3f}]: "
            f"{verdict}.",
        ]
    return lines


def _strategy_cell(strategy: dict[str, Any]) -> str:
    return f"{acc(strategy['accuracy'])} % @ {mflops(strategy['flops'])} M"


def section_search(ctx: Context) -> list[str]:
    lines: list[str] = []
    log = ctx.inputs.jsonl("search/log.jsonl")
    result = ctx.inputs.json("search/result.json")
    metrics = ctx.inputs.json("search/metrics.json")
    budgets = ctx.inputs.json("budgets.json")
    if log is None:
        lines += [missing(ctx.inputs.name("search/log.jsonl"), "search"), ""]
    else:
        steps = [mapping(step, "log step") for step in log]
        stages = sorted(
            {
                int(mapping(s, "strategy")["stage"])
                for step in steps
                for s in sequence(step.get("strategies", []), "strategies")
            }
        )
        headers = ["step", "iteration", "evaluations (step)", "evaluations (total)", "cache hits"]
        headers += [f"best S{j}: top-1 @ MFLOPs" for j in stages]
        rows = []
        for step in steps:
            best = {int(s["stage"]): s for s in step.get("strategies", [])}
            rows.append(
                [
                    str(step.get("step", "?")),
                    str(step.get("iteration", "?")),
                    optional(step.get("evaluations_step"), integer),
                    optional(step.get("evaluations"), integer),
                    optional(step.get("cache_hits"), integer),
                ]
                + [_strategy_cell(best[j]) if j in best else "–" for j in stages]
            )
        lines += [
            f"MCEA log (`{ctx.inputs.name('search/log.jsonl')}`), one row per step; each cell is "
            "the best strategy of a scaling stage (mini-val top-1 on the HSS super-supernet):",
            "",
            *table(headers, rows, "lrrrr" + "r" * len(stages)),
        ]
        means = [
            (str(step.get("step", "?")), [number(s["accuracy"]) for s in step["strategies"]])
            for step in steps
            if step.get("strategies")
        ]
        if len(means) >= 2:
            first = sum(means[0][1]) / len(means[0][1])
            last = sum(means[-1][1]) / len(means[-1][1])
            change = f"{abs(last - first):.1f}"
            trend = (
                "unchanged"
                if change == f"{0.0:.1f}"
                else f"{'up' if last > first else 'down'} {change} points"
            )
            lines += [
                "",
                f"Mean top-1 of the best strategies went from {acc(first)} % ({means[0][0]}) to "
                f"{acc(last)} % ({means[-1][0]}): {trend}.",
            ]
        lines.append("")
    if result is None:
        lines += [missing(ctx.inputs.name("search/result.json"), "search"), ""]
    else:
        budget_of = dict(stage_items(budgets["budgets"], "budgets")) if budgets is not None else {}
        rows = []
        for strategy in sequence(result["strategies"], "strategies"):
            j = int(strategy["stage"])
            rows.append(
                [
                    f"S{j}",
                    f"{number(strategy['depth']):.2f}",
                    f"{number(strategy['width']):.2f}",
                    f"{number(strategy['resolution']):.2f}",
                    mflops(strategy["flops"]),
                    optional(budget_of.get(j), mflops),
                    "yes" if strategy.get("fits") else "no",
                    acc(strategy["accuracy"]),
                ]
            )
        lines += [
            f"Searched result (`{ctx.inputs.name('search/result.json')}`, evaluator "
            f"`{result.get('evaluator', '?')}`): base model `{result['base']}` "
            f"({mflops(result['base_flops'])} MFLOPs) and the strategies S1-S{len(rows)}:",
            "",
            *table(
                ["stage", "d", "w", "r", "MFLOPs", "budget (MFLOPs)", "fits", "top-1 (%)"],
                rows,
                "lrrrrrlr",
            ),
            "",
        ]
        fits = sum(1 for s in result["strategies"] if s.get("fits"))
        lines.append(
            f"{fits} of {len(rows)} searched strategies fit their FLOPs budget; the search "
            + ("reached" if result.get("fixed_point") else "did not reach")
            + " a fixed point of the base model."
        )
        lines.append("")
    if metrics is None:
        lines.append(missing(ctx.inputs.name("search/metrics.json"), "search"))
    else:
        evaluations = number(metrics["evaluations"])
        hits = number(metrics["cache_hits"])
        share = hits / (evaluations + hits) if evaluations + hits else 0.0
        lines.append(
            f"Totals (`{ctx.inputs.name('search/metrics.json')}`): {integer(evaluations)} path "
            f"evaluations and {integer(hits)} cache hits ({percent(share)} of lookups) over "
            f"{integer(metrics['iterations'])} iteration(s); mean top-1 of the final strategies "
            f"{acc(metrics['mean_accuracy'])} %."
        )
    return lines


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
    result = ctx.inputs.json("search/result.json")
    source = "search/result.json"
    if result is None:
        source, result = family_file(ctx)
    if result is None:
        return [missing(ctx.inputs.name("search/result.json"), "search")]
    from scalenet.space import BaseArch

    text = result["base"]
    if not isinstance(text, str):
        raise ReportError(f"base must be an architecture string, got {text!r}")
    arch = BaseArch.decode(text)
    blocks = [block for stage in arch.stages for block in stage.blocks]
    kernels = sorted({block.kernel for block in blocks})
    expands = sorted({block.expand for block in blocks})
    se = sum(block.se for block in blocks)
    mix = ", ".join(f"k{k} ×{sum(b.kernel == k for b in blocks)}" for k in kernels)
    expand_mix = ", ".join(f"e{e} ×{sum(b.expand == e for b in blocks)}" for e in expands)
    space = ctx.params.get("space")
    labels = _space_rows(space if isinstance(space, str) else None, len(arch.stages))
    from _report_plots import plot_arch

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


def section_fit(ctx: Context) -> list[str]:
    lines: list[str] = []
    fit = ctx.inputs.json("family/fit.json")
    family_rel, family = family_file(ctx)
    if fit is None:
        lines += [missing(ctx.inputs.name("family/fit.json"), "generalize"), ""]
    else:
        functions = mapping(fit["functions"], "functions")
        default = fit.get("default")
        rows = []
        for name in sorted(functions, key=lambda n: (number(functions[n]["loso_rmse"]), n)):
            values = mapping(functions[name], name)
            rows.append(
                [
                    f"**{name}** (used)" if name == default else name,
                    _formula(name),
                    coef(values["fit_rmse"]),
                    coef(values["loso_rmse"]),
                    coef(values["loso_last_stage_rmse"]),
                ]
            )
        lines += [
            "Generalization functions fitted to the searched strategies (supplementary C), sorted "
            "by leave-one-stage-out (LOSO) error; RMSE is over d, w and r:",
            "",
            *table(
                ["function", "f(j)", "fit RMSE", "LOSO RMSE", "LOSO RMSE, last stage"],
                rows,
                "llrrr",
            ),
        ]
        if functions:
            ranked = sorted(functions, key=lambda n: (number(functions[n]["loso_rmse"]), n))
            best, worst = ranked[0], ranked[-1]
            sentence = (
                f"{best} extrapolates best (LOSO RMSE {coef(functions[best]['loso_rmse'])}) and "
                f"{worst} worst ({coef(functions[worst]['loso_rmse'])})"
            )
            if default in functions:
                place = ranked.index(default) + 1
                sentence += (
                    f"; the family uses {default}, ranked {place} of {len(ranked)} by LOSO RMSE"
                )
            lines += ["", sentence + "."]
        lines.append("")
    if family is None:
        lines.append(missing(ctx.inputs.name(family_rel), "generalize"))
        return lines
    fitted = mapping(family.get("fit"), "fit")
    function = str(fitted["function"])
    dimensions = ("depth", "width", "resolution")
    rows = []
    for dim in dimensions:
        values = mapping(fitted[dim], dim)
        params = mapping(values["params"], f"{dim}.params")
        rows.append(
            [
                dim,
                ", ".join(f"{key} = {number(value):.4f}" for key, value in params.items()),
                coef(values["rmse"]),
            ]
        )
    lines += [
        f"Fitted `{function}` f(j) = {fitted.get('formula', _formula(function))} per dimension "
        f"(`{ctx.inputs.name(family_rel)}`):",
        "",
        *table(["dimension", "parameters", "fit RMSE"], rows, "llr"),
        "",
    ]
    members = [mapping(m, "member") for m in sequence(family["members"], "members")]
    last_stage = max(int(m["stage"]) for m in members)
    last_searched = max(
        (int(m["stage"]) for m in members if m.get("kind") != "generalized"), default=0
    )
    curves: dict[str, tuple[list[float], list[float]]] = {}
    try:
        from scalenet.scaling import get_function

        fn = get_function(function)
    except (ImportError, ValueError):
        fn = None
    grid = [last_stage * i / 100 for i in range(101)]
    if fn is not None:
        for dim in dimensions:
            params = mapping(fitted[dim]["params"], "params")
            ordered = [number(params[name]) for name in fn.param_names]
            curves[dim] = (grid, [float(v) for v in fn(grid, ordered)])
    else:
        curves = {dim: ([], []) for dim in dimensions}
    searched = {
        dim: [
            (int(m["stage"]), number(m["scaling"][dim]))
            for m in members
            if m.get("kind") != "generalized"
        ]
        for dim in dimensions
    }
    projected = {
        dim: [
            (int(m["stage"]), number(m["scaling"][dim]))
            for m in members
            if m.get("kind") == "generalized"
        ]
        for dim in dimensions
    }
    before = {
        dim: [
            (int(m["stage"]), number(m["projection"]["before"][dim]))
            for m in members
            if m.get("projection")
        ]
        for dim in dimensions
    }
    from _report_plots import plot_fit

    lines.append(
        ctx.figure(
            "scaling_fit.png",
            "Fitted scaling curves",
            lambda path: plot_fit(
                curves,
                searched,
                projected,
                before,
                path,
                label=f"{function} fit",
                last_searched=last_searched,
            ),
        )
    )
    return lines


def _formula(name: str) -> str:
    try:
        from scalenet.scaling import get_function

        return f"`{get_function(name).formula}`"
    except (ImportError, ValueError):
        return "–"


def family_file(ctx: Context) -> tuple[str, Any]:
    """(relative name, parsed family.json) of the ScaleNet family; None when absent.

    The `generalize` stage writes ``family/scalenet/``; runs made before the baselines were
    added wrote ``family/members/``, which is read when the new file is absent.
    """
    for rel in FAMILY_FILES:
        family = ctx.inputs.json(rel)
        if family is not None:
            return rel, family
    return FAMILY_FILES[0], None


def _member_rows(family: dict[str, Any], label: str | None) -> list[list[str]]:
    members = sorted(
        (mapping(m, "member") for m in sequence(family["members"], "members")),
        key=lambda m: int(m["stage"]),
    )
    return [
        ([label] if label is not None else [])
        + [
            str(m.get("name", f"S{m['stage']}")),
            str(m.get("kind", "?")),
            f"`{m['path']}`",
            mflops(m["flops"]),
            mparams(m["params"]),
            str(m["resolution"]),
            mflops(m["budget"]),
            f"{100 * number(m['flops']) / number(m['budget']) - 100:+.2f} %",
        ]
        for m in members
    ]


MEMBER_HEADERS = [
    "model",
    "kind",
    "path",
    "MFLOPs",
    "params (M)",
    "resolution (px)",
    "budget (MFLOPs)",
    "FLOPs vs budget",
]


def section_family(ctx: Context) -> list[str]:
    rel, family = family_file(ctx)
    if family is None:
        return [missing(ctx.inputs.name(rel), "generalize")]
    lines = [
        f"The {family.get('method', '?')} family on `{family.get('space', '?')}` "
        f"(`{ctx.inputs.name(rel)}`, projection `{family.get('project', '?')}`), one member per "
        "scaling stage; a path is `<base model>@d<depth>,w<width>,r<resolution>`:",
        "",
        *table(MEMBER_HEADERS, _member_rows(family, None), "lllrrrrr"),
    ]
    members = sorted(family["members"], key=lambda m: int(m["stage"]))
    if members:
        errors = [(abs(number(m["flops"]) / number(m["budget"]) - 1), m) for m in members]
        worst_error, worst = max(errors, key=lambda item: (item[0], int(item[1]["stage"])))
        first, last = members[0], members[-1]
        growth = number(last["params"]) / number(first["params"])
        lines += [
            "",
            f"Every member is within {100 * worst_error:.2f} % of its budget (largest gap: "
            f"{worst.get('name', worst['stage'])}); parameters grow {growth:.1f}x from "
            f"{mparams(first['params'])} M (S{first['stage']}) to {mparams(last['params'])} M "
            f"(S{last['stage']}) and the input side from {first['resolution']} to "
            f"{last['resolution']} px.",
        ]
    rows: list[list[str]] = []
    absent: list[str] = []
    for name in BASELINES:
        baseline = ctx.inputs.json(f"family/{name}/family.json")
        if baseline is None:
            absent.append(missing(ctx.inputs.name(f"family/{name}/family.json"), "baselines"))
        else:
            rows += _member_rows(baseline, FAMILY_NAMES.get(name, name))
    lines.append("")
    if rows:
        lines += [
            "The baseline families it is compared with (written by the `baselines` stage to "
            f"`{ctx.inputs.name('family')}/<family>/family.json`):",
            "",
            *table(["family", *MEMBER_HEADERS], rows, "llllrrrrr"),
        ]
    for line in absent:
        lines += ["", line] if rows else [line, ""]
    return lines


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
    from _report_plots import plot_accuracy

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


def _processes_threads(record: dict[str, Any]) -> str:
    """``2 x 1`` for a stage of two single-threaded ranks, ``1 x 2``, or a dash when unknown."""
    threads = optional(record.get("threads"), integer)
    if threads == "–":
        return threads
    processes = record.get("world_size", 1)
    return f"{optional(processes, integer)} x {threads}"


def section_cost(ctx: Context) -> list[str]:
    files = ctx.inputs.cost_files()
    if not files:
        return [
            f"*Not available: `{ctx.inputs.name('cost')}/*.json` missing (run `dvc repro`; each "
            "stage writes its own cost file).*"
        ]
    records = []
    for rel in files:
        record = mapping(ctx.inputs.json(rel), rel)
        records.append(
            (
                str(record.get("finished", "")),
                str(record["stage"]),
                number(record["wall_s"], "wall_s"),
                number(record["cpu_s"], "cpu_s"),
                _processes_threads(record),
            )
        )
    records.sort()
    rows = [
        [
            f"`{stage}`",
            threads,
            f"{wall / 3600:.3f}",
            f"{cpu / 3600:.3f}",
            f"{cpu / wall:.2f}" if wall > 0 else "–",
            finished or "–",
        ]
        for finished, stage, wall, cpu, threads in records
    ]
    total_wall = sum(r[2] for r in records)
    total_cpu = sum(r[3] for r in records)
    rows.append(
        [
            "**total**",
            "",
            f"**{total_wall / 3600:.3f}**",
            f"**{total_cpu / 3600:.3f}**",
            f"{total_cpu / total_wall:.2f}" if total_wall > 0 else "–",
            "",
        ]
    )
    lines = [
        f"Wall-clock and CPU time (user + system, with children) of each stage run "
        f"(`{ctx.inputs.name('cost')}/*.json`), in order of completion:",
        "",
        *table(
            ["stage", "processes x threads", "wall (h)", "CPU-hours", "CPU / wall", "finished"],
            rows,
            "lrrrrl",
        ),
    ]
    if records and total_cpu > 0:
        heaviest = max(records, key=lambda r: (r[3], r[1]))
        search_train = sum(r[3] for r in records if r[1].startswith(("train_supernet", "search")))
        lines += [
            "",
            f"The run took {total_cpu / 3600:.3f} CPU-hours over {total_wall / 3600:.3f} wall "
            f"hours; super-supernet training and the search account for "
            f"{percent(search_train / total_cpu)} of the CPU time, and the most expensive stage "
            f"is `{heaviest[1]}` ({percent(heaviest[3] / total_cpu)}).",
        ]
    return lines


SECTIONS: tuple[tuple[str, Callable[[Context], list[str]]], ...] = (
    ("Run summary", section_summary),
    ("FLOPs budgets", section_budgets),
    ("Sampling distributions: HSS vs uniform", section_sampling),
    ("Super-supernet accuracy per scaling stage", section_supernet),
    ("Ranking quality: HSS vs uniform", section_rank),
    ("MCEA search", section_search),
    ("The searched base model", section_arch),
    ("Fitted scaling curves", section_fit),
    ("The model family", section_family),
    ("Accuracy vs FLOPs and parameters against the baselines", section_evaluate),
    ("Search and training cost", section_cost),
)


# ---------------------------------------------------------------------------------------------
# Driver


def git_commit(folder: Path) -> str | None:
    """``git rev-parse --short HEAD`` in ``folder``, or None where git or a repository is absent."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def preload(inputs: Inputs, data_dir: str) -> None:
    """Parse every known input first, so a malformed one fails before anything is drawn."""
    for rel in (
        "budgets.json",
        "sampling/stats.json",
        "sampling/histogram.json",
        "rank/metrics.json",
        "rank/intervals.json",
        "search/result.json",
        "search/metrics.json",
        "family/fit.json",
        *FAMILY_FILES,
        *(f"family/{name}/family.json" for name in BASELINES),
        "evaluate/metrics.json",
        "evaluate/predictions.json",
        *(
            f"supernet/{name}/{file}"
            for name in SAMPLERS
            for file in ("eval.json", "training.json")
        ),
        *inputs.cost_files(),
    ):
        inputs.json(rel)
    for rel in ("search/log.jsonl", *(f"supernet/{name}/metrics.jsonl" for name in SAMPLERS)):
        inputs.jsonl(rel)
    inputs.json_file((Path(data_dir) / "manifest.json").as_posix())


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
    rel, family_json = family_file(ctx)
    budgets = ctx.inputs.json("budgets.json")
    if family_json is None or budgets is None:
        rows.append(
            [
                "Did generalization hit the budgets?",
                "not available",
                missing(ctx.inputs.name(rel), "generalize"),
            ]
        )
    else:
        generalized = [
            mapping(m, "member")
            for m in sequence(family_json["members"], "members")
            if mapping(m, "member").get("kind") == "generalized"
        ]
        tolerance = number(budgets["tolerance"])
        hits = []
        for m in generalized:
            j = int(m["stage"])
            gap = number(m["flops"]) / number(m["budget"]) - 1
            inside = abs(number(m["flops"]) - number(m["budget"])) <= tolerance * 2**j
            hits.append((j, gap, inside))
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
                    f"stage's tolerance ±{100 * tolerance / number(budgets['f0']):.1f} %)"
                    for j, gap, inside in hits
                )
                or "no generalized member",
            ]
        )
    return [
        "**Headline** (95 % intervals; the sections below give every number and its source):",
        "",
        *table(["question", "answer", "evidence"], rows, "lll"),
        "",
    ]


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


def render(ctx: Context) -> str:
    """The whole markdown document."""
    space = ctx.params.get("space")
    body: list[str] = []
    available = 0
    for index, (title, section) in enumerate(SECTIONS, start=1):
        ctx.inputs.read = []
        ctx.inputs.tracker.last = None
        try:
            lines = section(ctx)
        except (ReportError, KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
            # Blame the file the section touched last (the value just read was the bad one).
            files = sorted(set(ctx.inputs.read))
            source = ctx.inputs.tracker.last or ", ".join(files) or "inputs"
            detail = str(error).replace("\n", " ") or type(error).__name__
            if isinstance(error, KeyError):
                detail = f"missing key {error}"
            fail(f"{source}: {detail}")
        if any(line and not line.startswith("*Not available") for line in lines):
            available += 1
        body += [f"## {index}. {title}", "", *lines, ""]
    commit = f" at commit `{ctx.commit}`" if ctx.commit else ""
    intro = [
        "# ScaleNet: report of the pipeline run",
        "",
        f"This report documents the run of the ScaleNet pipeline on the `{space or '?'}` search "
        f"space{commit}, with the parameters in `{ctx.params_file}`. It was generated by "
        "`pipelines/report.py` (the DVC stage `report`) from the files under "
        f"`{ctx.inputs.root}`: every number is read from those files, each section names its "
        "sources, and the sentences under the tables are computed from the same numbers. "
        f"{available} of {len(SECTIONS)} sections have their inputs; a missing input is "
        "marked *Not available* with the stage that writes it.",
        "",
        "FLOPs are multiply-accumulates (the paper's convention); MFLOPs = 10^6 FLOPs.",
        "",
        *headline(ctx),
        *design(ctx),
    ]
    text = "\n".join(intro + body).rstrip("\n") + "\n"
    return re.sub(r"\n{3,}", "\n\n", text)  # one blank line between blocks, never two


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--outputs", default="outputs", help="folder of the pipeline outputs")
    parser.add_argument("--data", default="data/prepared", help="prepared data (its manifest.json)")
    parser.add_argument("--out", default="docs/report.md", help="markdown file to write")
    parser.add_argument("--figures", default="docs/report", help="folder of the report's PNGs")
    args = parser.parse_args()
    out = Path(args.out)
    figures = Path(args.figures)
    if out.suffix != ".md":
        fail(f"--out {args.out!r} must be a .md file")
    params = read_params(args.params)
    inputs = Inputs(args.outputs)
    preload(inputs, args.data)
    link = Path(os.path.relpath(figures.resolve(), out.resolve().parent)).as_posix()
    ctx = Context(
        inputs=inputs,
        params=params,
        params_file=args.params,
        data_dir=args.data,
        figures=figures,
        link=link,
        commit=git_commit(Path(args.params).resolve().parent),
    )
    text = render(ctx)
    for name in FIGURES:  # a figure whose input has gone since the last run must not linger
        if name not in ctx.written and (figures / name).is_file():
            (figures / name).unlink()
    write_text(out, text)
    print(
        f"report: wrote {out} and {len(ctx.written)} figure(s) in {figures}/ "
        f"({sum(1 for line in text.splitlines() if line.startswith('*Not available'))} "
        "input(s) missing)"
    )


if __name__ == "__main__":
    main()
