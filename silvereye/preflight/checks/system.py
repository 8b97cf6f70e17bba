"""The host as a whole: who runs us, which OS, how much memory, disk, swap and power, time, security."""

from __future__ import annotations

import posixpath
import re

from silvereye.preflight.facts import gib
from silvereye.preflight.model import (
    VIRT_ROLES,
    Context,
    Result,
    Role,
    check,
    fail,
    note,
    ok,
    warn,
)

GiB = 2**30

# Oldest release of each distribution silvereye installs on (os-release ID -> VERSION_ID).
SUPPORTED_OS: dict[str, str] = {
    "debian": "12",
    "ubuntu": "22.04",
    "rhel": "9",
    "rocky": "9",
    "almalinux": "9",
    "centos": "9",
    "fedora": "40",
}
SUPPORTED_TEXT = "Debian 12+, Ubuntu 22.04+, RHEL/Rocky/Alma 9+ or Fedora 40+"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:2])


@check("root", "root privileges")
def root(ctx: Context) -> Result:
    uid = ctx.facts.uid
    if uid == 0:
        return ok("running as uid 0 (root)")
    how = "connect as root: --host root@HOST" if ctx.remote else "run it as root: sudo silvereye preflight"
    return fail(f"running as uid {uid if uid is not None else 'unknown'}: installing and running the cloud needs root", how)


@check("os-supported", "a supported operating system")
def os_supported(ctx: Context) -> Result:
    rel = ctx.facts.os_release
    name = rel.get("PRETTY_NAME") or rel.get("NAME") or "an unknown system (no /etc/os-release)"
    os_id = rel.get("ID", "")
    oldest = SUPPORTED_OS.get(os_id)
    if oldest is None:
        return fail(f"{name} is not a distribution silvereye knows", f"install on {SUPPORTED_TEXT}")
    have = _version(rel.get("VERSION_ID", ""))
    if have and have < _version(oldest):
        return fail(f"{name} is older than {rel.get('NAME', os_id)} {oldest}", f"upgrade to {SUPPORTED_TEXT}")
    return ok(name)


@check("memory", "enough memory")
def memory(ctx: Context) -> Result:
    kib = ctx.facts.meminfo_kib.get("MemTotal")
    if kib is None:
        return warn("cannot read MemTotal from /proc/meminfo", "check that /proc is mounted")
    size = kib * 1024
    if size < 2 * GiB:
        return fail(f"{gib(size)} of memory; the cloud needs at least 2 GiB", "add memory (2 GiB at least, 8 GiB or more to run several instances)")
    if size < 8 * GiB:
        return warn(f"{gib(size)} of memory leaves room for only a few small instances", "add memory: 8 GiB or more is comfortable")
    return ok(f"{gib(size)} of memory")


@check("cpu-count", "enough CPUs")
def cpu_count(ctx: Context) -> Result:
    n = ctx.facts.cpu_count
    if n == 0:
        return warn("cannot count CPUs from /proc/cpuinfo", "check that /proc is mounted")
    if n < 2 and ctx.role in VIRT_ROLES:
        return warn("1 CPU: the API and every instance will share it", "give the host 2 or more CPUs")
    return ok(f"{n} CPU{'s' if n != 1 else ''}")


def _data_paths(ctx: Context) -> list[tuple[str, str]]:
    cfg = ctx.cfg
    paths = {
        Role.ciab: [("data_dir", cfg.data_dir), ("compute.instances_dir", str(cfg.instances_path)),
                    ("compute.images_dir", str(cfg.images_path)), ("compute.volumes_dir", str(cfg.volumes_path))],
        Role.node: [("compute.instances_dir", str(cfg.instances_path)), ("compute.images_dir", str(cfg.images_path)),
                    ("compute.volumes_dir", str(cfg.volumes_path))],
        Role.frontend: [("data_dir", cfg.data_dir), ("compute.images_dir", str(cfg.images_path))],
    }  # fmt: skip
    return paths[ctx.role]


@check("disk-space", "free disk space")
def disk_space(ctx: Context) -> Result:
    by_mount: dict[str, tuple[int, list[str], list[str]]] = {}
    for key, path in _data_paths(ctx):
        df = ctx.facts.disk_free(path)
        if df is None:
            return warn(f"cannot tell how much space is free for {path} (df failed)", "check that df (coreutils) works")
        free, mount = df
        entry = by_mount.setdefault(mount, (free, [], []))
        entry[1].append(path)
        entry[2].append(key)
    mount, (free, paths, keys) = min(by_mount.items(), key=lambda kv: kv[1][0])
    where = f"{gib(free)} free on {mount} (for {', '.join(paths)})"
    remedy = f"free space on {mount}, or point {' / '.join(keys)} at a larger filesystem"
    if free < 20 * GiB:
        return fail(f"only {where}; instances and images need at least 20 GiB", remedy)
    if free < 100 * GiB:
        return warn(f"{where}: enough for a few instances, 100 GiB or more is comfortable", remedy)
    return ok(where)


@check("swap", "swap")
def swap(ctx: Context) -> Result:
    lines = (ctx.host.read_file("/proc/swaps") or "").strip().splitlines()[1:]
    total_kib = sum(int(ln.split()[2]) for ln in lines if len(ln.split()) >= 3 and ln.split()[2].isdigit())
    if total_kib:
        return ok(f"{gib(total_kib * 1024)} of swap")
    mem = ctx.facts.meminfo_kib.get("MemTotal", 0) * 1024
    if mem and mem < 8 * GiB:
        return warn(
            f"no swap and only {gib(mem)} of memory: under memory pressure the kernel kills an instance instead of slowing down",
            "add a swap file: fallocate -l 4G /swapfile && chmod 600 /swapfile && mkswap /swapfile && swapon /swapfile",
        )
    return note("no swap: under memory pressure the kernel kills an instance instead of slowing down")


@check("battery", "mains power")
def battery(ctx: Context) -> Result:
    base = "/sys/class/power_supply"
    batteries = [s for s in ctx.host.listdir(base) or [] if ctx.facts.first_line(f"{base}/{s}/type") == "Battery"]
    if not batteries:
        return ok("no battery")
    for bat in batteries:
        if ctx.facts.first_line(f"{base}/{bat}/status") == "Discharging":
            level = ctx.facts.first_line(f"{base}/{bat}/capacity")
            at = f" at {level}%" if level else ""
            return warn(f"running on battery ({bat}{at}): instances stop with the host when it runs out", "plug the host into mains power")
    return ok(f"on mains power (battery {', '.join(batteries)} present)")


TIME_DAEMONS = {"chronyd": "chronyd", "ntpd": "ntpd", "openntpd": "openntpd", "systemd-timesyn": "systemd-timesyncd"}


@check("time-sync", "time synchronisation")
def time_sync(ctx: Context) -> Result:
    running = [full for comm, full in TIME_DAEMONS.items() if comm in ctx.facts.processes]
    if running:
        return ok(f"{running[0]} is running")
    if ctx.facts.systemd:
        r = ctx.host.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
        if r.ok and r.stdout.strip() == "yes":
            return ok("the clock is NTP-synchronised (timedatectl)")
    return warn(
        "no chronyd, ntpd or systemd-timesyncd is running: AWS signatures are refused once the clock drifts "
        f"more than {ctx.cfg.api.clock_skew_seconds // 60} minutes (api.clock_skew_seconds)",
        f"{ctx.install_command(['chrony'])} and start chronyd",
    )


@check("security-module", "SELinux/AppArmor")
def security_module(ctx: Context) -> Result:
    enforce = ctx.facts.first_line("/sys/fs/selinux/enforce")
    apparmor = ctx.facts.first_line("/sys/module/apparmor/parameters/enabled") == "Y"
    if enforce == "1":
        outside = [str(p) for p in (ctx.cfg.images_path, ctx.cfg.instances_path, ctx.cfg.volumes_path)
                   if not str(p).startswith(("/var/lib/silvereye/", "/var/lib/libvirt/"))]  # fmt: skip
        if outside:
            first = outside[0]
            return warn(
                f"SELinux is enforcing and {', '.join(outside)} lie outside /var/lib: QEMU is denied files without the virt_image_t label",
                f"semanage fcontext -a -t virt_image_t '{first}(/.*)?' && restorecon -R {first}",
            )
        return note("SELinux is enforcing (libvirt labels each instance's files; the default paths are covered)")
    parts = []
    if enforce == "0":
        parts.append("SELinux is permissive")
    if apparmor:
        parts.append("AppArmor is enabled (libvirt confines each QEMU with its own profile)")
    return ok("; ".join(parts) if parts else "neither SELinux nor AppArmor is active")


@check("previous-install", "an earlier silvereye install")
def previous_install(ctx: Context) -> Result:
    cfg = ctx.cfg
    found, undo = [], []
    entries = ctx.host.listdir(cfg.data_dir)
    if entries:
        found.append(f"{cfg.data_dir} ({', '.join(entries[:3])}{', ...' if len(entries) > 3 else ''})")
        undo.append(f"move {cfg.data_dir} aside")
    if ctx.facts.exists(posixpath.join("/sys/class/net", cfg.network.bridge)):
        found.append(f"bridge {cfg.network.bridge}")
    if ctx.role in VIRT_ROLES and ctx.host.run(["virsh", "-c", cfg.compute.libvirt_uri, "net-uuid", cfg.network.name]).ok:
        found.append(f"libvirt network '{cfg.network.name}'")
        undo.insert(0, f"virsh net-destroy {cfg.network.name}; virsh net-undefine {cfg.network.name}")
    for unit in ("/etc/systemd/system/silvereye.service", "/usr/lib/systemd/system/silvereye.service"):
        if ctx.facts.exists(unit):
            found.append(unit)
    if not found:
        return ok("no earlier install or leftover state")
    return warn(
        f"found state from an earlier install: {'; '.join(found)}",
        "silvereye install reuses it; to start afresh: " + ("; ".join(undo) if undo else "remove what is listed"),
    )
