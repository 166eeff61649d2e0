from __future__ import annotations

import json
from pathlib import Path as FilePath

import pytest

from scalenet.scaling import TABLE3_SEARCHED, build_family, write_family
from scalenet.scaling.plot import plot_fit
from scalenet.space import Path, SearchSpace, count, get_arch, resolve_path


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


PAPER = [350_000_000, 800_000_000, 1_500_000_000, 3_000_000_000, 6_000_000_000, 10_000_000_000]


def test_family_on_the_papers_explicit_budgets(imagenet: SearchSpace) -> None:
    # Supplementary G: 350 M, 800 M, ... 10 G, not 2^j f0: S4 and S5 project onto 6 G and 10 G
    # (2^j x 350 M would be 5.6 G and 11.2 G).
    from scalenet.scaling import compound_family

    base = get_arch("scalenet_s0")
    family = build_family(imagenet, base, TABLE3_SEARCHED, 5, PAPER[0], budgets=PAPER)
    assert [m.budget for m in family.members] == PAPER
    for member in family.members[4:]:
        assert abs(member.cost.flops - member.budget) / member.budget <= 0.01
    table = family.to_markdown()
    assert "budgets f_0..f_5 = 350, 800, 1,500, 3,000, 6,000, 10,000 MFLOPs" in table
    # one more stage than the list: its last budget doubles
    longer = build_family(imagenet, base, TABLE3_SEARCHED, 6, PAPER[0], budgets=PAPER)
    assert longer.members[6].budget == 20_000_000_000
    compound = compound_family(imagenet, get_arch("efficientnet_b0"), 5, PAPER[0], budgets=PAPER)
    assert [m.budget for m in compound.members] == PAPER
    assert "f_j = 2^j" in build_family(imagenet, base, TABLE3_SEARCHED, 5, PAPER[0]).to_markdown()


def test_explicit_budgets_are_checked(imagenet: SearchSpace) -> None:
    base = get_arch("scalenet_s0")
    with pytest.raises(ValueError, match="budgets must start with f0 = 350,000,000"):
        build_family(imagenet, base, TABLE3_SEARCHED, 5, PAPER[0], budgets=PAPER[1:])
    with pytest.raises(ValueError, match="budgets must increase"):
        build_family(imagenet, base, TABLE3_SEARCHED, 5, PAPER[0], budgets=[PAPER[0], PAPER[0]])


def test_family_json_reads_back_to_the_same_family(
    imagenet: SearchSpace, tmp_path: FilePath
) -> None:
    from scalenet.scaling import Family, FamilyMember
    from scalenet.scaling.family import compound_family

    searched = build_family(imagenet, get_arch("scalenet_s0"), TABLE3_SEARCHED, 5, 300_000_000)
    compound = compound_family(imagenet, get_arch("scalenet_s0"), 3, 300_000_000)
    for family in (searched, compound):
        text = json.loads(json.dumps(family.to_json()))  # through JSON text, as on disk
        assert Family.from_json(text) == family
    write_family(searched, tmp_path / "fam")
    assert Family.read(tmp_path / "fam" / "family.json") == searched
    s4 = json.loads((tmp_path / "fam" / "S4.json").read_text())
    assert FamilyMember.from_json(s4) == searched.members[4]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("f0"), r"family: missing key 'f0'"),
        (lambda d: d["members"][1].update(kind="grown"), r"kind 'grown' not in \{base, searched"),
        (lambda d: d["members"].pop(2), r"members must be S0\.\.SK in order, got stages \[0, 1, 3"),
        (lambda d: d["members"][0].update(flops="many"), r"S0: flops must be an int, got 'many'"),
        (lambda d: d["fit"]["depth"]["params"].pop("a0"), r"fit of depth: params .* are not"),
        (lambda d: d["members"][4]["projection"].pop("after"), r"projection: missing key 'after'"),
        (lambda d: d.update(members=[]), r"members must be S0\.\.SK in order, got stages \[\]"),
    ],
)  # fmt: skip
def test_a_malformed_family_json_names_the_field(
    imagenet: SearchSpace, change: object, message: str
) -> None:
    from scalenet.scaling import Family

    data = json.loads(json.dumps(
        build_family(imagenet, get_arch("scalenet_s0"), TABLE3_SEARCHED, 5, 300_000_000).to_json()
    ))  # fmt: skip
    change(data)  # type: ignore[operator]
    with pytest.raises(ValueError, match=message):
        Family.from_json(data)
