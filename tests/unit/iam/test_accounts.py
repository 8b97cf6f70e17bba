"""Accounts and `silvereye credentials` / `silvereye account`, on the store of this host."""

import json
import os
import stat
import subprocess
import sys

import pytest
import yaml

from silvereye import accounts as cli_accounts
from silvereye import config as config_mod
from silvereye.services.iam import accounts
from silvereye.store import open_store
from tests.unit.iam.harness import Harness


@pytest.fixture
def cfg(tmp_path):
    path = tmp_path / "silvereye.yaml"
    path.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), "region": "test-1",
                                    "api": {"port": 18773, "public_host": "cloud.example.test"}}))
    return config_mod.load(path)


def run(cfg, *args):
    return subprocess.run([sys.executable, "-m", "silvereye", *args, "--config", cfg.source],
                          capture_output=True, text=True)


def test_admin_is_created_once(cfg):
    store = open_store(cfg.store_url)
    first = accounts.ensure_admin(store)
    assert first is not None and first.access_key_id.startswith("AKIA") and len(first.account_id) == 12
    assert accounts.ensure_admin(store) is None
    with store.read() as conn:
        assert accounts.root_key(conn, "admin") == first
    store.close()


def test_credentials_formats(cfg):
    store = open_store(cfg.store_url)
    key = accounts.ensure_admin(store)
    store.close()
    env = cli_accounts.credentials(cfg, "admin", "env")
    assert f"export AWS_ACCESS_KEY_ID={key.access_key_id}" in env
    assert "export AWS_ENDPOINT_URL=http://cloud.example.test:18773" in env and "AWS_DEFAULT_REGION=test-1" in env
    profile = cli_accounts.credentials(cfg, "admin", "aws-config")
    assert "[profile admin]" in profile and f"aws_secret_access_key = {key.secret_access_key}" in profile
    eucarc = cli_accounts.credentials(cfg, "admin", "eucarc")
    assert "export EC2_URL=http://cloud.example.test:18773/services/compute" in eucarc
    assert "export EUARE_URL=http://cloud.example.test:18773/services/Euare" in eucarc
    assert f"export EC2_ACCOUNT_NUMBER={key.account_id}" in eucarc


def test_account_commands(cfg):
    made = run(cfg, "account", "create", "dev-team")
    assert made.returncode == 0, made.stderr
    assert "AWS_ACCESS_KEY_ID=AKIA" in made.stdout
    creds = cfg.data_path / "credentials"
    assert stat.S_IMODE(os.stat(creds).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(creds / "dev-team.env").st_mode) == 0o600
    assert run(cfg, "account", "create", "dev-team").stderr.startswith("error: an account named 'dev-team' already exists")
    bad = run(cfg, "account", "create", "Bad_Name")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and bad.stderr.count("\n") == 1

    listed = json.loads(run(cfg, "account", "list", "--json").stdout)
    assert [a["name"] for a in listed] == ["dev-team"]
    assert "AWS_SECRET_ACCESS_KEY" in run(cfg, "credentials", "--account", "dev-team").stdout

    # Non-empty accounts are kept unless forced.
    store = open_store(cfg.store_url)
    Harness(store, "dev-team", existing=True).call("CreateUser", UserName="someone")
    store.close()
    refused = run(cfg, "account", "delete", "dev-team")
    assert refused.returncode == 1 and "1 IAM users" in refused.stderr and "--force" in refused.stderr
    assert run(cfg, "account", "delete", "dev-team", "--force").returncode == 0
    assert json.loads(run(cfg, "account", "list", "--json").stdout) == []
    assert not (creds / "dev-team.env").exists()


def test_admin_account_is_never_deleted_and_must_exist_first(cfg):
    missing = run(cfg, "credentials")
    assert missing.returncode == 1 and "start the server once" in missing.stderr
    store = open_store(cfg.store_url)
    accounts.ensure_admin(store)
    store.close()
    refused = run(cfg, "account", "delete", "admin", "--force")
    assert refused.returncode == 1 and "cannot be deleted" in refused.stderr
