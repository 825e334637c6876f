"""The pack's exports for analysts: release tables, ISO 9001 evidence, findings (CSV, XLSX).

Every text cell is neutralised against spreadsheet formulas; XLSX files are
byte-reproducible (fixed document dates and zip times), so an unchanged pack
rebuilds identically.
"""

from __future__ import annotations

import re
import zipfile
from datetime import datetime
from pathlib import Path

import pandas as pd

from culture.boundary.bundle import Bundle
from culture.boundary.leakgate import neutralise_frame

FIXED_TIME = datetime(2000, 1, 1)

def write_xlsx(sheets: dict[str, pd.DataFrame], path: Path) -> None:
    """Write sheets to XLSX byte-for-byte reproducibly (fixed document dates and zip times),
    so an unchanged pack rebuilds identically."""
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        for name, frame in sheets.items():
            neutralise_frame(frame).to_excel(xw, sheet_name=name, index=False)
        xw.book.properties.created = xw.book.properties.modified = FIXED_TIME
    entries = []
    with zipfile.ZipFile(path) as zin:
        entries = [(info.filename, zin.read(info)) for info in zin.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for name, data in entries:
            if name == "docProps/core.xml":  # openpyxl stamps "modified" with the save time
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2000-01-01T00:00:00Z", data)
            zout.writestr(zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0)), data,
                          compress_type=zipfile.ZIP_DEFLATED)


def write_exports(bundle: Bundle, folder: Path) -> list[str]:
    """release.xlsx / release.csv, ISO 9001 evidence (CSV + XLSX) and findings.csv."""
    release = bundle.release
    units = release.table("units")[["unit_id", "name"]].rename(columns={"name": "unit"})
    scores = units.merge(release.display_table("scores"), on="unit_id", how="right")
    neutralise_frame(scores).to_csv(folder / "release.csv", index=False)
    write_xlsx({name: release.display_table(name) for name in ("scores", "items", "response_rates", "cuts")},
               folder / "release.xlsx")
    iso = bundle.table("iso_evidence")
    neutralise_frame(iso).to_csv(folder / "iso_evidence.csv", index=False)
    write_xlsx({"iso_9001_evidence": iso}, folder / "iso_evidence.xlsx")
    findings = neutralise_frame(bundle.table("findings").drop(columns=["numbers"], errors="ignore"))
    findings.to_csv(folder / "findings.csv", index=False)
    return ["release.csv", "release.xlsx", "iso_evidence.csv", "iso_evidence.xlsx", "findings.csv"]
