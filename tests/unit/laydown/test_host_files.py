"""Host files as install writes them and teardown undoes them: whole files, INI sections, lines."""

from __future__ import annotations

import os
import stat

import pytest

from silvereye.laydown import hostfiles
from silvereye.laydown.hostfiles import add_line, ensure_dir, place_file, place_ini_section, remove_line
from silvereye.laydown.manifest import Manifest, ManifestError, sha256_bytes
from silvereye.laydown.uninstall import _undo_file, _undo_section


@pytest.fixture
def manifest(tmp_path):
    return Manifest(tmp_path / "state" / "manifest.json")


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_file_is_written_recorded_and_left_alone_the_second_time(tmp_path, manifest):
    target = tmp_path / "etc" / "thing" / "a.conf"
    changes = place_file(manifest, tmp_path / "backup", target, "x = 1\n", "files", mode=0o640)
    assert changes == [f"created {tmp_path / 'etc' / 'thing'}", f"wrote {target}"]
    assert target.read_text() == "x = 1\n" and mode_of(target) == 0o640
    entry = manifest.find("file", str(target))
    assert entry["existed"] is False and entry["sha256"] == sha256_bytes(b"x = 1\n")
    assert [e["path"] for e in manifest.of_kind("dir")] == [str(tmp_path / "etc"), str(tmp_path / "etc" / "thing")]
    assert place_file(manifest, tmp_path / "backup", target, "x = 1\n", "files", mode=0o640) == []


def test_a_file_that_existed_is_backed_up_once_and_restored(tmp_path, manifest):
    target = tmp_path / "hosts.conf"
    target.write_text("original\n")
    os.chmod(target, 0o600)
    assert place_file(manifest, tmp_path / "backup", target, "ours\n", "files") == [f"updated {target}"]
    place_file(manifest, tmp_path / "backup", target, "ours, second version\n", "files")
    entry = manifest.find("file", str(target))
    assert entry["existed"] is True  # still what the first run found
    assert open(entry["backup"]).read() == "original\n"
    assert _undo_file(entry) == [f"restored {target} as it was before silvereye"]
    assert target.read_text() == "original\n" and mode_of(target) == 0o600


def test_an_edit_since_install_is_noticed(tmp_path, manifest):
    target = tmp_path / "a.conf"
    place_file(manifest, tmp_path / "b", target, "one\n", "files")
    target.write_text("edited by hand\n")
    assert place_file(manifest, tmp_path / "b", target, "one\n", "files") == [
        f"updated {target} (it had been edited since silvereye wrote it)"]
    target.write_text("edited again\n")
    assert _undo_file(manifest.find("file", str(target))) == [f"removed {target} (edited since install)"]
    assert not target.exists()


def test_only_the_mode_is_fixed_when_the_content_is_right(tmp_path, manifest):
    target = tmp_path / "secret"
    place_file(manifest, tmp_path / "b", target, "s\n", "files", mode=0o600)
    os.chmod(target, 0o644)
    assert place_file(manifest, tmp_path / "b", target, "s\n", "files", mode=0o600) == [f"set the mode of {target} to 600"]
    assert mode_of(target) == 0o600


AWS_CONFIG = """\
# my own settings
[default]
region = eu-west-1

[profile work]
region = us-east-1
# a comment in work
"""


def test_an_ini_section_is_added_without_touching_the_rest():
    out = hostfiles.set_ini_section(AWS_CONFIG, "profile silvereye", "region = silvereye-1\n")
    assert out == AWS_CONFIG + "\n[profile silvereye]\nregion = silvereye-1\n"
    again = hostfiles.set_ini_section(out, "profile silvereye", "region = other\n")
    assert again == AWS_CONFIG + "\n[profile silvereye]\nregion = other\n"
    assert hostfiles.remove_ini_section(again, "profile silvereye") == AWS_CONFIG


def test_a_section_in_the_middle_is_replaced_in_place():
    out = hostfiles.set_ini_section(AWS_CONFIG, "default", "region = ap-south-1\noutput = json\n")
    assert out.splitlines()[:4] == ["# my own settings", "[default]", "region = ap-south-1", "output = json"]
    assert "[profile work]\nregion = us-east-1\n# a comment in work" in out


def test_ini_sections_are_recorded_and_undone(tmp_path, manifest):
    config = tmp_path / "aws" / "config"
    config.parent.mkdir()
    config.write_text(AWS_CONFIG)
    assert place_ini_section(manifest, config, "profile silvereye", "region = r\n", "credentials") == [
        f"updated [profile silvereye] in {config}"]
    assert place_ini_section(manifest, config, "profile silvereye", "region = r\n", "credentials") == []
    entry = manifest.find("ini-section", f"{config}\0profile silvereye")
    assert _undo_section(entry) == [f"took [profile silvereye] out of {config}"]
    assert config.read_text() == AWS_CONFIG


def test_a_section_that_existed_gets_its_old_body_back(tmp_path, manifest):
    config = tmp_path / "config"
    config.write_text("[profile silvereye]\nregion = old\n")
    place_ini_section(manifest, config, "profile silvereye", "region = new\n", "credentials")
    assert config.read_text() == "[profile silvereye]\nregion = new\n"
    _undo_section(manifest.find("ini-section", f"{config}\0profile silvereye"))
    assert config.read_text() == "[profile silvereye]\nregion = old\n"


def test_a_credentials_file_silvereye_created_goes_with_its_section(tmp_path, manifest):
    creds = tmp_path / "home" / ".aws" / "credentials"
    changes = place_ini_section(manifest, creds, "silvereye", "aws_access_key_id = AKIA\n", "credentials")
    assert changes[-1] == f"wrote [silvereye] in {creds}"
    assert mode_of(creds) == 0o600 and mode_of(creds.parent) == 0o700
    assert _undo_section(manifest.find("ini-section", f"{creds}\0silvereye")) == [f"removed {creds}"]


def test_lines_are_added_once_and_taken_out_again(tmp_path, manifest):
    known = tmp_path / "known_hosts"
    known.write_text("other.example ssh-ed25519 AAAA\n")
    line = "[127.0.0.1]:2222 ssh-ed25519 BBBB"
    assert add_line(manifest, known, line, "node add") == [f"added a line to {known}"]
    assert add_line(manifest, known, line, "node add") == []
    assert known.read_text() == f"other.example ssh-ed25519 AAAA\n{line}\n"
    assert manifest.find("line", f"{known}\0{line}")["existed"] is False
    assert remove_line(known, line) is True and remove_line(known, line) is False
    assert known.read_text() == "other.example ssh-ed25519 AAAA\n"


def test_directories_record_whether_they_existed(tmp_path, manifest):
    (tmp_path / "had").mkdir()
    (tmp_path / "had" / "theirs").write_text("")
    assert ensure_dir(manifest, tmp_path / "had", "x") == []
    assert manifest.find("dir", str(tmp_path / "had")) == {
        "kind": "dir", "path": str(tmp_path / "had"), "step": "x", "existed": True, "preexisting": ["theirs"]}
    assert ensure_dir(manifest, tmp_path / "new" / "sub", "x", mode=0o700) == [f"created {tmp_path / 'new' / 'sub'}"]
    assert mode_of(tmp_path / "new" / "sub") == 0o700


def test_the_manifest_keeps_first_known_facts_and_round_trips(tmp_path, manifest):
    manifest.record({"kind": "file", "path": "/etc/x", "sha256": "1", "existed": False})
    manifest.record({"kind": "file", "path": "/etc/x", "sha256": "2", "existed": True, "backup": "/b"})
    assert manifest.entries == [{"kind": "file", "path": "/etc/x", "sha256": "2", "existed": False}]
    manifest.role = "ciab"
    manifest.save()
    again = Manifest.load(manifest.path)
    assert again.entries == manifest.entries and again.role == "ciab" and again.created


def test_an_unreadable_manifest_is_one_line(tmp_path):
    bad = tmp_path / "manifest.json"
    bad.write_text("{not json")
    with pytest.raises(ManifestError, match=r"cannot be read .*move it aside"):
        Manifest.load(bad)
    assert Manifest.load(tmp_path / "absent.json") is None
