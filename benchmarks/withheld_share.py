"""How much of a release is withheld on the demo organisation, and whether a site is lost.

    python -m benchmarks.withheld_share [SEED]

Prints the share of withheld rows per release table (mean over the 8 waves) and, per
wave, the sites withheld whole and the units reported "excluding groups too small to
report". Used to report the cost of the confidentiality rules (issues 13 and 18).
"""

from __future__ import annotations

import sys

import numpy as np

from culture.measure.instrument import load_default_instrument
from culture.pipeline import synthetic_releases
from culture.synth import SynthConfig, make_organisation


def main(seed: int = 7) -> None:
    instrument = load_default_instrument()
    releases = synthetic_releases(make_organisation(instrument, SynthConfig(seed=seed)),
                                  instrument, comments=True)
    for table in ("scores", "items", "response_rates"):
        share = np.mean([(r.table(table)["status"] == "suppressed").mean() for r in releases.values()])
        print(f"{table:<15} {100 * share:6.2f}% withheld")
    for wave, release in releases.items():
        units, scores = release.table("units"), release.table("scores")
        sites = units.loc[units["level"] == 1, "unit_id"]
        lost = [s for s in sites if (scores.loc[scores["unit_id"] == s, "status"] == "suppressed").all()]
        excluding = int(units["excluding"].sum()) if "excluding" in units else 0
        print(f"{wave}: sites withheld {lost or 'none'}; units reported excluding small groups: {excluding}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
