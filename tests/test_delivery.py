"""Delivery: AES archives and e-mail through a real SMTP server on loopback (aiosmtpd).

The server speaks STARTTLS with a certificate made by the test and asks for a login; the
test reads what arrived and checks that every recipient got exactly their part.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from culture.boundary.bundle import Bundle
from culture.errors import ConfigError
from culture.ingest.access import read_access
from culture.pipeline.packs import bundle_key
from culture.report.delivery import (
    PASSWORD_ENV,
    USER_ENV,
    parse_smtp,
    read_passwords,
    send_mail,
    write_password_list,
)
from culture.report.publish import publish, recipients_from_access
from test_access import make_access_list

pyzipper = pytest.importorskip("pyzipper")
aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")

pytestmark = pytest.mark.skipif(shutil.which("chromium") is None and
                                shutil.which("chromium-browser") is None,
                                reason="briefs are printed to PDF with Debian's chromium")


@pytest.fixture(scope="module")
def delivered(small_pack, tmp_path_factory):
    """The small pack published for a few people, with PDFs and encrypted archives."""
    result, ws, _ = small_pack
    wave = result.manifest["wave"]
    org = ws.org(wave)
    team = org.loc[org["level"] == 3, "unit_id"].iloc[0]
    tmp = tmp_path_factory.mktemp("delivery")
    access = read_access(make_access_list(org, tmp / "access.csv", max_level=2,
                                          no_scope_unit=team), org=org)
    # the root's leader, one site and its departments, the executives, HR and N-1
    site = org.loc[org["level"] == 1, "unit_id"].iloc[0]
    keep = {"L-" + u for u in org.loc[(org["level"] == 0) | (org["unit_id"] == site) |
                                      (org["parent_id"] == site), "unit_id"]}
    keep |= {"E-1", "H-1", "N-1"}
    recipients = [r for r in recipients_from_access(access) if r.person_id in keep]
    bundle = Bundle.load(ws.root / "bundles" / wave, key=bundle_key(ws))
    given = {"E-1": "a-password-from-the-file"}
    out = publish(result.folder, bundle, recipients, tmp / "published", pdf=True, archives=True,
                  passwords=given)
    return out, recipients, given


def test_archives_open_with_their_password_only(delivered):
    result, recipients, given = delivered
    assert result.passwords["E-1"] == given["E-1"]
    for share in result.plan.shares:
        person = share.recipient.person_id
        path = result.archive(person)
        with pyzipper.AESZipFile(path) as zf:
            names = set(zf.namelist())
            entry, = [r for r in result.manifest["recipients"] if r["person_id"] == person]
            assert names == {f"{share.folder}/{f['file']}" for f in entry["files"]}
            with pytest.raises(RuntimeError):
                zf.read(f"{share.folder}/index.html")            # no password: refused
            zf.setpassword(b"not the password at all")
            with pytest.raises(RuntimeError):
                zf.read(f"{share.folder}/index.html")
            zf.setpassword(result.passwords[person].encode())
            assert zf.read(f"{share.folder}/index.html").startswith(b"<!DOCTYPE html>")
        with open(path, "rb") as fh:                             # AES: no plain text inside
            assert b"Leadership and quality culture" not in fh.read()
    assert result.archive("N-1") is None


def test_password_lists_are_private_and_read_back(delivered, tmp_path):
    result, _, _ = delivered
    path = write_password_list(tmp_path / "pw.csv", result.passwords)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert read_passwords(path) == result.passwords
    (tmp_path / "short.csv").write_text("person_id,password\nA,short\n")
    with pytest.raises(ConfigError, match="rows 2"):
        read_passwords(tmp_path / "short.csv")


def test_leaders_get_their_briefs_as_pdf(delivered):
    result, _, _ = delivered
    for share in result.plan.shares:
        folder = result.folder / "people" / share.folder
        pdfs = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.pdf"))
        if share.recipient.role == "leader":
            assert pdfs == sorted(str(Path(b).with_suffix(".pdf")) for b in share.briefs)
            assert all((folder / p).read_bytes().startswith(b"%PDF") for p in pdfs)
            # printed from a copy without links: no file:// target of this machine inside
            assert all(b"file://" not in (folder / p).read_bytes() for p in pdfs)
        else:
            assert pdfs == []


def certificate(tmp: Path) -> tuple[Path, Path]:
    key, cert = tmp / "key.pem", tmp / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return key, cert


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_server(tmp_path):
    import ssl

    from aiosmtpd.smtp import AuthResult

    if shutil.which("openssl") is None:
        pytest.skip("openssl makes the server's certificate")
    key, cert = certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"culture" and auth_data.password == b"s3cret-from-env"
        return AuthResult(success=ok, handled=False)  # aiosmtpd answers 535 itself

    port = free_port()
    controller = aiosmtpd_controller.Controller(
        inbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
        authenticator=authenticator, auth_require_tls=True, auth_required=True)
    controller.start()
    try:
        yield inbox, f"127.0.0.1:{port}", cert
    finally:
        controller.stop()


ENV = {USER_ENV: "culture", PASSWORD_ENV: "s3cret-from-env"}


def test_each_recipient_receives_one_message_with_exactly_their_part(delivered, smtp_server):
    result, recipients, _ = delivered
    inbox, server, cert = smtp_server
    log = send_mail(result.folder, smtp=server, sender="culture@example.org",
                    base_url="https://intranet.example.org/culture", attach_archive=True,
                    cafile=str(cert), environ=ENV)
    by_address = {}
    for rcpt, content in inbox.messages:
        assert len(rcpt) == 1
        by_address.setdefault(rcpt[0], []).append(
            email.message_from_bytes(content, policy=email.policy.default))
    served = {s.recipient.email: s for s in result.plan.shares}
    assert set(by_address) == set(served)                      # N-1 gets no message
    assert all(len(msgs) == 1 for msgs in by_address.values())
    for address, (msg,) in by_address.items():
        share = served[address]
        folder = result.folder / "people" / share.folder
        attached = {a.get_filename(): a.get_content() for a in msg.iter_attachments()}
        pdfs = {n: b for n, b in attached.items() if n.endswith(".pdf")}
        if share.recipient.role == "leader":
            assert set(pdfs) == {Path(b).with_suffix(".pdf").name for b in share.briefs}
            for name, content in pdfs.items():
                assert content == (folder / "units" / name).read_bytes()
        else:
            assert pdfs == {}
        zipped, = [b for n, b in attached.items() if n.endswith(".zip")]
        assert zipped == result.archive(share.recipient.person_id).read_bytes()
        body = msg.get_body(("plain",)).get_content()
        assert f"/people/{share.folder}/index.html" in body
        assert result.passwords[share.recipient.person_id] not in msg.as_string()
    assert len(log["messages"]) == len(served) and all(m["sent"] for m in log["messages"])
    assert list(result.folder.glob("delivery-*.json"))
    for m in log["messages"]:
        for a in m["attachments"]:
            assert len(a["sha256"]) == 64
    digest = {hashlib.sha256(b).hexdigest() for msgs in by_address.values() for m in msgs
              for b in [a.get_content() for a in m.iter_attachments()]}
    assert {a["sha256"] for m in log["messages"] for a in m["attachments"]} == digest


def test_wrong_credentials_or_no_tls_are_refused(delivered, smtp_server):
    result, _, _ = delivered
    inbox, server, cert = smtp_server
    with pytest.raises(ConfigError, match="refused the login"):
        send_mail(result.folder, smtp=server, sender="culture@example.org",
                  base_url="https://x.example.org", cafile=str(cert),
                  environ={USER_ENV: "culture", PASSWORD_ENV: "wrong"})
    with pytest.raises(ConfigError, match="failed"):                 # certificate not trusted
        send_mail(result.folder, smtp=server, sender="culture@example.org",
                  base_url="https://x.example.org", environ=ENV)
    plain = aiosmtpd_controller.Controller(Inbox(), hostname="127.0.0.1", port=free_port())
    plain.start()
    try:
        with pytest.raises(ConfigError, match="STARTTLS"):
            send_mail(result.folder, smtp=f"127.0.0.1:{plain.port}", sender="c@example.org",
                      base_url="https://x.example.org", environ=ENV)
    finally:
        plain.stop()
    assert inbox.messages == []


def test_smtp_addresses():
    assert parse_smtp("mail.example.org:587") == ("mail.example.org", 587)
    assert parse_smtp("[::1]:25") == ("::1", 25)
    with pytest.raises(ConfigError):
        parse_smtp("mail:port")
