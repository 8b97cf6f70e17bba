"""Is KVM usable here? Find out by booting a kernel, not by looking at /dev/kvm.

On nested-virtualisation hosts /dev/kvm exists and opens, yet guests hang
after the kernel decompresses, or QEMU stops with "KVM internal error". The
only honest test is to boot something: Debian's cloud kernel with no
initramfs and ``panic=-1`` runs all the way to "Kernel panic - not syncing:
VFS: Unable to mount root fs", reboots, and ``-no-reboot`` makes QEMU exit.
Reaching that panic in time means KVM works; a timeout or a KVM error means
it does not, and instances must run under TCG (domain type ``qemu``).

The verdict is cached on the probed host in /var/cache/silvereye, keyed by
its kernel release, its QEMU version and the probe kernel package, so only
the first run pays for the boot. The compute driver asks the same function
to choose between domain types ``kvm`` and ``qemu``.
"""

from __future__ import annotations

import json
import posixpath
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from silvereye.errors import SilvereyeError
from silvereye.images import debian
from silvereye.preflight.facts import HostFacts
from silvereye.preflight.host import RC_TIMEOUT, Host

KERNEL_PACKAGE = "linux-image-cloud-amd64"
CACHE_DIR = "/var/cache/silvereye"
CACHE_FILE = "kvm-probe.json"
QEMU_PROGRAMS = ("qemu-system-x86_64", "/usr/libexec/qemu-kvm")
DEFAULT_TIMEOUT = 20.0

_PANIC = re.compile(r"Kernel panic - not syncing: VFS: Unable to mount root fs")


@dataclass(frozen=True)
class KvmProbe:
    usable: bool
    detail: str
    cached: bool = False


def _local_kernel(package: str) -> str:
    """Path of the probe kernel on this machine (fetched into the Debian package cache once)."""
    root = debian.fetch_and_extract(package)
    kernels = sorted((root / "boot").glob("vmlinuz-*"))
    if not kernels:
        raise SilvereyeError(f"{package} holds no boot/vmlinuz-*")
    return str(kernels[-1])


def _boot(host: Host, qemu: str, kernel: str, accel: str, timeout: float) -> KvmProbe:
    """One boot in a temporary directory on the host; SilvereyeError when the probe could not even start."""
    r = host.run(["mktemp", "-d", "/tmp/silvereye-kvm-probe.XXXXXX"])
    workdir = r.stdout.strip()
    if not r.ok or not workdir.startswith("/tmp/silvereye-kvm-probe."):
        raise SilvereyeError(f"cannot make a temporary directory for the probe ({r.last_error_line()})")
    try:
        guest_kernel = posixpath.join(workdir, "vmlinuz")
        serial = posixpath.join(workdir, "serial.log")
        host.put_file(Path(kernel), guest_kernel)
        argv = [
            "timeout", "-k", "2", f"{timeout:g}",
            qemu, "-accel", accel, "-m", "256", "-nodefaults", "-display", "none", "-monitor", "none",
            "-no-reboot", "-serial", f"file:{serial}", "-kernel", guest_kernel, "-append", "console=ttyS0 panic=-1",
        ]  # fmt: skip
        started = time.monotonic()
        res = host.run(argv, timeout=timeout + 15)
        seconds = time.monotonic() - started
        console = host.read_file(serial) or ""
    finally:
        host.run(["rm", "-rf", "--", workdir])
    name = accel.upper() if accel == "kvm" else accel
    if _PANIC.search(console):
        return KvmProbe(True, f"a probe kernel booted under {name} in {seconds:.1f} s")
    kvm_error = next((ln.strip() for ln in res.stderr.splitlines() if "KVM internal error" in ln or "kvm run failed" in ln), "")
    if kvm_error:
        return KvmProbe(False, f"QEMU stopped with '{kvm_error}'")
    if res.rc == RC_TIMEOUT:
        last = next((ln.strip() for ln in reversed(console.splitlines()) if ln.strip()), "")
        where = f" (last console line: {last[:80]!r})" if last else " (no console output at all)"
        return KvmProbe(False, f"a probe kernel did not finish booting under {name} within {timeout:g} s{where}")
    return KvmProbe(False, f"QEMU exited with status {res.rc} before the kernel booted: {res.last_error_line()}")


def _read_cache(host: Host, path: str) -> dict:
    try:
        data = json.loads(host.read_file(path) or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def probe_kvm(
    host: Host,
    timeout: float = DEFAULT_TIMEOUT,
    *,
    accel: str = "kvm",
    kernel_package: str | None = None,
    use_cache: bool = True,
    cache_dir: str = CACHE_DIR,
    kernel_path: Callable[[str], str] = _local_kernel,
) -> KvmProbe:
    """Boot a probe kernel on ``host`` under ``accel`` (kvm, or tcg as a control) and say whether it worked."""
    facts = HostFacts(host)
    if accel == "kvm" and not facts.exists("/dev/kvm"):
        return KvmProbe(False, "there is no /dev/kvm")
    qemu = facts.which(*QEMU_PROGRAMS)
    if qemu is None:
        return KvmProbe(False, "qemu-system-x86_64 is not installed, so no guest can be started")
    version = host.run([qemu, "--version"]).stdout.strip().split("\n")[0]
    try:
        package = kernel_package or debian.resolve(KERNEL_PACKAGE)
    except SilvereyeError as e:
        return KvmProbe(False, f"cannot tell: the probe kernel is not available ({e})")
    key = f"{facts.kernel_release}|{version}|{package}|{accel}"
    cache_path = posixpath.join(cache_dir, CACHE_FILE)
    cache = _read_cache(host, cache_path) if use_cache else {}
    hit = cache.get(key)
    if isinstance(hit, dict) and isinstance(hit.get("usable"), bool):
        return KvmProbe(hit["usable"], str(hit.get("detail", "")), cached=True)
    try:
        result = _boot(host, qemu, kernel_path(package), accel, timeout)
    except SilvereyeError as e:
        return KvmProbe(False, f"cannot tell: {e}")
    if use_cache:
        cache[key] = {"usable": result.usable, "detail": result.detail, "probed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        if host.run(["mkdir", "-p", cache_dir]).ok:
            try:
                host.write_file(cache_path, json.dumps(cache, indent=1, sort_keys=True) + "\n")
            except OSError:
                pass  # an unwritable cache only costs the next run another boot
    return result
