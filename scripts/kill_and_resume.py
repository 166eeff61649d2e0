"""Reliability check: kill `dvc repro STAGE` mid-way, run it again, report what was redone.

    python scripts/kill_and_resume.py train_supernet@hss search retrain@scalenet-3 evaluate \
        --out benchmarks/results/kill_and_resume.json

For each stage: delete its persisted progress (so the forced run starts from zero), force it to
run (`dvc repro -f -s STAGE`), SIGKILL the whole process group once
the stage's resume marker exists (a checkpoint, the search state, or an evaluation cache line)
and a little more time has passed, then `dvc repro STAGE` again and record whether it said it
resumed, how long each part took, and whether a last `dvc repro STAGE` is a no-op. Run it in a
repository where the stage's dependencies are already up to date (after a full `dvc repro`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

#: Stage prefix -> (file whose existence shows resumable progress, text of the resumed run).
MARKERS: dict[str, tuple[str, str]] = {
    "train_supernet": ("outputs/supernet/{item}/checkpoint.pt", "resuming from"),
    "search": ("outputs/search/state/state.json", ""),
    "retrain": ("outputs/retrain/{item}/checkpoint.pt", "resuming from"),
    "evaluate": ("outputs/evaluate/cache.jsonl", ""),
}


def marker(stage: str) -> tuple[Path, str]:
    """The progress file and the resume message of ``stage`` (``name@item``)."""
    name, _, item = stage.partition("@")
    if name == "retrain" and item:
        family, _, j = item.rpartition("-")
        item = f"{family}-S{j}"
    file, text = MARKERS[name]
    return Path(file.format(item=item)), text


def dvc(*args: str) -> subprocess.CompletedProcess[str]:
    """Run dvc in this repository."""
    return subprocess.run(
        [sys.executable, "-m", "dvc", *args], capture_output=True, text=True, check=False
    )


def check(stage: str, grace: float, timeout: float) -> dict[str, object]:
    """Kill ``stage`` once it made resumable progress, resume it, and time both runs."""
    progress_file, resumed_text = marker(stage)
    # Start from zero: the forced run must do real work (the search's evaluation cache too).
    if stage == "search":
        shutil.rmtree(progress_file.parent, ignore_errors=True)
    progress_file.unlink(missing_ok=True)
    before = 0.0
    start = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro", "-f", "-s", stage],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    while time.monotonic() - start < timeout and process.poll() is None:
        if progress_file.exists() and progress_file.stat().st_mtime > before:
            break
        time.sleep(0.2)
    time.sleep(grace)
    finished_early = process.poll() is not None
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    killed_after = time.monotonic() - start
    start = time.monotonic()
    resumed = dvc("repro", stage)
    resume_seconds = time.monotonic() - start
    again = dvc("repro", stage)
    return {
        "stage": stage,
        "killed_after_s": round(killed_after, 1),
        "finished_before_kill": finished_early,
        "resume_exit": resumed.returncode,
        "said_resumed": bool(resumed_text) and resumed_text in resumed.stdout,
        "resume_s": round(resume_seconds, 1),
        "second_repro_noop": again.returncode == 0 and "Running stage" not in again.stdout,
        "resume_tail": resumed.stdout.strip().splitlines()[-3:],
    }


def main() -> None:
    """Check each stage given on the command line; save the results as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stages", nargs="+", help="DVC stage names, e.g. train_supernet@hss")
    parser.add_argument("--grace", type=float, default=5.0, help="seconds after the marker")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--out", default="benchmarks/results/kill_and_resume.json")
    args = parser.parse_args()
    results = []
    for stage in args.stages:
        name = stage.partition("@")[0]
        if name not in MARKERS:
            parser.error(f"stage {stage!r}: not one of {', '.join(MARKERS)} (with @item)")
        result = check(stage, args.grace, args.timeout)
        print(json.dumps(result))
        results.append(result)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
