"""The hypervisor stack: CPU virtualisation, KVM (probed by booting), devices, libvirt, QEMU's access to disks."""

from __future__ import annotations

import posixpath
import re

from silvereye.preflight import programs
from silvereye.preflight.model import API_ROLES, VIRT_ROLES, Context, Result, check, fail, note, ok, warn

TCG_SLOWER = "instances will run under software emulation (TCG), several times slower"


def no_kvm(ctx: Context, detail: str, remedy: str) -> Result:
    """KVM is missing or broken: how much that matters depends on compute.domain_type."""
    domain_type = ctx.cfg.compute.domain_type
    if domain_type == "qemu":
        return note(f"{detail}; compute.domain_type is 'qemu', so instances use software emulation anyway")
    if domain_type == "kvm":
        return fail(f"{detail}, and compute.domain_type is 'kvm'", f"{remedy}; or set compute.domain_type: auto to run under software emulation")
    return warn(f"{detail}: {TCG_SLOWER}", remedy)


FIRMWARE_REMEDY = "enable Intel VT-x / AMD-V in the firmware setup (for a virtual machine: enable nested virtualisation on its host)"


@check("cpu-virt-flags", "hardware virtualization", VIRT_ROLES)
def cpu_virt_flags(ctx: Context) -> Result:
    vendor = ctx.facts.virt_vendor
    if vendor == "intel":
        return ok("the CPU has vmx (Intel VT-x)")
    if vendor == "amd":
        return ok("the CPU has svm (AMD-V)")
    if ctx.facts.exists("/dev/kvm"):
        return note("the CPU shows no vmx/svm flag, but /dev/kvm exists (a virtual machine with nested KVM?); the KVM probe decides")
    return no_kvm(ctx, "the CPU shows neither vmx nor svm", FIRMWARE_REMEDY)


def kvm_module_name(ctx: Context) -> str | None:
    return {"intel": "kvm_intel", "amd": "kvm_amd"}.get(ctx.facts.virt_vendor or "")


@check("kvm-modules", "KVM kernel modules", VIRT_ROLES)
def kvm_modules(ctx: Context) -> Result:
    module = kvm_module_name(ctx)
    if ctx.facts.exists("/dev/kvm"):
        loaded = [m for m in ("kvm", "kvm_intel", "kvm_amd") if ctx.facts.exists(f"/sys/module/{m}")]
        return ok(f"{', '.join(loaded) or 'kvm'} loaded or built in (/dev/kvm exists)")
    if module is None:
        return note("not applicable: the CPU shows no vmx/svm")
    if ctx.facts.exists(f"/sys/module/{module}"):
        return ok(f"{module} is loaded")
    return warn(f"{module} is not loaded, so there is no /dev/kvm", f"modprobe {module}", fixable=True)


@check("kvm-device", "/dev/kvm", VIRT_ROLES)
def kvm_device(ctx: Context) -> Result:
    st = ctx.host.stat("/dev/kvm")
    if st is None:
        return no_kvm(ctx, "there is no /dev/kvm", f"modprobe {kvm_module_name(ctx) or 'kvm_intel (or kvm_amd)'}; if that fails, {FIRMWARE_REMEDY}")
    if not st.is_char_device:
        return fail(f"/dev/kvm is not a character device ({st.permissions})", "rm /dev/kvm and modprobe kvm, or reboot")
    if st.mode & 0o660 != 0o660:
        return warn(
            f"/dev/kvm is {st.permissions}: QEMU, which libvirt runs as an unprivileged user, cannot open it read-write",
            "chmod 0660 /dev/kvm && chgrp kvm /dev/kvm (udev's rule 65-kvm.rules does this at boot)",
        )
    return ok(f"/dev/kvm is present and read-write ({st.permissions}, group id {st.gid})")


@check("kvm-usable", "a usable KVM (boots a probe guest)", VIRT_ROLES)
def kvm_usable(ctx: Context) -> Result:
    if not ctx.facts.exists("/dev/kvm"):
        return no_kvm(ctx, "KVM cannot be used without /dev/kvm", FIRMWARE_REMEDY)
    probe = ctx.kvm_prober(ctx.host)
    cached = " (cached verdict)" if probe.cached else ""
    if probe.usable:
        return ok(probe.detail + cached)
    return no_kvm(
        ctx,
        f"KVM is present but unusable: {probe.detail}{cached}",
        "nothing to do, silvereye falls back to software emulation; for full speed run on bare metal or a host with working nested KVM",
    )


@check("tun-device", "/dev/net/tun", VIRT_ROLES)
def tun_device(ctx: Context) -> Result:
    st = ctx.host.stat("/dev/net/tun")
    if st is not None and st.is_char_device:
        return ok(f"/dev/net/tun is present ({st.permissions})")
    return fail("there is no /dev/net/tun: instances get no network interface", "modprobe tun", fixable=True)


@check("vhost-net", "/dev/vhost-net", VIRT_ROLES)
def vhost_net(ctx: Context) -> Result:
    st = ctx.host.stat("/dev/vhost-net")
    if st is not None and st.is_char_device:
        return ok("/dev/vhost-net is present (virtio networking in the kernel)")
    return warn("there is no /dev/vhost-net: instance networking runs in QEMU's user space, slower", "modprobe vhost_net", fixable=True)


@check("bridge-support", "bridge support", VIRT_ROLES)
def bridge_support(ctx: Context) -> Result:
    if ctx.facts.exists("/sys/module/bridge"):
        return ok("the bridge module is loaded")
    if ctx.host.run(["modinfo", "-F", "filename", "bridge"]).ok:
        return note("the bridge module is available and not loaded yet (libvirt loads it when it starts a network)", "modprobe bridge", fixable=True)
    return fail("this kernel has no bridge support (no bridge module)", "boot a kernel built with CONFIG_BRIDGE (every distribution kernel is)")


CGROUP_V1_NEEDED = ("cpu", "cpuacct", "cpuset", "memory", "devices", "blkio", "pids")
CGROUP_V2_NEEDED = ("cpu", "cpuset", "memory", "io", "pids")


@check("cgroups", "cgroup controllers", VIRT_ROLES)
def cgroups(ctx: Context) -> Result:
    v2 = ctx.host.read_file("/sys/fs/cgroup/cgroup.controllers")
    if v2 is not None:
        have, needed, version = set(v2.split()), CGROUP_V2_NEEDED, "v2"
    else:
        have = set()
        for line in (ctx.host.read_file("/proc/cgroups") or "").splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 4 and parts[1] != "0" and parts[3] == "1":
                have.add(parts[0])
        needed, version = CGROUP_V1_NEEDED, "v1"
    missing = [c for c in needed if c not in have]
    if missing:
        remedy = (
            f"enable them for the root group: echo '{' '.join('+' + c for c in missing)}' > /sys/fs/cgroup/cgroup.subtree_control"
            if version == "v2"
            else f"mount them: mount -t cgroup -o {missing[0]} cgroup /sys/fs/cgroup/{missing[0]} (one per controller)"
        )
        return warn(f"cgroup {version} lacks {', '.join(missing)}: libvirt cannot limit instances' CPU, memory or I/O", remedy)
    return ok(f"cgroup {version}: {' '.join(c for c in needed)}")


def _missing(ctx: Context, wanted: list[programs.Program]) -> list[programs.Program]:
    return [p for p in wanted if ctx.facts.which(*p.names) is None]


def _install_remedy(ctx: Context, missing: list[programs.Program]) -> str:
    pkgs = [programs.package_for(p, ctx.facts.family) for p in missing]
    if None in pkgs:
        return "install the packages that provide " + ", ".join(p.label for p in missing)
    return ctx.install_command(sorted(set(pkgs)))  # type: ignore[arg-type]


@check("required-programs", "required programs")
def required_programs(ctx: Context) -> Result:
    wanted = programs.REQUIRED[ctx.role]
    missing = _missing(ctx, wanted)
    if missing:
        what = "; ".join(f"{p.label} ({p.purpose})" for p in missing)
        return fail(f"missing: {what}", _install_remedy(ctx, missing))
    return ok("all installed: " + ", ".join(p.names[0] for p in wanted))


@check("optional-programs", "optional programs", API_ROLES)
def optional_programs(ctx: Context) -> Result:
    wanted = programs.OPTIONAL[ctx.role]
    missing = _missing(ctx, wanted)
    if missing:
        what = "; ".join(f"{p.label} is not installed, so nothing {p.purpose}" for p in missing)
        return warn(what, _install_remedy(ctx, missing))
    return ok("all installed: " + ", ".join(p.names[0] for p in wanted))


def _daemon_running(ctx: Context, *names: str) -> bool:
    return any(n in ctx.facts.processes for n in names)


def _local_uri(uri: str) -> bool:
    return uri.startswith("qemu:///")


def start_command(ctx: Context, daemon: str) -> str:
    return f"systemctl start {daemon}" if ctx.facts.systemd else f"{daemon} -d"


@check("libvirt-reachable", "libvirt", VIRT_ROLES)
def libvirt_reachable(ctx: Context) -> Result:
    uri = ctx.cfg.compute.libvirt_uri
    if ctx.facts.which("virsh") is None:
        return fail(f"cannot reach {uri}: virsh is not installed", _install_remedy(ctx, [programs.VIRSH]))
    r = ctx.host.run(["virsh", "-c", uri, "version"], timeout=20)
    if r.ok:
        m = re.search(r"Running hypervisor: (.+)", r.stdout)
        lib = re.search(r"Using library: (.+)", r.stdout)
        return ok(f"{uri} answers ({(m or lib).group(1).strip() if (m or lib) else 'version unknown'})")
    fixable = _local_uri(uri) and not _daemon_running(ctx, "libvirtd", "virtqemud")
    remedy = (start_command(ctx, "libvirtd") if fixable else f"check that libvirt runs and {uri} is right (compute.libvirt_uri)")
    return fail(f"{uri} does not answer: {r.last_error_line()}", remedy, fixable=fixable)


VIRTLOGD_SOCKET = "/run/libvirt/virtlogd-sock"


@check("virtlogd", "virtlogd", VIRT_ROLES)
def virtlogd(ctx: Context) -> Result:
    if not _local_uri(ctx.cfg.compute.libvirt_uri):
        return note(f"not checked: compute.libvirt_uri {ctx.cfg.compute.libvirt_uri} is not on this host")
    st = ctx.host.stat(VIRTLOGD_SOCKET)
    if st is not None and st.is_socket:
        return ok(f"{VIRTLOGD_SOCKET} is listening")
    return fail(
        f"{VIRTLOGD_SOCKET} is missing: libvirt cannot start instances without virtlogd",
        start_command(ctx, "virtlogd"),
        fixable=True,
    )


QEMU_USERS = {"debian": ("libvirt-qemu",), "el": ("qemu",)}


def _qemu_user(ctx: Context) -> str | None:
    """The user libvirt runs QEMU as: qemu.conf's ``user``, else the distribution's default."""
    conf = ctx.host.read_file("/etc/libvirt/qemu.conf") or ""
    m = re.search(r'^\s*user\s*=\s*"([^"]+)"', conf, re.M)
    if m:
        return m.group(1)
    names = QEMU_USERS.get(ctx.facts.family or "", ("libvirt-qemu", "qemu"))
    acct = ctx.facts.account(*names, "libvirt-qemu", "qemu")
    return acct.name if acct else None


@check("image-path-access", "QEMU access to image paths", VIRT_ROLES)
def image_path_access(ctx: Context) -> Result:
    user = _qemu_user(ctx)
    if user in ("root", "+0"):
        return ok("QEMU runs as root (qemu.conf), so every path is reachable")
    acct = ctx.facts.account(user) if user else None
    if acct is None:
        return note("not checked: no QEMU user yet (libvirt creates it when installed)")
    paths = [str(p) for p in (ctx.cfg.instances_path, ctx.cfg.images_path, ctx.cfg.volumes_path)]
    for path in paths:
        parts = posixpath.normpath(path).split("/")[1:]
        current = "/"
        for part in [""] + parts:
            current = posixpath.join(current, part) if part else "/"
            st = ctx.host.stat(current)
            if st is None:
                break  # the install creates the rest, searchable
            if not st.is_dir:
                return fail(f"{current} is not a directory, but {path} must lie under it", f"move {current} aside or choose another path")
            bit = 0o100 if st.uid == acct.uid else 0o010 if st.gid in acct.groups else 0o001
            if not st.mode & bit:
                return fail(
                    f"{current} ({st.permissions}, owner uid {st.uid}) keeps QEMU's user {acct.name} out of {path}: "
                    "libvirt's classic 'permission denied' when starting an instance",
                    f"chmod o+x {current}, or move the directory under /var/lib (compute.instances_dir / images_dir / volumes_dir)",
                )
    return ok(f"{acct.name} can reach {', '.join(paths)}")
