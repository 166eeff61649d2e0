"""Helpers shared by the pipeline CLIs: checked params.yaml sections, atomic JSON outputs."""

from __future__ import annotations

import atexit
import itertools
import json
import os
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn

import yaml
from _params import SECTIONS, optional_keys, section_problem

from scalenet.space.files import write_json as write_json  # the stages import it from here

#: Top-level keys of params.yaml: the shared ones and one section per stage.
TOP_LEVEL_KEYS = (
    "seed",
    "space",
    "launcher",
    "loader",
    "prepare",
    "budgets",
    "sampling",
    "train_supernet",
    "search",
    "rank",
    "standalone",
    "generalize",
    "baselines",
    "retrain",
    "evaluate",
)

#: Section keys that the top-level ``seed`` shifts: ``seed + RUN_SEED_STRIDE * seed``.
SEEDED_KEYS = ("seed", "random_seed")
RUN_SEED_STRIDE = 1000

#: How the torch stages read the prepared data: all in memory (small sets, exact resume) or
#: streamed by FFCV (ImageNet scale, on the GPU when there is one).
LOADERS = ("memory", "ffcv")


def fail(message: str) -> NoReturn:
    """Exit with status 2 and one line on stderr."""
    print(f"{Path(sys.argv[0]).stem}: error: {message}", file=sys.stderr)
    sys.exit(2)


#: Keys a section may leave out, with the value they then take (params.yaml predates them).
OPTIONAL: dict[str, Any] = {
    f"{section}.{key}": default
    for section, model in SECTIONS.items()
    for key, default in optional_keys(model).items()
}


def check_section(path: str, section: str, values: Any) -> None:
    """Fail (naming the key) on unknown, missing, mistyped, out-of-choice or too small keys."""
    problem = section_problem(section, values)
    if problem is not None:
        fail(f"{path}: {problem}")


def read_params(path: str) -> dict[str, Any]:
    """The params file as a mapping, unchecked; a missing file or malformed YAML fails."""
    file = Path(path)
    if not file.is_file():
        fail(f"params file {path} does not exist")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        fail(f"{path}: not valid YAML ({str(error).splitlines()[0]})")
    if not isinstance(data, dict):
        fail(f"{path}: must be a mapping")
    return data


def check_params(path: str) -> dict[str, Any]:
    """Read and check the whole params file (every section, the top-level keys); return it."""
    data = read_params(path)
    unknown_top = sorted(str(key) for key in data if key not in TOP_LEVEL_KEYS)
    if unknown_top:
        fail(
            f"{path}: unknown top-level key(s) {', '.join(unknown_top)}; "
            f"allowed: {', '.join(TOP_LEVEL_KEYS)}"
        )
    for section in SECTIONS:
        check_section(path, section, data.get(section))
    explicit = data["budgets"].get("explicit")
    if explicit is not None and not (
        explicit
        and all(isinstance(f, int) and not isinstance(f, bool) and f > 0 for f in explicit)
        and all(low < high for low, high in itertools.pairwise(explicit))
    ):
        fail(
            f"{path}: budgets.explicit must list increasing positive FLOPs counts (ints) "
            f"f_0, f_1, ... or be null, got {explicit!r}"
        )
    stages, largest = data["retrain"]["stages"], data["generalize"]["stages"]
    if not stages or not all(
        isinstance(j, int) and not isinstance(j, bool) and 0 <= j <= largest for j in stages
    ):
        fail(
            f"{path}: retrain.stages must list scaling stages 0..generalize.stages = {largest}, "
            f"got {stages!r}"
        )
    alone, ranked = data["standalone"]["paths"], data["rank"]["paths"]
    if alone > ranked:
        fail(
            f"{path}: standalone.paths must be in 2..rank.paths = {ranked} (a subset of the "
            f"paths the super-supernets score), got {alone}"
        )
    if not isinstance(data.get("space"), str):
        fail(f"{path}: top-level key 'space' must name a search space, got {data.get('space')!r}")
    launcher = data.get("launcher", "python")
    if not isinstance(launcher, str) or not launcher.strip():
        fail(f"{path}: launcher must be a command such as python or torchrun, got {launcher!r}")
    if data.get("loader", "memory") not in LOADERS:
        fail(f"{path}: loader {data.get('loader')!r} not in {{{', '.join(LOADERS)}}}")
    run_seed = data.get("seed", 0)
    if not isinstance(run_seed, int) or isinstance(run_seed, bool) or not 0 <= run_seed < 1000:
        fail(f"{path}: seed (the run's seed) must be an int in 0..999, got {run_seed!r}")
    return data


#: Set to a file name, every stage appends the params keys it read to it, one JSON line per
#: section at exit (tests/integration checks them against the stage's `params` in dvc.yaml).
PARAMS_TRACE_ENV = "SCALENET_PARAMS_TRACE"
#: Keys load_params adds to every section from the top level of the file.
INJECTED_KEYS = ("space", "loader")


class TracedSection(dict[str, Any]):
    """A params section that records which keys the stage reads (``dict`` otherwise).

    Reading a key (``[key]``, ``get``, ``in``) records it; iterating or copying the section
    records every key.
    """

    def __init__(self, data: dict[str, Any], section: str) -> None:
        super().__init__(data)
        self.section = section
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return super().__contains__(key)

    def __iter__(self) -> Iterator[str]:
        self.read.update(super().keys())
        return super().__iter__()

    def keys(self) -> Any:
        self.read.update(super().keys())
        return super().keys()

    def items(self) -> Any:
        self.read.update(super().keys())
        return super().items()

    def values(self) -> Any:
        self.read.update(super().keys())
        return super().values()

    def copy(self) -> dict[str, Any]:
        self.read.update(super().keys())
        return dict(super().items())


_TRACED: list[TracedSection] = []


def _write_trace() -> None:
    target = os.environ.get(PARAMS_TRACE_ENV)
    if not target:
        return
    script = Path(sys.argv[0]).stem
    lines = [
        json.dumps({"script": script, "section": s.section, "keys": sorted(s.read)}) + "\n"
        for s in _TRACED
    ]
    with open(target, "a", encoding="utf-8") as stream:  # one write per process: lines stay whole
        stream.write("".join(lines))


def load_params(path: str, section: str) -> dict[str, Any]:
    """Section ``section`` of the checked params file, plus the top-level ``space``, ``loader``.

    The top-level ``seed`` (the run's seed, default 0) is added to the section's seeds
    (:data:`SEEDED_KEYS`) times :data:`RUN_SEED_STRIDE`: one key gives the whole run other data
    splits, initializations, samples and subsets, and ``seed: 0`` leaves every seed as written.

    The whole file is checked (:func:`check_params`): a typo in any key fails at once, naming
    the key and the allowed ones (the models of pipelines/_params.py). Keys of
    :data:`OPTIONAL` the file leaves out take their default.
    """
    data = check_params(path)
    if section not in SECTIONS:
        fail(f"{path}: no section '{section}' (sections: {', '.join(SECTIONS)})")
    result = dict(data[section])
    for name, default in OPTIONAL.items():
        if name.startswith(f"{section}."):
            result.setdefault(name.split(".", 1)[1], default)
    run_seed = data.get("seed", 0)
    for key in SEEDED_KEYS:
        if isinstance(result.get(key), int) and not isinstance(result[key], bool):
            result[key] += RUN_SEED_STRIDE * run_seed
    result["space"] = data["space"]  # INJECTED_KEYS
    result["loader"] = data.get("loader", "memory")
    if os.environ.get(PARAMS_TRACE_ENV):
        if not _TRACED:
            atexit.register(_write_trace)
        traced = TracedSection(result, section)
        _TRACED.append(traced)
        return traced
    return result


class CostRecord:
    """What :func:`stage_cost` yields: call :meth:`mark` once the stage knows whether it resumes."""

    def __init__(self, file: Path | None = None) -> None:
        self.file = file
        self.resumed = False

    def mark(self, resumed: bool) -> None:
        """Say whether this run continues earlier work; a fresh start drops the old record.

        Dropping it at once matters: if this fresh run is killed, the run that resumes it must
        not add the cost of an older, unrelated computation.
        """
        self.resumed = resumed
        if not resumed and self.file is not None:
            self.file.unlink(missing_ok=True)

    def first_mark_only(self) -> CostRecord:
        """A view of this record that only its first :meth:`mark` reaches.

        For a stage of several trainings that each mark their own resume (``standalone``): only
        the first says whether the stage continues earlier work; a later one starting fresh must
        not drop the record of the ones before it.
        """
        return _FirstMark(self)


class _FirstMark(CostRecord):
    def __init__(self, record: CostRecord) -> None:
        super().__init__(record.file)
        self.record = record
        self.marked = False

    def mark(self, resumed: bool) -> None:
        if not self.marked:
            self.record.mark(resumed)
            self.marked = True


def _cpu_of_all_ranks(cpu: float) -> float:
    """``cpu`` summed over the ranks of the stage's process group (``cpu`` alone without one)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.distributed.is_available():
        return cpu
    dist = torch.distributed
    if not dist.is_initialized() or dist.get_world_size() < 2:
        return cpu
    device = (
        torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    )
    total = torch.tensor([cpu], dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return float(total.item())


@contextmanager
def stage_cost(stage: str, out_dir: str | Path = "outputs/cost") -> Iterator[CostRecord]:
    """Record the wall time and CPU time of the block in ``out_dir/<stage>.json``.

    ``stage`` is the DVC stage name (``train_supernet@hss`` is written as
    ``train_supernet-hss.json``). CPU time is user + system of this process and its waited-for
    children, summed over the ranks when the stage runs as several processes (each rank adds its
    own in one all-reduce at the end); only rank 0 writes. When the block sets
    ``resumed`` on the yielded record (it continued a killed run), the previous record's times
    are added and ``runs`` counts the invocations. A run killed before it finished records
    nothing, so a kill-and-resume is counted from the resumed run only (an underestimate).
    Nothing is written when the block raises or exits: an interrupted stage leaves the previous
    record. Nor outside DVC (no ``DVC_STAGE`` in the environment): a script run by hand must not
    overwrite the record of the stage DVC ran.
    """
    file = Path(out_dir) / f"{stage.replace('@', '-')}.json"
    if "DVC_STAGE" not in os.environ:
        yield CostRecord()
        return
    record = CostRecord(file)
    start_wall = time.perf_counter()
    start_self = resource.getrusage(resource.RUSAGE_SELF)
    start_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    yield record
    end_self = resource.getrusage(resource.RUSAGE_SELF)
    end_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = sum(
        getattr(end, field) - getattr(begin, field)
        for end, begin in ((end_self, start_self), (end_children, start_children))
        for field in ("ru_utime", "ru_stime")
    )
    cpu = _cpu_of_all_ranks(cpu)
    if os.environ.get("RANK", "0") != "0":
        return
    wall = time.perf_counter() - start_wall
    runs = 1
    if record.resumed and file.is_file():
        try:
            previous = json.loads(file.read_text(encoding="utf-8"))
            wall += float(previous["wall_s"])
            cpu += float(previous["cpu_s"])
            runs += int(previous.get("runs", 1))
        except (ValueError, KeyError, TypeError):
            pass
    torch = sys.modules.get("torch")
    # The threads per process the stage was started with (scalenet.supernet.engine.runtime sets
    # OMP_NUM_THREADS); evaluation after training may use more on rank 0 alone.
    launched = os.environ.get("OMP_NUM_THREADS", "")
    threads = int(launched) if launched.isdigit() else 1
    if not launched.isdigit() and torch is not None:
        threads = int(torch.get_num_threads())
    write_json(
        file,
        {
            "stage": stage,
            "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
            "runs": runs,
            "threads": threads,
            "world_size": int(os.environ.get("WORLD_SIZE", "1")),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    )
