"""Words that come from the instrument and the policy, never from the page.

Every scale, anchor, favourable band, construct and target a page mentions is read
from the bundle (``meta["instrument"]``, ``meta["policy"]``, the ``constructs`` and
``items`` tables), so a team's own questionnaire reads as its own.
"""

from __future__ import annotations

from collections.abc import Mapping

from culture.boundary.bundle import Bundle

DEFAULT_TITLE = "Leadership and quality culture"
WITHHELD_WHY = ("not reported: fewer than {k} respondents, or the group could be worked out by "
                "subtracting other published groups")


def instrument_meta(bundle: Bundle) -> Mapping:
    return bundle.meta.get("instrument") or {}


def title(bundle: Bundle) -> str:
    return str(instrument_meta(bundle).get("title") or DEFAULT_TITLE)


def scale(bundle: Bundle) -> tuple[int, int, dict[int, str], list[int]]:
    """(min, max, labels by code, favourable codes); the 1-5 agreement scale when a bundle
    written before scales were recorded is read."""
    sc = instrument_meta(bundle).get("scale") or {}
    lo, hi = int(sc.get("min", 1)), int(sc.get("max", 5))
    labels = {int(k): str(v) for k, v in (sc.get("labels") or {}).items()}
    return lo, hi, labels, [int(c) for c in sc.get("favourable", [hi - 1, hi])]


def scale_sentence(bundle: Bundle) -> str:
    """"Means on the 1 to 7 scale (1 = Strongly disagree, 7 = Strongly agree)"."""
    lo, hi, labels, _ = scale(bundle)
    anchors = (f" ({lo} = {labels[lo]}, {hi} = {labels[hi]})"
               if lo in labels and hi in labels else "")
    return f"Means on the {lo} to {hi} scale{anchors}"


def axis_label(bundle: Bundle) -> str:
    lo, hi, labels, _ = scale(bundle)
    if lo in labels and hi in labels:
        return f"mean score ({lo} = {labels[lo].lower()}, {hi} = {labels[hi].lower()})"
    return f"mean score ({lo} to {hi})"


def favourable_sentence(bundle: Bundle) -> str:
    _, _, labels, fav = scale(bundle)
    words = [labels.get(c, str(c)) for c in sorted(fav)]
    said = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
    return f"“% favourable” is the share of answers {said}."


def headline_names(bundle: Bundle) -> list[str]:
    c = bundle.table("constructs")
    return c.loc[c["headline"].astype(bool), "name"].astype(str).tolist()


def listing(words: list[str]) -> str:
    words = [w[0].lower() + w[1:] if w[:2] != w[:2].upper() else w for w in words]
    if not words:
        return ""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def outcome_index(bundle: Bundle) -> str | None:
    """The outcome index's name, or None when the instrument declares none."""
    o = instrument_meta(bundle).get("outcome_index")
    return str(o["name"]) if o else None


def has_iso_mapping(bundle: Bundle) -> bool:
    return bool(instrument_meta(bundle).get("iso_mapping", True))


def leader_demographic(bundle: Bundle) -> str | None:
    d = instrument_meta(bundle).get("leader_demographic")
    return str(d["name"]) if d else None


def policy(bundle: Bundle) -> Mapping:
    return bundle.meta.get("policy") or {}


def meaningful_change(bundle: Bundle) -> float:
    return float(policy(bundle).get("meaningful_change", bundle.meta.get("min_change", 0.2)))


def withheld_why(bundle: Bundle) -> str:
    return WITHHELD_WHY.format(k=bundle.release.thresholds.scores)


def targets_sentence(bundle: Bundle) -> str:
    t = policy(bundle).get("targets")
    if not t:
        return ""
    return (f"Targets (workspace policy): mean at least {t['mean']:.2f} and at least "
            f"{t['favourable']:.0f}% favourable is “meets”; within {t['watch_mean']:.2f} points "
            f"and {t['watch_favourable']:.0f} percentage points below is “watch”; lower is "
            "“below”.")
