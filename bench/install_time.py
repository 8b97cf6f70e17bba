"""How long `silvereye install --cloud-in-a-box --yes` takes, step by step (target: under 60 s).

Measured from the command's start to "the API answers and the default image
is registered" (the install's last step), with the OS packages already
installed or in the local package cache. The install goes into a private
root (as the integration tests do: its own config, data and log
directories, ports, network name and bridge), so it runs beside anything
else on this machine; it is uninstalled afterwards and the teardown is
timed too.

    python bench/install_time.py [--runs 3] [--no-image] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.test_install import Box  # noqa: E402  (an isolated installation)

STEP = re.compile(r"^[✓·✗] (?P<title>[^:]+): .* \((?P<seconds>\d+\.\d) s\)$")
TARGET_SECONDS = 60.0


def one_run(image: bool) -> dict:
    box = Box()
    try:
        extra = [] if image else ["--no-image"]
        started = time.monotonic()
        r = box.install(*extra, role="--cloud-in-a-box", check=False)
        wall = time.monotonic() - started
        steps = {m["title"]: float(m["seconds"]) for m in map(STEP.match, r.stdout.splitlines()) if m}
        if r.returncode != 0:
            return {"ok": False, "error": r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "failed",
                    "wall": wall, "steps": steps}
        again = time.monotonic()
        box.install(*extra, role="--cloud-in-a-box")
        rerun = time.monotonic() - again
        down = time.monotonic()
        box.uninstall()
        return {"ok": True, "wall": wall, "steps": steps, "rerun": rerun, "uninstall": time.monotonic() - down}
    finally:
        box.cleanup()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-image", action="store_true", help="Leave out the default image (build + register).")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    runs = [one_run(not args.no_image) for _ in range(args.runs)]
    failed = [r for r in runs if not r["ok"]]
    if failed:
        print(f"install failed: {failed[0]['error']}", file=sys.stderr)
        return 1
    walls = [r["wall"] for r in runs]
    titles = list(runs[0]["steps"])
    report = {
        "runs": len(runs),
        "install_seconds_median": statistics.median(walls),
        "install_seconds": walls,
        "steps_median": {t: statistics.median(r["steps"].get(t, 0.0) for r in runs) for t in titles},
        "second_run_seconds_median": statistics.median(r["rerun"] for r in runs),
        "uninstall_seconds_median": statistics.median(r["uninstall"] for r in runs),
        "image": not args.no_image,
        "target_seconds": TARGET_SECONDS,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"silvereye install --cloud-in-a-box --yes{'' if report['image'] else ' --no-image'}: "
          f"{report['install_seconds_median']:.1f} s median of {len(runs)} "
          f"({', '.join(f'{w:.1f}' for w in walls)}); target {TARGET_SECONDS:.0f} s")
    for title, seconds in report["steps_median"].items():
        print(f"  {title:<18} {seconds:6.1f} s")
    print(f"  (command start-up and the rest: {report['install_seconds_median'] - sum(report['steps_median'].values()):.1f} s)")
    print(f"second run (nothing to do): {report['second_run_seconds_median']:.1f} s; "
          f"uninstall: {report['uninstall_seconds_median']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
