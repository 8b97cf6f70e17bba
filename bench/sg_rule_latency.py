"""Benchmark: how long a security group rule change takes to act on a running instance.

A tiny instance serves port 80 in a group with no ingress rule. Each run
authorizes tcp/80 from anywhere and times, from the call, until the host's
connection gets through; then revokes it and times until a new connection
no longer does (each probe waits 0.3 s for an answer, so "closed" is seen
at the start of the first unanswered probe). The same is measured again
with a large table around it: --groups groups of --rules rules each (half
of them naming another group) and the rest of the /24 as members (~150), as a busy
cloud would have.

    PYTHONPATH=. python bench/sg_rule_latency.py [--runs 10] [--groups 100] [--rules 20] [--json]

Target: a rule change acts within 1 s.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import socket
import sys
import time

from ebs_common import summary, tiny_cloud

from silvereye.compute.security_groups import ALLOW_ALL_EGRESS, Rule, SecurityGroupFirewall

WEB = "sg-0000000a"
OPEN_80 = Rule("ingress", "tcp", 80, 80, cidr="0.0.0.0/0")
PROBE_TIMEOUT = 0.3


def answers(address: str) -> bool:
    try:
        with socket.create_connection((address, 80), timeout=PROBE_TIMEOUT):
            return True
    except OSError:
        return False


def until(predicate, started: float, limit: float = 10.0) -> float:
    """Seconds from ``started`` to the start of the first probe for which ``predicate`` held."""
    while True:
        probe = time.perf_counter()
        if predicate():
            return probe - started
        if probe - started > limit:
            raise TimeoutError("the change did not act within 10 s")


def measure(fw: SecurityGroupFirewall, address: str, runs: int) -> dict:
    calls, opened, calls_revoke, closed = [], [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        fw.authorize(WEB, [OPEN_80])
        calls.append(time.perf_counter() - t0)
        opened.append(until(lambda: answers(address), t0))
        t0 = time.perf_counter()
        fw.revoke(WEB, [OPEN_80])
        calls_revoke.append(time.perf_counter() - t0)
        closed.append(until(lambda: not answers(address), t0))
    return {"authorize_call_s": summary(calls, 4), "open_s": summary(opened, 4),
            "revoke_call_s": summary(calls_revoke, 4), "close_s": summary(closed, 4)}


def crowd(fw: SecurityGroupFirewall, subnet: ipaddress.IPv4Network, groups: int, rules: int) -> int:
    """Fill the firewall with other groups and members; the number of rules it then holds."""
    ids = [f"sg-{n:08x}" for n in range(0x100, 0x100 + groups)]
    for n, gid in enumerate(ids):
        fw.create_group(gid, [ALLOW_ALL_EGRESS])
    total = 0
    for n, gid in enumerate(ids):
        batch = []
        for r in range(rules):
            if r % 2:
                batch.append(Rule("ingress", "tcp", 1000 + r, 1000 + r, group_id=ids[(n + r) % groups]))
            else:
                batch.append(Rule("ingress", "udp", 2000 + r, 2100 + r, cidr=f"10.{n % 256}.{r}.0/24"))
        fw.authorize(gid, batch)
        total += len(batch) + 1
    hosts = list(subnet.hosts())[100:]
    for n, address in enumerate(hosts):
        fw.set_instance_groups(f"i-{n:017x}", str(address), [ids[n % groups], ids[(n * 7) % groups]])
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--groups", type=int, default=100)
    ap.add_argument("--rules", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    with tiny_cloud("sg") as cloud:
        fw = SecurityGroupFirewall.for_driver(cloud.driver)  # removed by the driver's teardown
        fw.create_group(WEB, [ALLOW_ALL_EGRESS])
        fw.setup()
        (web,) = cloud.launch(1, lambda info: fw.set_instance_groups(info.instance_id, info.private_ip, [WEB]))
        fw.authorize(WEB, [OPEN_80])
        until(lambda: answers(web.private_ip), time.perf_counter(), limit=60)  # httpd is up
        fw.revoke(WEB, [OPEN_80])
        small = measure(fw, web.private_ip, args.runs)
        subnet = ipaddress.IPv4Network(cloud.driver.cfg.network.subnet)
        rules = crowd(fw, subnet, args.groups, args.rules)
        large = measure(fw, web.private_ip, args.runs)
        ruleset_bytes = len(fw.ruleset())
    result = {"runs": args.runs, "one_group": small,
              "crowded": {"groups": args.groups + 1, "rules": rules, "members": len(fw.members()),
                          "ruleset_bytes": ruleset_bytes, **large},
              "target_s": 1.0}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"rule change on a running tiny instance, {args.runs} runs, median / p90 (ms):")
        for name, data in (("one group", small), (f"{args.groups + 1} groups, {rules} rules, "
                                                  f"{result['crowded']['members']} members", large)):
            print(f"  {name}:")
            for key in ("authorize_call_s", "open_s", "revoke_call_s", "close_s"):
                print(f"    {key[:-2].replace('_', ' '):<15} {data[key]['median'] * 1000:7.1f} / "
                      f"{data[key]['p90'] * 1000:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
