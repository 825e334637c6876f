"""Figures for the report pack. Each takes released tables (a Release or bundle tables) only.

Colour-blind-safe throughout: ColorBrewer's diverging ``RdBu`` for differences, seaborn's
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
import matplotlib.ticker
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from culture.boundary.release import RELEASED, Release, unit_paths

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
            if fig is not None:
                fig.tight_layout()
        return fig
    return inner


def svg(fig: Figure) -> str:
    """SVG markup of a figure with text kept as text (deterministic ids, no date)."""
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "culture"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    code = buf.getvalue()
    return code[code.index("<svg"):]


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
                  under: str | None = None, spread: float = 0.4, max_units: int = 60) -> Figure | None:
    """Units x constructs: each cell the released mean and its n, coloured by the difference
    from the organisation (diverging, colour-blind safe); withheld cells grey and marked.

    ``under`` draws that unit and everything below it (any level, teams included);
    otherwise the organisation down to ``level``. Colour saturates at +-``spread``."""
    scores = release.table("scores")
    units = release.table("units")
    root = units.loc[units["parent_id"].isna(), "unit_id"].iloc[0]
    paths = unit_paths(release)
    if under is not None and under != root:
        prefix = paths.get(under, under)
        keep = units[units["unit_id"].map(lambda u: u == under or paths.get(u, "").startswith(prefix + " \u203a "))]
        if len(keep) < 2:
            return None
    else:
        level = 2 if level is None else level
        keep = units[units["level"] <= level]
    keep = keep.assign(path=keep["unit_id"].map(paths)).sort_values(["path"], kind="stable")
    top = under if under is not None and under != root else root
    keep = pd.concat([keep[keep["unit_id"] == top], keep[keep["unit_id"] != top]])
    keep = keep.head(max_units)
    names = dict(zip(constructs["measure"], constructs["name"], strict=True))
    order = constructs.sort_values("headline", ascending=False, kind="stable")["measure"].tolist()
    cells = scores[scores["unit_id"].isin(keep["unit_id"]) & scores["measure"].isin(order)]
    shown = cells[cells["status"] == RELEASED]
    means = shown.pivot_table(index="unit_id", columns="measure", values="mean", aggfunc="first")
    means = means.reindex(index=keep["unit_id"], columns=order)
    ns = shown.pivot_table(index="unit_id", columns="measure", values="n", aggfunc="first")
    ns = ns.reindex(index=keep["unit_id"], columns=order)
    org = scores[(scores["unit_id"] == root) & (scores["status"] == RELEASED)].set_index("measure")["mean"]
    diff = means.astype(float) - org.reindex(order).astype(float).to_numpy()[None, :]
    labels = means.astype(float).map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    labels = labels + ns.map(lambda v: "" if pd.isna(v) else f"\nn={int(v)}")
    top_path = paths.get(top, "") if top != root else ""
    rows = [paths.get(u, u) if u == top or not top_path else paths.get(u, u)[len(top_path) + 3:]
            for u in means.index]
    fig = Figure(figsize=(9.5, 0.46 * len(keep) + 2.2))
    ax = fig.subplots()
    ax.set_facecolor(WITHHELD)
    sns.heatmap(diff, ax=ax, cmap="RdBu", center=0, vmin=-spread, vmax=spread, annot=labels, fmt="",
                linewidths=0.5, linecolor="white", annot_kws={"fontsize": 8},
                cbar_kws={"label": "difference from the organisation", "shrink": 0.6})
    for y, unit in enumerate(means.index):
        for x, m in enumerate(means.columns):
            if pd.isna(means.loc[unit, m]):
                ax.text(x + 0.5, y + 0.5, "\u2013", ha="center", va="center", color="#555555", fontsize=9)
    ax.set_xticks(np.arange(len(order)) + 0.5, [_wrap(_short(names, m), 11) for m in order],
                  rotation=0, fontsize=8)
    ax.set_yticks(np.arange(len(means.index)) + 0.5, [_wrap(r, 30) for r in rows], rotation=0, fontsize=8)
    ax.xaxis.tick_top()
    ax.set_xlabel("")
    ax.set_ylabel("")
    return fig


@themed
def unit_vs_org(release: Release, unit_id: str, constructs: pd.DataFrame, *,
                scale: tuple[int, int] = (1, 5), xlabel: str = "mean score, 95% CI") -> Figure:
    """A unit's construct means with 95% CIs beside the organisation's."""
    scores = release.table("scores")
    units = release.table("units")
    root = units.loc[units["parent_id"].isna(), "unit_id"].iloc[0]
    names = dict(zip(constructs["measure"], constructs["name"], strict=True))
    order = constructs["measure"].tolist()
    fig = Figure(figsize=(7.5, 0.45 * len(order) + 1.6))
    ax = fig.subplots()
    y = np.arange(len(order))
    for offset, (who, colour, marker, label) in enumerate(
            ((unit_id, PALETTE[0], "o", "this unit"), (root, PALETTE[1], "s", "organisation"))):
        if offset and who == unit_id:
            continue
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
                ax.text(scale[0] + 0.05, yy - 0.15, "not reported", fontsize=7, color="#555555", va="center")
    ax.set_yticks(y, [_wrap(_short(names, m), 34) for m in order], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(scale[0], scale[1])
    ax.set_xlabel(_wrap(xlabel, 70), fontsize=8)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14 - 0.6 / len(order)), ncol=2, fontsize=8,
              frameon=False)
    return fig


@themed
def trend_lines(releases: dict[str, Release], unit_id: str, measures: list[str],
                names: dict[str, str], *, ylabel: str = "mean score, 95% CI") -> Figure:
    """Released means of a unit over waves with 95% CI bands; withheld waves leave a gap."""
    fig = Figure(figsize=(8.5, 3.6))
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
    ax.set_ylabel(_wrap(ylabel, 40), fontsize=8)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
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
def rate_ratio_forest(models: pd.DataFrame, names: dict[str, str], *, alpha: float = 0.05) -> Figure:
    """Rate ratios per one-point higher score with 95% CIs (log scale), within and between
    units; filled markers survived the FDR correction (``q``), hollow ones did not."""
    d = models[models["rate_ratio"].notna()].copy()
    d["label"] = [f"{_short(names, t)} \u2192 {names.get(o, o)}"
                  for t, o in zip(d["term"], d["outcome"], strict=True)]
    labels = list(dict.fromkeys(d["label"]))
    fig = Figure(figsize=(8.5, 0.42 * max(len(labels), 2) + 1.8))
    ax = fig.subplots()
    markers = {"between": ("s", PALETTE[1], "between units"), "within": ("o", PALETTE[0], "within a unit")}
    q = d["q"] if "q" in d else pd.Series(np.nan, index=d.index)
    for comp, (marker, colour, word) in markers.items():
        part = d[d["component"] == comp]
        if part.empty:
            continue
        y = np.array([labels.index(lab) for lab in part["label"]]) + (0.15 if comp == "between" else -0.15)
        rr = part["rate_ratio"].to_numpy(float)
        err = np.vstack([rr - part["ci_low"].to_numpy(float), part["ci_high"].to_numpy(float) - rr])
        sig = (q.loc[part.index] < alpha).to_numpy()
        ax.errorbar(rr, y, xerr=err, fmt="none", ecolor=colour, capsize=3)
        ax.scatter(rr[sig], y[sig], marker=marker, color=colour, s=36, zorder=3, label=word)
        ax.scatter(rr[~sig], y[~sig], marker=marker, facecolors="white", edgecolors=colour, s=36,
                   zorder=3, label=f"{word}, not beyond chance")
    ax.axvline(1, color="black", lw=1)
    ax.set_xscale("log")
    lo = float(np.nanmin(d["ci_low"])) if len(d) else 0.5
    hi = float(np.nanmax(d["ci_high"])) if len(d) else 2.0
    ticks = [t for t in (0.1, 0.2, 0.33, 0.5, 0.67, 1, 1.5, 2, 3, 5, 10) if lo * 0.8 <= t <= hi * 1.25] or [1]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks], fontsize=8)
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_yticks(np.arange(len(labels)), [_wrap(lab, 44) for lab in labels], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("rate ratio per one-point higher score (95% CI, log scale)\n"
                  "below 1 = fewer events", fontsize=8)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
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
