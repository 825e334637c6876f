"""Delivering recipient folders: AES-encrypted archives and e-mail.

Archives
    :func:`make_archives` zips each person's folder with AES-256 (WinZip AE-2, via
    ``pyzipper``; 7-Zip, WinZip and macOS Archive Utility with 7z open it; Windows
    Explorer's built-in zip does not). The password per person comes from a file
    (:func:`read_passwords`: ``person_id,password``) or is generated (20 characters,
    :mod:`secrets`) and written to a separate password list (:func:`write_password_list`,
    mode 0600) that HR sends by another channel (phone, SMS, a separate message), never
    with the archive.

E-mail
    :func:`send_mail` sends one message per recipient through an SMTP server with
    STARTTLS (refused when the server does not offer it: staff data never travels in
    clear), logged in with ``CULTURE_SMTP_USER`` / ``CULTURE_SMTP_PASSWORD`` from the
    environment (never the command line, which other users can read in ``ps``). A
    leader's message carries their briefs as PDF; every message carries the link to the
    person's folder (``base_url``) and/or their encrypted archive. What was sent to whom
    (files and SHA-256, message id) is written to ``delivery-<time>.json`` beside
    ``recipients.json``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import secrets
import smtplib
import ssl
import time
from collections.abc import Iterable, Mapping
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

from culture.errors import ConfigError
from culture.files import sha256_file

USER_ENV = "CULTURE_SMTP_USER"
PASSWORD_ENV = "CULTURE_SMTP_PASSWORD"
MIN_PASSWORD = 12
ATTACH_LIMIT = 20 * 1024 * 1024  # bytes of attachments per message; above it: link only


def new_password() -> str:
    return secrets.token_urlsafe(15)  # 20 characters, 120 bits


def read_passwords(path: str | os.PathLike[str]) -> dict[str, str]:
    """``person_id,password`` rows (a header row ``person_id,password`` first)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"--passwords {path}: file not found") from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or [c.strip().casefold() for c in rows[0][:2]] != ["person_id", "password"]:
        raise ConfigError(f"--passwords {path}: expected a header row 'person_id,password'")
    out, short = {}, []
    for i, row in enumerate(rows[1:], start=2):
        if len(row) < 2 or not row[0].strip():
            continue
        if len(row[1]) < MIN_PASSWORD:
            short.append(str(i))
        out[row[0].strip()] = row[1]
    if short:
        raise ConfigError(f"--passwords {path}: rows {', '.join(short)} hold passwords shorter "
                          f"than {MIN_PASSWORD} characters")
    return out


def write_password_list(path: str | os.PathLike[str], passwords: Mapping[str, str]) -> Path:
    """Write ``person_id,password`` with mode 0600, atomically (HR sends these separately)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["person_id", "password"])
        w.writerows(sorted(passwords.items()))
    os.replace(tmp, path)
    return path


def make_archives(people: Path, target: Path, folders: Iterable[str],
                  person_of: Mapping[str, str], passwords: Mapping[str, str]) -> dict[str, str]:
    """Zip each folder under ``people`` to ``target/<folder>.zip`` with AES-256.

    Returns person id -> password (the given ones, and new ones for people without one).
    """
    import pyzipper

    target.mkdir(parents=True, exist_ok=True)
    chosen: dict[str, str] = {}
    for folder in folders:
        person = person_of[folder]
        password = passwords.get(person) or new_password()
        chosen[person] = password
        with pyzipper.AESZipFile(target / f"{folder}.zip", "w", compression=pyzipper.ZIP_DEFLATED,
                                 encryption=pyzipper.WZ_AES) as zf:
            zf.setpassword(password.encode("utf-8"))
            zf.setencryption(pyzipper.WZ_AES, nbits=256)
            for path in sorted(p for p in (people / folder).rglob("*") if p.is_file()):
                zf.write(path, f"{folder}/{path.relative_to(people / folder).as_posix()}")
    return chosen


_SMTP_RE = re.compile(r"(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:\[\]\s]+))(?::(?P<port>\d{1,5}))?")


def parse_smtp(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) -> (host, port); port 587 when left out."""
    m = _SMTP_RE.fullmatch(str(text).strip())
    port = int(m["port"]) if m and m["port"] else 587
    if m is None or not 0 < port < 65536:
        raise ConfigError(f"--smtp must look like HOST:PORT (e.g. mail.example.org:587), "
                          f"got {text!r}")
    return m["v6"] or m["host"], port


def _body(entry: Mapping[str, Any], wave: str, link: str | None, archive: bool,
          pdfs: list[str]) -> str:
    files = [f["file"] for f in entry["files"]]
    briefs = [f for f in files if f.startswith("units/") and f.endswith(".html")]
    docs = [f for f in files if "/" not in f and f.endswith(".html") and f != "index.html"]
    lines = [f"Your part of the {wave} leadership and quality culture report is ready: "
             f"{len(briefs)} unit brief(s)"
             + (f" and {len(docs)} organisation document(s)" if docs else "") + "."]
    if link:
        lines.append(f"Open it here: {link}")
    if archive:
        lines.append("Your folder is attached as an encrypted zip archive. HR sends you its "
                     "password separately; open it with 7-Zip or WinZip.")
    if pdfs:
        lines.append(f"Your brief(s) are attached as PDF ({len(pdfs)}).")
    lines.append("Groups below the anonymity threshold are never reported. Please do not "
                 "forward this message.")
    return "\n\n".join(lines) + "\n"


def build_messages(published: Path, manifest: Mapping[str, Any], *, sender: str,
                   base_url: str | None = None, attach_archive: bool = False
                   ) -> list[tuple[Mapping[str, Any], EmailMessage, list[dict]]]:
    """One message per person who received a folder (leaders: their briefs as PDF)."""
    if not base_url and not attach_archive:
        raise ConfigError("e-mail delivery needs --base-url (a link to each folder) or "
                          "--archive (the folder attached, encrypted)")
    wave = manifest["wave"]
    domain = sender.rpartition("@")[2] or None
    out = []
    for entry in manifest["recipients"]:
        if not entry["files"]:
            continue
        folder = published / entry["folder"]
        link = (f"{base_url.rstrip('/')}/{wave}/{entry['folder']}/index.html"
                if base_url else None)
        pdfs = [f["file"] for f in entry["files"] if f["file"].endswith(".pdf")] \
            if entry["role"] == "leader" else []
        attachments = [(folder / f, Path(f).name, "application", "pdf") for f in pdfs]
        if attach_archive:
            if not entry.get("archive"):
                raise ConfigError("--archive e-mail delivery needs the archives of this publish")
            attachments.append((published / entry["archive"]["file"],
                                f"culture-{wave}.zip", "application", "zip"))
        size = sum(p.stat().st_size for p, *_ in attachments)
        if size > ATTACH_LIMIT and link:
            attachments, pdfs = [], []  # too big for most mail servers: the link is enough
        msg = EmailMessage()
        msg["Subject"] = f"Culture survey {wave}: your report"
        msg["From"] = sender
        msg["To"] = entry["email"]
        msg["Message-ID"] = make_msgid(domain=domain)
        msg.set_content(_body(entry, wave, link, attach_archive and bool(attachments), pdfs))
        sent = []
        for path, name, main, sub in attachments:
            msg.add_attachment(path.read_bytes(), maintype=main, subtype=sub, filename=name)
            sent.append({"file": name, "sha256": sha256_file(path)})
        out.append((entry, msg, sent))
    return out


def send_mail(published: str | os.PathLike[str], *, smtp: str, sender: str,
              base_url: str | None = None, attach_archive: bool = False,
              cafile: str | None = None, environ: Mapping[str, str] | None = None,
              timeout: float = 60.0) -> dict[str, Any]:
    """Send each person their part (see the module doc); returns the delivery log.

    Raises
    ------
    ConfigError
        No STARTTLS, refused login, an unreachable server, or recipients the server
        refused (the others are sent and the log says who got what).
    """
    published = Path(published)
    manifest = json.loads((published / "recipients.json").read_text(encoding="utf-8"))
    messages = build_messages(published, manifest, sender=sender, base_url=base_url,
                              attach_archive=attach_archive)
    host, port = parse_smtp(smtp)
    env = os.environ if environ is None else environ
    user, password = env.get(USER_ENV), env.get(PASSWORD_ENV)
    context = ssl.create_default_context(cafile=cafile)
    log: dict[str, Any] = {"wave": manifest["wave"], "server": f"{host}:{port}",
                           "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "messages": []}
    failed: list[str] = []
    try:
        with smtplib.SMTP(host, port, timeout=timeout) as client:
            client.ehlo()
            if not client.has_extn("starttls"):
                raise ConfigError(f"the mail server {host}:{port} does not offer STARTTLS; "
                                  "refusing to send the reports unencrypted")
            client.starttls(context=context)
            client.ehlo()
            if user:
                _login(client, user, password or "")
            for entry, msg, attached in messages:
                record = {"person_id": entry["person_id"], "email": entry["email"],
                          "message_id": msg["Message-ID"], "attachments": attached}
                try:
                    client.send_message(msg)
                    record["sent"] = True
                except smtplib.SMTPRecipientsRefused:
                    record["sent"] = False
                    failed.append(entry["person_id"])
                log["messages"].append(record)
    except smtplib.SMTPAuthenticationError:
        raise ConfigError(f"the mail server {host}:{port} refused the login of "
                          f"${USER_ENV}; check {USER_ENV} and {PASSWORD_ENV}") from None
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        _write_log(published, log)
        raise ConfigError(f"e-mail delivery through {host}:{port} failed "
                          f"({type(exc).__name__}); {len(log['messages'])} message(s) were "
                          "handed over before it (see the delivery log)") from None
    _write_log(published, log)
    if failed:
        raise ConfigError(f"the mail server refused the address of {len(failed)} person(s): "
                          f"{', '.join(failed)}; the others were sent (see the delivery log)")
    return log


def _login(client: smtplib.SMTP, user: str, password: str) -> None:
    """AUTH PLAIN when offered (one round trip, safe inside STARTTLS); else smtplib's choice.

    ``SMTP.login`` retries a refused password with every other mechanism, so one wrong
    password counts as several failed logins against the account's lock-out limit."""
    offered = client.esmtp_features.get("auth", "").upper().split()
    if "PLAIN" not in offered:
        client.login(user, password)
        return
    client.user, client.password = user, password
    client.auth("PLAIN", client.auth_plain)


def _write_log(published: Path, log: dict[str, Any]) -> Path:
    log["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    path = published / f"delivery-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(log, indent=2, sort_keys=True), encoding="utf-8")
    return path
