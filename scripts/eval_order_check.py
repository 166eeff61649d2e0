"""Check that a path's accuracy does not depend on what was evaluated before it (issue 14).

Evaluates 5 paths of the searched family's space on the default run's HSS super-supernet twice:
first alone, in order, on a fresh evaluator; then in reverse order, after 10 other paths, on
another fresh evaluator. Each path must score the same both times. Writes one JSON.

    python scripts/eval_order_check.py [--params params.yaml] [--out FILE.json]

Run after `dvc repro train_supernet@hss` (it reads outputs/supernet/hss/checkpoint.pt and
data/prepared). Exits 1 if any accuracy differs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path as FilePath

import numpy as np

ROOT = FilePath(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "pipelines"))

from _common import load_params  # noqa: E402
from _supernet import cpu_runtime, load_evaluator  # noqa: E402

from scalenet.sampling import make_sampler  # noqa: E402
from scalenet.space import load_space  # noqa: E402


def main() -> int:
    """Evaluate the probe paths twice; 0 if every accuracy is identical, else 1."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--checkpoint", default="outputs/supernet/hss/checkpoint.pt")
    parser.add_argument("--data", default="data/prepared")
    parser.add_argument("--out", default="benchmarks/results/eval_order.json")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train = load_params(args.params, "train_supernet")
    cpu_runtime("eval_order_check", 1, train["eval_threads"])
    sampler = make_sampler("hss", load_space(train["space"]))
    rng = np.random.default_rng(args.seed)
    paths = [sampler.sample(rng) for _ in range(15)]
    probe, others = paths[:5], paths[5:]
    started = time.perf_counter()
    first_evaluator = load_evaluator(args.checkpoint, args.data, train, train["space"])
    first = {path.encode(): first_evaluator(path) for path in probe}
    second_evaluator = load_evaluator(args.checkpoint, args.data, train, train["space"])
    for path in others:
        second_evaluator(path)
    second = {path.encode(): second_evaluator(path) for path in reversed(probe)}
    rows = [
        {
            "path": key,
            "first": first[key],
            "second": second[key],
            "equal": first[key] == second[key],
        }
        for key in first
    ]
    result = {
        "checkpoint": args.checkpoint,
        "recalibration_images": train["recalib_batches"] * train["eval_batch_size"],
        "eval_side": train["eval_side"],
        "paths": rows,
        "identical": all(row["equal"] for row in rows),
        "seconds": round(time.perf_counter() - started, 1),
    }
    out = FilePath(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for row in rows:
        print(f"{row['first']:6.2f} {row['second']:6.2f} {'same' if row['equal'] else 'DIFFERENT'}"
              f"  {row['path']}")  # fmt: skip
    print(f"identical: {result['identical']} ({result['seconds']} s); written {out}")
    return 0 if result["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
