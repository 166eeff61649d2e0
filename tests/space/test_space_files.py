"""scalenet.space.files: atomic writes and JSON / JSON Lines I/O shared by every package."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from scalenet.space.files import (
    FILE_MODE,
    atomic_write,
    dumps_json,
    file_sha256,
    read_json,
    read_jsonl,
    read_jsonl_lines,
    write_csv,
    write_json,
    write_text,
)


def test_write_json_is_sorted_indented_newline_terminated(tmp_path: Path) -> None:
    target = write_json(tmp_path / "a" / "b.json", {"z": 1, "a": [1, 2]})
    assert target == tmp_path / "a" / "b.json"
    assert target.read_text(encoding="utf-8") == '{\n  "a": [\n    1,\n    2\n  ],\n  "z": 1\n}\n'


def test_write_json_compact_line(tmp_path: Path) -> None:
    target = write_json(tmp_path / "c.json", {"b": [1, 2], "a": "x"}, indent=None)
    assert target.read_bytes() == b'{"a":"x","b":[1,2]}\n'
    assert dumps_json({"b": 1, "a": 2}, indent=None) == '{"a":2,"b":1}\n'


def test_write_csv_quotes_and_uses_unix_line_ends(tmp_path: Path) -> None:
    target = write_csv(tmp_path / "t.csv", ("name", "n"), iter([["a,b", 1], ['say "x"', 2.5]]))
    assert target.read_bytes() == b'name,n\n"a,b",1\n"say ""x""",2.5\n'
    assert stat.S_IMODE(target.stat().st_mode) == FILE_MODE
    assert write_csv(tmp_path / "empty.csv", ("a",), []).read_text() == "a\n"


def test_dumps_json_matches_json_dump_of_the_old_writers() -> None:
    payload = {"k": {"y": 2.5, "x": None}, "a": [True, "é"]}
    assert dumps_json(payload) == json.dumps(payload, indent=2, sort_keys=True) + "\n"


def test_files_are_readable_by_all(tmp_path: Path) -> None:
    for target in (
        write_text(tmp_path / "t.txt", "x"),
        write_json(tmp_path / "j.json", {}),
        atomic_write(tmp_path / "b.bin", lambda temp: Path(temp).write_bytes(b"1"), fsync=True),
    ):
        assert stat.S_IMODE(os.stat(target).st_mode) == FILE_MODE


def test_write_text_keeps_unix_line_ends(tmp_path: Path) -> None:
    target = write_text(tmp_path / "t.md", "a\nb\n")
    assert target.read_bytes() == b"a\nb\n"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = write_text(tmp_path / "keep.txt", "old")

    def broken(temp: str) -> None:
        Path(temp).write_text("half", encoding="utf-8")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="killed mid-write"):
        atomic_write(target, broken)
    assert target.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_atomic_write_passes_the_suffix(tmp_path: Path) -> None:
    seen: list[str] = []
    atomic_write(tmp_path / "f.png", lambda temp: (seen.append(temp), Path(temp).write_bytes(b"")))
    assert seen[0].endswith(".png") is False  # no suffix unless asked
    atomic_write(
        tmp_path / "f.png",
        lambda temp: (seen.append(temp), Path(temp).write_bytes(b"")),
        suffix=".png",
    )
    assert seen[1].endswith(".png")
    assert Path(seen[1]).parent == tmp_path


def test_read_jsonl_skips_blank_and_torn_lines(tmp_path: Path) -> None:
    file = tmp_path / "m.jsonl"
    file.write_text('{"i": 1}\n\n{"i": 2}\n{"i": 3, "lo', encoding="utf-8")
    assert read_jsonl(file) == [{"i": 1}, {"i": 2}]
    assert read_jsonl_lines(file) == [('{"i": 1}', {"i": 1}), ('{"i": 2}', {"i": 2})]


def test_read_jsonl_strict_names_the_line(tmp_path: Path) -> None:
    file = tmp_path / "m.jsonl"
    file.write_text('{"i": 1}\n\nnot json\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"m\.jsonl: line 3 is not valid JSON"):
        read_jsonl(file, strict=True)


def test_read_jsonl_missing_file_and_bad_encoding(tmp_path: Path) -> None:
    assert read_jsonl(tmp_path / "absent.jsonl") == []
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"a": "\xff"}\n')
    with pytest.raises(ValueError, match="not valid UTF-8"):
        read_jsonl(bad)


def test_read_jsonl_custom_parser(tmp_path: Path) -> None:
    file = tmp_path / "m.jsonl"
    file.write_text("[1]\n[2]\n", encoding="utf-8")
    assert read_jsonl(file, loads=lambda line: tuple(json.loads(line))) == [(1,), (2,)]


def test_read_json_returns_the_object(tmp_path: Path) -> None:
    write_json(tmp_path / "a.json", {"x": [1, 2]})
    assert read_json(tmp_path / "a.json", "budgets file") == {"x": [1, 2]}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, r"^budgets file .*missing\.json does not exist \(run it\)$"),
        (b"{nope", r"^budgets file .*: not valid JSON \(Expecting property name"),
        (b"[1, 2]", r"^budgets file .*: expected a JSON object$"),
        (b"\xff\xfe{}", r"^budgets file .*: not UTF-8 text$"),
    ],
)
def test_read_json_names_the_file_and_the_fault(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    file = tmp_path / "missing.json"
    if content is not None:
        file.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        read_json(file, "budgets file", hint=" (run it)")


def test_file_sha256_streams_the_bytes(tmp_path) -> None:
    file = tmp_path / "checkpoint.pt"
    data = bytes(range(256)) * 5000  # over one 1 MiB block
    file.write_bytes(data)
    assert file_sha256(file) == hashlib.sha256(data).hexdigest()
    (tmp_path / "empty").write_bytes(b"")
    assert file_sha256(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()
    with pytest.raises(FileNotFoundError):
        file_sha256(tmp_path / "absent.pt")
