"""CPU process settings that decide training and evaluation speed on a few cores.

The networks of a weight-sharing space are small (a few MFLOPs per image) and made of many
memory-bound operations (BatchNorm, hard-swish, depthwise convolutions). On such work three
settings of the *process* matter more than anything inside the step (measured on 2 cores by
``benchmarks/bench_cpu_speed.py``; docs/running.md, "CPU performance"):

* **OpenMP threads must not sleep between operations.** ``OMP_WAIT_POLICY=PASSIVE`` parks the
  worker thread after every parallel region; with hundreds of short operations per step it
  halves the step rate. The default (spin, then sleep) is kept; :func:`runtime_env` never sets
  the policy, so a user who shares the cores with other work may still choose ``PASSIVE``.
* **The allocator.** glibc returns every large block to the kernel and page-faults it back on
  the next step; tcmalloc keeps them. :func:`find_tcmalloc` looks for Debian's
  ``libtcmalloc-minimal4`` (or a ``libtcmalloc.so.4``) and :func:`runtime_env` preloads it.
* **Processes, not threads.** Two single-threaded processes (DDP over gloo) train about 1.5x
  faster than one process with two threads: the small operations do not split well across
  threads, and the gradient all-reduce of a ~1.5 M-parameter supernet costs a few ms.

:func:`relaunch` applies all three to a script: it replaces the current process (``exec``) by
``python script ...`` for one process, or by this module's local launcher for several
(``python .../scalenet/supernet/engine/runtime.py P script ...``, :func:`launch_local`), with
the settings in the environment, once. It does nothing on a machine with a GPU or under an
external launcher (``torchrun`` already set ``WORLD_SIZE``): there the launcher decides.

Why not ``torchrun`` for the local processes: its workers run in sessions of their own, so a
``SIGKILL`` of the stage's process group (what DVC, a terminal or ``scripts/kill_and_resume.py``
send) leaves them training and writing checkpoints beside the resumed run. The local launcher
keeps its workers in the caller's process group and has the kernel kill them when it dies
(``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

__all__ = [
    "ALLOCATORS",
    "RELAUNCHED_ENV",
    "TCMALLOC_NAMES",
    "CpuRuntime",
    "find_tcmalloc",
    "launch_command",
    "launch_local",
    "relaunch",
    "runtime_env",
]

#: Set in the environment of a relaunched process (so it does not relaunch again).
RELAUNCHED_ENV = "SCALENET_RUNTIME"
ALLOCATORS = ("tcmalloc", "system")
#: Library names tried by :func:`find_tcmalloc`, best first.
TCMALLOC_NAMES = ("libtcmalloc_minimal.so.4", "libtcmalloc.so.4")
_LIBRARY_DIRS = (
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
)


@dataclass(frozen=True)
class CpuRuntime:
    """How a CPU stage runs: local worker processes, threads per process, the allocator.

    Attributes:
        processes: Local processes (DDP over gloo when > 1); the batch size is per process.
        threads: Torch (OpenMP) threads per process.
        allocator: ``tcmalloc`` (preloaded when installed, else the system's) or ``system``.
    """

    processes: int = 1
    threads: int = 1
    allocator: str = "tcmalloc"

    def __post_init__(self) -> None:
        for name in ("processes", "threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.allocator not in ALLOCATORS:
            raise ValueError(f"allocator {self.allocator!r} not in {{{', '.join(ALLOCATORS)}}}")


def find_tcmalloc(directories: Sequence[str | os.PathLike[str]] = _LIBRARY_DIRS) -> str | None:
    """The path of an installed tcmalloc shared library, or None.

    Debian: ``apt-get install libtcmalloc-minimal4`` (scripts/setup.sh installs it).
    """
    for name in TCMALLOC_NAMES:
        for directory in directories:
            candidate = Path(directory) / name
            if candidate.is_file():
                return str(candidate)
    return None


def runtime_env(
    runtime: CpuRuntime,
    environ: Mapping[str, str] | None = None,
    tcmalloc: str | None = None,
) -> dict[str, str]:
    """The environment of a process run with ``runtime`` (a copy of ``environ``).

    Sets ``OMP_NUM_THREADS`` to ``runtime.threads``, marks the process as relaunched and, with
    ``allocator='tcmalloc'``, puts the library (``tcmalloc``, default :func:`find_tcmalloc`) first
    in ``LD_PRELOAD`` unless it is already there. Leaves ``OMP_WAIT_POLICY`` as it was.
    """
    env = dict(os.environ if environ is None else environ)
    env["OMP_NUM_THREADS"] = str(runtime.threads)
    env[RELAUNCHED_ENV] = "1"
    if runtime.allocator == "tcmalloc":
        library = tcmalloc if tcmalloc is not None else find_tcmalloc()
        preload = [item for item in env.get("LD_PRELOAD", "").split(":") if item]
        if library is not None and library not in preload:
            env["LD_PRELOAD"] = ":".join([library, *preload])
    return env


def launch_command(script: str, args: Sequence[str], runtime: CpuRuntime) -> list[str]:
    """The command that runs ``script args`` with ``runtime.processes`` local processes."""
    if runtime.processes == 1:
        return [sys.executable, script, *args]
    # The file itself, not ``-m scalenet.supernet.engine.runtime``: the launcher imports no torch.
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        str(runtime.processes),
        script,
        *args,
    ]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Have the kernel send SIGKILL to this child when its parent dies (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def launch_local(processes: int, script: str, args: Sequence[str]) -> int:
    """Run ``python script args`` as ``processes`` ranks on this machine; return the exit code.

    Each rank gets torchrun's variables (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR``, ``MASTER_PORT`` on a free loopback port), so
    :func:`scalenet.supernet.engine.init_distributed` joins a gloo group as under torchrun. The
    ranks stay in this process group (a kill of the group reaches them) and die with this
    process. The first rank that fails ends the others (SIGTERM, then SIGKILL after 10 s); its
    exit code is returned. SIGINT and SIGTERM are passed on to the ranks.
    """
    if processes < 1:
        raise ValueError(f"processes must be >= 1, got {processes}")
    port = _free_port()
    children: list[subprocess.Popen[bytes]] = []
    for rank in range(processes):
        env = dict(os.environ)
        env.update(
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE=str(processes),
            LOCAL_WORLD_SIZE=str(processes),
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
        )
        env[RELAUNCHED_ENV] = "1"
        children.append(
            subprocess.Popen([sys.executable, script, *args], env=env, preexec_fn=_die_with_parent)
        )

    def forward(signum: int, _frame: FrameType | None) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = 0
        running = list(children)
        while running:
            for child in list(running):
                status = child.poll()
                if status is None:
                    continue
                running.remove(child)
                if status != 0 and code == 0:
                    code = status if status > 0 else 128 - status
                    _stop(running)
            time.sleep(0.05)
        return code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop(children: Sequence[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + 10
    for child in children:
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()


def _should_relaunch(environ: Mapping[str, str]) -> bool:
    if environ.get(RELAUNCHED_ENV) == "1" or "WORLD_SIZE" in environ:
        return False
    import torch  # lazy: the settings above are plain values

    return not torch.cuda.is_available()


def relaunch(runtime: CpuRuntime, argv: Sequence[str] | None = None) -> None:
    """Re-run this script under ``runtime`` (replaces the process); return at once if not needed.

    Nothing happens in a process that was already relaunched, under an external launcher
    (``WORLD_SIZE`` set, e.g. ``torchrun``) or when CUDA is available. Otherwise the process is
    replaced (``os.execve``: same process id, so a signal from DVC or a terminal still reaches
    it) by :func:`launch_command` with :func:`runtime_env`.

    Args:
        runtime: Processes, threads and allocator.
        argv: The script and its arguments (default ``sys.argv``).
    """
    if not _should_relaunch(os.environ):
        return
    script, *args = list(sys.argv if argv is None else argv)
    command = launch_command(script, args, runtime)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], command, runtime_env(runtime))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m scalenet.supernet.engine.runtime PROCESSES SCRIPT [ARGS...]``: launch_local.

    Also runs as ``python path/to/runtime.py ...`` (what :func:`launch_command` does: the
    launcher then imports neither torch nor the rest of the package).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2 or not args[0].isdigit() or int(args[0]) < 1:
        print(
            "usage: python -m scalenet.supernet.engine.runtime PROCESSES SCRIPT [ARGS...]",
            file=sys.stderr,
        )
        return 2
    return launch_local(int(args[0]), args[1], args[2:])


if __name__ == "__main__":
    sys.exit(main())
