"""EC2's tables: instances, images and their launch permissions, key pairs, tags, client tokens.

Records are what the API promised; libvirt is what exists. An instance row
is written before its domain is made (state ``pending``) and moved by the
controller as libvirt reports (``running``, ``stopped``...), so a crash
between the two is found and settled by reconciliation at the next start.

Every row carries ``account_id``: every query a handler makes is scoped by
it, so accounts are isolated by construction, and an account's rows are
found (and purged) without joins. Tags belong to the account that set them
(AWS's rule: tags on a shared image are private to whoever tagged it).
"""

from __future__ import annotations

import sqlalchemy as sa

from silvereye.store import create_tables, metadata, register_migrations

When = sa.DateTime(timezone=True)
ResourceId = sa.String(32)
Account = sa.String(12)

instances = sa.Table(
    "ec2_instances",
    metadata,
    sa.Column("id", ResourceId, primary_key=True),
    sa.Column("account_id", Account, nullable=False, index=True),
    sa.Column("reservation_id", ResourceId, nullable=False, index=True),
    sa.Column("launch_index", sa.Integer, nullable=False),
    sa.Column("requester", sa.String(2048), nullable=False),  # the principal ARN that ran it
    sa.Column("image_id", ResourceId, nullable=False),
    sa.Column("kernel_id", ResourceId, nullable=True),
    sa.Column("ramdisk_id", ResourceId, nullable=True),
    sa.Column("instance_type", sa.String(32), nullable=False),
    sa.Column("availability_zone", sa.String(64), nullable=False),
    sa.Column("key_name", sa.String(255), nullable=True),
    sa.Column("public_key", sa.Text, nullable=True),  # as it was at launch: metadata serves this one
    sa.Column("user_data", sa.LargeBinary, nullable=True),
    sa.Column("client_token", sa.String(64), nullable=True),
    sa.Column("security_groups", sa.Text, nullable=False),  # JSON [{"GroupId", "GroupName"}]
    # State: the EC2 name, why it is in it, and when it got there.
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("state_reason_code", sa.String(64), nullable=True),
    sa.Column("state_reason_message", sa.String(512), nullable=True),
    sa.Column("transition_reason", sa.String(256), nullable=False, default=""),
    sa.Column("launch_time", When, nullable=False),
    sa.Column("state_changed", When, nullable=False),
    sa.Column("terminated_at", When, nullable=True, index=True),
    # Where it runs: filled in when its domain exists.
    sa.Column("node", sa.String(64), nullable=True),
    sa.Column("private_ip", sa.String(15), nullable=True, index=True),
    sa.Column("mac", sa.String(17), nullable=True),
    # Attributes.
    sa.Column("disable_api_termination", sa.Boolean, nullable=False, default=False),
    sa.Column("disable_api_stop", sa.Boolean, nullable=False, default=False),
    sa.Column("shutdown_behavior", sa.String(16), nullable=False, default="stop"),
    sa.Column("instance_profile_arn", sa.String(2048), nullable=True),
    sa.Column("instance_profile_id", sa.String(32), nullable=True),
    sa.Column("http_tokens", sa.String(16), nullable=False, default="optional"),
    sa.Column("http_hop_limit", sa.Integer, nullable=False, default=1),
    sa.Column("http_endpoint", sa.String(16), nullable=False, default="enabled"),
    sa.Column("metadata_tags", sa.String(16), nullable=False, default="disabled"),
)

images = sa.Table(
    "ec2_images",
    metadata,
    sa.Column("id", ResourceId, primary_key=True),
    sa.Column("account_id", Account, nullable=False, index=True),
    sa.Column("owner_alias", sa.String(32), nullable=True),  # 'amazon' for the cloud's catalog images
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("description", sa.String(255), nullable=True),
    sa.Column("kind", sa.String(16), nullable=False),  # machine | kernel | ramdisk
    sa.Column("state", sa.String(16), nullable=False, index=True),  # available | deregistered
    sa.Column("location", sa.String(1024), nullable=False),  # bucket/key of the manifest or disk object
    sa.Column("architecture", sa.String(16), nullable=False),
    sa.Column("kernel_id", ResourceId, nullable=True),
    sa.Column("ramdisk_id", ResourceId, nullable=True),
    sa.Column("kernel_cmdline", sa.String(1024), nullable=True),
    sa.Column("root_device_name", sa.String(64), nullable=True),
    sa.Column("boot_mode", sa.String(16), nullable=True),  # legacy-bios | uefi (machine images)
    sa.Column("public", sa.Boolean, nullable=False, default=False),
    # The bytes: a file of the image cache, named by content.
    sa.Column("format", sa.String(8), nullable=False),  # qcow2 | raw | blob
    sa.Column("sha256", sa.String(64), nullable=False, index=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("source_instance_id", ResourceId, nullable=True),  # CreateImage
    sa.Column("created", When, nullable=False),
    sa.Column("deregistered_at", When, nullable=True),
)

launch_permissions = sa.Table(
    "ec2_image_launch_permissions",
    metadata,
    sa.Column("image_id", ResourceId, primary_key=True),
    sa.Column("account_id", sa.String(12), primary_key=True),  # a grantee account id
    sa.Column("owner_id", Account, nullable=False, index=True),  # the image's owner, for purges
)

key_pairs = sa.Table(
    "ec2_key_pairs",
    metadata,
    sa.Column("id", ResourceId, primary_key=True),
    sa.Column("account_id", Account, nullable=False, index=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("key_type", sa.String(16), nullable=False),  # rsa | ed25519
    sa.Column("fingerprint", sa.String(128), nullable=False),
    sa.Column("public_key", sa.Text, nullable=False),  # OpenSSH one-line form
    sa.Column("created", When, nullable=False),
    sa.UniqueConstraint("account_id", "name", name="uq_ec2_key_pairs_name"),
)

tags = sa.Table(
    "ec2_tags",
    metadata,
    sa.Column("account_id", Account, primary_key=True),
    sa.Column("resource_id", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("resource_type", sa.String(32), nullable=False),
    sa.Column("value", sa.String(256), nullable=False),
    sa.Index("ix_ec2_tags_resource", "resource_id"),
)

client_tokens = sa.Table(
    "ec2_client_tokens",
    metadata,
    sa.Column("account_id", Account, primary_key=True),
    sa.Column("token", sa.String(64), primary_key=True),
    sa.Column("reservation_id", ResourceId, nullable=False),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("created", When, nullable=False),
)

ALL_TABLES = (instances, images, launch_permissions, key_pairs, tags, client_tokens)

register_migrations("ec2", [create_tables(*ALL_TABLES)])
