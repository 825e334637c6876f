"""Input checks and small matrix helpers shared by the psychometric analyses.

Checks are lazy: collect every problem, then raise one
:class:`~culture.errors.PsychometricsInputError` naming columns and counts, never an answer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from culture.errors import ConfigError, Problem, PsychometricsInputError

# ---------------------------------------------------------------------------
# input checks (lazy: collect every problem, raise once)
# ---------------------------------------------------------------------------

def numeric_frame(items: object, *, name: str, min_cols: int, min_rows: int,
                   problems: list[Problem]) -> pd.DataFrame | None:
    if not isinstance(items, pd.DataFrame):
        raise ConfigError(f"parameter {name!r} must be a pandas DataFrame, got {type(items).__name__}")
    if items.columns.duplicated().any():
        dup = sorted({str(c) for c in items.columns[items.columns.duplicated()]})
        problems.append(Problem(name, f"duplicate column name(s) {dup}"))
    bad = [str(c) for c in items.columns if not (pd.api.types.is_numeric_dtype(items[c])
                                                  and not pd.api.types.is_bool_dtype(items[c]))]
    for c in bad:
        problems.append(Problem(f"{name}[{c!r}]", "column is not numeric; item codes must be numbers "
                                                  "(NaN for missing)"))
    if items.shape[1] < min_cols:
        problems.append(Problem(name, f"needs at least {min_cols} item columns, got {items.shape[1]}"))
    if len(items) < min_rows:
        problems.append(Problem(name, f"needs at least {min_rows} rows (respondents), got {len(items)}"))
    if bad or problems:
        return None
    x = items.astype("float64")
    inf_cols = [str(c) for c in x.columns if np.isinf(x[c].to_numpy()).any()]
    for c in inf_cols:
        problems.append(Problem(f"{name}[{c!r}]", "contains infinite values; use NaN for missing"))
    return None if inf_cols else x


def check_level(level: float, name: str = "ci_level") -> None:
    if isinstance(level, bool) or not isinstance(level, int | float) or not 0 < level < 1:
        raise ConfigError(f"parameter {name!r} must be a number strictly between 0 and 1, got {level!r}")


def raise_problems(problems: list[Problem], source: str = "") -> None:
    if problems:
        raise PsychometricsInputError(problems, source=source)


def require_frame(x: pd.DataFrame | None, problems: list[Problem]) -> pd.DataFrame:
    """Raise the collected problems, else return the checked frame."""
    raise_problems(problems)
    if x is None:  # only reachable if a check forgot to record its problem
        raise PsychometricsInputError([Problem("items", "could not be read as numeric item data")])
    return x


# ---------------------------------------------------------------------------
# small matrix helpers
# ---------------------------------------------------------------------------

def cov2cor(c: np.ndarray) -> np.ndarray:
    d = 1.0 / np.sqrt(np.diag(c))
    return c * np.outer(d, d)


def smc(r: np.ndarray) -> np.ndarray:
    """Squared multiple correlations, 1 - 1/diag(R^-1) (``psych::smc``; pseudo-inverse if singular)."""
    try:
        inv = np.linalg.inv(r)
    except np.linalg.LinAlgError:
        inv = np.linalg.pinv(r)
    return np.clip(1.0 - 1.0 / np.diag(inv), 0.0, 1.0)


def pairwise_cov(x: pd.DataFrame, problems: list[Problem], name: str) -> np.ndarray:
    """Pairwise-complete covariances (``cov(x, use="pairwise")``); every pair must overlap."""
    c = x.cov(min_periods=2).to_numpy()
    if np.isnan(c).any():
        cols = list(map(str, x.columns))
        i, j = np.argwhere(np.isnan(c))[0]
        problems.append(Problem(name, f"items {cols[i]!r} and {cols[j]!r} are answered together by "
                                      "fewer than 2 respondents; no covariance can be estimated"))
    return c
