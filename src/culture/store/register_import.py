"""Org charts, headcounts, quality registers and exposure as stored tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from culture import frames as F
from culture.errors import Problem
from culture.store.response_import import as_text, as_timestamp, row_list
from culture.store.schema import TableSpec


def prepare_table(frame: pd.DataFrame, spec: TableSpec, *, wave: str | None,
                   quality_kind: str | None) -> tuple[pd.DataFrame, tuple[str, ...], list[Problem]]:
    """Canonical columns with store types; every problem located by record and column."""
    problems: list[Problem] = []
    if not isinstance(frame, pd.DataFrame):
        return pd.DataFrame(), (), [Problem("", f"expected a DataFrame, got {type(frame).__name__}")]
    df = frame.reset_index(drop=True)
    names = [c for c, _ in spec.columns]
    dropped = tuple(str(c) for c in df.columns if c not in names)
    fixed = {F.WAVE: wave, "kind": quality_kind}
    out = pd.DataFrame(index=df.index)
    record = pd.Series(np.arange(1, len(df) + 1), index=df.index)
    for name, sql in spec.columns:
        if name in fixed and fixed[name] is not None:
            if name in df.columns:
                other = df[name].notna() & (df[name].astype(object) != fixed[name])
                if other.any():
                    problems.append(Problem(f"column {name}", f"records "
                                            f"{row_list(record[other].tolist())} differ from "
                                            f"the {name} being imported ({fixed[name]})"))
            out[name] = fixed[name]
            continue
        if name not in df.columns:
            if name in spec.required:
                problems.append(Problem(f"column {name}", "required column is missing"))
            out[name] = None
            continue
        col = df[name]
        if sql == "VARCHAR":
            out[name] = as_text(col)
        elif sql == "TIMESTAMP":
            out[name], bad = as_timestamp(col)
            if bad.any():
                problems.append(Problem(f"column {name}", f"records "
                                        f"{row_list(record[bad].tolist())} are not dates"))
        else:
            num = pd.to_numeric(col, errors="coerce").astype("float64")
            bad = col.notna() & (num.isna() | ((num % 1 != 0) if sql == "INTEGER" else False))
            if bad.any():
                kind = "integers" if sql == "INTEGER" else "numbers"
                problems.append(Problem(f"column {name}", f"records "
                                        f"{row_list(record[bad].tolist())} are not {kind}"))
            out[name] = num.round().astype("Int64") if sql == "INTEGER" else num
        if name in spec.required:
            gone = out[name].isna()
            if gone.any():
                problems.append(Problem(f"column {name}", f"records "
                                        f"{row_list(record[gone].tolist())} are empty"))
    if problems:
        return out, dropped, problems
    dup = out.duplicated(list(spec.key), keep=False)
    if dup.any():
        problems.append(Problem(f"column(s) {', '.join(spec.key)}",
                                f"records {row_list(record[dup].tolist())} repeat a key"))
    if spec.kind == "org":
        orphan = out[F.PARENT].notna() & ~out[F.PARENT].isin(out[F.UNIT])
        if orphan.any():
            problems.append(Problem(f"column {F.PARENT}", f"records "
                                    f"{row_list(record[orphan].tolist())} name a parent unit "
                                    "that is not in the file"))
    if spec.kind == "quality":
        for name, allowed in (("severity", F.SEVERITIES), ("detected", ("internal", "customer"))):
            bad = out[name].notna() & ~out[name].isin(allowed)
            if bad.any():
                problems.append(Problem(f"column {name}", f"records "
                                        f"{row_list(record[bad].tolist())} are not one of "
                                        f"{', '.join(allowed)}"))
    if spec.kind == "exposure":
        bad = ~out["quarter"].astype(str).str.match(F.WAVE_RE.pattern)
        if bad.any():
            problems.append(Problem("column quarter", f"records "
                                    f"{row_list(record[bad].tolist())} are not of the form "
                                    "YYYYQn"))
    return out, dropped, problems
