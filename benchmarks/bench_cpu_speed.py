"""CPU speed of super-supernet training and path evaluation: the baseline next to the new default.

Run on a machine with nothing else running (2 cores here)::

    python benchmarks/bench_cpu_speed.py            # about 10 minutes; JSON in benchmarks/results/

Every measurement runs in a fresh subprocess with the environment of its configuration, one after
the other (never two at once), on the same paths:

* ``baseline``: the code path of release 0.1 as the default run called it: one process with two
  threads, NCHW tensors, glibc malloc, ``OMP_WAIT_POLICY=PASSIVE`` (dvc.yaml set it), batch 64.
  It stays runnable: ``channels_last: false``, ``processes: 1``, ``threads: 2``,
  ``eval_processes: 1``, ``eval_threads: 2`` in params.yaml and
  ``OMP_WAIT_POLICY=PASSIVE SCALENET_ALLOCATOR=system SCALENET_CPU_KERNELS=0`` in the
  environment.
* ``new``: the default now: two single-threaded processes (gloo, 2 x 32 = 64 images per step),
  channels-last, tcmalloc preloaded, OpenMP's default wait policy
  (scalenet.supernet.engine.runtime) and the CPU kernels of scalenet.supernet.kernels (Numba's
  depthwise weight gradient, 1x1 convolutions as matrix products; for evaluation the fused
  BatchNorm + activation of the recalibration and the folded eval-mode forward). The
  baseline turns the kernels off (``SCALENET_CPU_KERNELS=0``).

Measured, for 10 random paths of the default space near f0 and 10 near the largest budget f_M:

* training images/s of one SGD step (``SupernetTrainer.step``: BCNet's left and right network,
  a forward and backward pass each) for the baseline and the new path; the same work on the
  path's two networks extracted as static networks (new settings); and torchvision's
  ``mobilenet_v3_small`` (one pass per image) at the group's resolution, batch and
  processes/threads;
* evaluation images/s (BN recalibration on 200 images + top-1 on 500 mini-val images, as the
  default run), baseline (one process of two threads) and new (the paths shared out over two
  one-thread processes, as ``eval_processes: 2, eval_threads: 1`` runs the search and
  ``evaluate_paths``): per path (its images over its seconds, times the processes working side
  by side) and for the whole set (images over wall time);
* achieved GMAC/s of training (3 x forward MACs x passes per image x images/s: the paper's
  "FLOPs" are MACs; BCNet makes two passes per image) and its ratio to an SGEMM (1024^3, MACs/s)
  measured in the same run, one and two threads;
* the plain two-convolution CNN of docs (3.9 M MACs at 28 px, batch 128, one process, two threads);
* the in-stage rate: ``pipelines/train_supernet.py`` for 100 iterations on the prepared
  Fashion-MNIST (data, resize, sampling, logging, checkpoints included), baseline vs new, and
  the mean loss of its last 30 iterations for seeds 0 and 1 of each (the seed-to-seed spread is
  the noise the difference is compared with; ``--stage-only`` reruns just this part);
* an ablation: the supernet step with one setting changed at a time, baseline to new.

The JSON has ``train_speedup_median``, ``stage_speedup``, ``eval_speedup_median`` and
``supernet_over_static_median`` (goals: >= 5, >= 5, >= 5, <= 1.3).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path as FilePath
from typing import Any

import numpy as np

ROOT = FilePath(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "cpu_speed.json"
SPACE = "fmnist"
GOALS = {
    "train_speedup_median": 5.0,
    "stage_speedup": 5.0,
    "eval_speedup_median": 5.0,
    "supernet_over_static_median": 1.3,
}

# -- configurations ---------------------------------------------------------------------------


#: One setting changed at a time, from the baseline to the new default (the ablation).
ABLATION = (
    ("baseline", {"passive": True, "tcmalloc": False, "processes": 1, "threads": 2,
                  "channels_last": False, "sync": "ddp", "batch": 64, "kernels": False}),
    ("+ default OpenMP wait policy", {"passive": False}),
    ("+ channels-last", {"channels_last": True}),
    ("+ tcmalloc", {"tcmalloc": True}),
    ("+ 2 processes x 1 thread (DDP)", {"processes": 2, "threads": 1, "batch": 32}),
    ("+ flat all-reduce of the path's gradients", {"sync": "allreduce"}),
    ("+ CPU kernels: depthwise weight gradient, 1x1 as matmul (new)", {"kernels": True}),
)  # fmt: skip


def config_env(
    name: str, threads: int, passive: bool | None = None, kernels: bool | None = None
) -> dict[str, str]:
    """The environment of a configuration: ``baseline`` (0.1's) or ``new`` (the default now).

    ``passive`` overrides the OpenMP wait policy of the configuration and ``kernels`` whether
    scalenet.supernet.kernels are on (the ablation).
    """
    from scalenet.supernet.engine.runtime import CpuRuntime, runtime_env

    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.pop("OMP_WAIT_POLICY", None)
    env.pop("SCALENET_RUNTIME", None)
    env.pop("SCALENET_CPU_KERNELS", None)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "pipelines"), *filter(None, [env.get("PYTHONPATH")])]
    )
    if name == "baseline":
        env["OMP_NUM_THREADS"] = str(threads)
        env["SCALENET_ALLOCATOR"] = "system"
        env["SCALENET_CPU_KERNELS"] = "0"
    else:
        env = runtime_env(CpuRuntime(1, threads, "tcmalloc"), env)
        env.pop("SCALENET_RUNTIME")
    if passive if passive is not None else name == "baseline":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    if kernels is not None:
        env["SCALENET_CPU_KERNELS"] = "1" if kernels else "0"
    return env


def run_worker(
    config: str,
    processes: int,
    threads: int,
    task: dict[str, Any],
    timeout: float = 1800,
    passive: bool | None = None,
    kernels: bool | None = None,
) -> Any:
    """Run ``task`` in fresh process(es) of ``config``; return rank 0's JSON answer."""
    with tempfile.TemporaryDirectory() as folder:
        answer = FilePath(folder) / "answer.json"
        spec = FilePath(folder) / "task.json"
        spec.write_text(json.dumps({**task, "answer": str(answer), "threads": threads}))
        script = [str(FilePath(__file__).resolve()), "--worker", str(spec)]
        if processes > 1:
            from scalenet.supernet.engine.runtime import CpuRuntime, launch_command

            command = launch_command(script[0], script[1:], CpuRuntime(processes, threads))
        else:
            command = [sys.executable, *script]
        env = config_env(config, threads, passive, kernels)
        subprocess.run(command, env=env, check=True, timeout=timeout)
        return json.loads(answer.read_text())


# -- worker side ------------------------------------------------------------------------------


def _paths(texts: list[str]) -> list[Any]:
    from scalenet.space import Path

    return [Path.decode(text) for text in texts]


class FixedSampler:
    """A sampler that always draws the same path (one path's training steps)."""

    def __init__(self, path: Any) -> None:
        self.path = path

    def sample(self, rng: np.random.Generator) -> Any:
        return self.path


def _median_step(step: Any, steps: int, warmup: int = 2) -> float:
    times = []
    for index in range(warmup + steps):
        start = time.perf_counter()
        step()
        if index >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def worker_train(task: dict[str, Any]) -> Any:
    """Median step time per path of one model kind under this process's configuration."""
    import torch
    from torch import nn

    from scalenet.space import count, load_space
    from scalenet.supernet import SuperSupernet
    from scalenet.supernet.engine import init_distributed

    torch.set_num_threads(task["threads"])
    context = init_distributed("cpu")
    space = load_space(SPACE)
    batch, kind = task["batch"], task["kind"]
    generator = torch.Generator().manual_seed(context.rank)
    results = []
    for text in task["paths"] or [None]:
        torch.manual_seed(0)
        resolution = task.get("resolution", 28)
        images = torch.randn(batch, 3, resolution, resolution, generator=generator)
        labels = torch.randint(0, 10, (batch,), generator=generator)
        # forward-backward passes per image: BCNet trains the left and the right network
        passes = 2 if kind in ("supernet", "static") else 1
        if kind == "supernet":
            path = _paths([text])[0]
            seconds = _time_supernet(space, path, images, labels, context, task)
            macs = count(space, path).flops
        elif kind == "static":
            path = _paths([text])[0]
            supernet = SuperSupernet(space, width_mode="bcnet")
            pair = [supernet.extract(path, side).train() for side in ("left", "right")]
            seconds = _time_static_pair(pair, images, labels, context, task)
            macs = count(space, path).flops
        else:
            model: nn.Module = _reference_model(kind)
            macs = _forward_macs(model, resolution)
            seconds = _time_module(model, images, labels, context, task)
        images_per_second = batch * context.world_size / seconds
        results.append(
            {
                "path": text,
                "macs": int(macs),
                "passes": passes,
                "images_per_second": round(images_per_second, 1),
                "gmacs_per_second": round(3 * macs * passes * images_per_second / 1e9, 2),
            }
        )
    return results if context.is_main else None


def _time_supernet(
    space: Any, path: Any, images: Any, labels: Any, context: Any, task: dict[str, Any]
) -> float:
    """Median time of ``SupernetTrainer.step`` on ``path`` (the stage's own step)."""
    from scalenet.supernet import SupernetTrainer, SuperSupernet, TrainConfig

    supernet = SuperSupernet(space, width_mode="bcnet")
    config = TrainConfig(
        iterations=10_000,
        lr=0.01,
        channels_last=task["channels_last"],
        gradient_sync=task.get("sync", "auto"),
        progress=False,
    )
    with tempfile.TemporaryDirectory() as out:
        trainer = SupernetTrainer(supernet, FixedSampler(path), [], config, out, context)
        return _median_step(lambda: trainer.step(images, labels), task["steps"])


def _time_module(model: Any, images: Any, labels: Any, context: Any, task: dict[str, Any]) -> float:
    """Median time of one SGD step of a static module (DDP across the ranks)."""
    import torch
    from torch import nn
    from torch.nn.parallel import DistributedDataParallel

    if task["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    wrapped = DistributedDataParallel(model) if context.distributed else model
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        criterion(wrapped(images), labels).backward()
        optimizer.step()

    return _median_step(step, task["steps"])


def _time_static_pair(
    pair: list[Any], images: Any, labels: Any, context: Any, task: dict[str, Any]
) -> float:
    """Median time of the supernet step's work on static networks: the path's left and right
    networks, a forward and backward pass each with half the loss, one flat all-reduce of the
    gradients and one SGD step (what ``SupernetTrainer.step`` does with ``width_mode='bcnet'``,
    without the slicing)."""
    import torch
    from torch import nn

    from scalenet.supernet.engine import allreduce_gradients, broadcast_module

    if task["channels_last"]:
        pair = [model.to(memory_format=torch.channels_last) for model in pair]
        images = images.contiguous(memory_format=torch.channels_last)
    parameters = [p for model in pair for p in model.parameters()]
    for model in pair:
        broadcast_module(model, context)
    optimizer = torch.optim.SGD(parameters, lr=0.01, momentum=0.9, nesterov=True)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        for model in pair:
            (criterion(model(images), labels) / len(pair)).backward()
        allreduce_gradients(parameters, context)
        optimizer.step()

    return _median_step(step, task["steps"])


def _reference_model(kind: str) -> Any:
    from torch import nn

    if kind == "mobilenet_v3_small":
        from torchvision.models import mobilenet_v3_small

        return mobilenet_v3_small(num_classes=10).train()
    if kind == "plain_cnn":  # conv3x3 32 - BN - ReLU - pool - conv3x3 64 - BN - ReLU - pool - fc
        return nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, 10),
        ).train()
    raise ValueError(f"model kind {kind!r} not in {{mobilenet_v3_small, plain_cnn}}")


def _forward_macs(model: Any, resolution: int) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    model.eval()
    with counter, torch.no_grad():
        model(torch.zeros(1, 3, resolution, resolution))
    model.train()
    return int(counter.get_total_flops()) // 2  # FlopCounterMode counts 2 FLOPs per MAC


def worker_eval(task: dict[str, Any]) -> Any:
    """Seconds of each path's evaluation (BN recalibration + mini-val top-1) on this rank.

    Under several processes the paths are shared out as the stages share them
    (``distributed_map``): each rank evaluates whole paths, one after the other, on its own
    thread(s); the answer lists every path with the rank that evaluated it.
    """
    import torch

    from scalenet.space import load_space
    from scalenet.supernet import SupernetEvaluator, SuperSupernet
    from scalenet.supernet.engine import distributed_map, init_distributed

    torch.set_num_threads(task["threads"])
    context = init_distributed("cpu")
    torch.manual_seed(0)
    space = load_space(SPACE)
    supernet = SuperSupernet(space, width_mode="bcnet")
    if task["channels_last"]:
        supernet.to(memory_format=torch.channels_last)
    generator = torch.Generator().manual_seed(0)
    recalib, minival = task["recalib_images"], task["minival_images"]
    recalibration = (torch.randn(recalib, 3, 28, 28, generator=generator), torch.arange(recalib))
    val = (torch.randn(minival, 3, 28, 28, generator=generator), torch.arange(minival) % 10)
    evaluator = SupernetEvaluator(supernet, [recalibration], [val], recalib_batches=1, side="left")
    paths = _paths(task["paths"])
    evaluator.evaluate(paths[0])  # warm-up (Numba's cache, oneDNN's primitives)
    context.barrier()
    started = time.perf_counter()

    def timed(index: int) -> dict[str, Any]:
        start = time.perf_counter()
        evaluator.evaluate(paths[index])
        seconds = time.perf_counter() - start
        return {"path": task["paths"][index], "rank": context.rank, "seconds": seconds}

    results = distributed_map(context)(timed, range(len(paths)))
    wall = time.perf_counter() - started
    images = recalib + minival
    for result in results:
        # every rank evaluates at the same time: a path's share of the throughput
        result["images_per_second"] = round(images / result["seconds"] * context.world_size, 1)
        result["seconds"] = round(result["seconds"], 4)
    throughput = round(images * len(paths) / wall, 1)
    return {"paths": results, "throughput": throughput} if context.is_main else None


def worker_sgemm(task: dict[str, Any]) -> Any:
    """MACs/s of a 1024^3 fp32 matmul (median of 20)."""
    import torch

    torch.set_num_threads(task["threads"])
    size = 1024
    a, b = torch.randn(size, size), torch.randn(size, size)
    seconds = _median_step(lambda: torch.mm(a, b), 20, warmup=3)
    return {"gmacs_per_second": round(size**3 / seconds / 1e9, 1)}


WORKERS = {"train": worker_train, "eval": worker_eval, "sgemm": worker_sgemm}


def worker_main(spec_file: str) -> None:
    task = json.loads(FilePath(spec_file).read_text())
    result = WORKERS[task["worker"]](task)
    if result is not None:
        FilePath(task["answer"]).write_text(json.dumps(result))


# -- the paths --------------------------------------------------------------------------------


def sample_paths(count_: int, seed: int) -> dict[str, list[str]]:
    """``count_`` random paths within the tolerance of f0 and of f_M."""
    from scalenet.space import Path, compute_budgets, count, load_space, random_base_batch

    space = load_space(SPACE)
    budgets = compute_budgets(space, samples=100_000, seed=0)
    rng = np.random.default_rng(seed)
    groups: dict[str, list[str]] = {}
    for name, stage in (("near_f0", 0), ("near_fM", space.scaling.max_stage)):
        target = budgets.budget(stage)
        tolerance = budgets.tolerance * 2**stage
        strategies = space.scaling.strategies(stage)
        found: list[str] = []
        for _ in range(200_000):
            base = random_base_batch(space, 1, rng).path(0, space).base
            path = Path(base, strategies[int(rng.integers(len(strategies)))])
            if abs(count(space, path).flops - target) <= tolerance:
                found.append(path.encode())
                if len(found) == count_:
                    break
        groups[name] = found
    return groups


def resolution_of(text: str) -> int:
    from scalenet.space import Path, count, load_space

    return int(count(load_space(SPACE), Path.decode(text)).resolution)


# -- the in-stage runs ------------------------------------------------------------------------


def ensure_data(folder: FilePath) -> FilePath:
    """The prepared data of the default run (data/prepared), made in ``folder`` if missing."""
    prepared = ROOT / "data" / "prepared"
    if (prepared / "manifest.json").is_file():
        return prepared
    target = folder / "prepared"
    subprocess.run(
        [sys.executable, "pipelines/prepare.py", "--params", "params.yaml", "--out", str(target)],
        cwd=ROOT,
        check=True,
    )
    return target


def stage_run(
    config: str, iterations: int, data: FilePath, folder: FilePath, seed: int = 0
) -> dict[str, Any]:
    """``pipelines/train_supernet.py`` for ``iterations`` under ``config``; its rate and loss."""
    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    section = params["train_supernet"]
    section.update(iterations=iterations, seed=seed)
    if config == "baseline":
        section.update(
            batch_size=64, processes=1, threads=2, eval_processes=1, eval_threads=2,
            channels_last=False,
        )  # fmt: skip
    params_file = folder / f"params-{config}-{seed}.yaml"
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    out = folder / f"stage-{config}-{seed}"
    env = config_env(config, 2)
    command = [
        sys.executable,
        "pipelines/train_supernet.py",
        "--params",
        str(params_file),
        "--sampler",
        "hss",
        "--data",
        str(data),
        "--out",
        str(out),
    ]
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    summary = json.loads((out / "eval.json").read_text())
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    last = [r["loss"] for r in records if r["iteration"] > iterations - 30]
    return {
        "seed": seed,
        "train_images_per_second": summary["train_images_per_second"],
        "train_seconds": summary["train_seconds"],
        "stage_wall_s": round(wall, 1),
        "last30_loss_mean": round(float(np.mean(last)), 4),
        "last30_loss_records": last,
    }


def stage_part(args: argparse.Namespace) -> dict[str, Any]:
    """The in-stage rate (seed 0) and the loss check: baseline vs new, two seeds each.

    The loss check compares the mean loss of the last 30 iterations (the mean over the two
    seeds) of the two configurations with the seed-to-seed spread of each: the difference is
    within noise when it is below twice its standard error, estimated from the pooled variance
    of the two seeds of each configuration.
    """
    with tempfile.TemporaryDirectory() as folder:
        data = ensure_data(FilePath(folder))
        runs = {
            (config, seed): stage_run(config, args.stage_iterations, data, FilePath(folder), seed)
            for config in ("baseline", "new")
            for seed in (0, 1)
        }
        print("stage runs done", flush=True)
    losses = {
        config: np.asarray([runs[config, seed]["last30_loss_mean"] for seed in (0, 1)])
        for config in ("baseline", "new")
    }
    pooled_variance = float(np.mean([values.var(ddof=1) for values in losses.values()]))
    standard_error = float(np.sqrt(pooled_variance / 2 + pooled_variance / 2))
    difference = float(losses["new"].mean() - losses["baseline"].mean())
    rate = {c: runs[c, 0]["train_images_per_second"] for c in ("baseline", "new")}
    return {
        "stage": {f"{config}_seed{seed}": run for (config, seed), run in runs.items()},
        "stage_speedup": round(rate["new"] / rate["baseline"], 2),
        "loss_check": {
            "iterations": args.stage_iterations,
            "baseline_last30_mean_by_seed": losses["baseline"].round(4).tolist(),
            "new_last30_mean_by_seed": losses["new"].round(4).tolist(),
            "difference_of_means": round(difference, 4),
            "standard_error_from_seeds": round(standard_error, 4),
            "within_2_standard_errors": bool(abs(difference) <= 2 * standard_error),
        },
    }


# -- orchestration ----------------------------------------------------------------------------


def ablation(groups: dict[str, list[str]], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Training images/s of the supernet step, one setting changed at a time (3 paths a group)."""
    paths = [text for texts in groups.values() for text in texts[:3]]
    settings: dict[str, Any] = {}
    rows = []
    for label, change in ABLATION:
        settings.update(change)
        rates = run_worker(
            "new" if settings["tcmalloc"] else "baseline",
            settings["processes"],
            settings["threads"],
            {"worker": "train", "steps": args.steps, "kind": "supernet", "paths": paths,
             "batch": settings["batch"], "channels_last": settings["channels_last"],
             "sync": settings["sync"]},
            passive=settings["passive"],
            kernels=settings["kernels"],
        )  # fmt: skip
        rows.append(
            {
                "setting": label,
                **{key: settings[key] for key in sorted(settings)},
                "images_per_second": [rate["images_per_second"] for rate in rates],
            }
        )
        print(f"ablation {label}: {rows[-1]['images_per_second']}", flush=True)
    first = rows[0]["images_per_second"]
    for row in rows:
        row["speedup_median"] = round(
            median([new / old for new, old in zip(row["images_per_second"], first, strict=True)]), 2
        )
    return rows


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--paths", type=int, default=10, help="paths per group (near f0, near fM)")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps per path")
    parser.add_argument("--stage-iterations", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument(
        "--stage-only",
        action="store_true",
        help="rerun only the in-stage part and update the loss check in an existing --out JSON",
    )
    args = parser.parse_args()
    if args.worker:
        worker_main(args.worker)
        return
    if args.stage_only:
        target = FilePath(args.out)
        if not target.is_file():
            parser.error(f"--stage-only updates an existing result; {target} does not exist")
        previous: dict[str, Any] = json.loads(target.read_text())
        previous.update(stage_part(args))
        finish(previous, target)
        return
    started = time.perf_counter()
    groups = sample_paths(args.paths, args.seed)
    every = [text for texts in groups.values() for text in texts]
    result: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
        },
        "space": SPACE,
        "paths": groups,
        "configurations": {
            "baseline": "1 process x 2 threads, NCHW, glibc malloc, OMP_WAIT_POLICY=PASSIVE, "
            "batch 64",
            "new": "2 processes x 1 thread (DDP, gloo), channels-last, tcmalloc, batch 2 x 32",
        },
        "unit": "GMAC/s = 3 x forward MACs x passes x images/s / 1e9 (MACs: the paper's FLOPs; "
        "passes: 2 for BCNet's left and right network, 1 for the reference models)",
    }
    sgemm = {
        f"threads_{t}": run_worker("new", 1, t, {"worker": "sgemm"})["gmacs_per_second"]
        for t in (1, 2)
    }
    result["sgemm_gmacs_per_second"] = sgemm
    print(f"SGEMM 1024^3: {sgemm}", flush=True)

    train: dict[str, list[dict[str, Any]]] = {}
    common = {"worker": "train", "steps": args.steps}
    train["baseline"] = run_worker(
        "baseline", 1, 2, {**common, "kind": "supernet", "paths": every, "batch": 64,
                           "channels_last": False}
    )  # fmt: skip
    print("baseline supernet done", flush=True)
    for kind in ("supernet", "static"):
        train[f"new_{kind}"] = run_worker(
            "new", 2, 1, {**common, "kind": kind, "paths": every, "batch": 32,
                          "channels_last": True}
        )  # fmt: skip
        print(f"new {kind} done", flush=True)
    references: dict[str, Any] = {}
    for name, texts in groups.items():
        resolution = int(statistics.median(resolution_of(text) for text in texts))
        references[f"mobilenet_v3_small_{name}"] = {
            "resolution": resolution,
            **run_worker(
                "new", 2, 1, {**common, "kind": "mobilenet_v3_small", "paths": [], "batch": 32,
                              "channels_last": True, "resolution": resolution}
            )[0],
        }  # fmt: skip
    references["plain_cnn"] = {
        "resolution": 28,
        **run_worker(
            "new", 1, 2, {**common, "kind": "plain_cnn", "paths": [], "batch": 128,
                          "channels_last": True, "resolution": 28}
        )[0],
    }  # fmt: skip
    result["references"] = references
    print(f"references: {references}", flush=True)

    per_path = []
    for index, text in enumerate(every):
        base = train["baseline"][index]
        new = train["new_supernet"][index]
        static = train["new_static"][index]
        per_path.append(
            {
                "path": text,
                "group": "near_f0" if index < len(groups["near_f0"]) else "near_fM",
                "macs": new["macs"],
                "baseline_images_per_second": base["images_per_second"],
                "new_images_per_second": new["images_per_second"],
                "static_images_per_second": static["images_per_second"],
                "speedup": round(new["images_per_second"] / base["images_per_second"], 2),
                "supernet_over_static": round(
                    static["images_per_second"] / new["images_per_second"], 3
                ),
                "baseline_gmacs_per_second": base["gmacs_per_second"],
                "new_gmacs_per_second": new["gmacs_per_second"],
                "static_gmacs_per_second": static["gmacs_per_second"],
            }
        )
    result["train_per_path"] = per_path

    evals: dict[str, dict[str, Any]] = {}
    eval_task = {"worker": "eval", "paths": every, "recalib_images": 200, "minival_images": 500}
    evals["baseline"] = run_worker(
        "baseline", 1, 2, {**eval_task, "channels_last": False}
    )  # 0.1: one process of two threads
    evals["new"] = run_worker(
        "new", 2, 1, {**eval_task, "channels_last": True}
    )  # now: the paths shared out over two one-thread processes (eval_processes, eval_threads)
    eval_speedups = [
        new["images_per_second"] / base["images_per_second"]
        for base, new in zip(evals["baseline"]["paths"], evals["new"]["paths"], strict=True)
    ]
    result["eval_per_path"] = [
        {
            "path": base["path"],
            "group": "near_f0" if index < len(groups["near_f0"]) else "near_fM",
            "baseline_images_per_second": base["images_per_second"],
            "new_images_per_second": new["images_per_second"],
            "speedup": round(new["images_per_second"] / base["images_per_second"], 2),
        }
        for index, (base, new) in enumerate(
            zip(evals["baseline"]["paths"], evals["new"]["paths"], strict=True)
        )
    ]
    result["eval_throughput"] = {
        "baseline_images_per_second": evals["baseline"]["throughput"],
        "new_images_per_second": evals["new"]["throughput"],
        "speedup": round(evals["new"]["throughput"] / evals["baseline"]["throughput"], 2),
    }
    print("evaluation done", flush=True)

    result["ablation"] = ablation(groups, args)

    result.update(stage_part(args))

    groups_gmacs = {
        name: {
            key: median([p[f"{key}_gmacs_per_second"] for p in per_path if p["group"] == name])
            for key in ("baseline", "new", "static")
        }
        for name in groups
    }
    result["gmacs_median_by_group"] = groups_gmacs
    # Per core: the new path's two one-thread processes against a one-thread SGEMM on each core.
    result["sgemm_ratio_median_by_group"] = {
        name: {key: round(value / sgemm["threads_1"] / 2, 4) for key, value in values.items()}
        for name, values in groups_gmacs.items()
    }
    result["train_speedup_median"] = round(median([p["speedup"] for p in per_path]), 2)
    result["train_speedup_by_group"] = {
        name: round(median([p["speedup"] for p in per_path if p["group"] == name]), 2)
        for name in groups
    }
    result["supernet_over_static_median"] = round(
        median([p["supernet_over_static"] for p in per_path]), 3
    )
    result["eval_speedup_median"] = round(median(eval_speedups), 2)
    result["eval_speedup_by_group"] = {
        name: round(
            median([p["speedup"] for p in result["eval_per_path"] if p["group"] == name]), 2
        )
        for name in groups
    }
    result["mobilenet_gmacs_vs_supernet"] = {
        name: {
            "mobilenet_v3_small": references[f"mobilenet_v3_small_{name}"]["gmacs_per_second"],
            "supernet_new_median": groups_gmacs[name]["new"],
        }
        for name in groups
    }
    result["seconds"] = round(time.perf_counter() - started, 1)
    finish(result, FilePath(args.out))


def finish(result: dict[str, Any], target: FilePath) -> None:
    """Goals, then the JSON file and a summary on stdout."""
    result["goals"] = GOALS
    result["meets_goal"] = {
        key: (result[key] <= goal if key == "supernet_over_static_median" else result[key] >= goal)
        for key, goal in GOALS.items()
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2) + "\n")
    for key in (
        *GOALS,
        "train_speedup_by_group",
        "eval_speedup_by_group",
        "eval_throughput",
        "gmacs_median_by_group",
        "loss_check",
    ):
        print(f"{key}: {result[key]}")
    print(f"-> {target}")


if __name__ == "__main__":
    main()
