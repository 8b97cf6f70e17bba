"""Key pairs through the API, with fingerprints checked against the tools AWS tells users to check them with.

AWS's user guide: a created RSA key's fingerprint is what ``openssl pkcs8 -topk8
-nocrypt -outform DER | openssl sha1 -c`` prints; an imported RSA key's is
``openssl pkey -pubout -outform DER | openssl md5 -c`` (not ``ssh-keygen -E
md5``, whose RFC 4716 digest hashes the SSH blob instead); ed25519 keys show
``ssh-keygen -l``'s SHA-256, base64 with its padding.
"""

from __future__ import annotations

import base64
import subprocess

import pytest

from silvereye.services.ec2.models import key_pairs
from tests.unit.ec2.harness import aws_error


def run(*argv: str, stdin: bytes | None = None) -> str:
    return subprocess.run(argv, input=stdin, capture_output=True, check=True).stdout.decode()


def openssl_digest(der_command: list[str], digest: str, pem: bytes) -> str:
    der = subprocess.run(der_command, input=pem, capture_output=True, check=True).stdout
    out = run("openssl", digest, "-c", stdin=der)
    return out.split("= ")[-1].strip()


def ssh_keygen_fingerprint(path, algorithm: str = "sha256") -> str:
    return run("ssh-keygen", "-l", "-E", algorithm, "-f", str(path)).split()[1]


def test_created_rsa_key_is_pkcs1_and_its_fingerprint_is_sha1_of_its_pkcs8_der(ec2, tmp_path):
    made = ec2.create_key_pair(KeyName="rsa-made")
    pem = made["KeyMaterial"].encode()
    assert made["KeyMaterial"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    expected = openssl_digest(["openssl", "pkcs8", "-topk8", "-nocrypt", "-outform", "DER"], "sha1", pem)
    assert made["KeyFingerprint"] == expected
    assert len(made["KeyFingerprint"].split(":")) == 20
    # The public key kept is the private key's own.
    key_file = tmp_path / "rsa-made.pem"
    key_file.write_bytes(pem)
    key_file.chmod(0o600)
    derived = run("ssh-keygen", "-y", "-f", str(key_file)).split()[:2]
    listed = ec2.describe_key_pairs(KeyNames=["rsa-made"], IncludePublicKey=True)["KeyPairs"][0]
    assert listed["PublicKey"].split()[:2] == derived
    assert (listed["KeyType"], listed["KeyFingerprint"], listed["KeyPairId"]) == ("rsa", expected, made["KeyPairId"])


def test_created_ed25519_key_fingerprint_is_ssh_keygens_sha256(ec2, tmp_path):
    made = ec2.create_key_pair(KeyName="ed-made", KeyType="ed25519")
    assert made["KeyMaterial"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    key_file = tmp_path / "ed-made"
    key_file.write_text(made["KeyMaterial"] + "\n")
    key_file.chmod(0o600)
    by_ssh_keygen = ssh_keygen_fingerprint(key_file).removeprefix("SHA256:")
    assert made["KeyFingerprint"] == by_ssh_keygen + "="
    assert len(base64.b64decode(made["KeyFingerprint"])) == 32


def test_imported_rsa_key_fingerprint_is_md5_of_the_der_public_key(ec2, tmp_path):
    key_file = tmp_path / "id_rsa"
    run("ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-m", "PEM", "-f", str(key_file))
    public = (tmp_path / "id_rsa.pub").read_bytes()
    imported = ec2.import_key_pair(KeyName="rsa-imported", PublicKeyMaterial=public)
    expected = openssl_digest(["openssl", "pkey", "-pubout", "-outform", "DER"], "md5", key_file.read_bytes())
    assert imported["KeyFingerprint"] == expected
    # ...which is not RFC 4716's digest of the SSH blob (the mismatch EC2 users keep asking about).
    assert imported["KeyFingerprint"] != ssh_keygen_fingerprint(tmp_path / "id_rsa.pub", "md5").removeprefix("MD5:")


def test_import_accepts_rfc4716_and_pem_forms_of_the_same_key(ec2, tmp_path):
    key_file = tmp_path / "id_same"
    run("ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", str(key_file))
    openssh = (tmp_path / "id_same.pub").read_bytes()
    rfc4716 = run("ssh-keygen", "-e", "-f", str(tmp_path / "id_same.pub")).encode()
    pem = run("ssh-keygen", "-e", "-m", "PKCS8", "-f", str(tmp_path / "id_same.pub")).encode()
    assert rfc4716.startswith(b"---- BEGIN SSH2 PUBLIC KEY ----")
    prints = {ec2.import_key_pair(KeyName=f"same-{i}", PublicKeyMaterial=m)["KeyFingerprint"]
              for i, m in enumerate((openssh, rfc4716, pem))}
    assert len(prints) == 1


def test_imported_ed25519_key_matches_ssh_keygen(ec2, tmp_path):
    key_file = tmp_path / "id_ed"
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key_file))
    imported = ec2.import_key_pair(KeyName="ed-imported", PublicKeyMaterial=(tmp_path / "id_ed.pub").read_bytes())
    assert imported["KeyFingerprint"] == ssh_keygen_fingerprint(key_file).removeprefix("SHA256:") + "="
    listed = ec2.describe_key_pairs(KeyNames=["ed-imported"])["KeyPairs"][0]
    assert listed["KeyType"] == "ed25519" and "PublicKey" not in listed


@pytest.mark.parametrize("key_type", ["rsa", "ed25519"])
def test_ppk_keys_are_read_by_puttygen(ec2, tmp_path, key_type):
    made = ec2.create_key_pair(KeyName=f"putty-{key_type}", KeyType=key_type, KeyFormat="ppk")
    assert made["KeyMaterial"].startswith(f"PuTTY-User-Key-File-2: ssh-{key_type}")
    ppk = tmp_path / "key.ppk"
    ppk.write_text(made["KeyMaterial"] + "\n")
    public = run("puttygen", str(ppk), "-O", "public-openssh").split()[:2]  # puttygen checks the MAC
    listed = ec2.describe_key_pairs(KeyNames=[f"putty-{key_type}"], IncludePublicKey=True)["KeyPairs"][0]
    assert listed["PublicKey"].split()[:2] == public


def test_key_pair_errors(ec2, tmp_path):
    ec2.create_key_pair(KeyName="dup")
    with aws_error("InvalidKeyPair.Duplicate", match="'dup' already exists"):
        ec2.create_key_pair(KeyName="dup")
    with aws_error("InvalidKeyPair.Duplicate"):
        ec2.import_key_pair(KeyName="dup", PublicKeyMaterial=key_pairs.create("ed25519").public_openssh.encode())
    with aws_error("InvalidKey.Format"):
        ec2.import_key_pair(KeyName="junk", PublicKeyMaterial=b"this is not a key")
    ecdsa = tmp_path / "id_ecdsa"
    run("ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", str(ecdsa))
    with aws_error("InvalidKey.Format", match="RSA and ED25519"):
        ec2.import_key_pair(KeyName="ecdsa", PublicKeyMaterial=(tmp_path / "id_ecdsa.pub").read_bytes())
    with aws_error("InvalidParameterValue"):
        ec2.create_key_pair(KeyName="bad-type", KeyType="dsa")
    with aws_error("InvalidKeyPair.NotFound", match="'nope' does not exist"):
        ec2.describe_key_pairs(KeyNames=["nope"])
    assert not ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": ["junk", "ecdsa", "bad-type"]}])["KeyPairs"]


def test_describe_filters_tags_and_delete(ec2, other, server):
    made = ec2.create_key_pair(KeyName="tagged", TagSpecifications=[
        {"ResourceType": "key-pair", "Tags": [{"Key": "team", "Value": "blue"}]}])
    assert made["Tags"] == [{"Key": "team", "Value": "blue"}]
    found = ec2.describe_key_pairs(Filters=[{"Name": "tag:team", "Values": ["bl*"]}])["KeyPairs"]
    assert [k["KeyName"] for k in found] == ["tagged"]
    found = ec2.describe_key_pairs(Filters=[{"Name": "fingerprint", "Values": [made["KeyFingerprint"]]}])["KeyPairs"]
    assert [k["KeyPairId"] for k in found] == [made["KeyPairId"]]
    # Another account neither sees it nor can delete it.
    theirs = server.client("ec2", other)
    assert "tagged" not in [k["KeyName"] for k in theirs.describe_key_pairs()["KeyPairs"]]
    theirs.delete_key_pair(KeyName="tagged")  # deleting a key one does not have succeeds, as on EC2
    assert ec2.describe_key_pairs(KeyNames=["tagged"])["KeyPairs"]
    assert ec2.delete_key_pair(KeyPairId=made["KeyPairId"])["Return"] is True
    with aws_error("InvalidKeyPair.NotFound"):
        ec2.describe_key_pairs(KeyNames=["tagged"])
    assert ec2.delete_key_pair(KeyName="tagged")["Return"] is True


def test_ppk_mac_covers_the_comment():
    made = key_pairs.create("ed25519", "ppk", comment="alpha")
    tampered = made.private_material.replace("Comment: alpha", "Comment: beta")
    assert "Private-MAC:" in tampered and tampered != made.private_material
