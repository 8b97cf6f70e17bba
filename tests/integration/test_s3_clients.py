"""Standard clients, unchanged: aws s3 (sync, rb --force), aws s3api, and s3cmd speaking SigV2."""

import json
import os
import subprocess

import pytest

pytestmark = pytest.mark.integration


def test_aws_s3_sync_and_remove_bucket(shared_server, tmp_path):
    src = tmp_path / "site"
    (src / "css").mkdir(parents=True)
    (src / "index.html").write_text("<h1>hi</h1>")
    (src / "css" / "main.css").write_text("h1 { color: red }")
    (src / "big.dat").write_bytes(os.urandom(9 * 1024 * 1024))
    shared_server.aws("s3", "mb", "s3://site")
    shared_server.aws("s3", "sync", str(src), "s3://site/")
    listed = json.loads(shared_server.aws("s3api", "list-objects-v2", "--bucket", "site").stdout)
    assert sorted(o["Key"] for o in listed["Contents"]) == ["big.dat", "css/main.css", "index.html"]
    (src / "index.html").write_text("<h1>changed</h1>")
    (src / "css" / "main.css").unlink()
    synced = shared_server.aws("s3", "sync", "--delete", str(src), "s3://site/").stdout
    assert "upload: " in synced and "delete: s3://site/css/main.css" in synced
    out = tmp_path / "mirror"
    shared_server.aws("s3", "sync", "s3://site/", str(out))
    assert (out / "index.html").read_text() == "<h1>changed</h1>"
    assert (out / "big.dat").read_bytes() == (src / "big.dat").read_bytes()
    refused = shared_server.aws("s3", "rb", "s3://site", check=False)
    assert refused.returncode != 0 and "BucketNotEmpty" in refused.stderr
    shared_server.aws("s3", "rb", "--force", "s3://site")
    assert "site" not in shared_server.aws("s3", "ls").stdout


def test_aws_s3api_round_trip(shared_server, tmp_path):
    shared_server.aws("s3api", "create-bucket", "--bucket", "api")
    body = tmp_path / "body.txt"
    body.write_text("s3api body")
    put = json.loads(shared_server.aws("s3api", "put-object", "--bucket", "api", "--key", "k.txt", "--body", str(body),
                                       "--content-type", "text/plain", "--metadata", "owner=ops").stdout)
    assert put["ETag"].strip('"')
    out = tmp_path / "out.txt"
    got = json.loads(shared_server.aws("s3api", "get-object", "--bucket", "api", "--key", "k.txt", str(out)).stdout)
    assert out.read_text() == "s3api body" and got["Metadata"] == {"owner": "ops"} and got["ContentType"] == "text/plain"
    shared_server.aws("s3api", "put-bucket-versioning", "--bucket", "api",
                      "--versioning-configuration", "Status=Enabled")
    shared_server.aws("s3api", "put-object", "--bucket", "api", "--key", "k.txt", "--body", str(body))
    versions = json.loads(shared_server.aws("s3api", "list-object-versions", "--bucket", "api").stdout)["Versions"]
    assert len(versions) == 2
    missing = shared_server.aws("s3api", "head-object", "--bucket", "api", "--key", "nope", check=False)
    assert missing.returncode != 0 and "404" in missing.stderr


def _s3cmd(server, tmp_path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    config = tmp_path / "s3cfg"
    if not config.exists():
        host = f"127.0.0.1:{server.port}"
        config.write_text("\n".join([
            "[default]", f"access_key = {server.access_key}", f"secret_key = {server.secret_key}",
            f"host_base = {host}", f"host_bucket = {host}", "use_https = False", "signature_v2 = True",
            "bucket_location = US", "check_ssl_certificate = False", "multipart_chunk_size_mb = 5",
            "progress_meter = False", "",
        ]))
    r = subprocess.run(["/usr/bin/s3cmd", "-c", str(config), *args], capture_output=True, text=True)
    if check:
        assert r.returncode == 0, f"s3cmd {' '.join(args)}: {r.stdout}\n{r.stderr}"
    return r


def test_s3cmd_speaks_sigv2(shared_server, tmp_path):
    data = os.urandom(12 * 1024 * 1024)  # above 5 MiB chunks: s3cmd uploads in parts
    src = tmp_path / "legacy.bin"
    src.write_bytes(data)
    _s3cmd(shared_server, tmp_path, "mb", "s3://legacy")
    _s3cmd(shared_server, tmp_path, "put", str(src), "s3://legacy/dir/legacy.bin")
    _s3cmd(shared_server, tmp_path, "put", "--acl-public", str(src), "s3://legacy/public.bin")
    listing = _s3cmd(shared_server, tmp_path, "ls", "-r", "s3://legacy").stdout
    assert "s3://legacy/dir/legacy.bin" in listing and "s3://legacy/public.bin" in listing
    back = tmp_path / "back.bin"
    _s3cmd(shared_server, tmp_path, "get", "s3://legacy/dir/legacy.bin", str(back))
    assert back.read_bytes() == data
    info = _s3cmd(shared_server, tmp_path, "info", "s3://legacy/public.bin").stdout
    assert "*anon*: READ" in info
    curl = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                           f"{shared_server.url}/legacy/public.bin"], capture_output=True, text=True)
    assert curl.stdout == "200"
    _s3cmd(shared_server, tmp_path, "del", "--recursive", "--force", "s3://legacy")
    _s3cmd(shared_server, tmp_path, "rb", "s3://legacy")
    assert "s3://legacy" not in _s3cmd(shared_server, tmp_path, "ls").stdout


def test_wrong_keys_and_anonymous_writes_are_refused(shared_server, tmp_path):
    shared_server.aws("s3", "mb", "s3://guarded")
    wrong = shared_server.aws("s3", "ls", "s3://guarded", check=False, secret_key="0" * 40)
    assert wrong.returncode != 0 and "SignatureDoesNotMatch" in wrong.stderr
    unknown = shared_server.aws("s3", "ls", check=False, access_key="AKIANOSUCHKEY0000000", secret_key="0" * 40)
    assert unknown.returncode != 0 and "InvalidAccessKeyId" in unknown.stderr
    body = tmp_path / "payload"
    body.write_bytes(b"anonymous")
    put = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", "-X", "PUT", "--upload-file", str(body),
                          f"{shared_server.url}/guarded/intruder"], capture_output=True, text=True)
    assert put.stdout.endswith("403") and "<Code>AccessDenied</Code>" in put.stdout
    assert "intruder" not in shared_server.aws("s3", "ls", "s3://guarded").stdout
