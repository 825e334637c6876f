"""Recipient folders: each person receives exactly their scope, nothing links out, atomic.

Built once from the small organisation's pack (department briefs only) with a generated
access list (test_access.make_access_list): a leader per unit down to the departments,
two executives, one HR person and one team leader whose team has no brief (no scope).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from culture.boundary.bundle import Bundle
from culture.boundary.leakgate import fold_text, scan_outputs
from culture.boundary.release import RELEASED
from culture.cli import main
from culture.cli.publish import leak_inputs
from culture.errors import EXIT_OK, ConfidentialityError, ConfigError
from culture.ingest.access import read_access, subtree
from culture.pipeline.packs import bundle_key
from culture.report.publish import (
    PEOPLE,
    plan_publish,
    publish,
    recipients_from_access,
    rewrite_links,
)
from test_access import make_access_list


@pytest.fixture(scope="module")
def setting(small_pack, instrument, tmp_path_factory):
    result, ws, _ = small_pack
    wave = result.manifest["wave"]
    org = ws.org(wave)
    team = org.loc[org["level"] == 3, "unit_id"].iloc[0]
    path = make_access_list(org, tmp_path_factory.mktemp("access") / "access.csv", max_level=2,
                            no_scope_unit=team)
    access = read_access(path, org=org)
    bundle = Bundle.load(ws.root / "bundles" / wave, key=bundle_key(ws))
    pseudonyms, texts = leak_inputs(ws, bundle, instrument)
    return {"pack": result.folder, "ws": ws, "org": org, "access_csv": path, "team": team,
            "recipients": recipients_from_access(access), "bundle": bundle,
            "pseudonyms": pseudonyms, "texts": texts}


@pytest.fixture(scope="module")
def published(setting, tmp_path_factory):
    out = tmp_path_factory.mktemp("published")
    started = time.perf_counter()
    result = publish(setting["pack"], setting["bundle"], setting["recipients"], out,
                     pseudonyms=setting["pseudonyms"], unreleased_texts=setting["texts"])
    return result, time.perf_counter() - started


def briefs_of(setting) -> dict[str, str]:
    manifest = json.loads((setting["pack"] / "manifest.json").read_text())
    return {d["page"]: d["parameters"]["unit_id"] for d in manifest["documents"]
            if d["notebook"] == "unit_brief"}


def files_in(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_each_leader_holds_exactly_the_briefs_of_their_subtree(setting, published):
    result, _ = published
    briefs = briefs_of(setting)
    assert briefs, "the pack has briefs"
    leaders = [r for r in setting["recipients"] if r.role == "leader" and r.person_id != "N-1"]
    for r in leaders:
        (unit, _), = r.units
        mine = {p for p, u in briefs.items() if u in subtree(setting["org"], unit)}
        folder = result.folder / PEOPLE / r.person_id
        assert files_in(folder) == {"index.html", *mine}, r.person_id
        index = (folder / "index.html").read_text(encoding="utf-8")
        assert all(f'href="{p}"' in index for p in mine)


def test_executives_get_the_organisation_documents_and_hr_everything(setting, published):
    result, _ = published
    pack = files_in(setting["pack"])
    briefs = set(briefs_of(setting))
    for person in ("E-1", "E-2"):
        got = files_in(result.folder / PEOPLE / person)
        assert got == {"index.html", "org_report.html", "culture_trends.html",
                       "quality_linkage.html", *briefs}
    hr = files_in(result.folder / PEOPLE / "H-1")
    assert hr == pack          # every page, the instrument review, exports and the manifest
    assert (result.folder / PEOPLE / "H-1" / "index.html").read_bytes() != \
        (setting["pack"] / "index.html").read_bytes()


def test_a_person_with_no_scope_gets_nothing_and_is_reported(setting, published):
    result, _ = published
    assert not (result.folder / PEOPLE / "N-1").exists()
    assert [s.recipient.person_id for s in result.plan.nobody] == ["N-1"]
    entry, = [r for r in result.manifest["recipients"] if r["person_id"] == "N-1"]
    assert entry["files"] == [] and entry["folder"] is None and entry["status"].startswith("nothing")
    assert result.plan.unreceived == ()        # every brief reaches a leader


class Urls(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        self.urls += [(tag, v or "") for k, v in attrs if k in ("href", "src", "action")]


def test_no_link_leaves_a_folder_and_every_link_works(published):
    result, _ = published
    for folder in (result.folder / PEOPLE).iterdir():
        have = files_in(folder)
        for page in (p for p in have if p.endswith(".html")):
            parser = Urls()
            parser.feed((folder / page).read_text(encoding="utf-8"))
            for tag, url in parser.urls:
                if url.startswith("#") or (url.startswith("data:image/") and tag == "img"):
                    continue
                parts = urlsplit(url)
                assert not parts.scheme and not parts.netloc, (folder.name, page, tag)
                target = (folder / page).parent.joinpath(parts.path).resolve()
                assert target.is_relative_to(folder.resolve()), (folder.name, page, url)
                assert target.is_file(), (folder.name, page, url)


def test_every_folder_passes_the_leak_gate_and_the_manifest_hashes_hold(setting, published):
    result, _ = published
    k = setting["bundle"].release.thresholds.scores
    for folder in (result.folder / PEOPLE).iterdir():
        report = scan_outputs(folder, pseudonyms=setting["pseudonyms"],
                              unreleased_texts=setting["texts"], k=k)
        assert report.passed, (folder.name, report.summary())
    for entry in result.manifest["recipients"]:
        for f in entry["files"]:
            path = result.folder / entry["folder"] / f["file"]
            assert hashlib.sha256(path.read_bytes()).hexdigest() == f["sha256"]
    assert "@" not in "".join(p.read_text(encoding="utf-8", errors="replace")
                              for p in (result.folder / PEOPLE).rglob("*.html"))


def test_no_leader_sees_another_units_name_or_comments(setting, published):
    result, _ = published
    bundle = setting["bundle"]
    units = bundle.release.table("units")
    comments = bundle.release.table("comments")
    from culture.boundary.release import unit_paths
    paths = unit_paths(bundle.release)
    depts = units[(units["level"] == 2) & (units["status"] == RELEASED)]["unit_id"].tolist()
    for dept in depts:
        text = "".join(p.read_text(encoding="utf-8")
                       for p in (result.folder / PEOPLE / f"L-{dept}").rglob("*.html"))
        flat = fold_text(text)
        mine = {fold_text(t) for t in comments.loc[comments["unit_id"].isin(
            subtree(setting["org"], dept)), "text"]}
        for other in depts:
            if other == dept:
                continue
            assert paths[other] not in text, (dept, other)
            theirs = {fold_text(t) for t in comments.loc[comments["unit_id"] == other, "text"]}
            assert not any(t in flat for t in theirs - mine if len(t) >= 8), (dept, other)


def tree_digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_planted_violation_fails_the_publish_and_keeps_the_previous_one(setting, published,
                                                                           tmp_path):
    result, _ = published
    out = tmp_path / "out"
    shutil.copytree(result.folder, out / result.plan.wave)
    before = tree_digest(out)
    leader = next(s for s in result.plan.shares if s.recipient.role == "leader" and
                  len(s.briefs) == 1)
    stranger = next(p for p in briefs_of(setting) if p not in leader.briefs)

    def another_units_brief(people: Path) -> None:   # the brief text of another unit
        page = people / leader.folder / leader.briefs[0]
        page.write_text((setting["pack"] / stranger).read_text(encoding="utf-8"), "utf-8")

    def a_link_out(people: Path) -> None:
        page = people / leader.folder / "index.html"
        page.write_text(page.read_text(encoding="utf-8").replace(
            "</ul>", '<li><a href="../../people/E-1/index.html">x</a></li>'
                     '<li><a href="https://example.org/">y</a></li></ul>'), "utf-8")

    for tamper, kinds in ((another_units_brief, ("out_of_scope_unit",)),
                          (a_link_out, ("link", "out_of_scope_unit"))):
        with pytest.raises(ConfidentialityError) as err:
            publish(setting["pack"], setting["bundle"], setting["recipients"], out,
                    _tamper=tamper)
        assert any(k in str(err.value) for k in kinds) and leader.folder in str(err.value)
        assert tree_digest(out) == before
        assert sorted(p.name for p in out.iterdir()) == [result.plan.wave]  # nothing left over


def test_a_pack_of_another_bundle_is_refused(setting, tmp_path):
    pack = tmp_path / "pack"
    shutil.copytree(setting["pack"], pack)
    manifest = json.loads((pack / "manifest.json").read_text())
    manifest["audit"] = {"other": True}
    (pack / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match="not built from the bundle"):
        plan_publish(pack, setting["bundle"], setting["recipients"])


def test_rewrite_links_keeps_the_page_and_drops_only_what_leaves():
    page = ('<p>a</p><a href="units/X.html">in</a><a href="units/Y.html">gone</a>'
            '<a href="#top">anchor</a><img src="data:image/png;base64,AAAA" alt="f">'
            '<a href="mailto:x@example.org">m</a><link rel="stylesheet" href="//cdn/x.css">')
    text, removed = rewrite_links(page, "index.html", {"index.html", "units/X.html"})
    assert removed == 3
    assert text == ('<p>a</p><a href="units/X.html">in</a><a>gone</a><a href="#top">anchor</a>'
                    '<img src="data:image/png;base64,AAAA" alt="f"><a>m</a>'
                    '<link rel="stylesheet">')


def test_dry_run_and_the_command(setting, published, tmp_path, capsys):
    plan = plan_publish(setting["pack"], setting["bundle"], setting["recipients"])
    lines = "\n".join(plan.lines())
    assert "N-1 (leader): nothing" in lines and "E-1 (executive)" in lines
    ws = setting["ws"]
    copy = tmp_path / "ws"
    shutil.copytree(ws.root, copy)
    args = ["--workspace", str(copy)]
    assert main([*args, "access", "import", str(setting["access_csv"]),
                 "--wave", plan.wave]) == EXIT_OK
    reports = setting["pack"].parent
    assert main([*args, "publish", "--wave", "latest", "--reports", str(reports), "--out",
                 str(tmp_path / "pub"), "--dry-run"]) == EXIT_OK
    assert not (tmp_path / "pub").exists()
    assert main([*args, "publish", "--wave", "latest", "--reports", str(reports), "--out",
                 str(tmp_path / "pub")]) == EXIT_OK
    out = capsys.readouterr()
    assert "N-1 (leader) receives nothing" in out.err
    manifest = json.loads((tmp_path / "pub" / plan.wave / "recipients.json").read_text())
    assert {r["person_id"] for r in manifest["recipients"] if r["files"]} == \
        {s.recipient.person_id for s in plan.shares}


def test_time_per_recipient_is_reported(published):
    result, seconds = published
    per = seconds / len(result.plan.shares)
    print(f"publish: {len(result.plan.shares)} folders in {seconds:.1f} s ({per:.2f} s each)")
    assert per < 30
