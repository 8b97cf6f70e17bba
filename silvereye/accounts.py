"""What ``silvereye account`` and ``silvereye credentials`` do, on this host's store.

A client needs an endpoint, a region and keys; :func:`render` writes them
in the form a tool reads: ``env`` (shell exports for boto3, the aws CLI and
most SDKs), ``aws-config`` (a profile for ~/.aws/config), or ``eucarc``
(Eucalyptus' file, which euca2ools-era scripts source: per-service URLs on
Eucalyptus' paths plus EC2_ACCESS_KEY and friends).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

from silvereye.config import Config
from silvereye.errors import SilvereyeError

FORMATS = ("env", "aws-config", "eucarc")

# Eucalyptus' environment variables and the paths of the services on the one listener.
EUCA_URLS = [
    ("EC2_URL", "/services/compute"),
    ("S3_URL", "/services/objectstorage"),
    ("EUARE_URL", "/services/Euare"),
    ("AWS_IAM_URL", "/services/Euare"),
    ("TOKEN_URL", "/services/Tokens"),
    ("AWS_ELB_URL", "/services/LoadBalancing"),
    ("AWS_AUTO_SCALING_URL", "/services/AutoScaling"),
    ("AWS_CLOUDWATCH_URL", "/services/CloudWatch"),
    ("AWS_CLOUDFORMATION_URL", "/services/CloudFormation"),
]


def render(cfg: Config, key: Any, fmt: str = "env") -> str:
    """The client configuration for a root key (``silvereye.services.iam.accounts.RootKey``)."""
    from silvereye.net import endpoint_url

    url = endpoint_url(cfg)
    q = shlex.quote
    head = f"# silvereye account {key.account_name} ({key.account_id}), root credentials\n"
    if fmt == "env":
        return head + "".join(f"export {k}={q(v)}\n" for k, v in (
            ("AWS_ACCESS_KEY_ID", key.access_key_id), ("AWS_SECRET_ACCESS_KEY", key.secret_access_key),
            ("AWS_DEFAULT_REGION", cfg.region), ("AWS_REGION", cfg.region), ("AWS_ENDPOINT_URL", url)))
    if fmt == "aws-config":
        return head + (
            f"# add to ~/.aws/config, then: aws --profile {key.account_name} ...\n"
            f"[profile {key.account_name}]\n"
            f"region = {cfg.region}\n"
            f"endpoint_url = {url}\n"
            f"aws_access_key_id = {key.access_key_id}\n"
            f"aws_secret_access_key = {key.secret_access_key}\n"
            "s3 =\n"
            "    addressing_style = path\n"
        )
    if fmt == "eucarc":
        lines = [f"export {var}={q(url + path)}" for var, path in EUCA_URLS]
        lines += [f"export {k}={q(v)}" for k, v in (
            ("EC2_ACCOUNT_NUMBER", key.account_id), ("EC2_USER_ID", key.account_id),
            ("EC2_ACCESS_KEY", key.access_key_id), ("EC2_SECRET_KEY", key.secret_access_key),
            ("AWS_ACCESS_KEY", key.access_key_id), ("AWS_SECRET_KEY", key.secret_access_key),
            ("AWS_ACCESS_KEY_ID", key.access_key_id), ("AWS_SECRET_ACCESS_KEY", key.secret_access_key),
            ("AWS_DEFAULT_REGION", cfg.region), ("EUCA_REGION", cfg.region))]
        return head + "\n".join(lines) + "\n"
    raise SilvereyeError(f"unknown credentials format {fmt!r}: use one of {', '.join(FORMATS)}")


def write_credentials_file(cfg: Config, key: Any) -> Path:
    """<data_dir>/credentials/<account>.env, readable by its owner only (directory 0700, file 0600)."""
    directory = Path(cfg.data_dir) / "credentials"
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    path = directory / f"{key.account_name}.env"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(render(cfg, key, "env"))
    return path


def host_store(cfg: Config):  # noqa: ANN201 - a Store; imported lazily for CLI start-up time
    """This host's store with every service's tables, for commands run beside (or without) the server."""
    from silvereye.services.registry import load_services
    from silvereye.store import open_store

    load_services()  # registers every service's migrations and the resources an account holds (S3 buckets...)

    try:
        return open_store(cfg.store_url)
    except SilvereyeError:
        raise
    except Exception as e:
        raise SilvereyeError(f"cannot open the store at {cfg.store_url}: {e.__class__.__name__}: {e}") from None


def credentials(cfg: Config, account: str = "admin", fmt: str = "env") -> str:
    from silvereye.services.iam import accounts

    if fmt not in FORMATS:
        raise SilvereyeError(f"unknown credentials format {fmt!r}: use one of {', '.join(FORMATS)}")
    store = host_store(cfg)
    try:
        with store.read() as conn:
            if account == accounts.ADMIN and accounts.find(conn, account) is None:
                raise SilvereyeError("there is no admin account yet: start the server once (silvereye serve) to create it")
            key = accounts.root_key(conn, account)
    finally:
        store.close()
    return render(cfg, key, fmt)


def create_account(cfg: Config, name: str) -> tuple[Any, Path]:
    from silvereye.services.iam import accounts

    store = host_store(cfg)
    try:
        with store.write() as conn:
            key = accounts.create(conn, name)
    finally:
        store.close()
    return key, write_credentials_file(cfg, key)


def list_accounts(cfg: Config) -> list[dict[str, Any]]:
    from silvereye.services.iam import accounts

    store = host_store(cfg)
    try:
        with store.read() as conn:
            return [
                {"name": a.name, "id": a.id, "alias": a.alias, "created": a.created.isoformat(),
                 "resources": [item for r in accounts.RESOURCES for item in r.describe(conn, a.id)]}
                for a in accounts.all_accounts(conn)
            ]
    finally:
        store.close()


def delete_account(cfg: Config, name: str, force: bool = False) -> Any:
    from silvereye.services.iam import accounts

    store = host_store(cfg)
    try:
        with store.write() as conn:
            gone = accounts.delete(conn, name, force=force)
    finally:
        store.close()
    credentials_file = Path(cfg.data_dir) / "credentials" / f"{gone.name}.env"
    credentials_file.unlink(missing_ok=True)
    return gone
