"""The notebook fan-out: warm kernels and a Dask cluster write the same pack as fresh kernels.

Known truth: a page does not depend on where or after what its notebook ran. A brief run
on a warm kernel after two other briefs must equal the brief run on a fresh kernel (the
namespace reset leaves nothing behind), and a pack built on a two-worker Dask cluster on
loopback must equal the pack built here, file for file, apart from timings.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from culture.boundary.bundle import Bundle
from culture.pipeline.packs import bundle_key
from culture.report.execute import render
from culture.report.pack import build_pack, plan_jobs
from culture.resources import notebook_dir


def _bundle_dir(small_pack) -> Path:
    result, ws, _ = small_pack
    return ws.root / "bundles" / result.manifest["wave"]


def test_a_brief_on_a_warm_kernel_equals_the_brief_on_a_fresh_one(small_pack, tmp_path):
    bundle_dir = _bundle_dir(small_pack)
    briefs = [j for j in plan_jobs(Bundle.load(bundle_dir, key=bundle_key(small_pack[1])), bundle_dir,
                                   unit_level=2) if j.warm][:3]
    assert len(briefs) == 3
    warm = [render(job, tmp_path, notebooks=notebook_dir()) for job in briefs]  # one kernel, in turn
    fresh = render(dataclasses.replace(briefs[-1], warm=False), tmp_path, notebooks=notebook_dir())
    assert [p.timings["warm_kernel"] for p in warm] == [True] * 3 and not fresh.timings["warm_kernel"]
    assert warm[-1].html == fresh.html
    assert warm[0].html != warm[-1].html  # different units: the comparison can fail


def test_a_plan_for_some_units_holds_the_documents_and_only_their_briefs(small_pack):
    bundle_dir = _bundle_dir(small_pack)
    bundle = Bundle.load(bundle_dir, key=bundle_key(small_pack[1]))
    every = plan_jobs(bundle, bundle_dir)
    some = plan_jobs(bundle, bundle_dir, units=[every[-1].params["unit_id"], "NO-SUCH-UNIT"])
    assert [j.output for j in some if j.warm] == [every[-1].output]
    assert [j.output for j in some if not j.warm] == [j.output for j in every if not j.warm]


def _files(folder: Path) -> dict[str, bytes]:
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            out[path.relative_to(folder).as_posix()] = path.read_bytes()
    return out


def _without_timings(manifest: bytes) -> dict:
    doc = json.loads(manifest)
    doc.pop("created")
    for page in doc["documents"]:
        page.pop("timings_s")
    return doc


def test_a_dask_cluster_builds_the_same_pack(small_pack, tmp_path):
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    result, ws, _ = small_pack
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        remote = build_pack(_bundle_dir(small_pack), tmp_path, unit_level=2, key=bundle_key(ws),
                            executor="dask", scheduler=cluster.scheduler_address)
    here, there = _files(result.folder), _files(remote.folder)
    assert sorted(here) == sorted(there)
    assert len([p for p in here if p.startswith("units/")]) >= 3
    for name in here:
        if name == "manifest.json":
            assert _without_timings(here[name]) == _without_timings(there[name])
        else:
            assert here[name] == there[name], name
    assert all(d["timings_s"]["warm_kernel"] for d in json.loads(there["manifest.json"])["documents"]
               if d["page"].startswith("units/"))
