"""One wave from the store to a published, audited release: the join of store and boundary.

:func:`load_wave` reads a wave's respondent-level data; :func:`release_wave` turns it
into a :class:`~culture.boundary.release.Release` that every earlier release of the
wave cannot be subtracted from, checks it with the independent audit over all of
them, and records it in the release ledger (the stored release is reused while the
wave's inputs do not change). Nothing respondent-level leaves this package.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from culture import frames as F
from culture.boundary.aggregate import aggregate_wave
from culture.boundary.audit import AuditResult, audit_union
from culture.boundary.comments import comments_long
from culture.boundary.exclusion import choose, excluding_units, lift_headcount, lift_responses
from culture.boundary.ledger import MAX_ROUNDS, Ledger, Published
from culture.boundary.release import Release, Thresholds
from culture.boundary.suppression import RULES_VERSION, build_release
from culture.errors import ConfidentialityError, ConfigError, ReleaseBlocked
from culture.files import sha256_file
from culture.measure.instrument import Instrument
from culture.measure.scoring import ScoredWave, score
from culture.store.records import ReleaseRecord
from culture.store.workspace import Workspace


@dataclass(frozen=True)
class WaveData:
    """Respondent-level data of one wave: stays inside the boundary."""

    wave: str
    responses: pd.DataFrame
    scored: ScoredWave
    org: pd.DataFrame
    headcount: pd.DataFrame


@dataclass(frozen=True)
class ReleasedWave:
    """A wave as published: its release and the data it was built from.

    ``audit`` is the audit of this run (None when a stored release was reused: it was
    audited when it was published); ``notes`` say when a re-release was refused and the
    published release stayed in force.
    """

    data: WaveData
    release: Release
    audit: AuditResult | None
    release_id: int | None
    reused: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class WavePolicy:
    """What a wave is published with: frozen at its first release."""

    thresholds: Thresholds
    demographic: str | None


def load_wave(ws: Workspace, wave: str, instrument: Instrument) -> WaveData:
    responses = counted_responses(ws.responses(wave, instrument=instrument))
    org = ws.org(wave)
    try:
        headcount = ws.headcount(wave)
    except ConfigError:
        headcount = pd.DataFrame(columns=[F.UNIT, "invited"])
    return WaveData(wave, responses, score(responses, instrument), org, headcount)


def counted_responses(responses: pd.DataFrame) -> pd.DataFrame:
    """Responses with a person for each: an anonymous response (no respondent id) is its
    own person, so anonymous surveys count responses."""
    if responses[F.RESPONDENT].notna().all():
        return responses
    return responses.assign(**{F.RESPONDENT: responses[F.RESPONDENT].fillna(
        responses[F.RESPONSE_ID])})


def reported_data(data: WaveData, excluding: Collection[str]) -> WaveData:
    """The wave's data as its release reports it: the people (and headcount) attached
    directly to the units reported "excluding groups too small to report" moved to the
    parent, or out of the wave at the root (:mod:`culture.boundary.exclusion`). Analyses
    of a released wave, the ledger and the audit all read this."""
    if not excluding:
        return data
    responses, keep = lift_responses(data.responses, data.org, excluding)
    s = data.scored
    scored = dataclasses.replace(s, scores=s.scores[keep], keyed=s.keyed[keep],
                                 favourable=s.favourable[keep], answered=s.answered[keep],
                                 flags=s.flags[keep], excluded=s.excluded[keep])
    return WaveData(data.wave, responses, scored, data.org,
                    lift_headcount(data.headcount, data.org, excluding))


def membership(data: WaveData, instrument: Instrument, demographic: str | None) -> pd.DataFrame:
    """Who is in which cell: respondent, the version of their answers, unit, the cut, and
    whether each measure has a value (the ledger and the independent audit rebuild every
    cell from it)."""
    r = data.responses
    cols = {F.RESPONDENT: r[F.RESPONDENT].to_numpy(), F.UNIT: r[F.UNIT].to_numpy()}
    if F.VERSION in r.columns:
        cols[F.VERSION] = r[F.VERSION].to_numpy()
    if demographic:
        cols[demographic] = r[demographic].to_numpy()
    for c in instrument.construct_ids:
        cols[c] = data.scored.scores[c].notna().to_numpy()
    for i in instrument.item_ids:
        cols[i] = data.scored.keyed[i].notna().to_numpy()
    for q in instrument.comments:
        if q.id in r:
            text = r[q.id]
            cols[q.id] = (text.notna() & (text.astype("string").str.strip() != "")).to_numpy(dtype=bool)
    return pd.DataFrame(cols)


def parts_of(instrument: Instrument) -> dict[str, tuple[str, ...]]:
    """Construct -> its items (a construct mean and its items are one linear system)."""
    return {c.id: tuple(i.id for i in instrument.items_of(c.id)) for c in instrument.constructs}


def default_cut(instrument: Instrument) -> str | None:
    """The cut a wave is published with by default: the demographic that tells leaders from
    staff (leader-versus-staff gaps need it), or none."""
    leader = instrument.leader_demographic
    return leader.id if leader else None


def build_wave_release(data: WaveData, instrument: Instrument, *, thresholds: Thresholds,
                       demographic: str | None, comments: bool = True,
                       withhold: pd.DataFrame | None = None,
                       excluding: Collection[str] | None = None) -> Release:
    """Aggregate and suppress one wave (no audit, no ledger: :func:`release_wave` adds those).

    ``excluding``: the units whose groups too small to report are lifted out (see
    :mod:`culture.boundary.exclusion`); None = decide here (lift only when it hides fewer
    people). The release marks them; :func:`reported_data` gives the data it describes.
    """
    demographic = demographic if demographic in {d.id for d in instrument.demographics} else None
    if excluding is None:
        excluding = choose(data.responses, data.org, thresholds, withhold=withhold)
    data = reported_data(data, excluding)
    by = (demographic,) if demographic else ()
    agg = aggregate_wave(data.responses, data.scored, data.org, instrument=instrument, by=by,
                         headcount=data.headcount)
    texts = (comments_long(data.responses, [q.id for q in instrument.comments if q.id in data.responses])
             if comments else None)
    return build_release(agg, thresholds=thresholds, comments=texts, withhold=withhold,
                         excluding=excluding)


def synthetic_releases(org, instrument: Instrument, *, thresholds: Thresholds | None = None,
                       waves: list[str] | None = None, comments: bool = False) -> dict[str, Release]:
    """Releases of a :class:`~culture.synth.SyntheticOrganisation` straight from its frames
    (no store): what tests, benchmarks and notebooks-in-development use."""
    out = {}
    for w in waves or org.waves:
        responses = org.responses_of(w)
        head = org.headcount[org.headcount[F.WAVE] == w][[F.UNIT, "invited"]]
        data = WaveData(w, responses, score(responses, instrument), org.org_of(w), head)
        out[w] = build_wave_release(data, instrument, thresholds=thresholds or Thresholds(),
                                    demographic=default_cut(instrument), comments=comments)
    return out


def resolve_wave(ws: Workspace, wave: str, *, allow_stale: bool = False) -> str:
    """``latest`` means the newest wave with responses; anything else must exist.

    ``latest`` is refused (:class:`~culture.errors.StaleWaveError`, exit 8) while an org
    chart or headcount newer than that wave is stored: the new wave's survey export has not
    arrived yet, and an unattended run would quietly report last quarter again.
    ``allow_stale=True`` (``--allow-previous-wave``) takes the newest wave with responses
    all the same. A wave named explicitly is never refused for this.
    """
    from culture.errors import StaleWaveError

    waves = ws.waves()
    if not waves:
        raise ConfigError(f"workspace {ws.root} holds no survey responses yet; ingest a wave first")
    if wave == "latest":
        status = ws.status()
        newer = sorted({w for w in [*status["org_waves"], *status["headcount_waves"]]
                        if F.wave_index(w) > F.wave_index(waves[-1])}, key=F.wave_index)
        if newer and not allow_stale:
            raise StaleWaveError(
                f"--wave latest would report {waves[-1]}, but an org chart or headcount for "
                f"{', '.join(newer)} is already stored and that wave has no responses yet; "
                f"ingest its survey export, or name the wave (--wave {waves[-1]}), or pass "
                "--allow-previous-wave to report the newest wave with responses")
        return waves[-1]
    if wave not in waves:
        raise ConfigError(f"--wave {wave!r} has no responses in the workspace; waves: {', '.join(waves)}")
    return wave


def wave_policy(ws: Workspace, wave: str, instrument: Instrument) -> WavePolicy:
    """Thresholds and cut of a wave: those of its first release (a published wave keeps
    them), else the workspace's ``policy.yaml`` thresholds (:mod:`culture.pipeline.policy`;
    the cut: :func:`default_cut`)."""
    from culture.pipeline.policy import load_policy

    records = ws.releases(wave)
    if records:
        return WavePolicy(Thresholds.from_dict(records[0].thresholds), records[0].demographic)
    return WavePolicy(load_policy(ws.root, instrument).thresholds, default_cut(instrument))


def inputs_key(data: WaveData, policy: WavePolicy, instrument: Instrument) -> str:
    """What a release depends on: the response versions, org chart, headcount, thresholds,
    cut, instrument and the suppression rules. The same key means the same release."""
    versions = (sorted(data.responses[F.VERSION].astype(int).tolist()) if F.VERSION in data.responses
                else sorted(data.responses[F.RESPONSE_ID].astype(str).tolist()))
    doc = {"responses": versions,
           "org": data.org[[F.UNIT, F.PARENT, "name"]].astype(str).values.tolist(),
           "headcount": data.headcount[[F.UNIT, "invited"]].astype(str).values.tolist(),
           "thresholds": policy.thresholds.as_dict(), "demographic": policy.demographic,
           "instrument": [instrument.id, instrument.version,
                          sha256_file(instrument.source) if instrument.source
                          and Path(instrument.source).exists() else None],
           "rules": RULES_VERSION}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class _State:
    record: ReleaseRecord
    data: WaveData
    published: Published


def stored_release(rec: ReleaseRecord) -> Release:
    """A recorded release as stored; one changed since it was recorded is refused."""
    if sha256_file(rec.stored_as / "manifest.json") != rec.sha256:
        raise ConfidentialityError(f"the stored release #{rec.release_id} of {rec.wave} was "
                                   "changed after it was recorded; refusing to use it")
    return Release.load(rec.stored_as)


def audit_wave(ws: Workspace, wave: str, instrument: Instrument) -> AuditResult:
    """The independent audit of what readers hold for a wave: every published release of
    it, rebuilt from the response versions each used (``culture audit``). A wave never
    published is audited as it would be released now (nothing is recorded)."""
    states = published_states(ws, ws.releases(wave), instrument)
    if not states:
        data = load_wave(ws, wave, instrument)
        policy = wave_policy(ws, wave, instrument)
        release = build_wave_release(data, instrument, thresholds=policy.thresholds,
                                     demographic=policy.demographic)
        members = membership(reported_data(data, excluding_units(release.units)), instrument,
                             policy.demographic)
        return audit_union([(members, data.org, release)], parts=parts_of(instrument))
    return audit_union([(s.published.members, s.published.org, s.published.release)
                        for s in states], parts=parts_of(instrument))


def published_states(ws: Workspace, records: list[ReleaseRecord],
                     instrument: Instrument) -> list[_State]:
    """Each recorded release as readers hold it, rebuilt from the stored release and the
    response versions it used, with the units it reports excluding groups too small to
    report lifted again (a tampered stored release is refused)."""
    out = []
    for rec in records:
        if rec.legacy:
            continue
        release = stored_release(rec)
        responses = counted_responses(ws.responses_by_key(rec.members[F.VERSION], instrument=instrument))
        org = rec.org.assign(wave=rec.wave)
        data = reported_data(WaveData(rec.wave, responses, score(responses, instrument), org,
                                      pd.DataFrame(columns=[F.UNIT, "invited"])),
                             excluding_units(release.units))
        out.append(_State(rec, data, Published(release, org,
                                               membership(data, instrument, rec.demographic))))
    return out


def release_wave(ws: Workspace, data: WaveData, instrument: Instrument, *, policy: WavePolicy,
                 record: bool = True) -> ReleasedWave:
    """Publish one wave, safely against every earlier release of it.

    The stored release is reused while the wave's inputs are unchanged. Otherwise a new
    release is built, cells an earlier release would make derivable are withheld
    (:mod:`culture.boundary.ledger`), and the independent audit checks it together with
    every earlier release. If that audit fails and the wave was published before, the
    published release stays in force (the result says why); a first release that fails
    raises.

    Raises
    ------
    ConfidentialityError
        A first release that fails the audit, or a stored release that was tampered with.
    ReleaseBlocked
        A second demographic cut or other thresholds asked of a published wave.
    """
    records = ws.releases(data.wave)
    key = inputs_key(data, policy, instrument)
    latest = records[-1] if records else None
    if latest is not None and latest.inputs_key == key and not latest.legacy:
        stored = stored_release(latest)
        return ReleasedWave(reported_data(data, excluding_units(stored.units)), stored, None,
                            latest.release_id, reused=True)
    if records and records[0].demographic != policy.demographic:
        raise ReleaseBlocked(
            f"{data.wave} was published cut by {records[0].demographic or 'no demographic'}; a "
            f"wave is published with one demographic cut (a cut by {policy.demographic} could be "
            "subtracted from it). Its published cut is shown without --by "
            f"{policy.demographic}.")
    if records and Thresholds.from_dict(records[0].thresholds) != policy.thresholds:
        raise ReleaseBlocked(f"{data.wave} was published with thresholds {records[0].thresholds}; "
                             "they are frozen for the wave at its first release")
    states = published_states(ws, records, instrument)
    # who is lifted out of which unit is frozen at the wave's first release: a person left
    # out of one release and counted in another would be the difference between them
    if records:
        excluding = excluding_units(states[-1].published.release.units) if states else frozenset()
    else:
        excluding = choose(data.responses, data.org, policy.thresholds)
    shown = reported_data(data, excluding)
    members = membership(shown, instrument, policy.demographic)
    legacy = [r for r in records if r.legacy]
    if legacy and set(members[F.RESPONDENT]) != set(legacy[-1].members[F.RESPONDENT]):
        return _refused(data.wave, states, f"{data.wave} was published by an earlier version of "
                        "culture that did not keep answer versions; it can be released again only "
                        "with the same respondents")
    release = _protected_release(data, instrument, policy, members,
                                 [s.published for s in states], excluding=excluding)
    audit = audit_union([(s.published.members, s.published.org, s.published.release) for s in states]
                        + [(members, data.org, release)], parts=parts_of(instrument))
    if not audit.passed:
        if not states:
            audit.require_pass()
        return _refused(data.wave, states, audit.summary())
    release_id = None
    if record:
        with tempfile.TemporaryDirectory(dir=ws.root, prefix=".release-") as tmp:
            release.save(Path(tmp) / "release")
            release_id = ws.record_release(
                data.wave, release_dir=Path(tmp) / "release",
                thresholds=policy.thresholds.as_dict(), demographic=policy.demographic,
                instrument=f"{instrument.id} {instrument.version}", inputs_key=key,
                org=data.org, members=members,
                audit={"passed": True, "cells_checked": audit.cells_checked,
                       "releases_checked": len(states) + 1})
    return ReleasedWave(shown, release, audit, release_id)


def _protected_release(data: WaveData, instrument: Instrument, policy: WavePolicy,
                       members: pd.DataFrame, previous: list[Published], *,
                       excluding: Collection[str] = ()) -> Release:
    """Build the release, withholding what an earlier release would make derivable."""
    th = policy.thresholds
    k = {i.id: max(th.sensitive, th.complements) for i in instrument.items if i.sensitive}
    k.update({q.id: max(th.comments, th.complements) for q in instrument.comments})
    k_means = {m: k.get(m, th.complements) for m in [*instrument.construct_ids, *instrument.item_ids,
                                                      *k, "respondents"]}
    k_spread = max(th.distributions, th.complements)
    withhold = pd.DataFrame(columns=["measure", "unit_id", "demographic", "band", "spread_only"])
    ledger = Ledger(previous, [q.id for q in instrument.comments]) if previous else None
    for _ in range(MAX_ROUNDS):
        release = build_wave_release(data, instrument, thresholds=th,
                                     demographic=policy.demographic, withhold=withhold,
                                     excluding=excluding)
        if ledger is None:
            return release
        risky = ledger.risky(Published(release, data.org, members), k_means=k_means,
                             k_spread=k_spread)
        if risky.empty:
            return release
        withhold = pd.concat([withhold, risky.drop(columns="people")], ignore_index=True)
    return release  # still risky after MAX_ROUNDS: the audit refuses it


def _refused(wave: str, states: list[_State], reason: str) -> ReleasedWave:
    if not states:
        raise ReleaseBlocked(f"{wave} cannot be released: {reason}")
    last = states[-1]
    note = (f"{wave}: a new release was refused ({reason.splitlines()[0]}); the release "
            f"published on {last.record.created:%Y-%m-%d} stays in force. Ingesting the "
            "missing responses of a closed wave is not needed; to replace the wave's data, "
            f"withdraw it (culture withdraw --wave {wave}) and import it again.")
    return ReleasedWave(last.data, last.published.release, None, last.record.release_id,
                        reused=True, notes=(note,))


def release_waves(ws: Workspace, instrument: Instrument, wave: str, *, record: bool = True,
                  progress: Callable[[str], None] = lambda _msg: None) -> dict[str, ReleasedWave]:
    """Release (or reuse) every stored wave up to ``wave`` (a stored wave, see
    :func:`resolve_wave`), each with its own frozen policy; trends need the earlier waves."""
    out = {}
    for w in (w for w in ws.waves() if F.wave_index(w) <= F.wave_index(wave)):
        progress(f"releasing {w}")
        out[w] = release_wave(ws, load_wave(ws, w, instrument), instrument,
                              policy=wave_policy(ws, w, instrument), record=record)
    return out
