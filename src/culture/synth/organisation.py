"""A synthetic organisation with known truth, for the demo and for recovery tests.

The generator plants everything an analysis should find, and returns it in
:class:`Truth`:

* an org tree (organisation > sites > departments > teams) with realistic,
  skewed team sizes (some below the confidentiality threshold), leaders attached
  directly to departments and sites, a renamed unit and a team moved to another
  department during a re-organisation;
* people who join and leave between quarters, response rates that vary by unit;
* answers from a latent model: correlated constructs (one general factor), stable
  person and team effects, wave noise, ordinal items cut from thresholds so that
  answers skew towards agreement, reverse-keyed items answered consistently;
* data-quality noise: item non-response, partial responses, straight-liners,
  speeders and duplicate submissions;
* planted change events and a leader-versus-staff perception gap;
* free-text comments with planted themes tied to the change events: where a
  construct drops, people write more complaints about it from the event's wave on,
  where it rises, more praise (:data:`PLANTED_COMMENTS`);
* an outcome index driven by constructs with known weights (driver ranking);
* quality outcomes per department and quarter (nonconformities found internally
  and by customers, audit findings, complaints with a production-volume exposure,
  CAPA days-to-close) generated from lagged true unit scores with known
  coefficients.

Deterministic for a given seed. No real or realistic personal data: employee
ids are ``E`` + digits, units are ``S1-D2-T3`` with invented names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import ndtr

from culture import frames as F
from culture.measure.instrument import Instrument

# Thresholds on the standardised latent response, shifted so a neutral person
# lands on "Agree" most often: real agreement scales are skewed this way.
THRESHOLDS = np.array([-1.9, -1.1, -0.35, 1.05])
SITE_NAMES = ("North Plant", "South Plant", "East Works", "West Logistics", "Central Lab", "Harbour Site")
DEPT_NAMES = ("Assembly", "Machining", "Quality Control", "Maintenance", "Warehouse", "Engineering",
              "Purchasing", "Packaging")


@dataclass(frozen=True)
class SynthConfig:
    """Size and shape of the synthetic organisation."""

    seed: int = 7
    n_sites: int = 4
    depts_per_site: tuple[int, int] = (3, 4)
    teams_per_dept: tuple[int, int] = (3, 5)
    team_size_median: float = 8.0
    n_waves: int = 8
    first_wave: str = "2025Q1"
    response_rate: float = 0.72
    quarterly_turnover: float = 0.04
    item_nonresponse: float = 0.02
    partial_share: float = 0.03
    straightliner_share: float = 0.01
    speeder_share: float = 0.015
    duplicates_per_wave: int = 2
    loading: float = 0.78            # item loading on its construct (gives alpha ~ .8-.9)
    construct_general: float = 0.65  # loading of constructs on the general culture factor

    @property
    def waves(self) -> tuple[str, ...]:
        return tuple(F.shift_wave(self.first_wave, i) for i in range(self.n_waves))


@dataclass(frozen=True)
class ChangeEvent:
    construct: str
    unit_id: str          # every person in this unit's subtree is affected
    wave: str             # first wave with the shift
    latent_shift: float   # in latent SD units
    expected_score_shift: float  # expected change of the unit's mean score (scale points)
    description: str


@dataclass(frozen=True)
class Truth:
    """Every planted parameter, for recovery tests."""

    config: SynthConfig
    construct_correlation: float
    item_loading: float
    expected_alpha: dict[str, float]
    events: tuple[ChangeEvent, ...]
    leader_gap: dict[str, float]           # latent shift for leaders, by construct
    driver_weights: dict[str, float]       # outcome index latent = sum w * construct latent
    outcome_coefficients: dict[str, dict[str, float]]  # log rate ratio per scale point, lag 1
    capa_days: dict[str, float]            # intercept and slope on continuous_improvement
    nb_alpha: float
    renamed: dict[str, tuple[str, str, str]]   # unit_id -> (wave, old name, new name)
    moved: dict[str, tuple[str, str, str]]     # unit_id -> (wave, old parent, new parent)
    unit_scores: pd.DataFrame = field(repr=False)  # wave, unit_id, construct, true expected score


@dataclass(frozen=True)
class SyntheticOrganisation:
    instrument: Instrument
    units: pd.DataFrame
    people: pd.DataFrame
    headcount: pd.DataFrame
    responses: pd.DataFrame
    quality_events: pd.DataFrame
    exposure: pd.DataFrame
    truth: Truth

    @property
    def waves(self) -> tuple[str, ...]:
        return self.truth.config.waves

    def responses_of(self, wave: str) -> pd.DataFrame:
        return self.responses[self.responses[F.WAVE] == wave].reset_index(drop=True)

    def org_of(self, wave: str) -> pd.DataFrame:
        return self.units[self.units[F.WAVE] == wave].drop(columns=F.WAVE).reset_index(drop=True)


def scale_cuts(n_categories: int) -> np.ndarray:
    """Thresholds of the ordinal model for a scale of ``n_categories`` answers: the five-point
    cuts themselves, else cuts spread over the same cumulative probabilities (a 7-point
    scale gets the same skew towards agreement)."""
    if n_categories == len(THRESHOLDS) + 1:
        return THRESHOLDS
    from scipy import stats

    x = np.linspace(0, len(THRESHOLDS) - 1, n_categories - 1)
    return stats.norm.ppf(np.interp(x, np.arange(len(THRESHOLDS)), stats.norm.cdf(THRESHOLDS)))


def expected_code(eta: np.ndarray, loading: float, *, cuts: np.ndarray = THRESHOLDS,
                  lo: int = 1) -> np.ndarray:
    """E[keyed code | latent eta] for the ordinal threshold model (codes lo..lo+len(cuts))."""
    resid = np.sqrt(1 - loading**2)
    eta = np.asarray(eta, dtype="float64")[..., None]
    return lo + ndtr((loading * eta - cuts) / resid).sum(axis=-1)


# Variance of a construct's latent score (person 0.8, team 0.4, wave noise 0.35, all x 0.9).
LATENT_VAR = 0.81 * (0.8**2 + 0.4**2 + 0.35**2)


def ordinal_alpha(n_items: int, loading: float, *, latent_var: float = LATENT_VAR,
                  thresholds: np.ndarray = THRESHOLDS) -> float:
    """Exact population alpha of ``n_items`` parallel ordinal items of the threshold model.

    Item response y* = loading * eta + e, Var(eta) = latent_var, Var(e) = 1 - loading^2,
    code = 1 + #{thresholds below y*}. With standardised y*, E[Y] = 1 + sum_a P(Z > t_a) and
    E[Y_i Y_j] = 1 + 2(E[Y] - 1) + sum_{a,b} Phi2(-t_a, -t_b; rho), rho = the items' latent
    correlation; alpha = k/(k-1) (1 - sum var / var of the sum).
    """
    from scipy import stats

    sd = np.sqrt(loading**2 * latent_var + 1 - loading**2)
    t = np.asarray(thresholds) / sd
    rho = loading**2 * latent_var / sd**2
    up = stats.norm.sf(t)
    mean = 1 + up.sum()
    var = 1 + sum((2 * a + 1) * up[a - 1] for a in range(1, len(t) + 1)) - mean**2
    mvn = stats.multivariate_normal(mean=[0, 0], cov=[[1, rho], [rho, 1]])
    e_xy = 1 + 2 * (mean - 1) + sum(mvn.cdf([-a, -b]) for a in t for b in t)
    cov = e_xy - mean**2
    k = n_items
    return k / (k - 1) * (1 - k * var / (k * var + k * (k - 1) * cov))


def make_organisation(instrument: Instrument, config: SynthConfig | None = None) -> SyntheticOrganisation:
    """Build the synthetic organisation. Deterministic for ``config.seed``."""
    cfg = config or SynthConfig()
    rng = np.random.default_rng(cfg.seed)
    waves = cfg.waves
    units0, team_sizes = _org_tree(cfg, rng)
    units, renamed, moved = _reorganise(units0, waves, rng)
    people = _people(units, team_sizes, waves, cfg, rng)
    constructs = [c.id for c in instrument.constructs]
    culture = [c.id for c in instrument.culture_constructs]

    events = _plant_events(units0, team_sizes, waves, culture)
    leader_gap = {c: 0.0 for c in constructs}
    leader_gap.update({"leadership_commitment": 0.45, "communication": 0.35,
                       "leading_by_example": 0.4})
    leader_gap = {k: v for k, v in leader_gap.items() if k in constructs}
    driver_weights = {c: 0.0 for c in culture}
    driver_weights.update({"ownership": 0.45, "leadership_commitment": 0.30, "communication": 0.15})
    driver_weights = {k: v for k, v in driver_weights.items() if k in culture}

    latent = _latent(people, units, cfg, rng, constructs, culture, events, leader_gap, driver_weights)
    responses = _responses(people, latent, instrument, cfg, rng, _comment_plants(events, people, units))
    lo, hi = instrument.scale.min, instrument.scale.max
    scale = (scale_cuts(hi - lo + 1), lo)
    expected = _expected_events(events, people, units, latent, cfg, scale)
    unit_scores = _unit_scores(people, latent, units, cfg, constructs, scale)

    # Planted on the shipped constructs; another instrument's culture constructs stand in,
    # in order, for the ones it does not have.
    stand_in = _stand_ins(culture)
    coefficients = {
        "nonconformity_customer": {stand_in("ownership"): -0.5},
        "nonconformity_internal": {stand_in("speaking_up"): 0.3},
        "complaint": {stand_in("ownership"): -0.35, stand_in("communication"): -0.25},
        "audit_finding": {stand_in("compliance_risk"): -0.4},
    }
    capa = {"intercept": 40.0, stand_in("continuous_improvement"): -8.0, "sd": 6.0}
    nb_alpha = 0.25
    events_df, exposure = _quality(units, unit_scores, waves, coefficients, capa, nb_alpha, rng,
                                   centre=lo + 0.625 * (hi - lo))
    headcount = (people.groupby([F.WAVE, F.UNIT]).size().rename("invited").reset_index())

    truth = Truth(
        config=cfg, construct_correlation=cfg.construct_general**2, item_loading=cfg.loading,
        expected_alpha={c.id: ordinal_alpha(len(instrument.items_of(c.id)), cfg.loading)
                        for c in instrument.constructs},
        events=expected, leader_gap=leader_gap, driver_weights=driver_weights,
        outcome_coefficients=coefficients, capa_days=capa, nb_alpha=nb_alpha,
        renamed=renamed, moved=moved, unit_scores=unit_scores)
    return SyntheticOrganisation(instrument, units, people, headcount, responses, events_df,
                                 exposure, truth)


# --- org tree -------------------------------------------------------------------------------

def _org_tree(cfg: SynthConfig, rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, int]]:
    rows = [("ORG", None, "Organisation", "organisation")]
    team_sizes: dict[str, int] = {}
    for s in range(1, cfg.n_sites + 1):
        site = f"S{s}"
        rows.append((site, "ORG", SITE_NAMES[(s - 1) % len(SITE_NAMES)], "site"))
        for d in range(1, rng.integers(cfg.depts_per_site[0], cfg.depts_per_site[1] + 1) + 1):
            dept = f"{site}-D{d}"
            rows.append((dept, site, DEPT_NAMES[(d + s) % len(DEPT_NAMES)], "department"))
            for t in range(1, rng.integers(cfg.teams_per_dept[0], cfg.teams_per_dept[1] + 1) + 1):
                team = f"{dept}-T{t}"
                rows.append((team, dept, f"Team {chr(64 + t)}", "team"))
                # Skewed sizes: most teams 5-12, some of 2-4 (below the threshold).
                size = int(np.clip(np.round(rng.lognormal(np.log(cfg.team_size_median), 0.45)), 2, 30))
                team_sizes[team] = size
    units = pd.DataFrame(rows, columns=[F.UNIT, F.PARENT, "name", "level"])
    return units, team_sizes


def _reorganise(units0: pd.DataFrame, waves: tuple[str, ...], rng: np.random.Generator):
    """Per-wave org versions: one department renamed, one team moved between departments."""
    depts = units0.loc[units0["level"] == "department", F.UNIT].tolist()
    renamed_unit = depts[0]
    rename_wave = waves[min(3, len(waves) - 1)]
    old_name = units0.set_index(F.UNIT).at[renamed_unit, "name"]
    new_name = f"{old_name} & Test"
    # Re-organisation in site S2 (or the last site) at the wave of the communication event.
    site = "S2" if (units0[F.UNIT] == "S2").any() else units0.loc[units0["level"] == "site", F.UNIT].iloc[-1]
    site_depts = [d for d in depts if d.startswith(site + "-")]
    teams = units0[(units0["level"] == "team") & (units0[F.PARENT] == site_depts[0])][F.UNIT].tolist()
    moved_team, new_parent = teams[-1], site_depts[-1]
    move_wave = waves[min(4, len(waves) - 1)]

    versions = []
    for w in waves:
        u = units0.copy()
        if F.wave_index(w) >= F.wave_index(rename_wave):
            u.loc[u[F.UNIT] == renamed_unit, "name"] = new_name
        if F.wave_index(w) >= F.wave_index(move_wave) and len(site_depts) > 1:
            u.loc[u[F.UNIT] == moved_team, F.PARENT] = new_parent
        u.insert(0, F.WAVE, w)
        versions.append(u)
    moved = {moved_team: (move_wave, site_depts[0], new_parent)} if len(site_depts) > 1 else {}
    return (pd.concat(versions, ignore_index=True),
            {renamed_unit: (rename_wave, old_name, new_name)}, moved)


# --- people ----------------------------------------------------------------------------------

def _people(units: pd.DataFrame, team_sizes: dict[str, int], waves, cfg: SynthConfig,
            rng: np.random.Generator) -> pd.DataFrame:
    """Roster per wave: staff and a lead in every team, managers attached to departments and sites."""
    first = units[units[F.WAVE] == waves[0]]
    rows = []
    for team, size in team_sizes.items():
        rows += [(team, "lead")] + [(team, "staff")] * (size - 1)
    for unit in first.loc[first["level"] == "department", F.UNIT]:
        rows += [(unit, "manager")] * int(rng.integers(1, 4))
    for unit in first.loc[first["level"].isin(["site", "organisation"]), F.UNIT]:
        rows += [(unit, "manager")] * int(rng.integers(2, 5))
    roster = pd.DataFrame(rows, columns=[F.UNIT, "role_level"])
    roster["employee_id"] = [f"E{n:06d}" for n in rng.permutation(len(roster)) + 1001]
    roster["hired_q"] = F.wave_index(waves[0]) - np.floor(rng.exponential(20, len(roster))).astype(int)
    next_id = 1001 + len(roster)

    out = []
    for w in waves:
        wi = F.wave_index(w)
        if w != waves[0]:
            # Leavers replaced by new hires in the same unit and role.
            leave = rng.random(len(roster)) < cfg.quarterly_turnover
            n_new = int(leave.sum())
            roster = roster.copy()
            roster.loc[leave, "employee_id"] = [f"E{n:06d}" for n in range(next_id, next_id + n_new)]
            roster.loc[leave, "hired_q"] = wi
            next_id += n_new
        years = (wi - roster["hired_q"].to_numpy()) / 4
        tenure = np.select([years < 1, years < 3, years < 10], ["T1", "T2", "T3"], "T4")
        snap = roster.assign(**{F.WAVE: w, "tenure": tenure})
        out.append(snap)
    people = pd.concat(out, ignore_index=True)
    return people[[F.WAVE, "employee_id", F.UNIT, "role_level", "tenure", "hired_q"]]


# --- latent scores ---------------------------------------------------------------------------

def _plant_events(units0: pd.DataFrame, team_sizes: dict[str, int], waves, culture: list[str]
                  ) -> list[tuple]:
    sites = units0.loc[units0["level"] == "site", F.UNIT].tolist()
    site = "S2" if "S2" in sites else sites[-1]
    # The improvement programme runs in the first site's largest department: big enough
    # to be released and for a real change to be detectable after the FDR correction.
    size = pd.Series(team_sizes).groupby(lambda team: team.rsplit("-", 1)[0]).sum()
    first = size[size.index.str.startswith(sites[0] + "-")]
    dept = str(first.sort_values(ascending=False, kind="stable").index[0])
    events = []
    if "communication" in culture and len(waves) > 4:
        events.append(("communication", site, waves[4], -0.7,
                       f"communication falls across {site} after a re-organisation"))
    if "ownership" in culture and len(waves) > 6:
        # In the latest wave, so the demo's report pack shows a real change.
        events.append(("ownership", dept, waves[-1], 1.4,
                       f"ownership rises in {dept} after an improvement programme"))
    return events


def _subtree_members(people: pd.DataFrame, units: pd.DataFrame, root: str) -> np.ndarray:
    """Boolean mask of people (rows) whose unit is in root's subtree in their wave."""
    mask = np.zeros(len(people), dtype=bool)
    for w, u in units.groupby(F.WAVE):
        parent = dict(zip(u[F.UNIT], u[F.PARENT], strict=True))
        inside = {x for x in parent if _is_under(x, root, parent)}
        mask |= ((people[F.WAVE] == w) & people[F.UNIT].isin(inside)).to_numpy()
    return mask


def _is_under(unit: str, root: str, parent: dict) -> bool:
    while unit is not None:
        if unit == root:
            return True
        unit = parent.get(unit)
    return False


def _latent(people, units, cfg, rng, constructs, culture, events, leader_gap, driver_weights):
    """Latent construct scores per person-wave (DataFrame aligned to ``people``)."""
    n_c = len(constructs)
    g = cfg.construct_general
    # Stable person effects: a general factor plus construct-specific parts.
    ids = people["employee_id"].unique()
    person_general = rng.normal(0, 1, len(ids))
    person_specific = rng.normal(0, 1, (len(ids), n_c))
    person = (g * person_general[:, None] + np.sqrt(1 - g**2) * person_specific) * 0.8
    pidx = pd.Index(ids).get_indexer(people["employee_id"])

    # Team (unit) effects, correlated across constructs the same way.
    unit_ids = units[F.UNIT].unique()
    unit_general = rng.normal(0, 1, len(unit_ids))
    unit_specific = rng.normal(0, 1, (len(unit_ids), n_c))
    unit_eff = (g * unit_general[:, None] + np.sqrt(1 - g**2) * unit_specific) * 0.4
    uidx = pd.Index(unit_ids).get_indexer(people[F.UNIT])

    wave_noise = rng.normal(0, 0.35, (len(people), n_c))
    eta = person[pidx] + unit_eff[uidx] + wave_noise
    eta *= 0.9  # keep total latent variance near 1
    cols = {c: j for j, c in enumerate(constructs)}

    leader = people["role_level"].isin(["lead", "manager"]).to_numpy()
    for c, shift in leader_gap.items():
        eta[leader, cols[c]] += shift

    widx = people[F.WAVE].map(F.wave_index).to_numpy()
    for construct, root, wave, shift, _ in events:
        hit = _subtree_members(people, units, root) & (widx >= F.wave_index(wave))
        eta[hit, cols[construct]] += shift

    # Outcome index: known driver weights plus its own noise.
    for c in constructs:
        if c not in culture:
            drive = sum(w * eta[:, cols[k]] for k, w in driver_weights.items())
            eta[:, cols[c]] = drive + rng.normal(0, 0.6, len(people))
    return pd.DataFrame(eta, columns=constructs, index=people.index)


def _stand_ins(culture: list[str]):
    """Shipped construct id -> itself if the instrument has it, else a culture construct of
    the instrument (the same id always gets the same stand-in)."""
    spare = iter([c for c in culture if c not in SHIPPED_LINKS] * 4)
    chosen: dict[str, str] = {}

    def pick(name: str) -> str:
        if name in culture:
            return name
        if name not in chosen:
            chosen[name] = next(spare, culture[0])
        return chosen[name]
    return pick


SHIPPED_LINKS = ("ownership", "speaking_up", "communication", "compliance_risk", "continuous_improvement")


def _expected_events(events, people, units, latent, cfg, scale) -> tuple[ChangeEvent, ...]:
    """Translate latent shifts into expected score shifts for the affected people."""
    cuts, lo = scale
    out = []
    for construct, root, wave, shift, text in events:
        affected = (people[F.WAVE] == wave).to_numpy() & _subtree_members(people, units, root)
        eta = latent.loc[affected, construct].to_numpy()
        change = float(np.mean(expected_code(eta, cfg.loading, cuts=cuts, lo=lo)
                               - expected_code(eta - shift, cfg.loading, cuts=cuts, lo=lo)))
        out.append(ChangeEvent(construct, root, wave, shift, change, text))
    return tuple(out)


def _unit_scores(people, latent, units, cfg, constructs, scale) -> pd.DataFrame:
    """True expected mean score of every unit's subtree per wave and construct."""
    cuts, lo = scale
    exp = pd.DataFrame(expected_code(latent.to_numpy(), cfg.loading, cuts=cuts, lo=lo), columns=constructs,
                       index=people.index)
    exp[F.WAVE] = people[F.WAVE].to_numpy()
    exp[F.UNIT] = people[F.UNIT].to_numpy()
    rows = []
    for w, u in units.groupby(F.WAVE):
        parent = dict(zip(u[F.UNIT], u[F.PARENT], strict=True))
        ew = exp[exp[F.WAVE] == w]
        for unit in parent:
            inside = [x for x in parent if _is_under(x, unit, parent)]
            sub = ew[ew[F.UNIT].isin(inside)]
            if len(sub):
                rows.append({F.WAVE: w, F.UNIT: unit, **sub[constructs].mean().to_dict()})
    wide = pd.DataFrame(rows)
    return wide.melt(id_vars=[F.WAVE, F.UNIT], var_name="construct", value_name="true_score")


# --- responses -------------------------------------------------------------------------------

_COMMENT_BITS = (
    "More time for root-cause analysis would help.",
    "Shift handovers lose information about open issues.",
    "Please share the monthly quality figures with the whole team.",
    "Training on the new inspection procedure came too late.",
    "Our lead is good at listening when something goes wrong.",
    "Spare parts take too long to arrive.",
    "Less firefighting, more prevention.",
    "Recognise the people who find problems early.",
)


# More comments, spread over the instrument's themes, plus concerns no theme covers
# (parking, the canteen) for the emergent topics. Drawn with a generator of their own,
# so the answers and quality outcomes of a seed stay what they were.
_MORE_COMMENTS = (
    "The new calibration equipment has helped a lot.",
    "We need more staff on the late shift.",
    "Overtime every weekend is wearing people out.",
    "Shortcuts are accepted when the deadline is close.",
    "Managers should follow the same rules they ask of us.",
    "People are still afraid to admit mistakes.",
    "Good work is rarely recognised.",
    "Senior management should visit the lines more often.",
    "I am proud of the team and what we deliver.",
    "The car park is always full; parking is a daily struggle.",
    "Please add more parking spaces near the main gate.",
    "Parking near the gate is a daily problem.",
    "The canteen closes too early for a proper break.",
    "The canteen food needs to get better.",
)
MORE_COMMENT_SHARE = 0.5
# Planted with the change events (construct, direction of the shift): from the event's
# wave on, this share of the affected people who comment write one of these instead.
PLANTED_COMMENTS: dict[tuple[str, int], tuple[str, ...]] = {
    ("communication", -1): (
        "Nobody explains why things change; we find out too late and it is frustrating.",
        "Communication from management has got worse since the re-organisation.",
        "We are not told about changes until they have already happened, which is frustrating.",
        "We feel ignored: nobody informs us what the new structure means for our team.",
        "Since the re-organisation information no longer reaches the shop floor.",
        "Updates from the site meetings stopped; we hear the news from other teams, which is annoying.",
    ),
    ("ownership", 1): (
        "Since the workshop we are trusted to decide how we run our line.",
        "Being able to stop the line ourselves has been a great improvement.",
        "We finally have the freedom to change our own work instructions.",
        "Less waiting for approval: small decisions are ours now, and it works.",
        "Our team owns the process now and people care more.",
    ),
}
PLANTED_COMMENT_SHARE = 0.7


def _comment_plants(events, people, units) -> list[tuple[tuple[str, ...], np.ndarray]]:
    """Per change event with a comment bank: the bank and who writes from it (people rows
    in the event unit's subtree from its wave on)."""
    widx = people[F.WAVE].map(F.wave_index).to_numpy()
    out = []
    for construct, root, wave, shift, _ in events:
        bank = PLANTED_COMMENTS.get((construct, int(np.sign(shift))))
        if bank:
            out.append((bank, _subtree_members(people, units, root) & (widx >= F.wave_index(wave))))
    return out


def _comments(rng, side, m: int, share: float, planted) -> np.ndarray:
    """One comment question's texts for ``m`` responses (None = no comment)."""
    says = rng.random(m) < share
    text = np.array(_COMMENT_BITS, dtype=object)[rng.integers(0, len(_COMMENT_BITS), m)]
    contact = rng.random(m) < 0.03   # a few write contact details the release must redact
    more = side.random(m) < MORE_COMMENT_SHARE
    text = np.where(more, np.array(_MORE_COMMENTS, dtype=object)[side.integers(0, len(_MORE_COMMENTS), m)],
                    text)
    for bank, who in planted:
        hit = who & (side.random(m) < PLANTED_COMMENT_SHARE)
        text = np.where(hit, np.array(bank, dtype=object)[side.integers(0, len(bank), m)], text)
    text = np.where(contact, text + " Call me on 0151 496 0123 or write to someone@example.org", text)
    return np.where(says, text, None)


def _responses(people, latent, instrument: Instrument, cfg: SynthConfig, rng,
               planted=()) -> pd.DataFrame:
    n = len(people)
    # Unit-level response propensity varies (some teams engage far more than others).
    units = people[F.UNIT].unique()
    propensity = pd.Series(np.clip(rng.beta(8 * cfg.response_rate, 8 * (1 - cfg.response_rate),
                                            len(units)), 0.25, 0.98), index=units)
    responds = rng.random(n) < propensity.loc[people[F.UNIT]].to_numpy()
    resp = people.loc[responds].reset_index(drop=True)
    eta = latent.loc[responds].to_numpy()
    m = len(resp)
    constructs = list(latent.columns)
    items = instrument.items
    item_construct = np.array([constructs.index(i.construct) for i in items])
    lam, resid = cfg.loading, np.sqrt(1 - cfg.loading**2)
    ystar = lam * eta[:, item_construct] + resid * rng.normal(size=(m, len(items)))
    lo, hi = instrument.scale.min, instrument.scale.max
    cuts = scale_cuts(hi - lo + 1)
    keyed = lo + (ystar[:, :, None] > cuts).sum(axis=2).astype("float64")
    reverse = np.array([i.reverse for i in items])
    codes = np.where(reverse, lo + hi - keyed, keyed)

    codes[rng.random(codes.shape) < cfg.item_nonresponse] = np.nan
    duration = np.round(rng.lognormal(np.log(480), 0.35, m))
    finished = np.ones(m, dtype=bool)

    kinds = rng.random(m)
    partial = kinds < cfg.partial_share
    stop_at = rng.integers(3, len(items) // 2, m)
    codes[partial[:, None] & (np.arange(len(items))[None, :] >= stop_at[:, None])] = np.nan
    finished[partial] = False
    straight = (kinds >= cfg.partial_share) & (kinds < cfg.partial_share + cfg.straightliner_share)
    codes[straight] = float(lo + round(0.75 * (hi - lo)))  # "agree" down the page
    lo_speed = cfg.partial_share + cfg.straightliner_share
    speeder = (kinds >= lo_speed) & (kinds < lo_speed + cfg.speeder_share)
    codes[speeder] = rng.integers(lo, hi + 1, (int(speeder.sum()), len(items)))
    duration[speeder] = np.round(duration[speeder] / 6)
    duration[partial] = np.round(duration[partial] / 3)

    frame = pd.DataFrame(codes, columns=[i.id for i in items])
    demo = pd.DataFrame({
        F.RESPONSE_ID: [f"R{cfg.seed:02d}{k:07d}" for k in range(m)],
        F.RESPONDENT: resp["employee_id"].to_numpy(),
        F.WAVE: resp[F.WAVE].to_numpy(),
        F.UNIT: resp[F.UNIT].to_numpy(),
        "tenure": resp["tenure"].to_numpy(),
        "role_level": resp["role_level"].to_numpy(),
    })
    # Some people prefer not to state their demographics.
    for d in instrument.demographics:
        if d.id in demo and d.missing_code:
            demo.loc[rng.random(m) < 0.04, d.id] = d.missing_code
    start = (pd.PeriodIndex(resp[F.WAVE].str.replace("Q", "-Q"), freq="Q").start_time
             + pd.to_timedelta(14, "D") + pd.to_timedelta(rng.integers(0, 20 * 86400, m), "s"))
    demo[F.STARTED] = start.to_numpy()
    demo[F.SUBMITTED] = (start + pd.to_timedelta(duration, "s")).to_numpy()
    demo[F.DURATION] = duration
    demo[F.FINISHED] = finished
    out = pd.concat([demo, frame], axis=1)
    side = np.random.default_rng([cfg.seed, 17])  # comment texts: a stream of their own
    planted_resp = [(bank, who[responds]) for bank, who in planted]
    for j, c in enumerate(instrument.comments):
        out[c.id] = _comments(rng, side, m, 0.35 if j == 0 else 0.2, planted_resp)

    # Duplicate submissions: a person submits twice in a wave (new response id).
    dups = []
    for w in out[F.WAVE].unique():
        pool = out.index[(out[F.WAVE] == w) & ~partial & ~speeder & ~straight]
        for k in rng.choice(pool, size=min(cfg.duplicates_per_wave, len(pool)), replace=False):
            row = out.loc[[k]].copy()
            row[F.RESPONSE_ID] = row[F.RESPONSE_ID] + "D"
            row[F.SUBMITTED] = row[F.SUBMITTED] + pd.Timedelta(hours=2)
            dups.append(row)
    if dups:
        out = pd.concat([out, *dups], ignore_index=True)
    return out.sort_values([F.WAVE, F.SUBMITTED], kind="stable").reset_index(drop=True)


# --- quality outcomes -----------------------------------------------------------------------

def _quality(units, unit_scores, waves, coefficients, capa, nb_alpha, rng, *, centre: float = 3.5):
    """Team-quarter outcomes from lagged true unit scores (known coefficients).

    Teams are the production lines where nonconformities are raised and exposure
    (units produced) is counted.
    """
    depts = units.loc[(units["level"] == "team") & (units[F.WAVE] == waves[0]), F.UNIT].tolist()
    scores = unit_scores.pivot_table(index=[F.UNIT, F.WAVE], columns="construct", values="true_score")
    base_exposure = pd.Series(np.round(rng.lognormal(np.log(4_000), 0.5, len(depts))), index=depts)
    base_rate = {"nonconformity_customer": 0.8, "nonconformity_internal": 3.0, "complaint": 0.6,
                 "audit_finding": 0.4}
    ((driver, slope),) = [(k, v) for k, v in capa.items() if k not in ("intercept", "sd")]
    events, exposure = [], []
    for w_prev, w in zip(waves[:-1], waves[1:], strict=True):
        q_start = pd.Period(w.replace("Q", "-Q"), freq="Q").start_time
        for d in depts:
            expo = float(np.round(base_exposure[d] * rng.lognormal(0, 0.1)))
            exposure.append({F.UNIT: d, "quarter": w, "exposure": expo, "exposure_kind": "units produced"})
            lag = scores.loc[(d, w_prev)]
            for outcome, coefs in coefficients.items():
                log_mu = np.log(base_rate[outcome] * expo / 1000)
                log_mu += sum(b * (lag[c] - centre) for c, b in coefs.items())
                mu = np.exp(log_mu)
                # Negative binomial as a gamma-Poisson mixture with dispersion nb_alpha.
                count = rng.poisson(mu * rng.gamma(1 / nb_alpha, nb_alpha))
                kind, detected = _kind_of(outcome)
                for _ in range(count):
                    opened = q_start + pd.Timedelta(days=int(rng.integers(0, 90)))
                    sev = rng.choice(["minor", "major", "critical"], p=[0.7, 0.25, 0.05])
                    events.append({"event_id": f"{kind[:2].upper()}-{len(events) + 1:05d}", "kind": kind,
                                   F.UNIT: d, "opened": opened, "closed": pd.NaT, "due": pd.NaT,
                                   "severity": sev, "detected": detected})
            # CAPA: days to close depends on continuous improvement culture.
            for _ in range(int(rng.poisson(1.5))):
                opened = q_start + pd.Timedelta(days=int(rng.integers(0, 90)))
                days = max(2.0, capa["intercept"] + slope * (lag[driver] - centre)
                           + rng.normal(0, capa["sd"]))
                events.append({"event_id": f"CA-{len(events) + 1:05d}", "kind": "capa", F.UNIT: d,
                               "opened": opened, "closed": opened + pd.Timedelta(days=round(days)),
                               "due": opened + pd.Timedelta(days=45), "severity": "major",
                               "detected": "internal"})
    cols = ["event_id", "kind", F.UNIT, "opened", "closed", "due", "severity", "detected"]
    return pd.DataFrame(events, columns=cols), pd.DataFrame(exposure)


def _kind_of(outcome: str) -> tuple[str, str]:
    if outcome.startswith("nonconformity"):
        return "nonconformity", outcome.split("_")[1]
    return outcome, "customer" if outcome == "complaint" else "internal"
