"""Searched strategies S_1..S_M: the input of generalization, read from JSON or YAML.

Accepted file forms (JSON or YAML):

* a list of ``{stage, depth, width, resolution}`` entries for scaling stages 1..M;
* the search stage's output ``{"base": "<arch string>", "strategies": [...]}`` (``base`` may also
  be an arch JSON object, or be absent; the entries' ``flops``, ``accuracy`` and ``fits``
  annotations are read past). Its ``space`` (the space's name) and ``budgets`` (the budgets
  JSON) are kept when present, so generalization projects onto the space and f0 the strategies
  were searched for.

Stages must be exactly 1..M in increasing order (a stage-0 entry is allowed only as (1, 1, 1)
and is dropped) and every value must be a finite number > 0.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any

import yaml

from scalenet.space import TABLE3_STRATEGIES, BaseArch, Budgets, Scaling, get_arch

__all__ = [
    "STRATEGY_PRESETS",
    "TABLE3_GENERALIZED",
    "TABLE3_SEARCHED",
    "SearchedStrategies",
    "load_strategies",
    "parse_strategies",
]

_KEYS = ("stage", "depth", "width", "resolution")
#: Per-stage annotations written by the search stage (scalenet-search's StrategyChoice): read
#: past, so its result.json is accepted as it is.
_SEARCH_KEYS = ("flops", "accuracy", "fits")


@dataclass(frozen=True)
class SearchedStrategies:
    """The searched strategies of scaling stages 1..M, optionally with their base model.

    Attributes:
        strategies: S_1..S_M (index i is scaling stage i + 1).
        base: The searched base model, if the source named one.
        space: Name of the search space the strategies were searched on, if the source named
            one (a search result.json does).
        budgets: The budgets f_0..f_M of the search, if the source held them.
    """

    strategies: tuple[Scaling, ...]
    base: BaseArch | None = None
    space: str | None = None
    budgets: Budgets | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.strategies, tuple):
            object.__setattr__(self, "strategies", tuple(self.strategies))
        if not self.strategies:
            raise ValueError("strategies: needs at least scaling stage 1")

    @property
    def max_stage(self) -> int:
        """M, the largest searched scaling stage."""
        return len(self.strategies)

    def to_json(self) -> dict[str, Any]:
        """The search stage's form: ``{"base", "space", "budgets", "strategies": [{stage, ...}]}``.

        ``base``, ``space`` and ``budgets`` are None when the source did not name them.
        """
        return {
            "base": None if self.base is None else self.base.encode(),
            "space": self.space,
            "budgets": None if self.budgets is None else self.budgets.to_json(),
            "strategies": [
                {"stage": j, **s.to_json()} for j, s in enumerate(self.strategies, start=1)
            ],
        }


#: Table 3's searched strategies S1-S3 (M = 3).
TABLE3_SEARCHED: tuple[Scaling, ...] = TABLE3_STRATEGIES[1:4]
#: Table 3's generalized strategies S4, S5 (the paper's function, resolution projected).
TABLE3_GENERALIZED: tuple[Scaling, ...] = TABLE3_STRATEGIES[4:6]

#: Named strategy sets accepted wherever a strategies FILE is.
STRATEGY_PRESETS: dict[str, SearchedStrategies] = {
    "table3": SearchedStrategies(TABLE3_SEARCHED, base=get_arch("scalenet_s0")),
}


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{where} must be a finite number > 0, got {value!r}")
    return float(value)


def _base_from(value: Any, source: str) -> BaseArch | None:
    if value is None:
        return None
    try:
        if isinstance(value, str):
            return BaseArch.decode(value)
        if isinstance(value, dict):
            return BaseArch.from_json(value)
    except ValueError as error:
        raise ValueError(f"{source}: base: {error}") from None
    raise ValueError(f"{source}: base must be an arch string or object, got {type(value).__name__}")


def _space_from(value: Any, source: str) -> str | None:
    if value is None or (isinstance(value, str) and value):
        return value
    raise ValueError(f"{source}: space must be a space name (a non-empty string), got {value!r}")


def _budgets_from(value: Any, source: str) -> Budgets | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError(f"{source}: budgets must be a budgets JSON object, got {value!r}")
    try:
        return Budgets.from_json(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{source}: budgets: {error}") from None


def parse_strategies(data: Any, source: str = "strategies") -> SearchedStrategies:
    """Check and convert loaded JSON/YAML data (see the module docstring for the forms).

    Raises:
        ValueError: One line naming the source, the entry and the field, e.g.
            ``"s.json: stage 2 is missing (stages must be 1..M in order, got 1, 3)"``.
    """
    base, space, budgets = None, None, None
    if isinstance(data, dict):
        if "strategies" not in data:
            raise ValueError(f"{source}: expected a list of stages or an object with 'strategies'")
        base = _base_from(data.get("base"), source)
        space = _space_from(data.get("space"), source)
        budgets = _budgets_from(data.get("budgets"), source)
        entries = data["strategies"]
    else:
        entries = data
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{source}: strategies must be a non-empty list of {{{', '.join(_KEYS)}}}")
    stages: list[int] = []
    scalings: list[Scaling] = []
    for index, entry in enumerate(entries, start=1):
        where = f"{source}: entry {index}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} must be a mapping with keys {', '.join(_KEYS)}")
        missing = [key for key in _KEYS if key not in entry]
        if missing:
            raise ValueError(f"{where} is missing key(s) {', '.join(missing)}")
        unknown = sorted(set(entry) - set(_KEYS) - set(_SEARCH_KEYS))
        if unknown:
            raise ValueError(
                f"{where}: unknown key(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(_KEYS + _SEARCH_KEYS)}"
            )
        stage = entry["stage"]
        if isinstance(stage, bool) or not isinstance(stage, int) or stage < 0:
            raise ValueError(f"{where}: stage must be an int >= 0, got {stage!r}")
        values = [_number(entry[key], f"{source}: stage {stage}: {key}") for key in _KEYS[1:]]
        if stages and stage <= stages[-1]:
            raise ValueError(
                f"{source}: stages must increase, but stage {stage} follows stage {stages[-1]}"
            )
        stages.append(stage)
        if stage == 0:
            if values != [1.0, 1.0, 1.0]:
                raise ValueError(
                    f"{source}: stage 0 is the base model and must be (1, 1, 1), got {values}"
                )
            continue
        scalings.append(Scaling(*values))
    searched = [stage for stage in stages if stage > 0]
    for expected, stage in enumerate(searched, start=1):
        if stage != expected:
            raise ValueError(
                f"{source}: stage {expected} is missing (stages must be 1..M in order, got "
                f"{', '.join(map(str, searched))})"
            )
    if not scalings:
        raise ValueError(f"{source}: no searched stage (stages 1..M) given")
    return SearchedStrategies(tuple(scalings), base, space, budgets)


def load_strategies(name_or_path: str | FilePath) -> SearchedStrategies:
    """Read a strategies file (``.json``, ``.yaml``/``.yml``) or a preset name (``table3``).

    Raises:
        ValueError: If the file is missing, unreadable or invalid (one line).
    """
    text_name = str(name_or_path)
    if text_name in STRATEGY_PRESETS:
        return STRATEGY_PRESETS[text_name]
    path = FilePath(name_or_path)
    if not path.is_file():
        raise ValueError(
            f"strategies file {text_name} does not exist (or use a preset: "
            f"{', '.join(sorted(STRATEGY_PRESETS))})"
        )
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{text_name}: not valid JSON ({error.msg}, line {error.lineno})"
        ) from None
    except yaml.YAMLError as error:
        first = str(error).splitlines()[0] if str(error) else "parse error"
        raise ValueError(f"{text_name}: not valid YAML ({first})") from None
    return parse_strategies(data, source=text_name)
