"""Figures for the report pack. Each takes released tables (a Release or bundle tables) only.

Colour-blind-safe throughout: ``cividis`` for the score heatmap, seaborn's
``colorblind`` palette for categories, and shape or line style as a second cue
wherever colour carries meaning. Withheld cells are drawn in light grey and
labelled with the one neutral label, never with a number.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable
from functools import wraps

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from culture.boundary.release import RELEASED, SUPPRESSED_LABEL, Release, unit_paths

PALETTE = sns.color_palette("colorblind")
WITHHELD = "#d9d9d9"


def themed(fn: Callable[..., Figure]) -> Callable[..., Figure]:
    """Draw inside seaborn's whitegrid theme without touching global matplotlib state.

    Figures are built with ``matplotlib.figure.Figure`` (no pyplot, no backend), so
    plotting works the same headless, under papermill and in JupyterLab.
    """
    @wraps(fn)
    def inner(*args, **kwargs) -> Figure:
        rc = {**sns.axes_style("whitegrid"), **sns.plotting_context("notebook", font_scale=0.95)}
        with matplotlib.rc_context(rc):
            fig = fn(*args, **kwargs)
            fig.tight_layout()
        return fig
    return inner


def png(fig: Figure, *, dpi: int = 110) -> bytes:
    """PNG bytes of a figure (deterministic: no timestamp metadata)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def _wrap(text: str, width: int = 28) -> str:
    return "\n".join(textwrap.wrap(str(text), width)) or str(text)


def _short(names: dict[str, str], key: str) -> str:
    return names.get(key, key).split(" (")[0]


@themed
def score_heatmap(release: Release, constructs: pd.DataFrame, *, level: int | None = None,
                  max_units: int = 40) -> Figure:
    """Units x constructs heatmap of released means; withheld cells grey and marked."""
    scores = release.table("scores")
    units = release.table("units")
    if level is None:
        level = 1 if (units["level"] == 1).any() else 0
    keep = units[(units["level"] <= level)].sort_values(["level", "unit_id"]).head(max_units)
    names = dict(zip(constructs["measure"], constructs["name"], strict=True))
    order = constructs.sort_values("headline", ascending=False, kind="stable")["measure"].tolist()
    cells = scores[scores["unit_id"].isin(keep["unit_id"]) & scores["measure"].isin(order)]
    grid = cells.pivot_table(index="unit_id", columns="measure", values="mean", aggfunc="first")
    grid = grid.reindex(index=keep["unit_id"], columns=order)
    shown = cells.assign(ok=cells["status"] == RELEASED).pivot_table(
        index="unit_id", columns="measure", values="ok", aggfunc="first").reindex_like(grid).fillna(False)
    values = grid.where(shown.astype(bool))
    unit_names = unit_paths(release)  # names repeat across sites: label by path
    fig = Figure(figsize=(1.0 * len(order) + 3, 0.42 * len(keep) + 2.2))
    ax = fig.subplots()
    ax.set_facecolor(WITHHELD)
    sns.heatmap(values.astype(float), ax=ax, cmap="cividis", vmin=2.5, vmax=4.5, annot=True, fmt=".1f",
                linewidths=0.5, linecolor="white", cbar_kws={"label": "mean score (1-5)", "shrink": 0.6},
                annot_kws={"fontsize": 9})
    for y, unit in enumerate(values.index):
        for x, m in enumerate(values.columns):
            if pd.isna(values.loc[unit, m]):
                ax.text(x + 0.5, y + 0.5, "\u2013", ha="center", va="center", color="#555555", fontsize=9)
    ax.set_xticklabels([_wrap(_short(names, m), 14) for m in values.columns], rotation=0, fontsize=8)
    ax.set_yticklabels([unit_names.get(u, u) for u in values.index], rotation=0, fontsize=8)
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_title(f"Scores by unit, {release.wave}  (\u2013 = {SUPPRESSED_LABEL.lower()})", fontsize=10,
                 loc="left")
    return fig


@themed
def unit_vs_org(release: Release, unit_id: str, constructs: pd.DataFrame) -> Figure:
    """A unit's construct means with 95% CIs beside the organisation's."""
    scores = release.table("scores")
    units = release.table("units")
    root = units.loc[units["parent_id"].isna(), "unit_id"].iloc[0]
    names = dict(zip(constructs["measure"], constructs["name"], strict=True))
    order = constructs["measure"].tolist()
    fig = Figure(figsize=(7.5, 0.45 * len(order) + 1.4))
    ax = fig.subplots()
    y = np.arange(len(order))
    for offset, (who, colour, marker, label) in enumerate(
            ((unit_id, PALETTE[0], "o", "this unit"), (root, PALETTE[1], "s", "organisation"))):
        rows = scores[(scores["unit_id"] == who)].set_index("measure").reindex(order)
        ok = rows["status"] == RELEASED
        ys = y[ok.to_numpy()] + (0.15 if offset else -0.15)
        m = rows.loc[ok, "mean"].to_numpy(float)
        lo, hi = rows.loc[ok, "ci_low"].to_numpy(float), rows.loc[ok, "ci_high"].to_numpy(float)
        err = np.vstack([m - lo, hi - m])
        err = np.where(np.isnan(err), 0, err)
        ax.errorbar(m, ys, xerr=err, fmt=marker, color=colour, label=label, capsize=3, markersize=6)
        for yy in y[~ok.to_numpy()]:
            if who == unit_id:
                ax.text(1.05, yy - 0.15, SUPPRESSED_LABEL, fontsize=7, color="#555555", va="center")
    ax.set_yticks(y, [_wrap(_short(names, m), 34) for m in order], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(1, 5)
    ax.set_xlabel("mean score (1 = strongly disagree, 5 = strongly agree), 95% CI")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12 - 0.5 / len(order)), ncol=2, fontsize=8,
              frameon=False)
    return fig


@themed
def trend_lines(releases: dict[str, Release], unit_id: str, measures: list[str],
                names: dict[str, str]) -> Figure:
    """Released means of a unit over waves with 95% CI bands; withheld waves leave a gap."""
    fig = Figure(figsize=(7.5, 3.6))
    ax = fig.subplots()
    waves = sorted(releases)
    styles = ["-", "--", ":", "-."]
    for i, m in enumerate(measures):
        rows = []
        for w in waves:
            s = releases[w].table("scores")
            r = s[(s["unit_id"] == unit_id) & (s["measure"] == m)]
            ok = len(r) and r["status"].iloc[0] == RELEASED
            rows.append((w, r["mean"].iloc[0] if ok else np.nan, r["ci_low"].iloc[0] if ok else np.nan,
                         r["ci_high"].iloc[0] if ok else np.nan))
        df = pd.DataFrame(rows, columns=["wave", "mean", "lo", "hi"])
        x = np.arange(len(waves))
        colour = PALETTE[i % len(PALETTE)]
        ax.plot(x, df["mean"], styles[i % 4], marker="o", color=colour, label=_short(names, m))
        ax.fill_between(x, df["lo"].astype(float), df["hi"].astype(float), color=colour, alpha=0.15)
    ax.set_xticks(np.arange(len(waves)), waves, fontsize=8)
    ax.set_ylabel("mean score, 95% CI")
    ax.legend(fontsize=8, loc="best")
    return fig


@themed
def control_chart(charts: pd.DataFrame, unit_id: str, measure: str, title: str) -> Figure:
    """Individuals chart with centre line, limits and the waves that signal."""
    d = charts[(charts["unit_id"] == unit_id) & (charts["measure"] == measure)].sort_values("wave")
    fig = Figure(figsize=(7.0, 3.0))
    ax = fig.subplots()
    x = np.arange(len(d))
    ax.plot(x, d["value"], marker="o", color=PALETTE[0], label="released mean")
    ax.plot(x, d["centre"], color="black", lw=1, label="centre")
    ax.plot(x, d["ucl"], color=PALETTE[3], ls="--", lw=1, label="control limits")
    ax.plot(x, d["lcl"], color=PALETTE[3], ls="--", lw=1)
    sig = d["signals"].fillna("").astype(str) != ""
    ax.scatter(x[sig.to_numpy()], d.loc[sig, "value"], s=120, facecolors="none", edgecolors=PALETTE[1],
               linewidths=2, label="signal (Western Electric)", zorder=3)
    ax.set_xticks(x, d["wave"], fontsize=8)
    ax.set_title(title, fontsize=10, loc="left")
    ax.legend(fontsize=7, loc="best")
    return fig


@themed
def rate_ratio_forest(models: pd.DataFrame, names: dict[str, str], outcome_words: dict[str, str]
                      ) -> Figure:
    """Rate ratios per one-point change with 95% CIs (log scale), within vs between units."""
    d = models[models["rate_ratio"].notna()].copy()
    d["label"] = [f"{_short(names, t)} \u2192 {outcome_words.get(o, o)}"
                  for t, o in zip(d["term"], d["outcome"], strict=True)]
    labels = list(dict.fromkeys(d["label"]))
    fig = Figure(figsize=(8, 0.5 * max(len(labels), 2) + 1.6))
    ax = fig.subplots()
    markers = {"between": ("s", PALETTE[1]), "within": ("o", PALETTE[0])}
    for comp, (marker, colour) in markers.items():
        part = d[d["component"] == comp]
        if part.empty:
            continue
        y = np.array([labels.index(lab) for lab in part["label"]]) + (0.15 if comp == "between" else -0.15)
        rr = part["rate_ratio"].to_numpy(float)
        err = np.vstack([rr - part["ci_low"].to_numpy(float), part["ci_high"].to_numpy(float) - rr])
        ax.errorbar(rr, y, xerr=err, fmt=marker, color=colour, capsize=3, label=f"{comp} units")
    ax.axvline(1, color="black", lw=1)
    ax.set_xscale("log")
    ax.set_yticks(np.arange(len(labels)), [_wrap(lab, 46) for lab in labels], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("rate ratio per one-point higher score (95% CI, log scale); < 1 = fewer events")
    ax.legend(fontsize=8, loc="best")
    return fig


@themed
def driver_weights(table: pd.DataFrame, names: dict[str, str]) -> Figure:
    """Relative weights (% of explained variance) with bootstrap 95% CIs."""
    d = table.sort_values("rescaled_pct", ascending=True)
    fig = Figure(figsize=(7, 0.45 * len(d) + 1.3))
    ax = fig.subplots()
    y = np.arange(len(d))
    ax.barh(y, d["rescaled_pct"], color=PALETTE[0])
    if {"rescaled_ci_low", "rescaled_ci_high"} <= set(d.columns):
        err = np.vstack([d["rescaled_pct"] - d["rescaled_ci_low"], d["rescaled_ci_high"] - d["rescaled_pct"]])
        ax.errorbar(d["rescaled_pct"], y, xerr=np.clip(err.astype(float), 0, None), fmt="none",
                    color="black", capsize=3)
    ax.set_yticks(y, [_wrap(_short(names, p), 34) for p in d["construct"]], fontsize=8)
    ax.set_xlabel("share of explained variance (%), bootstrap 95% CI")
    return fig


@themed
def participation_plot(participation: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(7, 2.8))
    ax = fig.subplots()
    ax.plot(participation["wave"], participation["response_rate"] * 100, marker="o", color=PALETTE[0])
    ax.set_ylim(0, 100)
    ax.set_ylabel("response rate (%)")
    ax.tick_params(axis="x", labelsize=8)
    return fig


@themed
def quality_over_time(panel: pd.DataFrame, unit_id: str, columns: dict[str, str]) -> Figure:
    """A unit's quality outcomes per quarter (counts per 1,000 units of exposure)."""
    d = panel[panel["unit_id"] == unit_id].sort_values("quarter")
    fig = Figure(figsize=(7, 2.8))
    ax = fig.subplots()
    styles = ["-", "--", ":", "-."]
    for i, (col, label) in enumerate(columns.items()):
        if col in d:
            rate = d[col] / d["exposure"] * 1000
            ax.plot(d["quarter"], rate, styles[i % 4], marker="o", color=PALETTE[i % len(PALETTE)],
                    label=label)
    ax.set_ylabel("per 1,000 units produced")
    ax.tick_params(axis="x", labelsize=8)
    ax.legend(fontsize=7, loc="best")
    return fig
