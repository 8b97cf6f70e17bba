"""EC2 on the one listener: images, key pairs, instances on libvirt, tags, the default VPC, metadata.

Layout (mirror style: state and rules in ``models``, one module of
operations per kind of resource in ``handlers``)::

    models/     instances (records, state machine), launch (RunInstances checks), images, bundles (S3 image
                format), system_images, key_pairs, tags (+ taggables), vpc, security_groups
                (+ sg_permissions), zones, common, addresses (elastic IPs), volumes and snapshots (EBS records)
    handlers/   instances, lifecycle, attributes, images, key_pairs, tags, regions, vpc, security_groups,
                security_group_rules, addresses, volumes, snapshots
    firewall                security groups enforced: records applied to the compute firewall, live
    address_nat             elastic IP records and their NAT rules on the host, changed together
    ebs, snapshot_store     volume files and snapshot objects: background work, records kept true to disks
    ebs_images              EBS-backed images: registered from snapshots, booted from root volumes
    filters, pagination     AWS's Filter and MaxResults/NextToken semantics, for every Describe
    authorize               IAM over EC2 ARNs, UnauthorizedOperation, DryRun
    runtime                 the compute driver and per-instance background work
    controller, reconcile   launching, stopping...; keeping records true to libvirt
    image_builder           CreateImage
    install                 registering images from local files (the CLI, `silvereye install`)

At start-up the service makes its runtime, subscribes to libvirt's events,
reconciles every record with the domains that exist (bringing the network
and the metadata listener up first when there are instances or the network
was laid down already; otherwise before the first launch), and runs the
housekeeping loop: reconcile every 30 s, forget terminated instances after
an hour, drop deregistered images nothing uses. EBS settles at start-up
too (:func:`.ebs.start`): snapshot overlays a crash left are merged back,
volume records are checked against the files and libvirt, unfinished
creates and deletes resume, and snapshots left pending say error.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import sqlalchemy as sa

from silvereye.services.ec2 import controller, ebs, firewall, tables  # noqa: F401 - firewall registers its hooks
from silvereye.services.ec2.authorize import ec2_authorize
from silvereye.services.ec2 import address_nat  # noqa: F401 - registers the elastic IPs' instance hooks
from silvereye.services.ec2.handlers import (
    addresses,
    attributes,
    images,
    instances,
    key_pairs,
    lifecycle,
    regions,
    security_group_rules,
    security_groups,
    snapshots,
    tags,
    vpc,
    volumes,
)
from silvereye.services.ec2.models import addresses as address_models
from silvereye.services.ec2.models import images as image_models
from silvereye.services.ec2.models import instances as records
from silvereye.services.ec2.models import security_groups as group_models
from silvereye.services.ec2.models import snapshots as snapshot_models
from silvereye.services.ec2.models import volumes as volume_models
from silvereye.services.ec2.models import taggables  # noqa: F401 - registers what CreateTags can tag
from silvereye.services.ec2.models import tags as tag_models
from silvereye.services.ec2.runtime import Ec2Runtime, register, unregister
from silvereye.services.registry import Service, collect_handlers

log = logging.getLogger("silvereye.ec2")

HOUSEKEEPING_SECONDS = 300
CACHE_GRACE_SECONDS = 3600  # a cached file younger than this may belong to a registration in progress


def _metadata_starter(gateway: Any, rt: Ec2Runtime):  # noqa: ANN202
    """A network listener that starts the metadata service on the gateway's loop (from any thread)."""
    from silvereye.services.metadata import MetadataService

    loop = asyncio.get_running_loop()
    service = MetadataService(rt.store, rt.cfg, gateway.executor)
    rt.metadata = service

    def start(runtime: Ec2Runtime) -> None:
        host = str(runtime.driver.network.gateway)
        coro = service.start(host)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            loop.create_task(coro)
        else:
            asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=30)

    return start


async def _startup(gateway: Any) -> None:
    rt = register(Ec2Runtime(gateway.config, gateway.store))
    rt.metadata = None
    if not gateway.config.compute.libvirt_uri.startswith("test:"):
        rt.network_listeners.append(_metadata_starter(gateway, rt))
    rt.subscription = rt.driver.subscribe(lambda event: controller.on_event(rt, event))
    await gateway.run_blocking(_first_reconcile, rt)
    gateway.spawn(_housekeeping(gateway, rt))


def _first_reconcile(rt: Ec2Runtime) -> None:
    with rt.store.read() as conn:
        live = records.live(conn)
    try:
        if live or rt.network_present():
            rt.ensure_network()
        counts = controller.reconcile(rt, starting=True)
        if any(counts.values()):
            log.info("reconciled with libvirt at start-up: %s", counts)
        ebs.start(rt)
    except Exception as e:  # libvirt down: the periodic reconcile tries again
        log.warning("could not reconcile with libvirt at start-up (%s); retrying every %d s", e,
                    controller.RECONCILE_SECONDS)


def housekeep(rt: Ec2Runtime) -> None:
    """Forget terminated instances after their hour; drop unused deregistered images and cache files."""
    with rt.store.write() as conn:
        records.forget(conn, records.expired(conn))
        unused = image_models.unused_deregistered(conn)
        if unused:
            conn.execute(sa.delete(tables.images).where(tables.images.c.id.in_([r.id for r in unused])))
        keep = image_models.files_in_use(conn)
    for cached in rt.driver.images.list():
        if (cached.sha256, cached.format) in keep:
            continue
        try:
            if time.time() - os.stat(cached.path).st_mtime > CACHE_GRACE_SECONDS:
                rt.driver.images.remove(cached)
        except FileNotFoundError:
            pass
    ebs.housekeep(rt)  # volumes settled with their files, deleted volumes and snapshots removed


async def _housekeeping(gateway: Any, rt: Ec2Runtime) -> None:
    elapsed = 0.0
    while True:
        await asyncio.sleep(controller.RECONCILE_SECONDS)
        elapsed += controller.RECONCILE_SECONDS
        try:
            await gateway.run_blocking(controller.reconcile, rt)
            if elapsed >= HOUSEKEEPING_SECONDS:
                elapsed = 0.0
                await gateway.run_blocking(housekeep, rt)
        except Exception as e:  # libvirt or the database hiccuped: try again next round
            log.warning("EC2 housekeeping failed: %s", e)


async def _shutdown(gateway: Any) -> None:
    from silvereye.services.ec2.runtime import runtime_for

    try:
        rt = runtime_for(gateway.store)
    except Exception:
        return
    if getattr(rt, "subscription", None) is not None:
        rt.subscription.cancel()
    if rt.metadata is not None:
        await rt.metadata.close()
    unregister(rt)
    rt.close()


# -- accounts -----------------------------------------------------------------------------


def _describe(conn: sa.Connection, account_id: str) -> list[str]:
    out = []
    for what, table, where in (
        ("EC2 instance", tables.instances, tables.instances.c.state != "terminated"),
        ("EC2 image", tables.images, tables.images.c.state != "deregistered"),
        ("EC2 key pair", tables.key_pairs, sa.true()),
    ):
        n = conn.execute(sa.select(sa.func.count()).select_from(table).where(table.c.account_id == account_id, where)).scalar_one()
        if n:
            out.append(f"{n} {what}{'s' if n != 1 else ''}")
    n = group_models.count(conn, account_id)
    if n:
        out.append(f"{n} EC2 security group{'s' if n != 1 else ''}")
    n = address_models.count(conn, account_id)
    if n:
        out.append(f"{n} EC2 elastic IP{'s' if n != 1 else ''}")
    for what, n in (("EBS volume", volume_models.count(conn, account_id)),
                    ("EBS snapshot", snapshot_models.count(conn, account_id))):
        if n:
            out.append(f"{n} {what}{'s' if n != 1 else ''}")
    return out


def _purge(conn: sa.Connection, account_id: str) -> None:
    """Remove an account's EC2 resources. Its live instances go to shutting-down, which the
    server's reconciler carries out (terminating their domains) within RECONCILE_SECONDS;
    their records then expire like any terminated instance's."""
    image_models.purge(conn, account_id)
    address_nat.forget_public_ips(address_models.purge(conn, account_id))
    tag_models.purge(conn, account_id)
    group_models.purge(conn, account_id)  # the firewall follows at the next server start or group change
    volume_models.purge(conn, account_id)  # housekeeping removes the files and objects
    snapshot_models.purge(conn, account_id)
    i = tables.instances
    conn.execute(sa.update(i).where(i.c.account_id == account_id, i.c.state.in_(records.LIVE_STATES))
                 .values(state="shutting-down", state_reason_code=records.USER_SHUTDOWN[0],
                         state_reason_message="Client.UserInitiatedShutdown: the account was deleted"))
    conn.execute(sa.delete(i).where(i.c.account_id == account_id, i.c.state == "terminated"))
    for table in (tables.key_pairs, tables.client_tokens):
        conn.execute(sa.delete(table).where(table.c.account_id == account_id))


def _register_account_resources() -> None:
    from silvereye.services.iam.accounts import register_resources

    register_resources(_describe, _purge)


_register_account_resources()

SERVICE = Service(
    name="ec2",
    signing_name="ec2",
    iam_prefix="ec2",
    euca_path="/services/compute",
    handlers=collect_handlers("ec2", addresses, attributes, images, instances, key_pairs, lifecycle, regions,
                              security_group_rules, security_groups, snapshots, tags, vpc, volumes),
    authorize=ec2_authorize,
    startup=[_startup],
    shutdown=[_shutdown],
)

__all__ = ["SERVICE", "housekeep"]
