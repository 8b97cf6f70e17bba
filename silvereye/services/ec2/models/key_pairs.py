"""Key pairs: real RSA and ed25519 keys, with fingerprints computed exactly as EC2 computes them.

EC2 has three fingerprint rules, and clients compare against them:

- a created RSA key: SHA-1 of the private key in PKCS#8 DER, colon-separated
  hex (what ``openssl pkcs8 -topk8 -nocrypt -outform DER | openssl sha1 -c``
  prints);
- an imported RSA key: MD5 of the public key's DER (SubjectPublicKeyInfo),
  colon-separated hex (``openssl pkey -pubout -outform DER | openssl md5 -c``;
  the API reference calls it RFC 4716's fingerprint, but the bytes hashed are
  the DER key, which is why it never matches ``ssh-keygen -E md5``);
- ed25519, created or imported: base64 of the SHA-256 of the OpenSSH public
  key blob (``ssh-keygen -l`` without its ``SHA256:`` prefix, with padding).

Created keys are handed out once (PEM: PKCS#1 for RSA, OpenSSH for
ed25519; or PuTTY's .ppk) and only the public half is kept. Imports accept
the forms EC2 accepts: an OpenSSH line, an RFC 4716 block, or a PEM/DER
public key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from silvereye.services.ec2 import errors
from silvereye.services.ec2.models.common import new_id, now
from silvereye.services.ec2.tables import key_pairs as k

KEY_TYPES = ("rsa", "ed25519")
KEY_FORMATS = ("pem", "ppk")
RSA_BITS = 2048
RSA_IMPORT_BITS = (1024, 2048, 4096)
_NAME_MAX = 255


@dataclass(frozen=True)
class NewKey:
    key_type: str
    fingerprint: str
    public_openssh: str  # 'ssh-rsa AAAA...' (no comment)
    private_material: str  # what CreateKeyPair returns as KeyMaterial


def check_name(name: str | None) -> str:
    if not name:
        raise errors.missing_parameter("KeyName")
    if len(name) > _NAME_MAX or not name.isascii() or any(ord(c) < 32 for c in name):
        raise errors.invalid_value(name, "KeyName", f"Key names are at most {_NAME_MAX} printable ASCII characters.")
    return name


def colon_hex(digest: bytes) -> str:
    return ":".join(f"{b:02x}" for b in digest)


def _ssh_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _ssh_mpint(n: int) -> bytes:
    if n == 0:
        return _ssh_string(b"")
    raw = n.to_bytes((n.bit_length() + 8) // 8, "big")  # a leading zero byte keeps it positive
    return _ssh_string(raw)


def _public_blob(public) -> bytes:
    """The SSH wire form of a public key (what an OpenSSH line base64-encodes)."""
    line = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return base64.b64decode(line.split()[1])


def _openssh_line(public) -> str:
    return public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def ed25519_fingerprint(public: ed25519.Ed25519PublicKey) -> str:
    return base64.b64encode(hashlib.sha256(_public_blob(public)).digest()).decode()


def imported_rsa_fingerprint(public: rsa.RSAPublicKey) -> str:
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return colon_hex(hashlib.md5(der).digest())


def created_rsa_fingerprint(private: rsa.RSAPrivateKey) -> str:
    der = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return colon_hex(hashlib.sha1(der).digest())


# -- creating ------------------------------------------------------------------


def create(key_type: str = "rsa", key_format: str = "pem", comment: str = "") -> NewKey:
    if key_type not in KEY_TYPES:
        raise errors.invalid_value(key_type, "KeyType", f"Valid values are {', '.join(KEY_TYPES)}.")
    if key_format not in KEY_FORMATS:
        raise errors.invalid_value(key_format, "KeyFormat", f"Valid values are {', '.join(KEY_FORMATS)}.")
    if key_type == "rsa":
        private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
        fingerprint = created_rsa_fingerprint(private)
        pem_format = serialization.PrivateFormat.TraditionalOpenSSL  # -----BEGIN RSA PRIVATE KEY-----
    else:
        private = ed25519.Ed25519PrivateKey.generate()
        fingerprint = ed25519_fingerprint(private.public_key())
        pem_format = serialization.PrivateFormat.OpenSSH
    if key_format == "ppk":
        material = to_ppk(private, comment)
    else:
        material = private.private_bytes(serialization.Encoding.PEM, pem_format, serialization.NoEncryption()).decode()
    return NewKey(key_type, fingerprint, _openssh_line(private.public_key()), material.rstrip("\n"))


def to_ppk(private, comment: str) -> str:
    """An unencrypted PuTTY private key file (format 2, which every PuTTY since 0.52 reads)."""
    public = private.public_key()
    public_blob = _public_blob(public)
    if isinstance(private, rsa.RSAPrivateKey):
        algorithm = "ssh-rsa"
        n = private.private_numbers()
        private_blob = _ssh_mpint(n.d) + _ssh_mpint(n.p) + _ssh_mpint(n.q) + _ssh_mpint(n.iqmp)
    else:
        algorithm = "ssh-ed25519"
        seed = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                     serialization.NoEncryption())
        private_blob = _ssh_string(seed)
    encryption = "none"
    mac_key = hashlib.sha1(b"putty-private-key-file-mac-key").digest()  # empty passphrase
    mac_data = b"".join(_ssh_string(x) for x in (algorithm.encode(), encryption.encode(), comment.encode(),
                                                   public_blob, private_blob))
    mac = hmac.new(mac_key, mac_data, hashlib.sha1).hexdigest()

    def lines(blob: bytes) -> list[str]:
        text = base64.b64encode(blob).decode()
        return [text[i:i + 64] for i in range(0, len(text), 64)]

    pub, priv = lines(public_blob), lines(private_blob)
    out = [f"PuTTY-User-Key-File-2: {algorithm}", f"Encryption: {encryption}", f"Comment: {comment}",
           f"Public-Lines: {len(pub)}", *pub, f"Private-Lines: {len(priv)}", *priv, f"Private-MAC: {mac}"]
    return "\n".join(out) + "\n"


# -- importing -----------------------------------------------------------------

_RFC4716 = re.compile(r"---- BEGIN SSH2 PUBLIC KEY ----(.*?)---- END SSH2 PUBLIC KEY ----", re.S)


def _rfc4716_body(text: str) -> bytes | None:
    m = _RFC4716.search(text)
    if m is None:
        return None
    body, continued = [], False
    for line in m.group(1).strip().splitlines():
        line = line.strip()
        if continued:
            continued = line.endswith("\\")
            continue
        if ":" in line:  # a header ("Comment: ..."), possibly continued with a trailing backslash
            continued = line.endswith("\\")
            continue
        body.append(line)
    try:
        return base64.b64decode("".join(body), validate=True)
    except binascii.Error:
        return None


def _load_public(material: bytes):
    text = material.decode("utf-8", "replace").strip()
    if text.startswith(("ssh-", "ecdsa-")):
        return serialization.load_ssh_public_key(" ".join(text.split()[:2]).encode())
    blob = _rfc4716_body(text)
    if blob is not None:
        algorithm = blob[4:4 + struct.unpack(">I", blob[:4])[0]].decode("ascii", "replace")
        return serialization.load_ssh_public_key(f"{algorithm} {base64.b64encode(blob).decode()}".encode())
    if text.startswith("-----BEGIN"):
        return serialization.load_pem_public_key(text.encode())
    try:
        der = base64.b64decode(text, validate=True)
    except binascii.Error:
        der = material
    return serialization.load_der_public_key(der)


def parse_public(material: bytes) -> tuple[str, str, str]:
    """ImportKeyPair's key: (key type, AWS fingerprint, OpenSSH line); InvalidKey.Format otherwise."""
    try:
        public = _load_public(material)
    except (ValueError, TypeError, IndexError, struct.error, UnicodeDecodeError):
        raise errors.key_format() from None
    except Exception:  # cryptography's UnsupportedAlgorithm and friends
        raise errors.key_format() from None
    if isinstance(public, rsa.RSAPublicKey):
        if public.key_size not in RSA_IMPORT_BITS:
            raise errors.key_format(f"Invalid RSA key length {public.key_size}; use 1024, 2048 or 4096 bits")
        return "rsa", imported_rsa_fingerprint(public), _openssh_line(public)
    if isinstance(public, ed25519.Ed25519PublicKey):
        return "ed25519", ed25519_fingerprint(public), _openssh_line(public)
    raise errors.key_format("Key is not in valid OpenSSH public key format: only RSA and ED25519 keys are supported")


# -- records -----------------------------------------------------------------------


def find(conn: sa.Connection, account_id: str, name: str) -> Any | None:
    return conn.execute(sa.select(k).where(k.c.account_id == account_id, k.c.name == name)).first()


def insert(conn: sa.Connection, account_id: str, name: str, key_type: str, fingerprint: str, public_key: str) -> str:
    """Store a key pair; InvalidKeyPair.Duplicate when the account has one of that name."""
    if find(conn, account_id, name) is not None:
        raise errors.key_pair_duplicate(name)
    key_id = new_id("key")
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(k).values(id=key_id, account_id=account_id, name=name, key_type=key_type,
                                             fingerprint=fingerprint, public_key=public_key, created=now()))
    except sa.exc.IntegrityError:  # a concurrent request of the same name won
        raise errors.key_pair_duplicate(name) from None
    return key_id
