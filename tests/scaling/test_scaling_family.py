from __future__ import annotations

import json
from pathlib import Path as FilePath

import pytest

from scalenet.scaling import TABLE3_SEARCHED, build_family, write_family
from scalenet.scaling.plot import plot_fit
from scalenet.space import Path, SearchSpace, count, get_arch
from scalenet.space.cli import resolve_path


def test_family_from_table3(imagenet: SearchSpace, tmp_path: FilePath) -> None:
    base = get_arch("scalenet_s0")
    family = build_family(imagenet, base, TABLE3_SEARCHED, 5, 300_000_000)
    assert [m.stage for m in family.members] == [0, 1, 2, 3, 4, 5]
    assert [m.kind for m in family.members] == ["base"] + ["searched"] * 3 + ["generalized"] * 2
    assert tuple(m.path.scaling for m in family.members[1:4]) == TABLE3_SEARCHED
    for member in family.members:
        assert member.cost == count(imagenet, member.path)
        assert member.budget == 2**member.stage * 300_000_000
    for member in family.members[4:]:
        assert member.projection is not None
        assert abs(member.rel_error) <= 0.01
    written = write_family(family, tmp_path / "fam")
    names = sorted(p.name for p in written)
    assert names == sorted([f"S{j}.json" for j in range(6)] + ["family.json", "family.md"])
    s4 = json.loads((tmp_path / "fam" / "S4.json").read_text())
    assert s4["flops"] == family.members[4].cost.flops and s4["resolution"] > 300
    # a member file is a path file for the rest of the toolkit
    assert resolve_path(str(tmp_path / "fam" / "S4.json")) == family.members[4].path
    assert Path.decode(s4["path"]) == family.members[4].path
    table = (tmp_path / "fam" / "family.md").read_text()
    assert table.count("| S") == 6 + 2  # six members + two "before projection" rows
    whole = json.loads((tmp_path / "fam" / "family.json").read_text())
    assert whole["fit"]["function"] == "geometric" and whole["project"] == "rw"


def test_family_rejects_bad_stages(imagenet: SearchSpace) -> None:
    with pytest.raises(ValueError, match="K = 2 must be >= M = 3"):
        build_family(imagenet, get_arch("scalenet_s0"), TABLE3_SEARCHED, 2, 300_000_000)
    with pytest.raises(ValueError, match="f0 must be > 0"):
        build_family(imagenet, get_arch("scalenet_s0"), TABLE3_SEARCHED, 4, 0)


def test_plot_writes_png(imagenet: SearchSpace, tmp_path: FilePath) -> None:
    family = build_family(imagenet, get_arch("scalenet_s0"), TABLE3_SEARCHED, 5, 300_000_000)
    assert family.fit is not None
    out = plot_fit(
        TABLE3_SEARCHED,
        [family.fit],
        5,
        tmp_path / "p" / "fit.png",
        family=family,
        reference=[(4, family.members[4].path.scaling)],
        title="t",
    )
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["fit.png"]  # no temp file left behind
