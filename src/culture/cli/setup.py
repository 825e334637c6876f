"""Setting up and looking after a workspace: ``culture demo``, ``init``, ``status``, ``withdraw``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd

from culture import errors
from culture.cli.common import instrument_of, open_workspace, table_text, wave_arg


def register(sub: Any, common: list) -> None:
    demo = sub.add_parser("demo", parents=common,
                          help="run the whole job on a synthetic organisation (into --workspace "
                               "DIR when given, else data/demo and reports/)")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--sites", type=int, default=4, help="number of sites in the synthetic org")
    demo.set_defaults(func=_cmd_demo)

    init = sub.add_parser("init", parents=common, help="create a workspace and its key")
    init.add_argument("--key-file", metavar="PATH",
                      help="pseudonymisation key file: used if it exists, else created there "
                           "(default <workspace>/secrets/pseudonym.key, or "
                           "$CULTURE_PSEUDONYM_KEY when set)")
    init.set_defaults(func=_cmd_init)

    status = sub.add_parser("status", parents=common,
                            help="waves, responses, imports and rejected rows")
    status.add_argument("--format", dest="output", choices=("table", "json"), default="table")
    status.set_defaults(func=_cmd_status)

    withdraw = sub.add_parser("withdraw", parents=common,
                              help="retract a wave's responses (recorded) to import it afresh")
    withdraw.add_argument("--wave", type=wave_arg, required=True)
    withdraw.add_argument("--reason", required=True, help="why (kept in the workspace's ledger)")
    withdraw.set_defaults(func=_cmd_withdraw)


def _cmd_withdraw(args: argparse.Namespace) -> int:
    count = open_workspace(args).withdraw(args.wave, reason=args.reason)
    print(f"Withdrew {count} response(s) of {args.wave}; nothing was deleted (every version stays "
          "in the workspace). Import the wave's right file and run culture report: the new "
          "release is checked against every release of the wave already published.")
    return errors.EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    """Everything under ``--workspace DIR`` when given (exports, workspace, pack), else the
    usual places: ``data/demo`` and ``reports/``."""
    from culture.demo import run_demo

    if args.workspace:
        root = Path(args.workspace)
        run_demo(seed=args.seed, n_sites=args.sites, root=root, reports=root / "reports", out=print)
    else:
        run_demo(seed=args.seed, n_sites=args.sites, out=print)
    return errors.EXIT_OK


def _cmd_init(args: argparse.Namespace) -> int:
    from culture.pipeline.policy import POLICY_NAME, policy_template
    from culture.store.pseudonym import KEY_ENV
    from culture.store.workspace import Workspace

    ws = Workspace.init(args.workspace, key_file=args.key_file)
    print(f"Created workspace {ws.root}")
    policy = ws.root / POLICY_NAME
    if not policy.exists():  # every line commented: the defaults, written out to be edited
        policy.write_text(policy_template(instrument_of(args)), encoding="utf-8")
        print(f"Targets and thresholds: {policy} (all defaults; edit to change them)")
    setting = ws.settings.get("key_file")
    if setting:
        key = Path(setting) if Path(setting).is_absolute() else ws.root / setting
        print(f"Pseudonymisation key: {key}")
        print("WARNING: back up this key file now, somewhere safe and apart from the workspace. "
              "Without it the workspace cannot be opened and new waves cannot be linked to "
              "earlier ones; anyone holding it can test guessed employee ids against the "
              "pseudonyms.")
    else:
        print(f"Pseudonymisation key: taken from ${KEY_ENV} (not written to disk)")
        print(f"WARNING: keep a backup of the value of ${KEY_ENV}; every later command needs "
              "the same key, and without it new waves cannot be linked to earlier ones.")
    return errors.EXIT_OK


def _status_data(ws: Any) -> dict[str, Any]:
    """Everything ``status`` shows, as plain JSON-ready values."""
    st = ws.status()
    imports = ws.imports()

    def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
        return json.loads(frame.to_json(orient="records", date_format="iso"))

    ledger = imports.assign(file=imports["source"].map(lambda s: Path(s).name),
                            dropped_columns=imports["dropped_columns"].map(json.loads))
    waves = records(st["waves"])
    for wave in waves:  # no respondent ids (an anonymous survey): there is no respondent count
        wave["anonymous"] = bool(wave.get("responses")) and not wave.get("respondents")
        if wave["anonymous"]:
            wave["respondents"] = None
    return {**{k: v for k, v in st.items() if k != "waves"},
            "waves": waves,
            "imports": records(ledger),
            "rejections": records(ws.rejection_summary())}


def _cmd_status(args: argparse.Namespace) -> int:
    """Waves, imports and rejected rows; an anonymous wave (responses without respondent
    ids) says so instead of showing 0 respondents (``anonymous: true`` and
    ``respondents: null`` in JSON)."""
    data = _status_data(open_workspace(args))
    if args.output == "json":
        print(json.dumps(data, indent=2, sort_keys=True))
        return errors.EXIT_OK
    print(f"Workspace {data['path']} (schema {data['schema_version']}, "
          f"key fingerprint {data['key_fingerprint']})")
    print("\nWaves:")
    waves = pd.DataFrame(data["waves"], columns=["wave", "instrument_id", "responses",
                                                 "respondents", "superseded_versions", "imports"])
    anonymous = [bool(w.get("anonymous")) for w in data["waves"]]
    waves["respondents"] = ["anonymous: counts are responses" if a else ("-" if pd.isna(r) else str(int(r)))
                            for a, r in zip(anonymous, waves["respondents"], strict=True)]
    print(table_text(waves.rename(columns={"instrument_id": "instrument",
                                       "superseded_versions": "superseded"})))
    print(f"\nOrg charts: {', '.join(data['org_waves']) or 'none'}; headcounts: "
          f"{', '.join(data['headcount_waves']) or 'none'}; quality events: "
          f"{data['quality_events']}; releases: {data['releases']}")
    print(f"\nImports ({len(data['imports'])}):")
    cols = ["import_id", "kind", "wave", "quality_kind", "file", "format", "rows_in", "accepted",
            "rejected", "duplicates", "finished"]
    ledger = pd.DataFrame(data["imports"], columns=cols)
    ledger["finished"] = ledger["finished"].str.slice(0, 16).str.replace("T", " ")
    for col in ("wave", "quality_kind"):  # not every import has a wave or a register
        ledger[col] = ledger[col].map(lambda v: "-" if v is None or pd.isna(v) else v)
    print(table_text(ledger.rename(columns={"import_id": "#", "quality_kind": "register",
                                        "finished": "when (UTC)"})))
    print(f"\nRejected rows: {data['rejected_rows']}; duplicate rows: {data['duplicate_rows']}")
    for r in data["rejections"]:
        column = f", column {r['column_id']}" if r["column_id"] else ""
        print(f"  import #{r['import_id']} {r['kind']}: {r['rows']} row(s) from row "
              f"{r['first_row']}{column}: {r['reason']}")
    return errors.EXIT_OK
