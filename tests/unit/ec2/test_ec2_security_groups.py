"""Security groups through the API with boto3, and what the firewall holds after each call.

The server runs on libvirt's test driver, so the firewall keeps its state
without installing it (the e2e tests watch packets); each test checks that
the firewall's groups and members are exactly what the records say.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from silvereye.compute.security_groups import SecurityGroupFirewall
from silvereye.errors import SilvereyeError
from silvereye.services.ec2 import firewall
from silvereye.services.ec2.models import security_groups as sg
from silvereye.services.iam import accounts
from tests.unit.ec2.harness import aws_error

TCP_80 = {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


def fw(server) -> SecurityGroupFirewall:
    return firewall.firewall(server.runtime)


def fw_rules(server, group_id: str) -> set[tuple]:
    return {r.key for r in fw(server).group(group_id).rules}


def group(ec2, group_id: str) -> dict:
    return ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]


@pytest.fixture
def ec2_of(server):
    """A fresh account's EC2 client (accounts do not share groups)."""
    count = iter(range(1000))

    def make(prefix: str = "sg"):
        return server.client("ec2", server.account(f"{prefix}{next(count)}"))

    return make


def test_default_group_admits_its_members_and_lets_all_out(server, ec2_of):
    ec2 = ec2_of("default")
    groups = ec2.describe_security_groups()["SecurityGroups"]
    assert [g["GroupName"] for g in groups] == ["default"]
    default = groups[0]
    assert default["IpPermissions"] == [{"IpProtocol": "-1", "IpRanges": [], "Ipv6Ranges": [], "PrefixListIds": [],
                                         "UserIdGroupPairs": [{"GroupId": default["GroupId"],
                                                               "UserId": default["OwnerId"]}]}]
    assert default["IpPermissionsEgress"][0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    assert default["VpcId"] == vpc
    with aws_error("CannotDelete"):
        ec2.delete_security_group(GroupName="default")
    with aws_error("InvalidGroup.Reserved"):
        ec2.create_security_group(GroupName="default", Description="mine")
    # Storing it (the first change) keeps its id and its rules' ids.
    rule_ids = {r["SecurityGroupRuleId"] for r in ec2.describe_security_group_rules()["SecurityGroupRules"]}
    ec2.authorize_security_group_ingress(GroupName="default", IpPermissions=[TCP_80])
    after = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [default["GroupId"]]}])
    assert rule_ids < {r["SecurityGroupRuleId"] for r in after["SecurityGroupRules"]}
    assert ("ingress", "tcp", 80, 80, "0.0.0.0/0", None) in fw_rules(server, default["GroupId"])


def test_create_describe_delete(server, ec2_of):
    ec2 = ec2_of("crud")
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    web = ec2.create_security_group(GroupName="web", Description="web servers", VpcId=vpc, TagSpecifications=[
        {"ResourceType": "security-group", "Tags": [{"Key": "tier", "Value": "front"}]}])
    assert web["GroupId"].startswith("sg-") and web["Tags"] == [{"Key": "tier", "Value": "front"}]
    shown = group(ec2, web["GroupId"])
    assert (shown["GroupName"], shown["Description"], shown["VpcId"]) == ("web", "web servers", vpc)
    assert shown["IpPermissions"] == []
    assert shown["IpPermissionsEgress"] == [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                                             "Ipv6Ranges": [], "PrefixListIds": [], "UserIdGroupPairs": []}]
    assert fw_rules(server, web["GroupId"]) == {("egress", "-1", -1, -1, "0.0.0.0/0", None)}

    with aws_error("InvalidGroup.Duplicate", match="'web' already exists"):
        ec2.create_security_group(GroupName="web", Description="again")
    with aws_error("InvalidVpcID.NotFound"):
        ec2.create_security_group(GroupName="elsewhere", Description="x", VpcId="vpc-0123456789abcdef0")
    with aws_error("InvalidParameterValue"):
        ec2.create_security_group(GroupName="bad\u00e9name", Description="x")
    with aws_error("InvalidParameterValue"):
        ec2.create_security_group(GroupName="sg-lookalike", Description="x")

    made = [ec2.create_security_group(GroupName=f"g{i}", Description=f"group {i}")["GroupId"] for i in range(5)]
    assert {g["GroupName"] for g in ec2.describe_security_groups(GroupNames=["g1", "web"])["SecurityGroups"]} == \
        {"g1", "web"}
    by_tag = ec2.describe_security_groups(Filters=[{"Name": "tag:tier", "Values": ["front"]}])["SecurityGroups"]
    assert [g["GroupId"] for g in by_tag] == [web["GroupId"]]
    by_desc = ec2.describe_security_groups(Filters=[{"Name": "description", "Values": ["group ?"]}])
    assert sorted(g["GroupId"] for g in by_desc["SecurityGroups"]) == sorted(made)
    seen, token = [], None
    while True:
        page = ec2.describe_security_groups(MaxResults=5, **({"NextToken": token} if token else {}))
        seen += [g["GroupId"] for g in page["SecurityGroups"]]
        token = page.get("NextToken")
        if not token:
            break
    assert len(seen) == len(set(seen)) == 7  # default, web, g0..g4
    with aws_error("InvalidGroup.NotFound"):
        ec2.describe_security_groups(GroupIds=["sg-0123456789abcdef0"])
    with aws_error("InvalidGroup.NotFound"):
        ec2.describe_security_groups(GroupNames=["nope"])
    with aws_error("InvalidParameterValue", match="filter"):
        ec2.describe_security_groups(Filters=[{"Name": "colour", "Values": ["red"]}])

    assert ec2.delete_security_group(GroupName="g0")["GroupId"] == made[0]
    ec2.delete_security_group(GroupId=made[1])
    assert made[0] not in fw(server).groups() and made[1] not in fw(server).groups()
    with aws_error("InvalidGroup.NotFound"):
        ec2.delete_security_group(GroupId=made[1])
    with aws_error("InvalidGroup.NotFound"):
        ec2.delete_security_group(GroupName="g0")


def test_authorize_every_permission_form(server, ec2_of):
    ec2 = ec2_of("forms")
    gid = ec2.create_security_group(GroupName="app", Description="app")["GroupId"]
    peer = ec2.create_security_group(GroupName="clients", Description="clients")["GroupId"]
    answer = ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8000, "ToPort": 8080,
         "IpRanges": [{"CidrIp": "10.1.0.0/16", "Description": "office"}, {"CidrIp": "192.0.2.7/32"}]},
        {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "UserIdGroupPairs": [{"GroupId": peer}]},
        {"IpProtocol": "icmp", "FromPort": 8, "ToPort": 0, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "47", "IpRanges": [{"CidrIp": "198.51.100.0/24"}]},
        {"IpProtocol": "6", "FromPort": 22, "ToPort": 22, "UserIdGroupPairs": [{"GroupName": "clients"}]},
    ])
    assert answer["Return"] is True
    rules = answer["SecurityGroupRules"]
    assert len(rules) == 6 and all(r["SecurityGroupRuleId"].startswith("sgr-") for r in rules)
    assert {(r["IpProtocol"], r["FromPort"], r["ToPort"], r.get("CidrIpv4"),
             (r.get("ReferencedGroupInfo") or {}).get("GroupId"), r.get("Description")) for r in rules} == {
        ("tcp", 8000, 8080, "10.1.0.0/16", None, "office"), ("tcp", 8000, 8080, "192.0.2.7/32", None, None),
        ("udp", 53, 53, None, peer, None), ("icmp", 8, 0, "0.0.0.0/0", None, None),
        ("47", -1, -1, "198.51.100.0/24", None, None), ("tcp", 22, 22, None, peer, None)}
    # The legacy flat parameters: a CIDR rule and a whole source group.
    ec2.authorize_security_group_ingress(GroupName="app", IpProtocol="tcp", FromPort=443, ToPort=443,
                                         CidrIp="203.0.113.0/24")
    ec2.authorize_security_group_ingress(GroupName="app", SourceSecurityGroupName="clients")
    ec2.authorize_security_group_egress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": peer}]}])

    shown = group(ec2, gid)
    folded = {(p["IpProtocol"], p.get("FromPort"), p.get("ToPort")): p for p in shown["IpPermissions"]}
    assert folded[("tcp", 8000, 8080)]["IpRanges"] == [{"CidrIp": "10.1.0.0/16", "Description": "office"},
                                                        {"CidrIp": "192.0.2.7/32"}]
    assert folded[("-1", None, None)]["UserIdGroupPairs"][0]["GroupId"] == peer
    assert folded[("icmp", 8, 0)]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    assert len(shown["IpPermissionsEgress"]) == 2
    # The firewall holds exactly the recorded rules.
    recorded = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [gid]}])["SecurityGroupRules"]
    assert len(fw(server).group(gid).rules) == len(recorded) == 10
    assert ("ingress", "icmp", 8, 0, "0.0.0.0/0", None) in fw_rules(server, gid)
    assert ("egress", "tcp", 5432, 5432, None, peer) in fw_rules(server, gid)
    # Filters on permissions.
    found = ec2.describe_security_groups(Filters=[{"Name": "ip-permission.from-port", "Values": ["8000"]},
                                                  {"Name": "ip-permission.cidr", "Values": ["10.1.*"]}])
    assert [g["GroupId"] for g in found["SecurityGroups"]] == [gid]
    found = ec2.describe_security_groups(Filters=[{"Name": "egress.ip-permission.group-name", "Values": ["clients"]}])
    assert [g["GroupId"] for g in found["SecurityGroups"]] == [gid]
    found = ec2.describe_security_groups(Filters=[{"Name": "ip-permission.protocol", "Values": ["47"]}])
    assert [g["GroupId"] for g in found["SecurityGroups"]] == [gid]


def test_bad_and_duplicate_rules_change_nothing(server, ec2_of):
    ec2 = ec2_of("bad")
    gid = ec2.create_security_group(GroupName="web", Description="web")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[TCP_80])
    before, fw_before = group(ec2, gid), fw_rules(server, gid)
    with aws_error("InvalidPermission.Duplicate"):
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[TCP_80])
    # A new rule beside a duplicate one: neither is added.
    with aws_error("InvalidPermission.Duplicate"):
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 81, "ToPort": 81, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}, TCP_80])
    with aws_error("InvalidPermission.Duplicate"):  # the same rule twice in one request
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[{**TCP_80, "FromPort": 90, "ToPort": 90}] * 2)
    bad = [
        ("InvalidParameterValue", {"IpProtocol": "tcp", "FromPort": 90, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}),
        ("InvalidParameterValue", {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.0.0.1/8"}]}),
        ("InvalidParameterValue", {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "300.0.0.0/8"}]}),
        ("InvalidParameterValue", {"IpProtocol": "banana", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}),
        ("InvalidParameterValue", {"IpProtocol": "tcp", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}),
        ("InvalidParameterValue", {"IpProtocol": "icmp", "FromPort": 300, "ToPort": -1, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}),
        ("InvalidParameterValue", {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}),
        ("InvalidGroup.NotFound", {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": "sg-0123456789abcdef0"}]}),
        ("MissingParameter", {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2}),
    ]
    for code, permission in bad:
        with aws_error(code):
            ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[permission])
    with aws_error("InvalidGroup.NotFound"):
        ec2.authorize_security_group_ingress(GroupName="nope", IpPermissions=[TCP_80])
    with aws_error("InvalidGroupId.Malformed"):
        ec2.authorize_security_group_ingress(GroupId="web", IpPermissions=[TCP_80])
    assert group(ec2, gid) == before and fw_rules(server, gid) == fw_before


def test_revoke_forms_and_unknown_rules(server, ec2_of):
    ec2 = ec2_of("revoke")
    gid = ec2.create_security_group(GroupName="web", Description="web")["GroupId"]
    ssh = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
    added = ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[TCP_80, ssh])["SecurityGroupRules"]
    with aws_error("InvalidPermission.NotFound"):
        ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[{**ssh, "FromPort": 23, "ToPort": 23}])
    # One known, one not: the known one goes, the other is reported back.
    answer = ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[TCP_80, {**TCP_80, "FromPort": 81, "ToPort": 81}])
    assert answer["Return"] is True
    assert [(p["IpProtocol"], p["FromPort"]) for p in answer["UnknownIpPermissions"]] == [("tcp", 81)]
    assert ("ingress", "tcp", 80, 80, "0.0.0.0/0", None) not in fw_rules(server, gid)
    ssh_id = next(r["SecurityGroupRuleId"] for r in added if r["FromPort"] == 22)
    with aws_error("InvalidSecurityGroupRuleId.NotFound"):
        ec2.revoke_security_group_ingress(GroupId=gid, SecurityGroupRuleIds=["sgr-0123456789abcdef0"])
    ec2.revoke_security_group_ingress(GroupId=gid, SecurityGroupRuleIds=[ssh_id])
    assert group(ec2, gid)["IpPermissions"] == []
    assert {r[0] for r in fw_rules(server, gid)} == {"egress"}
    # The legacy form revokes too; egress by permission.
    ec2.authorize_security_group_ingress(GroupName="web", IpProtocol="udp", FromPort=53, ToPort=53, CidrIp="0.0.0.0/0")
    ec2.revoke_security_group_ingress(GroupName="web", IpProtocol="udp", FromPort=53, ToPort=53, CidrIp="0.0.0.0/0")
    ec2.revoke_security_group_egress(GroupId=gid, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    assert group(ec2, gid)["IpPermissionsEgress"] == [] and fw_rules(server, gid) == set()


def test_rules_by_id_modify_and_descriptions(server, ec2_of):
    ec2 = ec2_of("rules")
    gid = ec2.create_security_group(GroupName="web", Description="web")["GroupId"]
    rule = ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[TCP_80], TagSpecifications=[
        {"ResourceType": "security-group-rule", "Tags": [{"Key": "why", "Value": "web"}]}])["SecurityGroupRules"][0]
    rid = rule["SecurityGroupRuleId"]
    listed = ec2.describe_security_group_rules(SecurityGroupRuleIds=[rid])["SecurityGroupRules"]
    assert listed[0]["Tags"] == [{"Key": "why", "Value": "web"}] and listed[0]["IsEgress"] is False
    assert ec2.describe_security_group_rules(Filters=[{"Name": "tag:why", "Values": ["web"]}])["SecurityGroupRules"] \
        == listed
    with aws_error("InvalidSecurityGroupRuleId.NotFound"):
        ec2.describe_security_group_rules(SecurityGroupRuleIds=["sgr-0123456789abcdef0"])

    ec2.modify_security_group_rules(GroupId=gid, SecurityGroupRules=[{"SecurityGroupRuleId": rid, "SecurityGroupRule": {
        "IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "CidrIpv4": "10.0.0.0/8", "Description": "alt"}}])
    changed = ec2.describe_security_group_rules(SecurityGroupRuleIds=[rid])["SecurityGroupRules"][0]
    assert (changed["FromPort"], changed["CidrIpv4"], changed["Description"]) == (8080, "10.0.0.0/8", "alt")
    assert ("ingress", "tcp", 8080, 8080, "10.0.0.0/8", None) in fw_rules(server, gid)
    assert ("ingress", "tcp", 80, 80, "0.0.0.0/0", None) not in fw_rules(server, gid)
    egress_id = next(r["SecurityGroupRuleId"] for r in ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [gid]}])["SecurityGroupRules"] if r["IsEgress"])
    with aws_error("InvalidPermission.Duplicate"):  # would make the egress rule a copy of... itself elsewhere
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])

    ec2.update_security_group_rule_descriptions_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "lan"}]}])
    ec2.update_security_group_rule_descriptions_egress(GroupId=gid, SecurityGroupRuleDescriptions=[
        {"SecurityGroupRuleId": egress_id, "Description": "anywhere"}])
    shown = group(ec2, gid)
    assert shown["IpPermissions"][0]["IpRanges"] == [{"CidrIp": "10.0.0.0/8", "Description": "lan"}]
    assert shown["IpPermissionsEgress"][0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0", "Description": "anywhere"}]
    with aws_error("InvalidPermission.NotFound"):
        ec2.update_security_group_rule_descriptions_ingress(GroupId=gid, IpPermissions=[TCP_80])


def test_groups_follow_instances(server, ec2_of, image):
    ec2 = ec2_of("members")
    web = ec2.create_security_group(GroupName="web", Description="web")["GroupId"]
    db = ec2.create_security_group(GroupName="db", Description="db")["GroupId"]
    plain = ec2.run_instances(ImageId=image.image_id, MinCount=1, MaxCount=1, InstanceType="t1.micro")
    mine = ec2.run_instances(ImageId=image.image_id, MinCount=1, MaxCount=1, InstanceType="t1.micro",
                             SecurityGroupIds=[web])
    server.settle()
    plain_id, iid = plain["Instances"][0]["InstanceId"], mine["Instances"][0]["InstanceId"]
    default = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"]
    members = fw(server).members()
    assert members[plain_id].group_ids == (default,)
    assert members[iid].group_ids == (web,)
    address = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["PrivateIpAddress"]
    assert members[iid].private_ip == address

    with aws_error("InvalidGroup.InUse", match=iid):
        ec2.delete_security_group(GroupId=web)
    ec2.authorize_security_group_ingress(GroupId=db, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": web}]}])

    # Groups change on the running instance, and DescribeInstances shows the new ones.
    ec2.modify_instance_attribute(InstanceId=iid, Groups=[db, default])
    shown = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["SecurityGroups"]
    assert {g["GroupName"] for g in shown} == {"db", "default"}
    assert fw(server).members()[iid].group_ids == (db, default)
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="groupSet")["Groups"] == shown
    with aws_error("InvalidGroup.NotFound"):
        ec2.modify_instance_attribute(InstanceId=iid, Groups=["sg-0123456789abcdef0"])
    assert fw(server).members()[iid].group_ids == (db, default)

    with aws_error("DependencyViolation", match=db):
        ec2.delete_security_group(GroupId=web)  # no member now, but db's rule names it
    ec2.revoke_security_group_ingress(GroupId=db, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": web}]}])
    ec2.delete_security_group(GroupId=web)

    # What a restart loads from the records is what the firewall holds now.
    fresh = SecurityGroupFirewall(network_name=server.config.network.name, bridge=server.config.network.bridge,
                                  subnet=str(server.config.network.subnet))
    firewall.reload(server.runtime, fresh)
    assert fresh.ruleset() == fw(server).ruleset()

    ec2.terminate_instances(InstanceIds=[iid, plain_id])
    server.settle()
    assert iid not in fw(server).members() and plain_id not in fw(server).members()
    ec2.delete_security_group(GroupId=db)


def test_a_firewall_that_refuses_fails_the_call_and_keeps_the_record(server, ec2_of, monkeypatch):
    ec2 = ec2_of("refuse")
    gid = ec2.create_security_group(GroupName="web", Description="web")["GroupId"]
    wall = fw(server)
    monkeypatch.setattr(wall, "_active", True)
    monkeypatch.setattr(wall, "_prefix", ("false",))  # every nft run now fails
    with aws_error("InternalError"):
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[TCP_80])
    monkeypatch.undo()
    assert group(ec2, gid)["IpPermissions"] == []
    assert fw_rules(server, gid) == {("egress", "-1", -1, -1, "0.0.0.0/0", None)}


def test_iam_decides_per_group(server, image):
    root = server.account("sgiam")
    ec2 = server.client("ec2", root)
    mine = ec2.create_security_group(GroupName="mine", Description="mine")["GroupId"]
    theirs = ec2.create_security_group(GroupName="theirs", Description="theirs")["GroupId"]
    arn = f"arn:aws:ec2:silvereye-1:{root.account_id}:security-group/{mine}"
    user = server.client("ec2", server.user(root, "netops",
                                            {"Effect": "Allow", "Action": "ec2:*SecurityGroup*", "Resource": arn}))
    user.authorize_security_group_ingress(GroupId=mine, IpPermissions=[TCP_80])
    user.revoke_security_group_ingress(GroupName="mine", IpPermissions=[TCP_80])
    with aws_error("UnauthorizedOperation"):
        user.authorize_security_group_ingress(GroupId=theirs, IpPermissions=[TCP_80])
    with aws_error("UnauthorizedOperation"):
        user.authorize_security_group_ingress(GroupName="theirs", IpPermissions=[TCP_80])
    with aws_error("UnauthorizedOperation"):
        user.create_security_group(GroupName="new", Description="new")
    with aws_error("DryRunOperation"):
        ec2.delete_security_group(GroupId=theirs, DryRun=True)
    assert len(ec2.describe_security_groups()["SecurityGroups"]) == 3


def test_deleting_an_account_counts_and_purges_its_groups(server):
    root = server.account("sgpurge")
    ec2 = server.client("ec2", root)
    ec2.authorize_security_group_ingress(GroupName="default", IpPermissions=[TCP_80])  # stores the default group
    with server.store.write() as conn:
        accounts.delete(conn, "sgpurge")  # the default group alone holds nothing up
    root = server.account("sgpurge2")
    ec2 = server.client("ec2", root)
    ec2.create_security_group(GroupName="web", Description="web")
    with pytest.raises(SilvereyeError, match="1 EC2 security group"):
        with server.store.write() as conn:
            accounts.delete(conn, "sgpurge2")
    with server.store.write() as conn:
        accounts.delete(conn, "sgpurge2", force=True)
        assert sg.count(conn, root.account_id) == 0
        assert conn.execute(sg.rules_t.select().where(sg.rules_t.c.account_id == root.account_id)).first() is None


def test_the_aws_cli_seed_scenario(server):
    keys = server.account("sgcli")

    def aws(*args: str) -> dict:
        env = {**os.environ, "AWS_ACCESS_KEY_ID": keys.access_key, "AWS_SECRET_ACCESS_KEY": keys.secret_key,
               "AWS_DEFAULT_REGION": "silvereye-1", "AWS_PAGER": ""}
        r = subprocess.run(["aws", "--endpoint-url", server.url, "--output", "json", "ec2", *args],
                           capture_output=True, text=True, env=env, timeout=120)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout) if r.stdout.strip() else {}

    gid = aws("create-security-group", "--group-name", "seed", "--description", "seed scenario")["GroupId"]
    aws("authorize-security-group-ingress", "--group-id", gid, "--protocol", "tcp", "--port", "22",
        "--cidr", "10.0.0.0/8")
    aws("authorize-security-group-ingress", "--group-name", "seed", "--protocol", "tcp", "--port", "80-81",
        "--cidr", "10.0.0.0/8")
    aws("authorize-security-group-ingress", "--group-id", gid, "--protocol", "icmp", "--port", "-1",
        "--source-group", "seed")
    rules = aws("describe-security-group-rules", "--filters", f"Name=group-id,Values={gid}")["SecurityGroupRules"]
    assert sorted((r["IpProtocol"], r["FromPort"], r["ToPort"], r.get("CidrIpv4", "group")) for r in rules
                  if not r["IsEgress"]) == [("icmp", -1, -1, "group"), ("tcp", 22, 22, "10.0.0.0/8"),
                                            ("tcp", 80, 81, "10.0.0.0/8")]
    assert len(fw(server).group(gid).rules) == 4
    aws("revoke-security-group-ingress", "--group-id", gid, "--protocol", "tcp", "--port", "22", "--cidr", "10.0.0.0/8")
    aws("revoke-security-group-ingress", "--group-id", gid, "--protocol", "tcp", "--port", "80-81",
        "--cidr", "10.0.0.0/8")
    aws("revoke-security-group-ingress", "--group-id", gid, "--protocol", "icmp", "--port", "-1",
        "--source-group", "seed")
    aws("delete-security-group", "--group-id", gid)
    assert gid not in fw(server).groups()
