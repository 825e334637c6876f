"""``culture access`` and ``culture publish``: each leader receives their own part of the pack.

``culture access import FILE --wave W [--mapping M] [--dry-run]``
    import the access list (who, which units, which role) checked against the wave's org
    chart (:func:`culture.ingest.access.read_access`).
``culture access list [--wave W|latest] [--format table|json]``
    the access list in force at a wave.
``culture publish --wave W|latest [--reports DIR] [--out DIR] ...``
    one folder per recipient from the built pack ``reports/<wave>/``, checked and published
    atomically (:func:`culture.report.publish.publish`); optionally as encrypted archives
    (``--archive``) and by e-mail (``--smtp HOST:PORT --mail-from ADDR``; credentials from
    ``CULTURE_SMTP_USER`` / ``CULTURE_SMTP_PASSWORD``). ``--dry-run`` lists who would receive
    what.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from culture import errors
from culture.cli.common import (
    file_logger,
    instrument_of,
    open_workspace,
    table_text,
    wave_arg,
    wave_or_latest,
)


def register(sub: Any, common: list) -> None:
    access = sub.add_parser("access", help="the access list: who receives which part of the pack")
    kinds = access.add_subparsers(dest="kind", required=True, metavar="ACTION")
    imp = kinds.add_parser("import", parents=common,
                           help="import an access list: person_id, email, role, unit_id, scope")
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("--wave", type=wave_arg, required=True,
                     help="the wave whose org chart the list is checked against (it stays in "
                          "force for later waves until another list is imported)")
    imp.add_argument("--mapping", metavar="M", help="column mapping file (docs/mapping.md)")
    imp.add_argument("--dry-run", action="store_true", help="check and report; write nothing")
    imp.set_defaults(func=_cmd_access_import)
    show = kinds.add_parser("list", parents=common, help="the access list in force at a wave")
    show.add_argument("--wave", type=wave_or_latest, default="latest")
    show.add_argument("--format", dest="output", choices=("table", "json"), default="table")
    show.set_defaults(func=_cmd_access_list)

    pub = sub.add_parser("publish", parents=common,
                         help="one folder per recipient of the access list, from the built pack")
    pub.add_argument("--wave", type=wave_or_latest, required=True,
                     help="a wave such as 2026Q3, or 'latest' for unattended runs")
    pub.add_argument("--reports", metavar="DIR", default="reports",
                     help="where the pack was built (reports/)")
    pub.add_argument("--out", metavar="DIR", default="published",
                     help="output root: DIR/<wave>/people/<person>/ (default published/)")
    pub.add_argument("--dry-run", action="store_true", help="list who would receive what")
    pub.add_argument("--pdf", action="store_true",
                     help="also print each leader's briefs to PDF into their folder (Chromium)")
    pub.add_argument("--archive", action="store_true",
                     help="also zip each folder with AES-256 into DIR/<wave>/archives/")
    pub.add_argument("--passwords", metavar="FILE",
                     help="archive passwords, CSV person_id,password (default: generated)")
    pub.add_argument("--password-list", metavar="FILE",
                     help="where generated passwords go, mode 0600, for HR to send by another "
                          "channel (default DIR/<wave>-passwords.csv, outside the wave folder)")
    pub.add_argument("--smtp", metavar="HOST:PORT",
                     help="e-mail each person their part (STARTTLS; login from "
                          "CULTURE_SMTP_USER / CULTURE_SMTP_PASSWORD)")
    pub.add_argument("--mail-from", metavar="ADDRESS", help="sender address of the e-mails")
    pub.add_argument("--base-url", metavar="URL",
                     help="where DIR is served; each e-mail links URL/<wave>/people/<person>/")
    pub.add_argument("--smtp-cafile", metavar="FILE",
                     help="CA certificate(s) of the mail server (default: the system's)")
    pub.add_argument("--allow-previous-wave", action="store_true",
                     help="with --wave latest: publish the newest wave with responses even when "
                          "a newer org chart or headcount has none yet (otherwise exit 8)")
    pub.add_argument("--log-file", metavar="FILE", help="append progress and the result to FILE")
    pub.set_defaults(func=_cmd_publish)


def _cmd_access_import(args: argparse.Namespace) -> int:
    report = open_workspace(args).ingest_access(args.file, wave=args.wave, mapping=args.mapping,
                                                dry_run=args.dry_run)
    print(report.summary())
    return errors.EXIT_OK


def _cmd_access_list(args: argparse.Namespace) -> int:
    from culture.pipeline import resolve_wave

    ws = open_workspace(args)
    wave = resolve_wave(ws, args.wave, allow_stale=True) if args.wave == "latest" else args.wave
    frame = ws.access_list(wave)
    if args.output == "json":
        print(frame.to_json(orient="records", indent=2, force_ascii=False))
    else:
        print(f"Access list in force at {wave} (imported for {frame.attrs['access_wave']}):")
        print(table_text(frame.drop(columns="source_row")))
    return errors.EXIT_OK


def _cmd_publish(args: argparse.Namespace) -> int:
    log = file_logger("culture.publish", args.log_file)
    if args.smtp and not args.mail_from:
        raise errors.ConfigError("--smtp needs --mail-from ADDRESS (the sender of the e-mails)")
    if args.smtp and not (args.base_url or args.archive):
        raise errors.ConfigError("--smtp needs --base-url URL (a link to each folder) or "
                                 "--archive (each folder attached, encrypted)")
    try:
        result = _publish(args, log)
    except errors.CultureError as exc:
        log.error("failed (exit %s): %s", exc.exit_code, str(exc).splitlines()[0])
        raise
    if result is not None:
        log.info("published %s", result)
        print(result)
    return errors.EXIT_OK


def _publish(args: argparse.Namespace, log: Any) -> Path | None:
    from culture.boundary.bundle import Bundle
    from culture.pipeline import publish_wave, resolve_wave
    from culture.pipeline.packs import bundle_key
    from culture.report.delivery import read_passwords, send_mail, write_password_list
    from culture.report.publish import plan_publish, recipients_from_access

    def progress(message: str) -> None:
        log.info(message)
        if sys.stderr.isatty():
            print(message, file=sys.stderr)

    ws, instrument = open_workspace(args), instrument_of(args)
    wave = resolve_wave(ws, args.wave, allow_stale=args.allow_previous_wave)
    log.info("culture publish --wave %s (%s) started", args.wave, wave)
    if args.dry_run:
        bundle_dir = ws.root / "bundles" / wave
        if not bundle_dir.exists():
            raise errors.ConfigError(f"no bundle for {wave}; build the pack first (culture report "
                                     f"--wave {wave})")
        bundle = Bundle.load(bundle_dir, key=bundle_key(ws))
        plan = plan_publish(Path(args.reports) / wave, bundle,
                            recipients_from_access(ws.access_list(wave)))
        print(f"Dry run: {len(plan.shares)} folder(s) for {wave}; nothing written.")
        print("\n".join(plan.lines()))
        return None
    given = read_passwords(args.passwords) if args.passwords else {}
    result = publish_wave(ws, instrument, wave, reports_dir=args.reports, out_dir=args.out,
                          pdf=args.pdf or bool(args.smtp), archives=args.archive,
                          passwords=given, progress=progress)
    generated = {p: pw for p, pw in result.passwords.items() if p not in given}
    if generated:
        target = Path(args.password_list or Path(args.out) / f"{wave}-passwords.csv")
        write_password_list(target, generated)
        print(f"archive passwords of {len(generated)} person(s) written to {target} (mode 0600); "
              "send them by another channel than the archives", file=sys.stderr)
    for share in result.plan.nobody:
        print(f"note: {share.recipient.person_id} ({share.recipient.role}) receives nothing: no "
              "brief of this pack is in their scope", file=sys.stderr)
    for brief in result.plan.unreceived:
        print(f"note: no leader receives {brief} (only executives and HR)", file=sys.stderr)
    log.info("%d folder(s) in %.1f s", len(result.plan.shares), result.seconds)
    if args.smtp:
        progress("sending the e-mails")
        delivered = send_mail(result.folder, smtp=args.smtp, sender=args.mail_from,
                              base_url=args.base_url, attach_archive=args.archive,
                              cafile=args.smtp_cafile)
        log.info("%d message(s) sent", len(delivered["messages"]))
        print(f"sent {len(delivered['messages'])} message(s)", file=sys.stderr)
    return result.folder / "recipients.json"


def leak_inputs(ws: Any, bundle: Any, instrument: Any) -> tuple[list[str], list[str]]:
    """:func:`culture.pipeline.packs.bundle_leak_inputs` (kept for callers of this name)."""
    from culture.pipeline.packs import bundle_leak_inputs

    return bundle_leak_inputs(ws, bundle, instrument)
