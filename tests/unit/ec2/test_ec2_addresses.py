"""Elastic IPs through boto3 against the real server on libvirt's test driver.

The NAT rules are real: the server's elastic IPs go on an interface this
module makes (``eipu<hex>``, one end of a veth pair -- this kernel has no
dummy interfaces -- on a free /24 of 198.18.0.0/15), and the
tests read the host's nftables table and the interface's addresses to see
that records and rules change together.
"""

from __future__ import annotations

import ipaddress
import secrets
import subprocess

import pytest
import sqlalchemy as sa

from silvereye.compute.network import free_subnet
from silvereye.services.ec2 import address_nat
from silvereye.services.ec2.address_nat import host_path
from silvereye.services.ec2.models.addresses import addresses as addresses_table
from silvereye.services.metadata.lookup import guest_at
from silvereye.services.metadata.tree import resolve, tree
from tests.unit.ec2.harness import Ec2Server, aws_error
from tests.unit.ec2.test_ec2_instances import launch, one


@pytest.fixture(scope="module")
def outside():
    """An interface standing for the host's public side, with its /24."""
    tag = secrets.token_hex(3)
    dev = f"eipu{tag}"
    net = ipaddress.IPv4Network(free_subnet("198.18.0.0/15"))
    subprocess.run(["ip", "link", "add", dev, "type", "veth", "peer", "name", f"eipv{tag}"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", f"{net[1]}/24", "dev", dev], check=True)
        subprocess.run(["ip", "link", "set", dev, "up"], check=True)
        yield dev, net
    finally:
        subprocess.run(["ip", "link", "del", dev], capture_output=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory, outside):
    dev, net = outside
    tag = secrets.token_hex(3)
    from tests.unit.s3.harness import free_port

    s = Ec2Server(tmp_path_factory.mktemp("ec2"), network={
        "name": f"ec2-unit-{tag}", "bridge": f"eu{tag}", "subnet": "10.214.0.0/24", "metadata_port": free_port(),
        "interface": dev, "public_range": f"{net[16]}-{net[19]}",
    }).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def range_(outside):
    return [str(outside[1][i]) for i in range(16, 20)]


def nat_rules(server) -> str:
    eips = host_path(server.runtime)
    r = subprocess.run(["nft", "list", "table", "ip", eips.table], capture_output=True, text=True)
    return r.stdout


def on_interface(server) -> set[str]:
    return host_path(server.runtime).interface_addresses()


def metadata(server, private_ip: str, path: str) -> str | None:
    """What the metadata service answers the instance at ``private_ip`` for meta-data/``path``."""
    return resolve(tree(guest_at(server.store, server.config, private_ip)), ["meta-data", *path.split("/")])


def addresses(ec2, **kw):
    return ec2.describe_addresses(**kw)["Addresses"]


def test_allocate_describe_tag_and_release(ec2, range_):
    first = ec2.allocate_address(Domain="vpc", TagSpecifications=[
        {"ResourceType": "elastic-ip", "Tags": [{"Key": "Name", "Value": "web"}]}])
    assert first["PublicIp"] in range_ and first["AllocationId"].startswith("eipalloc-")
    assert (first["Domain"], first["NetworkBorderGroup"]) == ("vpc", "silvereye-1")
    (described,) = addresses(ec2, AllocationIds=[first["AllocationId"]])
    assert described["Tags"] == [{"Key": "Name", "Value": "web"}] and "InstanceId" not in described
    ec2.create_tags(Resources=[first["AllocationId"]], Tags=[{"Key": "tier", "Value": "front"}])
    assert [a["AllocationId"] for a in addresses(ec2, Filters=[{"Name": "tag:tier", "Values": ["front"]}])] == \
        [first["AllocationId"]]
    assert addresses(ec2, Filters=[{"Name": "tag-key", "Values": ["nothing"]}]) == []
    assert [a["PublicIp"] for a in addresses(ec2, PublicIps=[first["PublicIp"]])] == [first["PublicIp"]]
    with aws_error("InvalidParameterValue", match="filter 'colour'"):
        addresses(ec2, Filters=[{"Name": "colour", "Values": ["red"]}])

    ec2.release_address(AllocationId=first["AllocationId"])
    with aws_error("InvalidAllocationID.NotFound"):
        addresses(ec2, AllocationIds=[first["AllocationId"]])
    with aws_error("InvalidAddress.NotFound"):
        addresses(ec2, PublicIps=[first["PublicIp"]])
    with aws_error("InvalidAllocationID.Malformed"):
        addresses(ec2, AllocationIds=["nope"])


def test_a_chosen_address_the_range_runs_out_and_bad_requests(ec2, range_):
    chosen = ec2.allocate_address(Domain="vpc", Address=range_[2])
    assert chosen["PublicIp"] == range_[2]
    with aws_error("InvalidAddress.InUse"):
        ec2.allocate_address(Domain="vpc", Address=range_[2])
    with aws_error("InvalidAddress.NotFound"):
        ec2.allocate_address(Domain="vpc", Address="192.0.2.200")
    with aws_error("InvalidParameterValue"):
        ec2.allocate_address(Domain="classic")
    rest = [ec2.allocate_address(Domain="standard") for _ in range(3)]
    assert {r["Domain"] for r in rest} == {"vpc"}
    assert sorted(r["PublicIp"] for r in [chosen, *rest]) == sorted(range_)
    with aws_error("AddressLimitExceeded"):
        ec2.allocate_address(Domain="vpc")
    for r in [chosen, *rest]:
        ec2.release_address(PublicIp=r["PublicIp"])
    assert addresses(ec2) == []


def test_associate_reassociate_and_what_instances_show(server, ec2, image, acme):
    web, spare = (i["InstanceId"] for i in launch(server, ec2, image, n=2)["Instances"])
    alloc = ec2.allocate_address(Domain="vpc")
    public, private = alloc["PublicIp"], one(ec2, web)["PrivateIpAddress"]

    assoc = ec2.associate_address(AllocationId=alloc["AllocationId"], InstanceId=web)["AssociationId"]
    assert assoc.startswith("eipassoc-")
    (described,) = addresses(ec2, AllocationIds=[alloc["AllocationId"]])
    assert (described["InstanceId"], described["AssociationId"], described["PrivateIpAddress"]) == (web, assoc, private)
    assert one(ec2, web)["PublicIpAddress"] == public and "PublicIpAddress" not in one(ec2, spare)
    found = ec2.describe_instances(Filters=[{"Name": "ip-address", "Values": [public]}])["Reservations"]
    assert [i["InstanceId"] for r in found for i in r["Instances"]] == [web]
    assert [a["PublicIp"] for a in addresses(ec2, Filters=[{"Name": "instance-id", "Values": [web]}])] == [public]
    assert f"ip daddr {public} dnat to {private}" in nat_rules(server)
    assert on_interface(server) == {public}
    guest = guest_at(server.store, server.config, private)
    assert metadata(server, private, "public-ipv4") == public
    assert metadata(server, private, f"network/interfaces/macs/{guest.mac}/public-ipv4s") == public
    assert metadata(server, private, f"network/interfaces/macs/{guest.mac}/ipv4-associations/{public}") == private

    # The same instance again: the same association. Another instance: only when reassociation is allowed.
    assert ec2.associate_address(PublicIp=public, InstanceId=web)["AssociationId"] == assoc
    with aws_error("Resource.AlreadyAssociated"):
        ec2.associate_address(AllocationId=alloc["AllocationId"], InstanceId=spare)
    assert f"dnat to {private}" in nat_rules(server)
    moved = ec2.associate_address(AllocationId=alloc["AllocationId"], InstanceId=spare, AllowReassociation=True)
    spare_ip = one(ec2, spare)["PrivateIpAddress"]
    assert moved["AssociationId"] != assoc
    assert one(ec2, spare)["PublicIpAddress"] == public and "PublicIpAddress" not in one(ec2, web)
    assert f"ip daddr {public} dnat to {spare_ip}" in nat_rules(server) and f"dnat to {private}" not in nat_rules(server)
    assert metadata(server, private, "public-ipv4") is None

    # Releasing an associated address fails and changes nothing.
    rules = nat_rules(server)
    with aws_error("InvalidIPAddress.InUse"):
        ec2.release_address(AllocationId=alloc["AllocationId"])
    assert addresses(ec2, AllocationIds=[alloc["AllocationId"]])[0]["InstanceId"] == spare
    assert nat_rules(server) == rules and on_interface(server) == {public}

    with aws_error("InvalidAssociationID.NotFound"):
        ec2.disassociate_address(AssociationId=assoc)  # the ended association
    ec2.disassociate_address(AssociationId=moved["AssociationId"])
    assert "InstanceId" not in addresses(ec2, AllocationIds=[alloc["AllocationId"]])[0]
    assert "PublicIpAddress" not in one(ec2, spare)
    assert "dnat to" not in nat_rules(server) and on_interface(server) == set()
    ec2.release_address(AllocationId=alloc["AllocationId"])
    ec2.terminate_instances(InstanceIds=[web, spare])
    server.settle()


def test_an_instance_has_one_address_stop_keeps_it_terminate_ends_it(server, ec2, image):
    (iid,) = (i["InstanceId"] for i in launch(server, ec2, image)["Instances"])
    first, second = ec2.allocate_address(Domain="vpc"), ec2.allocate_address(Domain="vpc")
    ec2.associate_address(AllocationId=first["AllocationId"], InstanceId=iid)
    ec2.associate_address(AllocationId=second["AllocationId"], InstanceId=iid)
    assert "InstanceId" not in addresses(ec2, AllocationIds=[first["AllocationId"]])[0]  # let go for the second
    assert on_interface(server) == {second["PublicIp"]}

    ec2.stop_instances(InstanceIds=[iid])
    server.settle()
    assert one(ec2, iid)["State"]["Name"] == "stopped"
    assert addresses(ec2, AllocationIds=[second["AllocationId"]])[0]["InstanceId"] == iid  # kept, as on AWS
    assert "dnat to" not in nat_rules(server) and on_interface(server) == set()
    ec2.start_instances(InstanceIds=[iid])
    server.settle()
    private = one(ec2, iid)["PrivateIpAddress"]
    assert f"ip daddr {second['PublicIp']} dnat to {private}" in nat_rules(server)
    assert addresses(ec2, AllocationIds=[second["AllocationId"]])[0]["PrivateIpAddress"] == private

    ec2.terminate_instances(InstanceIds=[iid])
    server.settle()
    (left,) = addresses(ec2, AllocationIds=[second["AllocationId"]])
    assert "InstanceId" not in left and "AssociationId" not in left  # still allocated, disassociated
    assert "dnat to" not in nat_rules(server) and on_interface(server) == set()
    with aws_error("InvalidInstanceID.NotFound"):
        ec2.associate_address(AllocationId=second["AllocationId"], InstanceId=iid)
    for a in (first, second):
        ec2.release_address(AllocationId=a["AllocationId"])


def test_a_stopped_instance_takes_an_address_that_applies_when_it_runs(server, ec2, image):
    (iid,) = (i["InstanceId"] for i in launch(server, ec2, image)["Instances"])
    ec2.stop_instances(InstanceIds=[iid])
    server.settle()
    alloc = ec2.allocate_address(Domain="vpc")
    ec2.associate_address(AllocationId=alloc["AllocationId"], InstanceId=iid)
    assert "dnat to" not in nat_rules(server)
    ec2.start_instances(InstanceIds=[iid])
    server.settle()
    assert f"ip daddr {alloc['PublicIp']} dnat to {one(ec2, iid)['PrivateIpAddress']}" in nat_rules(server)
    ec2.disassociate_address(PublicIp=alloc["PublicIp"])
    ec2.release_address(AllocationId=alloc["AllocationId"])
    ec2.terminate_instances(InstanceIds=[iid])
    server.settle()


def test_another_accounts_addresses_and_instances(server, ec2, image, other):
    theirs = server.client("ec2", other)
    (iid,) = (i["InstanceId"] for i in launch(server, ec2, image)["Instances"])
    mine = ec2.allocate_address(Domain="vpc")
    with aws_error("InvalidAllocationID.NotFound"):
        theirs.release_address(AllocationId=mine["AllocationId"])
    with aws_error("AuthFailure"):
        theirs.release_address(PublicIp=mine["PublicIp"])
    with aws_error("AuthFailure"):
        theirs.associate_address(PublicIp=mine["PublicIp"], InstanceId=iid)
    assert addresses(theirs) == []
    their_alloc = theirs.allocate_address(Domain="vpc")
    with aws_error("InvalidInstanceID.NotFound"):
        theirs.associate_address(AllocationId=their_alloc["AllocationId"], InstanceId=iid)
    with aws_error("InvalidAllocationID.NotFound"):
        ec2.create_tags(Resources=[their_alloc["AllocationId"]], Tags=[{"Key": "k", "Value": "v"}])
    with aws_error("MissingParameter"):
        ec2.associate_address(InstanceId=iid)
    with aws_error("InvalidParameterCombination"):
        ec2.release_address(AllocationId=mine["AllocationId"], PublicIp=mine["PublicIp"])
    theirs.release_address(AllocationId=their_alloc["AllocationId"])
    ec2.release_address(AllocationId=mine["AllocationId"])
    ec2.terminate_instances(InstanceIds=[iid])
    server.settle()


def test_when_the_host_refuses_the_call_fails_and_nothing_changes(server, ec2, image, outside):
    dev, net = outside
    (iid,) = (i["InstanceId"] for i in launch(server, ec2, image)["Instances"])
    alloc = ec2.allocate_address(Domain="vpc")
    subprocess.run(["ip", "link", "set", dev, "name", f"{dev[:-1]}x"], check=True)  # the public interface is gone
    try:
        with aws_error("InternalError", status=500, match="elastic IP"):
            ec2.associate_address(AllocationId=alloc["AllocationId"], InstanceId=iid)
    finally:
        subprocess.run(["ip", "link", "set", f"{dev[:-1]}x", "name", dev], check=True)
    assert "InstanceId" not in addresses(ec2, AllocationIds=[alloc["AllocationId"]])[0]
    assert "PublicIpAddress" not in one(ec2, iid)
    assert "dnat to" not in nat_rules(server) and on_interface(server) == set()
    ec2.associate_address(AllocationId=alloc["AllocationId"], InstanceId=iid)  # once it is back, it works
    assert on_interface(server) == {alloc["PublicIp"]}
    ec2.terminate_instances(InstanceIds=[iid])
    server.settle()
    ec2.release_address(AllocationId=alloc["AllocationId"])


def test_a_cloud_without_a_public_range_says_so(tmp_path):
    bare = Ec2Server(tmp_path).start()
    try:
        client = bare.client("ec2", bare.account("acme"))
        with aws_error("Unsupported", match="network.public_range"):
            client.allocate_address(Domain="vpc")
        assert client.describe_addresses()["Addresses"] == []
    finally:
        bare.stop()


def test_a_restarted_service_puts_back_the_rules_of_its_records(server, ec2, image):
    (iid,) = (i["InstanceId"] for i in launch(server, ec2, image)["Instances"])
    alloc = ec2.allocate_address(Domain="vpc")
    ec2.associate_address(AllocationId=alloc["AllocationId"], InstanceId=iid)
    rules = nat_rules(server)
    rt = server.runtime
    address_nat._paths.pop(rt).teardown()  # what the host looks like before a server starts
    subprocess.run(["nft", "list", "table", "ip", host_path(rt).table], check=True, capture_output=True)
    assert nat_rules(server) == rules and on_interface(server) == {alloc["PublicIp"]}
    ec2.terminate_instances(InstanceIds=[iid])
    server.settle()
    ec2.release_address(AllocationId=alloc["AllocationId"])


def test_deleting_an_account_takes_its_addresses_and_their_rules(server, image):
    from silvereye.services.iam import accounts

    doomed_keys = server.account("doomed")
    doomed = server.client("ec2", doomed_keys)
    (iid,) = (i["InstanceId"] for i in launch(server, doomed, image)["Instances"])
    alloc = doomed.allocate_address(Domain="vpc")
    doomed.associate_address(AllocationId=alloc["AllocationId"], InstanceId=iid)
    assert alloc["PublicIp"] in nat_rules(server)
    with server.store.write() as conn:
        assert "1 EC2 elastic IP" in ", ".join(item for r in accounts.RESOURCES for item in r.describe(conn, doomed_keys.account_id))
        accounts.delete(conn, "doomed", force=True)
    assert alloc["PublicIp"] not in nat_rules(server) and on_interface(server) == set()
    with server.store.read() as conn:
        assert conn.execute(sa.select(addresses_table).where(addresses_table.c.public_ip == alloc["PublicIp"])).first() is None


def test_iam_decides_per_elastic_ip_and_dry_run_changes_nothing(server, ec2, acme, image):
    (iid,) = (i["InstanceId"] for i in launch(server, ec2, image)["Instances"])
    mine, not_theirs = ec2.allocate_address(Domain="vpc"), ec2.allocate_address(Domain="vpc")
    with aws_error("DryRunOperation", status=412):
        ec2.associate_address(AllocationId=mine["AllocationId"], InstanceId=iid, DryRun=True)
    assert "InstanceId" not in addresses(ec2, AllocationIds=[mine["AllocationId"]])[0]
    region_arn = f"arn:aws:ec2:silvereye-1:{acme.account_id}"
    operator = server.client("ec2", server.user(
        acme, "eip-operator",
        {"Effect": "Allow", "Action": ["ec2:DescribeAddresses"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["ec2:AssociateAddress", "ec2:DisassociateAddress"],
         "Resource": [f"{region_arn}:elastic-ip/{mine['AllocationId']}", f"{region_arn}:instance/{iid}"]}))
    with aws_error("UnauthorizedOperation", status=403):
        operator.allocate_address(Domain="vpc")
    with aws_error("UnauthorizedOperation"):
        operator.associate_address(PublicIp=not_theirs["PublicIp"], InstanceId=iid)
    operator.associate_address(PublicIp=mine["PublicIp"], InstanceId=iid)
    with aws_error("UnauthorizedOperation"):
        operator.release_address(AllocationId=mine["AllocationId"])
    operator.disassociate_address(PublicIp=mine["PublicIp"])
    for a in (mine, not_theirs):
        ec2.release_address(AllocationId=a["AllocationId"])
    ec2.terminate_instances(InstanceIds=[iid])
    server.settle()


def test_addresses_have_no_reverse_dns_here(ec2):
    made = sorted((ec2.allocate_address(Domain="vpc") for _ in range(2)), key=lambda r: r["AllocationId"])
    first = ec2.describe_addresses_attribute(Attribute="domain-name", MaxResults=1)
    assert first["Addresses"] == [{"PublicIp": made[0]["PublicIp"], "AllocationId": made[0]["AllocationId"]}]
    rest = ec2.describe_addresses_attribute(Attribute="domain-name", NextToken=first["NextToken"])
    assert [x["AllocationId"] for x in rest["Addresses"]] == [made[1]["AllocationId"]] and "NextToken" not in rest
    with aws_error("InvalidAllocationID.NotFound"):
        ec2.describe_addresses_attribute(Attribute="domain-name", AllocationIds=["eipalloc-0123456789abcdef0"])
    for a in made:
        ec2.release_address(AllocationId=a["AllocationId"])
