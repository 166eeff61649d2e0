"""The schema of params.yaml: one pydantic model per stage section, checked at every stage's start.

Each model forbids unknown keys and is strict (``1`` is not a bool, ``2.0`` not an int, ``true``
not a number); value sets are ``Literal`` types and lower bounds ``Field(ge=...)``. The packages'
own constants are the source of the value sets (tests/integration/test_integration_params.py
checks that each ``Literal`` equals the package's tuple: the width modes of scalenet.supernet, the
growth functions and projection modes of scalenet.scaling, the objectives of scalenet.search);
they are written out here so that a stage imports no package it does not run.

:func:`section_problem` turns pydantic's errors into the one line the stages print, naming the
key: ``unknown key(s) ...; allowed: ...``, ``missing key(s) ...``, ``train_supernet.iterations
must be int, got 'many'``, ``generalize.project 'rws' not in {rw, r, all, none}``,
``search.population must be >= 2, got 1``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Number = int | float
T = TypeVar("T")


class Section(BaseModel):
    """A params.yaml section: strict types, no unknown key."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Prepare(Section):
    dataset: Literal["fmnist", "imagefolder"]
    source: str | None
    classes: str | list[Any] | None
    image_format: Literal["jpeg", "raw"]
    max_side: int | None = Field(ge=1)
    jpeg_quality: int = Field(ge=1)
    minival_per_class: int = Field(ge=0)
    seed: int
    num_workers: int = Field(ge=1)


class BudgetsSection(Section):
    samples: int = Field(ge=1)
    seed: int
    explicit: list[Any] | None = None  # optional: params files before it have none


class Sampling(Section):
    paths: int = Field(ge=1)
    seed: int
    stage_weights: str | list[Any]


class TrainSupernet(Section):
    iterations: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    lr: Number
    warmup: int = Field(ge=0)
    width_mode: Literal["bcnet", "bcnet_alternate", "left"]
    seed: int
    checkpoint_every: int = Field(ge=0)
    recalib_batches: int = Field(ge=0)
    eval_batch_size: int = Field(ge=1)
    eval_side: Literal["left", "right", "both"]
    processes: int = Field(ge=1)
    threads: int = Field(ge=0)
    eval_processes: int = Field(ge=1)
    eval_threads: int = Field(ge=0)
    channels_last: bool
    tensorboard: bool = False  # TensorBoard event files next to DVCLive's (OUT/tensorboard)


class Search(Section):
    evaluator: Literal["supernet", "analytic"]
    population: int = Field(ge=2)
    generations: int = Field(ge=1)
    iterations: int = Field(ge=0)
    initial_bases: int = Field(ge=1)
    seed: int
    objective: Literal["mean", "per_stage"]
    early_stop: bool
    carry_base: bool


class Rank(Section):
    paths: int = Field(ge=3)
    seed: int


class Standalone(Section):
    paths: int = Field(ge=2)  # and <= rank.paths (check_params: across sections)
    epochs: Number = Field(ge=1e-9)
    train_images: int | None = Field(ge=1)
    seed: int


class Generalize(Section):
    function: Literal["linear", "squared", "power", "exponential", "geometric"]
    stages: int = Field(ge=1)
    project: Literal["rw", "r", "all", "none"]


class Baselines(Section):
    compound_base: str
    coefficients: list[Any]
    random_seed: int


class Retrain(Section):
    stages: list[Any]
    train_images: int | None = Field(ge=1)
    epochs: Number = Field(ge=1e-9)
    batch_size: int = Field(ge=1)
    lr_per_1024: Number = Field(ge=1e-12)
    warmup_epochs: Number = Field(ge=0)
    decay_epochs: Number = Field(ge=1e-9)
    decay_rate: Number = Field(ge=1e-9)
    weight_decay: Number = Field(ge=0)
    ema_decay: float | None
    label_smoothing: Number = Field(ge=0)
    drop_rate: Number = Field(ge=0)
    randaugment: bool
    seed: int
    checkpoint_every: int = Field(ge=0)
    bn_recalibration_batches: int = Field(ge=0)
    processes: int = Field(ge=1)
    threads: int = Field(ge=0)
    channels_last: bool
    tensorboard: bool = False  # TensorBoard event files next to DVCLive's (OUT/tensorboard)


class Evaluate(Section):
    test_images: int | None = Field(ge=1)
    batch_size: int = Field(ge=1)
    latency_repeats: int = Field(ge=1)
    seed: int


#: Every section of params.yaml and its model. Each stage checks the whole file at start-up, so a
#: typo anywhere fails the first stage that runs, not the one hours later.
SECTIONS: dict[str, type[Section]] = {
    "prepare": Prepare,
    "budgets": BudgetsSection,
    "sampling": Sampling,
    "train_supernet": TrainSupernet,
    "search": Search,
    "rank": Rank,
    "standalone": Standalone,
    "generalize": Generalize,
    "baselines": Baselines,
    "retrain": Retrain,
    "evaluate": Evaluate,
}


def _arms(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def type_name(annotation: Any) -> str:
    """``int``, ``int or float``, ``str or list or null``... of a field's annotation."""
    names = []
    for arm in _arms(annotation):
        if arm is type(None):
            names.append("null")
        elif typing.get_origin(arm) is Literal:
            names.append(type(typing.get_args(arm)[0]).__name__)
        else:
            names.append(getattr(typing.get_origin(arm) or arm, "__name__", str(arm)))
    return " or ".join(names)


def choices(model: type[Section], key: str) -> tuple[str, ...] | None:
    """The allowed values of a ``Literal`` field (None for other fields)."""
    for arm in _arms(model.model_fields[key].annotation):
        if typing.get_origin(arm) is Literal:
            return tuple(typing.get_args(arm))
    return None


def minimum(model: type[Section], key: str) -> float | None:
    """The ``ge`` bound of a field (None without one)."""
    for item in model.model_fields[key].metadata:
        bound = getattr(item, "ge", None)
        if bound is not None:
            return float(bound)
    return None


def optional_keys(model: type[Section]) -> dict[str, Any]:
    """The keys a section may leave out, with the value they then take."""
    return {
        key: field.default for key, field in model.model_fields.items() if not field.is_required()
    }


def section_problem(section: str, values: Any) -> str | None:
    """The one-line problem of a section (without the file name), or None when it is valid.

    Precedence as a reader fixes them: a missing section, unknown keys (all of them, with the
    allowed ones), missing keys, then the first wrong value in the section's key order.
    """
    model = SECTIONS[section]
    if not isinstance(values, dict):
        return f"section '{section}' is missing or not a mapping"
    fields = model.model_fields
    unknown = sorted(str(key) for key in set(values) - set(fields))
    if unknown:
        return (
            f"unknown key(s) {', '.join(f'{section}.{key}' for key in unknown)}; "
            f"allowed: {', '.join(sorted(fields))}"
        )
    missing = sorted(
        key for key, field in fields.items() if field.is_required() and key not in values
    )
    if missing:
        return f"missing key(s) {', '.join(f'{section}.{key}' for key in missing)}"
    try:
        model.model_validate(values)
    except ValidationError as error:
        wrong = {str(item["loc"][0]) for item in error.errors()}
        key = next(key for key in fields if key in wrong)
        value = values[key]
        allowed = choices(model, key)
        if allowed is not None and isinstance(value, str):
            return f"{section}.{key} {value!r} not in {{{', '.join(allowed)}}}"
        bound = minimum(model, key)
        kinds = tuple(arm for arm in _arms(fields[key].annotation) if isinstance(arm, type))
        if (
            bound is not None
            and isinstance(value, int | float)
            and not isinstance(value, bool)
            and isinstance(value, kinds)
        ):
            return f"{section}.{key} must be >= {bound:g}, got {value!r}"
        return f"{section}.{key} must be {type_name(fields[key].annotation)}, got {value!r}"
    for key, field in fields.items():  # pydantic's strict float still takes an int: refuse it
        value = values.get(key)
        kinds = _arms(field.annotation)
        if isinstance(value, int) and not isinstance(value, bool) and int not in kinds:
            return f"{section}.{key} must be {type_name(field.annotation)}, got {value!r}"
    return None


def config_from(cls: type[T], section: Mapping[str, Any], **overrides: Any) -> T:
    """A package's config dataclass built from the section keys that are its fields.

    ``TrainConfig``, ``RetrainConfig`` and ``MCEAConfig`` name their fields as params.yaml names
    the keys, so a stage passes its section and only what it computes (``overrides``: the global
    batch, whether to show progress...). Keys that are not fields are left alone (the stage's
    own: ``threads``, ``stages``...) and not read (the params trace stays exact); an int given
    to a ``float`` field becomes a float (YAML's ``1`` for ``1.0``: the config's JSON and so the
    resume fingerprint do not depend on the spelling).

    Raises:
        TypeError: If an override is not a field of ``cls``.
    """
    fields = {field.name for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise TypeError(f"{cls.__name__} has no field(s) {', '.join(unknown)}")
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for name in fields - set(overrides):
        if not dict.__contains__(section, name):
            continue
        value = section[name]
        floats = float in _arms(hints[name])
        if floats and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        values[name] = value
    return cls(**values, **overrides)
