"""Keyed pseudonyms (culture.pseudonym).

Reference values: the HMAC-SHA256 test vectors of RFC 4231 section 4
(https://datatracker.ietf.org/doc/html/rfc4231#section-4). ``domain=None``
hashes the id bytes alone, so the public ``Pseudonymizer.hash`` must reproduce
them exactly (tolerance: exact string equality).
"""

from __future__ import annotations

import hashlib
import hmac
import os

import numpy as np
import pandas as pd
import pytest

from culture.errors import PseudonymKeyError
from culture.store.pseudonym import (
    KEY_BYTES,
    KEY_ENV,
    Pseudonymizer,
    fingerprint,
    generate_key,
    load_key_env,
    load_key_file,
    write_key_file,
)

# RFC 4231 section 4.2, test case 1: key = 0x0b * 20, data = "Hi There".
RFC4231_TC1 = (b"\x0b" * 20, "Hi There",
               "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
# RFC 4231 section 4.7, test case 6: key = 0xaa * 131 (longer than the block, hashed first).
RFC4231_TC6 = (b"\xaa" * 131, "Test Using Larger Than Block-Size Key - Hash Key First",
               "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
# RFC 4231 section 4.8, test case 7: same key, data longer than the block.
RFC4231_TC7 = (b"\xaa" * 131,
               "This is a test using a larger than block-size key and a larger than block-size "
               "data. The key needs to be hashed before being used by the HMAC algorithm.",
               "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2")


@pytest.mark.parametrize("case", [RFC4231_TC1, RFC4231_TC6, RFC4231_TC7],
                         ids=["tc1", "tc6", "tc7"])
def test_plain_hmac_matches_rfc4231(case):
    key, data, expected = case
    p = Pseudonymizer(key)
    out = p.hash(pd.Series([data, data]), domain=None)
    assert out.tolist() == [expected, expected]
    assert p.hash_one(data, domain=None) == expected


def test_domain_prefix_is_hmac_of_domain_nul_id():
    # The definition in the module doc: HMAC(key, domain + "\x00" + id); the
    # RFC 4231 TC1 key/value pins the primitive, this pins the framing.
    key = RFC4231_TC1[0]
    p = Pseudonymizer(key)
    expected = hmac.new(key, b"respondent\x00E1001", hashlib.sha256).hexdigest()
    assert p.hash_one("E1001") == expected
    assert p.hash_one("E1001", domain="response") != expected


def test_hash_is_vectorised_over_distinct_values_and_keeps_missing():
    p = Pseudonymizer(bytes(range(32)))
    ids = pd.Series(["E1", None, "E2", "E1", np.nan, " E2 "], index=[10, 11, 12, 13, 14, 15],
                    name="respondent", dtype=object)
    out = p.hash(ids)
    assert out.index.tolist() == ids.index.tolist() and out.name == "respondent"
    assert out[11] is None and out[14] is None
    assert out[10] == out[13] and out[12] == out[15]  # spaces around an id do not matter
    assert out[10] != out[12]
    assert all(len(v) == 64 for v in out.dropna())
    # an id column read as float in one export must link to the same person
    assert p.hash(pd.Series([1001.0]))[0] == p.hash(pd.Series(["1001"]))[0]


def test_keys_change_pseudonyms_and_fingerprints():
    a, b = generate_key(), generate_key()
    assert len(a) == KEY_BYTES and a != b
    ids = pd.Series(["E1", "E2"])
    assert not set(Pseudonymizer(a).hash(ids)) & set(Pseudonymizer(b).hash(ids))
    assert fingerprint(a) == Pseudonymizer(a).fingerprint != fingerprint(b)
    assert a.hex() not in fingerprint(a) and a.hex() not in repr(Pseudonymizer(a))


def test_short_or_non_bytes_key_is_refused():
    with pytest.raises(PseudonymKeyError, match="at least 16"):
        Pseudonymizer(b"Jefe")  # RFC 4231 TC2's 4-byte key: fine for HMAC, too weak here
    with pytest.raises(PseudonymKeyError, match="bytes"):
        Pseudonymizer("0" * 64)  # type: ignore[arg-type]


def test_key_file_is_created_0600_and_never_overwritten(tmp_path):
    path = tmp_path / "secrets" / "pseudonym.key"
    key = generate_key()
    write_key_file(path, key)
    assert (path.stat().st_mode & 0o777) == 0o600
    assert load_key_file(path) == key
    with pytest.raises(PseudonymKeyError, match="refusing to overwrite"):
        write_key_file(path, generate_key())
    assert load_key_file(path) == key


@pytest.mark.parametrize("mode", [0o640, 0o644, 0o604, 0o660])
def test_key_file_readable_by_others_is_refused(tmp_path, mode):
    path = tmp_path / "k.key"
    key = generate_key()
    write_key_file(path, key)
    os.chmod(path, mode)
    with pytest.raises(PseudonymKeyError) as err:
        load_key_file(path)
    message = str(err.value)
    assert str(path) in message and f"{mode:04o}" in message and "0600" in message
    assert key.hex() not in message


def test_key_file_missing_or_malformed(tmp_path):
    with pytest.raises(PseudonymKeyError, match="not found"):
        load_key_file(tmp_path / "nope.key")
    bad = tmp_path / "bad.key"
    fd = os.open(bad, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"not-hex-at-all\n")
    os.close(fd)
    with pytest.raises(PseudonymKeyError, match="hexadecimal") as err:
        load_key_file(bad)
    assert "not-hex-at-all" not in str(err.value)


def test_key_from_environment():
    key = generate_key()
    assert load_key_env({}) is None
    assert load_key_env({KEY_ENV: "  "}) is None
    assert load_key_env({KEY_ENV: key.hex().upper() + "\n"}) == key
    with pytest.raises(PseudonymKeyError, match=KEY_ENV) as err:
        load_key_env({KEY_ENV: "zz" + key.hex()})
    assert key.hex() not in str(err.value)
    with pytest.raises(PseudonymKeyError, match="at least 16"):
        load_key_env({KEY_ENV: "00" * 8})


def test_hashing_100k_ids_gives_100k_distinct_pseudonyms():
    ids = pd.Series([f"E{i:07d}" for i in range(100_000)])
    out = Pseudonymizer(generate_key()).hash(ids)
    assert out.nunique() == len(ids)
