"""The instance metadata service over real HTTP, with instances standing at loopback addresses.

A guest reaches the service from its private address; here each test
instance's record is given an address of 127.0.0.0/8 and the client binds
that address as its source, so the listener sees exactly what it sees from
a guest on the bridge.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time

import boto3
import pytest
import sqlalchemy as sa
from botocore.config import Config as BotoConfig

from silvereye.services.ec2.tables import instances as t
from silvereye.services.metadata import MetadataService, tokens
from tests.unit.ec2.harness import REGION


class Listener:
    """The metadata service on 127.0.0.1, in an event loop of its own."""

    def __init__(self, server):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.service = MetadataService(server.store, server.config)
        asyncio.run_coroutine_threadsafe(self.service.start("127.0.0.1", 0), self.loop).result(10)
        self.port = self.service.server.address[1]

    def request(self, source: str, method: str, path: str, headers: dict | None = None) -> tuple[int, bytes, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10, source_address=(source, 0))
        try:
            conn.request(method, path, headers=headers or {})
            r = conn.getresponse()
            return r.status, r.read(), dict(r.getheaders())
        finally:
            conn.close()

    def get(self, source: str, path: str, **headers) -> tuple[int, str]:
        status, body, _ = self.request(source, "GET", path, {k.replace("_", "-"): v for k, v in headers.items()})
        return status, body.decode()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.service.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="module")
def imds(server):
    listener = Listener(server)
    yield listener
    listener.close()


def place(server, iid: str, address: str) -> None:
    with server.store.write() as conn:
        conn.execute(sa.update(t).where(t.c.id == iid).values(private_ip=address))


@pytest.fixture(scope="module")
def guests(server, ec2, image):
    """Two running instances at 127.0.0.2 and 127.0.0.3, the first with a key and user-data."""
    ec2.create_key_pair(KeyName="md-key")
    first = ec2.run_instances(ImageId=image.image_id, MinCount=1, MaxCount=1, InstanceType="t1.micro", KeyName="md-key",
                              UserData="#!/bin/sh\necho from user-data\n")["Instances"][0]["InstanceId"]
    second = ec2.run_instances(ImageId=image.image_id, MinCount=1, MaxCount=1, InstanceType="t2.nano",
                               Placement={"AvailabilityZone": "silvereye-1b"})["Instances"][0]["InstanceId"]
    server.settle()
    place(server, first, "127.0.0.2")
    place(server, second, "127.0.0.3")
    return first, second


def test_an_instance_reads_its_own_metadata(imds, guests, ec2, image, acme):
    first, _ = guests
    get = lambda path: imds.get("127.0.0.2", path)  # noqa: E731
    assert get("/latest/meta-data/instance-id") == (200, first)
    assert get("/latest/meta-data/ami-id") == (200, image.image_id)
    assert get("/latest/meta-data/kernel-id") == (200, image.kernel_id)
    assert get("/latest/meta-data/local-ipv4") == (200, "127.0.0.2")
    assert get("/latest/meta-data/hostname") == (200, f"{first}.cloud.test")
    assert get("/latest/meta-data/placement/availability-zone") == (200, "silvereye-1a")
    assert get("/latest/meta-data/placement/region") == (200, REGION)
    assert get("/latest/meta-data/security-groups") == (200, "default")
    assert get("/latest/meta-data/public-keys/") == (200, "0=md-key")
    key = ec2.describe_key_pairs(KeyNames=["md-key"], IncludePublicKey=True)["KeyPairs"][0]["PublicKey"]
    status, body = get("/latest/meta-data/public-keys/0/openssh-key")
    assert status == 200 and body.split()[:2] == key.split()[:2]
    assert get("/latest/user-data") == (200, "#!/bin/sh\necho from user-data\n")
    assert get("/latest/meta-data/block-device-mapping/root") == (200, "/dev/sda1")
    listing = get("/latest/meta-data/")[1].splitlines()
    assert {"instance-id", "local-ipv4", "placement/", "public-keys/", "network/"} <= set(listing)
    assert "public-ipv4" not in listing  # no elastic IP: the path does not exist, as on EC2
    mac = get("/latest/meta-data/mac")[1]
    assert get(f"/latest/meta-data/network/interfaces/macs/{mac}/local-ipv4s") == (200, "127.0.0.2")
    assert get(f"/latest/meta-data/network/interfaces/macs/{mac}/vpc-id")[1] == ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    document = json.loads(get("/latest/dynamic/instance-identity/document")[1])
    assert (document["instanceId"], document["accountId"], document["privateIp"], document["region"]) == (
        first, acme.account_id, "127.0.0.2", REGION)
    assert get("/latest/meta-data/iam/info")[0] == 404  # no instance profile
    assert get("/2009-04-04/meta-data/instance-id") == (200, first)  # dated versions read the same
    assert "latest" in get("/")[1].splitlines()


def test_one_instance_cannot_read_anothers_metadata(imds, guests):
    first, second = guests
    assert imds.get("127.0.0.3", "/latest/meta-data/instance-id") == (200, second)
    assert imds.get("127.0.0.3", "/latest/meta-data/placement/availability-zone") == (200, "silvereye-1b")
    assert imds.get("127.0.0.3", "/latest/user-data")[0] == 404  # its own has none; the first's is not reachable
    assert imds.get("127.0.0.3", "/latest/meta-data/public-keys/")[0] == 404
    assert imds.get("127.0.0.4", "/latest/meta-data/instance-id")[0] == 404  # nobody's address
    assert imds.get("127.0.0.3", f"/latest/meta-data/{first}")[0] == 404


def test_imdsv2_tokens(imds, guests, server, ec2):
    first, _ = guests
    status, token, headers = imds.request("127.0.0.2", "PUT", "/latest/api/token",
                                          {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
    assert status == 200 and headers["X-Aws-Ec2-Metadata-Token-Ttl-Seconds"] == "60"
    token = token.decode()
    assert imds.get("127.0.0.2", "/latest/meta-data/instance-id", X_aws_ec2_metadata_token=token) == (200, first)
    assert imds.get("127.0.0.3", "/latest/meta-data/instance-id", X_aws_ec2_metadata_token=token)[0] == 401
    assert imds.get("127.0.0.2", "/latest/meta-data/instance-id", X_aws_ec2_metadata_token="forged")[0] == 401
    for ttl in (None, "0", "21601", "soon"):
        headers = {} if ttl is None else {"X-aws-ec2-metadata-token-ttl-seconds": ttl}
        assert imds.request("127.0.0.2", "PUT", "/latest/api/token", headers)[0] == 400
    forwarded = {"X-aws-ec2-metadata-token-ttl-seconds": "60", "X-Forwarded-For": "10.0.0.9"}
    assert imds.request("127.0.0.2", "PUT", "/latest/api/token", forwarded)[0] == 403
    assert imds.request("127.0.0.2", "POST", "/latest/meta-data/")[0] == 405
    # Tokens required: IMDSv1 gets 401, a token gets through.
    ec2.modify_instance_metadata_options(InstanceId=first, HttpTokens="required")
    assert imds.get("127.0.0.2", "/latest/meta-data/instance-id")[0] == 401
    assert imds.get("127.0.0.2", "/latest/meta-data/instance-id", X_aws_ec2_metadata_token=token) == (200, first)
    ec2.modify_instance_metadata_options(InstanceId=first, HttpEndpoint="disabled")
    assert imds.get("127.0.0.2", "/latest/meta-data/instance-id", X_aws_ec2_metadata_token=token)[0] == 403
    ec2.modify_instance_metadata_options(InstanceId=first, HttpTokens="optional", HttpEndpoint="enabled")


def test_tokens_expire_and_bind_to_their_instance():
    signer = tokens.TokenSigner()
    token = signer.issue("i-0123456789abcdef0", 10, now=1000.0)
    assert signer.valid_for(token, "i-0123456789abcdef0", now=1009.0)
    assert not signer.valid_for(token, "i-0123456789abcdef0", now=1011.0)
    assert not signer.valid_for(token, "i-0fedcba9876543210", now=1001.0)
    assert not tokens.TokenSigner().valid_for(token, "i-0123456789abcdef0", now=1001.0)


def test_token_response_carries_the_hop_limit(server, guests):
    from silvereye.services.metadata.app import MetadataApp, Request
    from silvereye.services.metadata.lookup import guest_at

    async def blocking(fn, *args):
        return fn(*args)

    app = MetadataApp(lambda a: guest_at(server.store, server.config, a), None, blocking)
    with server.store.write() as conn:
        conn.execute(sa.update(t).where(t.c.id == guests[1]).values(http_hop_limit=3))
    response = asyncio.run(app(Request("PUT", "/latest/api/token", {"x-aws-ec2-metadata-token-ttl-seconds": "5"},
                                       "127.0.0.3")))
    assert response.status == 200 and response.ttl == 3


def test_tags_in_metadata_when_allowed(imds, guests, ec2):
    _, second = guests
    ec2.create_tags(Resources=[second], Tags=[{"Key": "role", "Value": "cache"}])
    assert imds.get("127.0.0.3", "/latest/meta-data/tags/instance/role")[0] == 404
    ec2.modify_instance_metadata_options(InstanceId=second, InstanceMetadataTags="enabled")
    assert imds.get("127.0.0.3", "/latest/meta-data/tags/instance/role") == (200, "cache")


def test_an_instance_profile_gives_the_guest_real_role_credentials(server, acme, image, imds):
    iam = server.client("iam", acme)
    iam.create_role(RoleName="app-role", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName="app-role", PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:DescribeRegions", "Resource": "*"}]}))
    profile = iam.create_instance_profile(InstanceProfileName="app-profile")["InstanceProfile"]
    iam.add_role_to_instance_profile(InstanceProfileName="app-profile", RoleName="app-role")
    ec2 = server.client("ec2", acme)
    iid = ec2.run_instances(ImageId=image.image_id, MinCount=1, MaxCount=1, InstanceType="t1.micro",
                            IamInstanceProfile={"Name": "app-profile"})["Instances"][0]["InstanceId"]
    server.settle()
    assert ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["IamInstanceProfile"][
        "Arn"] == profile["Arn"]
    place(server, iid, "127.0.0.5")
    info = json.loads(imds.get("127.0.0.5", "/latest/meta-data/iam/info")[1])
    assert (info["Code"], info["InstanceProfileArn"]) == ("Success", profile["Arn"])
    assert imds.get("127.0.0.5", "/latest/meta-data/iam/security-credentials/") == (200, "app-role")
    creds = json.loads(imds.get("127.0.0.5", "/latest/meta-data/iam/security-credentials/app-role")[1])
    assert creds["Type"] == "AWS-HMAC" and creds["AccessKeyId"].startswith("ASIA")
    again = json.loads(imds.get("127.0.0.5", "/latest/meta-data/iam/security-credentials/app-role")[1])
    assert again["AccessKeyId"] == creds["AccessKeyId"]  # one session per instance, not one per read
    as_role = dict(endpoint_url=server.url, region_name=REGION, aws_access_key_id=creds["AccessKeyId"],
                   aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["Token"],
                   config=BotoConfig(retries={"max_attempts": 1}))
    time.sleep(0.1)
    who = boto3.client("sts", **as_role).get_caller_identity()
    assert who["Arn"] == f"arn:aws:sts::{acme.account_id}:assumed-role/app-role/{iid}"
    assert boto3.client("ec2", **as_role).describe_regions()["Regions"]
    with pytest.raises(Exception, match="UnauthorizedOperation"):
        boto3.client("ec2", **as_role).describe_instances()
    # Launching with a role needs iam:PassRole on it.
    limited = server.client("ec2", server.user(acme, "no-pass", {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}))
    with pytest.raises(Exception, match="UnauthorizedOperation.*may not pass role"):
        limited.run_instances(ImageId=image.image_id, MinCount=1, MaxCount=1, IamInstanceProfile={"Name": "app-profile"})
