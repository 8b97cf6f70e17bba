"""Server certificates: what UploadServerCertificate accepts and what it refuses."""

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tests.unit.iam.harness import fails

NOW = dt.datetime.now(dt.timezone.utc)


def _pem_key(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _cert(subject: str, key, issuer_name: str, issuer_key, days: int = 30, ca: bool = False) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def pki():
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _cert("Test Root", root_key, "Test Root", root_key, 3650, ca=True)
    mid_key = ec.generate_private_key(ec.SECP256R1())
    mid = _cert("Test Intermediate", mid_key, "Test Root", root_key, 1000, ca=True)
    leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = _cert("www.example.test", leaf_key, "Test Intermediate", mid_key, 90)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {"leaf": _pem(leaf), "key": _pem_key(leaf_key), "chain": _pem(mid) + _pem(root),
            "wrong_chain": _pem(root) + _pem(mid), "other_key": _pem_key(other_key),
            "expires": leaf.not_valid_after_utc.replace(microsecond=0)}


def test_upload_get_list_update_delete(h, pki):
    meta = h.call("UploadServerCertificate", ServerCertificateName="www", Path="/lb/", CertificateBody=pki["leaf"],
                  PrivateKey=pki["key"], CertificateChain=pki["chain"])["ServerCertificateMetadata"]
    assert meta["Arn"] == f"arn:aws:iam::{h.account_id}:server-certificate/lb/www"
    assert meta["ServerCertificateId"].startswith("ASCA") and meta["Expiration"] == pki["expires"]
    got = h.call("GetServerCertificate", ServerCertificateName="www")["ServerCertificate"]
    assert got["CertificateBody"] == pki["leaf"].strip() and got["CertificateChain"] == pki["chain"].strip()
    assert "PRIVATE KEY" not in repr(got)  # the private key never leaves
    with fails("EntityAlreadyExists", 409):
        h.call("UploadServerCertificate", ServerCertificateName="WWW", CertificateBody=pki["leaf"], PrivateKey=pki["key"])
    h.call("UpdateServerCertificate", ServerCertificateName="www", NewServerCertificateName="web", NewPath="/")
    listed = h.call("ListServerCertificates")["ServerCertificateMetadataList"]
    assert [(c["ServerCertificateName"], c["Path"]) for c in listed] == [("web", "/")]
    h.call("DeleteServerCertificate", ServerCertificateName="web")
    with fails("NoSuchEntity", 404, "The Server Certificate with name web cannot be found."):
        h.call("GetServerCertificate", ServerCertificateName="web")


def test_refuses_what_would_not_serve_tls(h, pki):
    with fails("MalformedCertificate", 400, "Unable to parse certificate"):
        h.call("UploadServerCertificate", ServerCertificateName="x", CertificateBody="-----BEGIN CERTIFICATE-----\nnope\n",
               PrivateKey=pki["key"])
    with fails("MalformedCertificate", 400, "private key"):
        h.call("UploadServerCertificate", ServerCertificateName="x", CertificateBody=pki["leaf"], PrivateKey="not a key")
    with fails("KeyPairMismatch", 400):
        h.call("UploadServerCertificate", ServerCertificateName="x", CertificateBody=pki["leaf"], PrivateKey=pki["other_key"])
    with fails("MalformedCertificate", 400, "certificate chain"):
        h.call("UploadServerCertificate", ServerCertificateName="x", CertificateBody=pki["leaf"], PrivateKey=pki["key"],
               CertificateChain=pki["wrong_chain"])
    assert h.call("ListServerCertificates")["ServerCertificateMetadataList"] == []
