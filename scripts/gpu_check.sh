#!/usr/bin/env bash
# The GPU check (issue 17, part 3): one command, under 8 minutes on one GPU, one JSON.
#
#   bash scripts/gpu_check.sh              on a machine with a CUDA GPU
#   bash scripts/gpu_check.sh --smoke      a tiny CPU version of every part (checks the scripts)
#   bash scripts/gpu_check.sh --out FILE   the JSON's path (default benchmarks/results/gpu_check.json;
#                                          the parts' files go to FILE's folder, gpu_check/)
#
# Parts, each under its own time limit (150 + 180 + 110 s, plus ~15 s of checks and merging:
# under 480 s in all):
#   throughput  benchmarks/gpu_supernet.py: training steps of the super-supernet over 8 random
#               paths next to the same paths extracted as static networks, and torchvision's
#               efficientnet_b0; batch 256 at 224 px, bf16 autocast, channels-last.
#   train       benchmarks/gpu_train_check.py under the torchrun launcher
#               (python -m torch.distributed.run --standalone --nproc_per_node=$GPU_CHECK_NPROC):
#               200 train_supernet iterations (imagenet space, HSS, bcnet) on synthetic
#               ImageNet-sized batches (354 px, 1000 classes), 128 per process; writes the
#               checkpoint the search part loads.
#   search      benchmarks/gpu_search_check.py under the same launcher: MCEA with P = 4, N = 1,
#               T = 1, K = 1 and the paper's budgets, scored by the super-supernet evaluator on
#               the GPU (BN recalibration on fixed random batches, both sides; with several
#               processes each scores its share); stops after 70 s of searching.
# A part that fails or runs out of time is recorded with its error and the tail of its log, and
# the next part still runs. Exit status: 0 when every part succeeded, 1 when one did not, 2 at
# once (one line on stderr, nothing written) when no CUDA GPU is visible or torch is missing.
#
# What it needs: python with torch >= 2.4 and CUDA (meant for the GPU machine's preinstalled
# torch 2.11; not yet run on a GPU when this was written), numpy and pyyaml (every part), tqdm (train: the trainer's progress bar), deap (search:
# NSGA-II), torchvision (optional: throughput's efficientnet_b0 reference). No ffcv, dvc, scipy
# or nox. Our packages come from packages/*/src on PYTHONPATH: nothing is pip-installed, nothing
# is fetched from the network. Where tqdm, deap, numpy or pyyaml is missing, GPU_CHECK_WHEELS may
# name a folder of their wheels, made on a machine with network access (deap 1.4.4 and tqdm are
# pure-Python wheels: `pip download --no-deps --only-binary=:all: -d wheels deap tqdm`; numpy
# and pyyaml would need the GPU machine's Python version and platform), and they are installed
# from it into the results folder (pip --target), not into the system.
#
# Environment: PYTHON (default python3), GPU_CHECK_NPROC (processes of the train and search
# parts, default 1), GPU_CHECK_WHEELS (see above). The smoke mode sets OMP_NUM_THREADS=1 unless set.
set -uo pipefail
here=$(pwd)
cd "$(dirname "$0")/.." || exit 2
root=$(pwd)

smoke=0
out="$root/benchmarks/results/gpu_check.json"
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=1 ;;
    --out) out="${2:?--out needs a file}"; shift
      case "$out" in /*) ;; *) out="$here/$out" ;; esac ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu_check: unknown option '$1' (allowed: --smoke, --out FILE)" >&2; exit 2 ;;
  esac
  shift
done

py="${PYTHON:-python3}"
nproc="${GPU_CHECK_NPROC:-1}"
if ! command -v "$py" >/dev/null 2>&1; then
  echo "gpu_check: no python interpreter '$py' (set PYTHON)" >&2
  exit 2
fi

# 1. Fail fast: a GPU must be visible (seconds: the time to import torch).
if [ "$smoke" = 0 ]; then
  if ! probe=$(timeout 120 "$py" -c 'import torch; print(int(torch.cuda.is_available()))' 2>&1); then
    echo "gpu_check: $py cannot import torch ($(printf '%s\n' "$probe" | tail -n 1))" >&2
    exit 2
  fi
  if [ "$(printf '%s\n' "$probe" | tail -n 1)" != 1 ]; then
    echo "gpu_check: no CUDA GPU visible (torch.cuda.is_available() is False); run this on a" \
      "machine with a GPU" >&2
    exit 2
  fi
else
  export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
fi

started=$(date +%s)
work="$(dirname "$out")/gpu_check"
rm -rf "$work"
mkdir -p "$work"
deps="$work/pydeps"
sources=""
for package in space sampling search supernet; do
  sources="$sources:$root/packages/scalenet-$package/src"
done
export PYTHONPATH="$deps$sources${PYTHONPATH:+:$PYTHONPATH}"

# 2. Dependencies: report what is missing; install it from GPU_CHECK_WHEELS when given.
missing() {
  "$py" -c 'import importlib.util as u
names = {"numpy": "numpy", "yaml": "pyyaml", "tqdm": "tqdm", "deap": "deap"}
print(" ".join(pip for module, pip in names.items() if u.find_spec(module) is None))'
}
lacking=$(missing)
if [ -n "$lacking" ] && [ -n "${GPU_CHECK_WHEELS:-}" ]; then
  echo "gpu_check: installing $lacking from $GPU_CHECK_WHEELS into $deps"
  # shellcheck disable=SC2086  # one word per package
  "$py" -m pip install --quiet --no-index --no-deps --find-links "$GPU_CHECK_WHEELS" \
    --target "$deps" $lacking || echo "gpu_check: warning: the wheel install failed" >&2
  lacking=$(missing)
fi
case " $lacking " in
  *" numpy "*|*" pyyaml "*)
    echo "gpu_check: python lacks $lacking (numpy and pyyaml are needed by every part;" \
      "see GPU_CHECK_WHEELS in $0)" >&2
    exit 1 ;;
esac
[ -z "$lacking" ] || echo "gpu_check: warning: python lacks $lacking (train needs tqdm, search" \
  "needs deap): those parts will record the error" >&2

# 3. The parts, one after the other, each under `timeout` (which also ends torchrun's workers).
smoke_flag=()
[ "$smoke" = 1 ] && smoke_flag=(--smoke)
: >"$work/parts.txt"
run_part() {  # NAME LIMIT_S COMMAND...
  local name=$1 limit=$2
  shift 2
  local begin end rc
  echo "gpu_check: $name (limit ${limit} s): $*"
  begin=$(date +%s.%N)
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$work/$name.log"
  rc=${PIPESTATUS[0]}
  end=$(date +%s.%N)
  echo "$name $rc $limit $begin $end" >>"$work/parts.txt"
  echo "gpu_check: $name: exit $rc"
}
run_part throughput 150 "$py" benchmarks/gpu_supernet.py --out "$work/throughput.json" \
  ${smoke_flag[@]+"${smoke_flag[@]}"}
run_part train 180 "$py" -m torch.distributed.run --standalone --nproc_per_node="$nproc" \
  benchmarks/gpu_train_check.py --out "$work/train" ${smoke_flag[@]+"${smoke_flag[@]}"}
run_part search 110 "$py" -m torch.distributed.run --standalone --nproc_per_node="$nproc" \
  benchmarks/gpu_search_check.py --checkpoint "$work/train/checkpoint.pt" \
  --out "$work/search.json" --time-limit 70 ${smoke_flag[@]+"${smoke_flag[@]}"}

# 4. One JSON: the machine, each part's figures or its error, the headline figures.
"$py" - "$out" "$work" "$smoke" "$started" <<'EOF'
import json, platform, sys, time
from pathlib import Path

import torch

out, work, smoke, started = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "1", int(sys.argv[4])
results = {
    "throughput": work / "throughput.json",
    "train": work / "train" / "train_check.json",
    "search": work / "search.json",
}
parts, ok = {}, True
for line in (work / "parts.txt").read_text().splitlines():
    name, rc, limit, begin, end = line.split()
    rc, limit = int(rc), int(limit)
    part = {"exit": rc, "seconds": round(float(end) - float(begin), 1), "limit_s": limit}
    log = (work / f"{name}.log").read_text(errors="replace").splitlines()
    if rc == 0 and results[name].is_file():
        part["ok"] = True
        part["result"] = json.loads(results[name].read_text())
    else:
        ok = False
        part["ok"] = False
        if rc in (124, 137):
            part["error"] = f"timed out after {limit} s (exit {rc})"
        else:
            lines = [text.strip() for text in log if text.strip()]
            marked = [t for t in lines if t.startswith("gpu_") or "Error" in t or "error:" in t]
            part["error"] = (marked or lines or [f"exit {rc}, no output"])[-1]
        part["log_tail"] = log[-15:]
        metrics = work / "train" / "metrics.jsonl"
        if name == "train" and metrics.is_file():  # how far it got
            records = [json.loads(text) for text in metrics.read_text().splitlines() if text]
            if records:
                part["partial"] = {k: records[-1][k] for k in ("iteration", "images_per_second")}
    parts[name] = part


def figure(name, key):
    return parts.get(name, {}).get("result", {}).get(key)


cuda = torch.cuda.is_available()
report = {
    "check": "gpu_check",
    "smoke": smoke,
    "ok": ok,
    "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
    "seconds": round(time.time() - started, 1),
    "budget_s": 480,
    "python": platform.python_version(),
    "torch": torch.__version__,
    "cuda": torch.version.cuda,
    "gpu": torch.cuda.get_device_name(0) if cuda else None,
    "gpu_count": torch.cuda.device_count() if cuda else 0,
    "summary": {
        "supernet_img_s_mean": figure("throughput", "supernet_img_s_mean"),
        "static_img_s_mean": figure("throughput", "static_img_s_mean"),
        "static_over_supernet_median": figure("throughput", "static_over_supernet_median"),
        "efficientnet_b0_img_s": figure("throughput", "efficientnet_b0_img_s"),
        "train_images_per_second": figure("train", "images_per_second"),
        "train_images_per_second_after_first_window": figure(
            "train", "images_per_second_after_first_window"
        ),
        "search_evaluations_per_second": figure("search", "evaluations_per_second"),
    },
    "parts": parts,
}
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps(report, indent=2) + "\n")
print(json.dumps({key: report[key] for key in ("ok", "seconds", "torch", "gpu", "summary")}, indent=2))
print(f"gpu_check: wrote {out}")
sys.exit(0 if ok else 1)
EOF
