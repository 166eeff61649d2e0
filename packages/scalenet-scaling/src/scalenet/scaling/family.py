"""Model families S0..SK: searched strategies generalized to larger stages, or compound scaling.

:func:`build_family` takes a base model, its searched strategies S_1..S_M and a target K > M:
stage 0 is the base model, stages 1..M keep the searched strategies, and each stage j in M+1..K
gets the fitted strategy f(j) projected onto f_j = 2^j f0 (:mod:`scalenet.scaling.projection`).
:func:`compound_family` builds the EfficientNet-style baseline on the same base model and budgets.
:func:`write_family` writes one path file per member (``S<j>.json``: the path string and JSON
with FLOPs, parameters and resolution, readable by ``scalenet-space flops S<j>.json``), the whole
family as ``family.json`` and a markdown table ``family.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any

from scalenet.scaling.compound import EFFICIENTNET, CompoundCoefficients, solve_phi
from scalenet.scaling.fit import DEFAULT_FUNCTION, StrategyFit, fit_strategies
from scalenet.scaling.projection import DEFAULT_PROJECT, Projection, project_to_budget
from scalenet.space import (
    BaseArch,
    Budgets,
    Cost,
    Path,
    Scaling,
    SearchSpace,
    check_explicit_budgets,
    count,
)
from scalenet.space.fields import require_int, require_list, require_number, require_object
from scalenet.space.files import read_json, write_json, write_text

__all__ = ["Family", "FamilyMember", "build_family", "compound_family", "write_family"]

#: Member kinds.
KINDS = ("base", "searched", "generalized", "compound")


@dataclass(frozen=True)
class FamilyMember:
    """One model S_j of a family.

    Attributes:
        stage: Scaling stage j.
        kind: ``base``, ``searched``, ``generalized`` or ``compound``.
        path: Base model and strategy.
        cost: FLOPs, parameters and input side.
        budget: The budget f_j (2^j f0 unless the family was built on an explicit list).
        projection: For generalized members, the fitted strategy before and after projection.
        phi: For compound members, the solved phi.
    """

    stage: int
    kind: str
    path: Path
    cost: Cost
    budget: int
    projection: Projection | None = None
    phi: float | None = None

    @property
    def rel_error(self) -> float:
        """(FLOPs - f_j) / f_j."""
        return (self.cost.flops - self.budget) / self.budget

    def to_json(self) -> dict[str, Any]:
        """The member's path file: path string and JSON, FLOPs, parameters, resolution, budget."""
        data: dict[str, Any] = {
            "name": f"S{self.stage}",
            "stage": self.stage,
            "kind": self.kind,
            **self.path.to_json(),
            "flops": self.cost.flops,
            "params": self.cost.params,
            "resolution": self.cost.resolution,
            "budget": self.budget,
            "rel_error": self.rel_error,
        }
        if self.projection is not None:
            data["projection"] = self.projection.to_json()
        if self.phi is not None:
            data["phi"] = self.phi
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FamilyMember:
        """Read a member file (``S<j>.json``, :meth:`to_json`) back.

        Raises:
            ValueError: A key is missing or malformed, or the kind is not one of :data:`KINDS`.
        """
        data = require_object(data, "family member")
        where = f"family member {data.get('name', '?')}"
        try:
            kind = str(data["kind"])
            if kind not in KINDS:
                raise ValueError(f"{where}: kind {kind!r} not in {{{', '.join(KINDS)}}}")
            projection = data.get("projection")
            phi = data.get("phi")
            return cls(
                stage=require_int(data["stage"], f"{where}: stage"),
                kind=kind,
                path=Path.from_json(data),
                cost=Cost(
                    require_int(data["flops"], f"{where}: flops"),
                    require_int(data["params"], f"{where}: params"),
                    require_int(data["resolution"], f"{where}: resolution"),
                ),
                budget=require_int(data["budget"], f"{where}: budget"),
                projection=None if projection is None else Projection.from_json(projection),
                phi=None if phi is None else require_number(phi, f"{where}: phi"),
            )
        except KeyError as error:
            raise ValueError(f"{where}: missing key {error}") from None


@dataclass(frozen=True)
class Family:
    """A model family S0..SK on one base model.

    Attributes:
        method: ``scalenet`` (searched + generalized) or ``compound``.
        space: Name of the search space.
        f0: Budget of stage 0 (f_j = 2^j f0 unless the members' budgets say otherwise).
        members: S0..SK in order.
        fit: The generalization fit (``scalenet`` families).
        project: The projection mode (``scalenet`` families).
        coefficients: alpha, beta, gamma (``compound`` families).
    """

    method: str
    space: str
    f0: int
    members: tuple[FamilyMember, ...]
    fit: StrategyFit | None = None
    project: str | None = None
    coefficients: CompoundCoefficients | None = None

    @property
    def base(self) -> BaseArch:
        """The shared base model."""
        return self.members[0].path.base

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (``family.json``)."""
        data: dict[str, Any] = {
            "method": self.method,
            "space": self.space,
            "f0": self.f0,
            "base": self.base.encode(),
            "members": [member.to_json() for member in self.members],
        }
        if self.fit is not None:
            data["fit"] = self.fit.to_json()
        if self.project is not None:
            data["project"] = self.project
        if self.coefficients is not None:
            data["coefficients"] = self.coefficients.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Family:
        """Read ``family.json`` (:meth:`to_json`) back; the report's typed reader.

        Raises:
            ValueError: A key is missing or malformed (the message names it), or the members
                are not S0..SK in order.
        """
        data = require_object(data, "family")
        try:
            members = tuple(
                FamilyMember.from_json(m) for m in require_list(data["members"], "family: members")
            )
            stages = [m.stage for m in members]
            if stages != list(range(len(members))) or not members:
                raise ValueError(f"family: members must be S0..SK in order, got stages {stages}")
            fit, project, coefficients = (
                data.get("fit"),
                data.get("project"),
                data.get("coefficients"),
            )
            return cls(
                method=str(data["method"]),
                space=str(data["space"]),
                f0=require_int(data["f0"], "family: f0"),
                members=members,
                fit=None if fit is None else StrategyFit.from_json(fit),
                project=None if project is None else str(project),
                coefficients=None
                if coefficients is None
                else CompoundCoefficients.from_json(coefficients),
            )
        except KeyError as error:
            raise ValueError(f"family: missing key {error}") from None

    @classmethod
    def read(cls, file: str | FilePath) -> Family:
        """Read a ``family.json`` file (:func:`write_family`)."""
        return cls.from_json(read_json(file, "family file"))

    def _budget_text(self) -> str:
        budgets = [member.budget for member in self.members]
        if budgets == [2**j * self.f0 for j in range(len(budgets))]:
            return f"budgets f_j = 2^j x {self.f0:,} FLOPs"
        listed = ", ".join(f"{b / 1e6:,.0f}" for b in budgets)
        return f"budgets f_0..f_{len(budgets) - 1} = {listed} MFLOPs"

    def to_markdown(self) -> str:
        """A markdown table of the family (``family.md``)."""
        if self.method == "scalenet" and self.fit is not None:
            title = f"function `{self.fit.function}`, projection `{self.project}`"
        else:
            coeffs = self.coefficients or EFFICIENTNET
            title = (
                f"compound scaling, alpha {coeffs.alpha}, beta {coeffs.beta}, gamma {coeffs.gamma}"
            )
        lines = [
            f"# Model family on `{self.space}` ({self.method}: {title})",
            "",
            f"Base model: `{self.base.encode()}`; {self._budget_text()}.",
            "",
            "| model | kind | d | w | r | side (px) | MFLOPs | budget (MFLOPs) | error "
            "| params (M) |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for m in self.members:
            s = m.path.scaling
            lines.append(
                f"| S{m.stage} | {m.kind} | {s.depth:.3f} | {s.width:.3f} | {s.resolution:.3f} "
                f"| {m.cost.resolution} | {m.cost.flops / 1e6:,.1f} | {m.budget / 1e6:,.1f} "
                f"| {100 * m.rel_error:+.2f} % | {m.cost.params / 1e6:.3f} |"
            )
        generalized = [m for m in self.members if m.projection is not None]
        if generalized:
            lines += [
                "",
                "Generalized stages, fitted strategy before projection:",
                "",
                "| model | fitted d | fitted w | fitted r | MFLOPs before | error before |",
                "|---|---:|---:|---:|---:|---:|",
            ]
            for m in generalized:
                p = m.projection
                assert p is not None
                lines.append(
                    f"| S{m.stage} | {p.before.depth:.3f} | {p.before.width:.3f} "
                    f"| {p.before.resolution:.3f} | {p.flops_before / 1e6:,.1f} "
                    f"| {100 * p.rel_error_before:+.2f} % |"
                )
        return "\n".join(lines) + "\n"


def _check_stages(max_stage: int, num_searched: int) -> None:
    if num_searched < 1:
        raise ValueError("family: needs at least one searched strategy (stage 1)")
    if max_stage < num_searched:
        raise ValueError(f"family: stages K = {max_stage} must be >= M = {num_searched}")


def _budget_rule(f0: int, budgets: Sequence[int] | None) -> Callable[[int], int]:
    """f_j as a function of j: 2^j f0, or the explicit list (doubling past its end).

    The rule is :meth:`scalenet.space.Budgets.budget`'s, the one the budgets stage counts with.
    """
    if f0 <= 0:
        raise ValueError(f"family: f0 must be > 0, got {f0}")
    if budgets is None:
        return Budgets(f0=f0, max_stage=0, tolerance=0).budget
    values = [int(value) for value in budgets]
    if not values or values[0] != f0:
        raise ValueError(f"family: budgets must start with f0 = {f0:,}, got {values[:1]}")
    explicit = check_explicit_budgets(values, "family: budgets")
    return Budgets(f0=f0, max_stage=0, tolerance=0, explicit=explicit).budget


def build_family(
    space: SearchSpace,
    base: BaseArch,
    strategies: Sequence[Scaling],
    max_stage: int,
    f0: int,
    *,
    function: str = DEFAULT_FUNCTION,
    project: str = DEFAULT_PROJECT,
    budgets: Sequence[int] | None = None,
) -> Family:
    """S0..SK from the searched strategies S_1..S_M (K = ``max_stage`` >= M).

    Args:
        space: The search space.
        base: The searched base model.
        strategies: S_1..S_M.
        max_stage: K.
        f0: Stage-0 budget; stage j's budget is 2^j f0 unless ``budgets`` lists them.
        function: Generalization function fitted to S_1..S_M.
        project: Projection mode of the generalized stages (``r``, ``all`` or ``none``).
        budgets: Explicit budgets f_0, f_1, ... (the paper's ImageNet list; ``budgets[0]`` must
            be ``f0``); stages past the list's end double its last budget.
    """
    _check_stages(max_stage, len(strategies))
    budget_of = _budget_rule(f0, budgets)
    space.check_shape(base)
    fit = fit_strategies(strategies, function)
    members = [FamilyMember(0, "base", Path(base), count(space, Path(base)), f0)]
    for stage, scaling in enumerate(strategies, start=1):
        path = Path(base, scaling)
        members.append(FamilyMember(stage, "searched", path, count(space, path), budget_of(stage)))
    for stage in range(len(strategies) + 1, max_stage + 1):
        budget = budget_of(stage)
        projection = project_to_budget(space, base, fit.predict(stage), budget, project)
        members.append(
            FamilyMember(
                stage,
                "generalized",
                Path(base, projection.after),
                projection.cost_after,
                budget,
                projection=projection,
            )
        )
    return Family(
        method="scalenet",
        space=space.name,
        f0=f0,
        members=tuple(members),
        fit=fit,
        project=project,
    )


def compound_family(
    space: SearchSpace,
    base: BaseArch,
    max_stage: int,
    f0: int,
    coeffs: CompoundCoefficients = EFFICIENTNET,
    *,
    budgets: Sequence[int] | None = None,
) -> Family:
    """The EfficientNet-style family: S_j = (alpha^phi_j, beta^phi_j, gamma^phi_j) nearest f_j.

    Stage 0 is ``base`` as it is (its FLOPs may miss f0: the member's ``rel_error`` says by how
    much); every stage j >= 1 solves phi_j >= 0 (:func:`scalenet.scaling.solve_phi`). The
    budgets are 2^j f0, or the explicit ``budgets`` list (as :func:`build_family`).

    Raises:
        ValueError: If K < 0, f0 <= 0, or f_1 is below the base model's FLOPs (no phi >= 0
            reaches it).
    """
    if max_stage < 0:
        raise ValueError(f"family: stages K must be >= 0, got {max_stage}")
    budget_of = _budget_rule(f0, budgets)
    space.check_shape(base)
    base_cost = count(space, Path(base))
    if max_stage >= 1 and budget_of(1) < base_cost.flops:
        raise ValueError(
            f"compound family: f_1 = {'2 x f0 = ' if budgets is None else ''}{budget_of(1):,} "
            f"FLOPs is below the base model's "
            f"{base_cost.flops:,} FLOPs (phi would be < 0); use a larger f0 or a smaller base model"
        )
    members = [FamilyMember(0, "base", Path(base), base_cost, f0)]
    for stage in range(1, max_stage + 1):
        budget = budget_of(stage)
        phi, cost = solve_phi(space, base, budget, coeffs, start=float(stage))
        members.append(
            FamilyMember(stage, "compound", Path(base, coeffs.scaling(phi)), cost, budget, phi=phi)
        )
    return Family(
        method="compound", space=space.name, f0=f0, members=tuple(members), coefficients=coeffs
    )


def write_family(family: Family, out_dir: str | FilePath) -> list[FilePath]:
    """Write ``S<j>.json`` per member, ``family.json`` and ``family.md`` (atomically).

    Returns:
        The files written.
    """
    folder = FilePath(out_dir)
    written = [
        write_json(folder / f"S{member.stage}.json", member.to_json()) for member in family.members
    ]
    written.append(write_json(folder / "family.json", family.to_json()))
    written.append(write_text(folder / "family.md", family.to_markdown()))
    return written
