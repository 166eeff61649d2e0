"""scalenet.supernet.engine.runtime: CPU process settings and the local launcher."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path as FilePath
from typing import Any

import pytest

from scalenet.supernet.engine import runtime
from scalenet.supernet.engine.runtime import (
    RELAUNCHED_ENV,
    CpuRuntime,
    find_tcmalloc,
    launch_command,
    launch_local,
    relaunch,
    runtime_env,
)

RUNTIME_FILE = FilePath(runtime.__file__).resolve()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"processes": 0}, "processes must be an integer >= 1, got 0"),
        ({"threads": -1}, "threads must be an integer >= 1, got -1"),
        ({"threads": 1.5}, "threads must be an integer >= 1, got 1.5"),
        ({"processes": True}, "processes must be an integer >= 1, got True"),
        ({"allocator": "jemalloc"}, "allocator 'jemalloc' not in {tcmalloc, system}"),
    ],
)
def test_bad_runtime_values_name_the_field(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("{", r"\{").replace("}", r"\}")):
        CpuRuntime(**kwargs)


def test_find_tcmalloc_prefers_the_minimal_library(tmp_path: FilePath) -> None:
    assert find_tcmalloc([tmp_path]) is None
    (tmp_path / "libtcmalloc.so.4").write_bytes(b"")
    assert find_tcmalloc([tmp_path]) == str(tmp_path / "libtcmalloc.so.4")
    (tmp_path / "libtcmalloc_minimal.so.4").write_bytes(b"")
    assert find_tcmalloc([tmp_path / "missing", tmp_path]) == str(
        tmp_path / "libtcmalloc_minimal.so.4"
    )


def test_runtime_env_sets_threads_and_preloads_once() -> None:
    base = {"PATH": "/bin", "OMP_WAIT_POLICY": "PASSIVE", "LD_PRELOAD": "/x/other.so"}
    env = runtime_env(CpuRuntime(2, 3), base, tcmalloc="/lib/libtcmalloc_minimal.so.4")
    assert env["OMP_NUM_THREADS"] == "3"
    assert env[RELAUNCHED_ENV] == "1"
    assert env["LD_PRELOAD"] == "/lib/libtcmalloc_minimal.so.4:/x/other.so"
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"  # the user's choice is kept
    again = runtime_env(CpuRuntime(2, 3), env, tcmalloc="/lib/libtcmalloc_minimal.so.4")
    assert again["LD_PRELOAD"] == env["LD_PRELOAD"]
    assert base["LD_PRELOAD"] == "/x/other.so"  # the input mapping is not changed


def test_runtime_env_system_allocator_preloads_nothing() -> None:
    env = runtime_env(CpuRuntime(allocator="system"), {"PATH": "/bin"}, tcmalloc="/lib/t.so")
    assert "LD_PRELOAD" not in env
    assert env["OMP_NUM_THREADS"] == "1"


def test_launch_command() -> None:
    assert launch_command("s.py", ["--a", "1"], CpuRuntime(1)) == [
        sys.executable,
        "s.py",
        "--a",
        "1",
    ]
    command = launch_command("s.py", ["--a"], CpuRuntime(3))
    assert command == [sys.executable, str(RUNTIME_FILE), "3", "s.py", "--a"]


RANK_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    out = sys.argv[1]
    keys = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "SCALENET_RUNTIME")
    with open(os.path.join(out, f"rank{os.environ['RANK']}.txt"), "w") as stream:
        stream.write(" ".join(os.environ[key] for key in keys) + f" {os.getpid()} {os.getpgrp()}")
    mode = sys.argv[2]
    if mode == "fail" and os.environ["RANK"] == "1":
        sys.exit(3)
    if mode in ("fail", "sleep"):
        time.sleep(120)
    """
)


def _script(tmp_path: FilePath) -> str:
    script = tmp_path / "ranks.py"
    script.write_text(RANK_SCRIPT)
    return str(script)


def test_launch_local_gives_each_rank_torchrun_variables(tmp_path: FilePath) -> None:
    code = launch_local(2, _script(tmp_path), [str(tmp_path), "ok"])
    assert code == 0
    lines = [(tmp_path / f"rank{rank}.txt").read_text().split() for rank in (0, 1)]
    assert [line[:3] for line in lines] == [["0", "0", "2"], ["1", "1", "2"]]
    assert lines[0][3:6] == lines[1][3:6]  # same address and port
    assert lines[0][3] == "127.0.0.1" and lines[0][5] == "1"
    assert int(lines[0][7]) == int(lines[1][7]) == os.getpgrp()  # one process group with us


def test_launch_local_stops_the_others_when_a_rank_fails(tmp_path: FilePath) -> None:
    started = time.monotonic()
    code = launch_local(2, _script(tmp_path), [str(tmp_path), "fail"])
    assert code == 3
    assert time.monotonic() - started < 60  # rank 0 (sleeping 120 s) was ended


def test_ranks_die_with_a_killed_launcher(tmp_path: FilePath) -> None:
    launcher = subprocess.Popen(
        [sys.executable, str(RUNTIME_FILE), "2", _script(tmp_path), str(tmp_path), "sleep"],
        start_new_session=True,  # kill the launcher alone, not its group
    )
    files = [tmp_path / f"rank{rank}.txt" for rank in (0, 1)]
    deadline = time.monotonic() + 30
    while not all(file.is_file() and file.read_text() for file in files):
        assert time.monotonic() < deadline, "ranks did not start"
        time.sleep(0.05)
    pids = [int(file.read_text().split()[6]) for file in files]
    launcher.send_signal(signal.SIGKILL)
    launcher.wait()
    deadline = time.monotonic() + 10
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _alive(pid)]
        time.sleep(0.05)
    assert not alive, f"ranks {alive} outlived their launcher"


def _alive(pid: int) -> bool:
    try:
        waited, _status = os.waitpid(pid, os.WNOHANG)  # a child of ours? (not here: reaped by init)
    except ChildProcessError:
        waited = 0
    if waited:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = FilePath(f"/proc/{pid}/status")
    return not (status.is_file() and "State:\tZ" in status.read_text())


def test_runtime_main_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert runtime.main([]) == 2
    assert runtime.main(["0", "x.py"]) == 2
    assert runtime.main(["two", "x.py"]) == 2
    assert (
        "usage: python -m scalenet.supernet.engine.runtime PROCESSES SCRIPT"
        in capsys.readouterr().err
    )


def test_launch_local_refuses_zero_processes() -> None:
    with pytest.raises(ValueError, match="processes must be >= 1, got 0"):
        launch_local(0, "x.py", [])


@pytest.mark.parametrize("variable", [RELAUNCHED_ENV, "WORLD_SIZE"])
def test_relaunch_is_a_no_op_when_already_launched(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "1")

    def refuse(*_args: object) -> None:
        raise AssertionError("relaunch must not exec")

    monkeypatch.setattr(os, "execve", refuse)
    relaunch(CpuRuntime(2, 1), ["script.py"])


def test_relaunch_execs_the_launcher_with_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.delenv(RELAUNCHED_ENV, raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    calls: list[tuple[str, list[str], dict[str, str]]] = []
    monkeypatch.setattr(os, "execve", lambda exe, argv, env: calls.append((exe, argv, env)))
    relaunch(CpuRuntime(2, 1, "system"), ["stage.py", "--params", "p.yaml"])
    [(exe, argv, env)] = calls
    assert exe == sys.executable
    assert argv == [sys.executable, str(RUNTIME_FILE), "2", "stage.py", "--params", "p.yaml"]
    assert env["OMP_NUM_THREADS"] == "1" and env[RELAUNCHED_ENV] == "1"


def test_relaunch_leaves_gpu_machines_to_the_launcher(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.delenv(RELAUNCHED_ENV, raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(os, "execve", lambda *_args: pytest.fail("must not exec with a GPU"))
    relaunch(CpuRuntime(2, 1), ["stage.py"])
