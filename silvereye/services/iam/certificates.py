"""Checking server certificates before IAM keeps them for the load balancers.

UploadServerCertificate takes PEM text: the certificate, its private key
and optionally the chain. The certificate must parse, the key must be the
certificate's, and the chain must run from the certificate's issuer upwards
(each certificate signed by the next), as a TLS client will check it. The
expiry is recorded for ListServerCertificates.

Load balancers fetch what they serve with :func:`for_arn`; a service that
holds certificates registers a check in :data:`USERS` so IAM refuses to
delete one still in use.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable

import sqlalchemy as sa
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from silvereye.services.gateway.errors import ServiceError
from silvereye.services.iam import schema
from silvereye.services.iam.entities import arn as make_arn

# (conn, account_id, certificate ARN) -> a description of what uses it, or None.
USERS: list[Callable[[sa.Connection, str, str], str | None]] = []


def malformed(message: str) -> ServiceError:
    return ServiceError("MalformedCertificate", message, 400)


@dataclass(frozen=True)
class Checked:
    expiration: dt.datetime


def _public(key: Any) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def check(body: str, private_key: str, chain: str | None) -> Checked:
    """MalformedCertificate / KeyPairMismatch unless the three parts make a usable certificate."""
    try:
        cert = x509.load_pem_x509_certificate(body.strip().encode())
    except ValueError:
        raise malformed("Unable to parse certificate. Please ensure the certificate is in PEM format.") from None
    try:
        key = serialization.load_pem_private_key(private_key.strip().encode(), password=None)
    except (ValueError, TypeError):
        raise malformed("Unable to parse private key. Please ensure the key is an unencrypted PEM private key.") from None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise malformed("The private key must be an RSA or ECDSA key.")
    if _public(key.public_key()) != _public(cert.public_key()):
        raise ServiceError("KeyPairMismatch", "The private key does not match the public key in the certificate.", 400)
    if chain and chain.strip():
        try:
            issuers = x509.load_pem_x509_certificates(chain.strip().encode())
        except ValueError:
            raise malformed("Unable to parse certificate chain. Please ensure the chain is in PEM format.") from None
        try:
            for child, parent in zip([cert, *issuers], issuers):
                child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature):
            raise malformed(
                "Unable to validate certificate chain. The certificate chain must start with the immediate signing "
                "certificate, followed by any intermediaries in order."
            ) from None
    return Checked(expiration=cert.not_valid_after_utc.replace(microsecond=0))


def in_use(conn: sa.Connection, account_id: str, row: Any) -> str | None:
    arn = make_arn(account_id, "server-certificate", row.path, row.name)
    for check_use in USERS:
        found = check_use(conn, account_id, arn)
        if found:
            return found
    return None


def for_arn(conn: sa.Connection, account_id: str, arn: str) -> Any | None:
    """The stored certificate (body, chain, private_key...) an account's load balancer may serve."""
    t = schema.server_certificates
    for row in conn.execute(sa.select(t).where(t.c.account_id == account_id)):
        if make_arn(account_id, "server-certificate", row.path, row.name) == arn:
            return row
    return None
