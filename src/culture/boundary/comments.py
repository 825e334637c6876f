"""Free-text comments at the boundary: long form, redaction, stable shuffle.

Comments are released only at the comment threshold and through the same
subtraction checks as scores (:func:`culture.boundary.suppression.build_release`);
what is released is redacted (e-mail addresses, phone numbers, employee-id
patterns) and shown in a stable shuffled order, never in the order people answered.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from culture.boundary.aggregate import org_index
from culture.boundary.release import Release
from culture.frames import RESPONDENT, UNIT

# --------------------------------------------------------------------------- comments


_EMAIL = r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
_PHONE = r"(?<![\w+])\+?\d(?:[ ().-]{0,2}\d){6,}(?!\w)"
_EMPLOYEE_ID = r"\b[A-Za-z]{1,3}-?\d{4,}\b"
REDACTED = "[redacted]"


def redact(text: pd.Series | str) -> pd.Series | str:
    """Replace e-mail addresses, phone numbers and employee ids (e.g. ``E012345``)."""
    series = pd.Series([text]) if isinstance(text, str) else text.astype("string")
    for pattern in (_EMAIL, _PHONE, _EMPLOYEE_ID):
        series = series.str.replace(pattern, REDACTED, regex=True)
    return str(series.iloc[0]) if isinstance(text, str) else series


def comments_long(responses: pd.DataFrame, question_ids: Iterable[str]) -> pd.DataFrame:
    """Comment columns of a responses frame as ``respondent``, ``unit_id``, ``question``, ``text``.

    Empty and whitespace-only answers are dropped (they are not comments).
    """
    questions = [q for q in question_ids if q in responses.columns]
    keep = [c for c in (RESPONDENT, UNIT) if c in responses.columns]
    long = responses[[*keep, *questions]].melt(id_vars=keep, value_vars=questions,
                                               var_name="question", value_name="text")
    text = long["text"].astype("string").str.strip()
    return long.assign(text=text)[text.fillna("").str.len() > 0].reset_index(drop=True)


def stable_order(wave: str, cells: pd.DataFrame) -> pd.Series:
    """Shuffle key per comment: a hash of wave, cell and the comment's alphabetical rank.

    Comments are first put in alphabetical order (which carries no information
    about who wrote them or when) and then shuffled by a key that depends only
    on the wave and the cell, so re-runs give the same order.
    """
    rank = cells.groupby(["unit_id", "question"]).cumcount().astype(str)
    key = wave + "|" + cells["unit_id"].astype(str) + "|" + cells["question"].astype(str) + "|" + rank
    return pd.util.hash_pandas_object(key, index=False, hash_key="culture-comments")


def unreleased_texts(comments: pd.DataFrame, release: Release) -> list[str]:
    """Raw comment texts that the release does not show (for :func:`culture.leakgate.scan_outputs`)."""
    shown = release.table("comments")[["unit_id", "question"]].drop_duplicates()
    idx = org_index(release.table("units")[["unit_id", "parent_id"]])
    rows = comments.reset_index(drop=True)
    pos = idx.positions(rows[UNIT])
    up = pd.DataFrame({"row": np.arange(len(rows)), "descendant": np.where(pos < 0, idx.root, pos),
                       "question": rows["question"].to_numpy()}).merge(idx.closure, on="descendant")
    up["unit_id"] = idx.units[up["ancestor"].to_numpy()]
    released_rows = up.merge(shown, on=["unit_id", "question"])["row"].unique()
    return rows.loc[~rows.index.isin(released_rows), "text"].astype(str).tolist()
