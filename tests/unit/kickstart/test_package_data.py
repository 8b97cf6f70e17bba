"""The kickstart and ISO templates ship inside the wheel: a fresh venv reads them with importlib.resources."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[3]
TEMPLATES = [
    "kickstart/templates/base.ks.j2", "kickstart/templates/ciab.ks.j2", "kickstart/templates/frontend.ks.j2",
    "kickstart/templates/node.ks.j2", "iso/templates/isolinux-entry.cfg.j2", "iso/templates/grub-entry.cfg.j2",
    "iso/templates/synthetic/init.sh", "iso/templates/synthetic/isolinux.cfg.j2",
    "iso/templates/synthetic/grub.cfg.j2", "iso/templates/synthetic/grub-embedded.cfg.j2",
    "iso/templates/synthetic/treeinfo.j2",
]

READER = """
import sys
from importlib import resources
root = resources.files("silvereye")
for rel in sys.argv[1:]:
    text = root.joinpath(rel).read_text()
    print(rel, len(text))
print("from", root)
"""


def test_top_level_directories_point_at_the_packaged_templates():
    assert (ROOT / "kickstart" / "ciab.ks.j2").read_text() == (ROOT / "silvereye/kickstart/templates/ciab.ks.j2").read_text()
    assert (ROOT / "iso" / "grub-entry.cfg.j2").exists()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, symlinks=True,
                    ignore=shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache"))
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp / "dist"), str(src)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (whl,) = (tmp / "dist").glob("silvereye-*.whl")
    return whl


def test_wheel_holds_every_template(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [t for t in TEMPLATES if f"silvereye/{t}" not in names]
    assert missing == []


def test_installed_wheel_reads_its_templates(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # From an empty directory and without PYTHONPATH, so the source tree cannot be imported by accident.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([str(py), "-c", READER, *TEMPLATES], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert str(venv) in r.stdout.splitlines()[-1]
    for t in TEMPLATES:
        assert f"{t} " in r.stdout
