"""IAM: users, groups, roles, policies and keys, and the policy engine every request passes through.

Modules: the handlers, one module per kind of resource (users, groups,
roles, inline_policies, managed_policies, attachments, access_keys,
login_profiles, instance_profiles, server_certificates, account); the
identity plumbing the gateway uses for every request (credentials: access
key -> principal; access: may the principal do it; resources: which ARN an
IAM operation acts on; cache; usage); the store's tables (schema) and the
accounts of the cloud (accounts); the policy engine (policy).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

import sqlalchemy as sa

from silvereye.services.iam import (
    access_keys,
    account,
    attachments,
    authorization_details,
    groups,
    inline_policies,
    instance_profiles,
    login_profiles,
    managed_policies,
    roles,
    schema,
    server_certificates,
    users,
)
from silvereye.services.iam.access import IamAccess, access_for
from silvereye.services.iam.credentials import StoreCredentialResolver
from silvereye.services.iam.resources import iam_authorize, iam_resources
from silvereye.services.iam.usage import FLUSH_SECONDS, recorder_for
from silvereye.services.registry import Service, collect_handlers

log = logging.getLogger("silvereye.iam")

SESSION_SWEEP_SECONDS = 3600
SESSION_KEEP_AFTER_EXPIRY = dt.timedelta(days=1)  # ExpiredToken (not "unknown key") for a day


def _sweep_sessions(store: Any) -> int:
    s = schema.sessions
    cutoff = dt.datetime.now(dt.timezone.utc) - SESSION_KEEP_AFTER_EXPIRY
    with store.write() as conn:
        return conn.execute(sa.delete(s).where(s.c.expires < cutoff)).rowcount


async def _housekeeping(gateway: Any) -> None:
    """Write last-used records every few seconds; forget long-expired STS sessions hourly."""
    store, elapsed = gateway.store, 0.0
    while True:
        await asyncio.sleep(FLUSH_SECONDS)
        elapsed += FLUSH_SECONDS
        try:
            await gateway.run_blocking(recorder_for(store).flush)
            if elapsed >= SESSION_SWEEP_SECONDS:
                elapsed = 0.0
                await gateway.run_blocking(_sweep_sessions, store)
        except Exception:  # a database hiccup must not end the loop
            log.exception("IAM housekeeping failed; retrying")


def _startup(gateway: Any) -> None:
    from silvereye import accounts as cli_accounts
    from silvereye.services.iam.accounts import ensure_admin
    from silvereye.services.iam.aws_managed import sync_aws_managed_policies

    store = gateway.store
    try:
        with store.write() as conn:
            sync_aws_managed_policies(conn)
    except sa.exc.IntegrityError:  # another frontend of a shared database did it at the same moment
        log.info("AWS managed policies were brought up to date by another frontend")
    key = ensure_admin(store)
    if key is not None:
        path = cli_accounts.write_credentials_file(gateway.config, key)
        log.info("created the admin account %s; its credentials are in %s", key.account_id, path)
    gateway.spawn(_housekeeping(gateway))


def _shutdown(gateway: Any) -> None:
    recorder_for(gateway.store).flush()


SERVICE = Service(
    name="iam",
    signing_name="iam",
    iam_prefix="iam",
    euca_path="/services/Euare",
    handlers=collect_handlers(
        "iam", access_keys, account, attachments, authorization_details, groups, inline_policies,
        instance_profiles, login_profiles, managed_policies, roles, server_certificates, users,
    ),
    resources=iam_resources,
    authorize=iam_authorize,
    startup=[_startup],
    shutdown=[_shutdown],
)

__all__ = ["SERVICE", "IamAccess", "StoreCredentialResolver", "access_for"]
