"""The configuration file: defaults, overrides, and one-line errors for bad values."""

import pytest

from silvereye import config
from silvereye.errors import SilvereyeError


def write(tmp_path, text):
    p = tmp_path / "silvereye.yaml"
    p.write_text(text)
    return p


def test_no_file_means_defaults(monkeypatch):
    monkeypatch.delenv(config.ENV_VAR, raising=False)
    monkeypatch.setattr(config, "DEFAULT_PATH", config.Path("/nonexistent/silvereye.yaml"))
    cfg = config.load()
    assert cfg.api.port == 8773
    assert cfg.store_url == "sqlite:////var/lib/silvereye/silvereye.db"
    assert cfg.instances_path == config.Path("/var/lib/silvereye/instances")


def test_values_override_defaults(tmp_path):
    cfg = config.load(write(tmp_path, "data_dir: /srv/cloud\napi:\n  port: 9000\nnetwork:\n  public_range: 10.0.0.10-10.0.0.20\n"))
    assert cfg.api.port == 9000
    assert cfg.api.listen == "0.0.0.0"
    assert cfg.volumes_path == config.Path("/srv/cloud/volumes")
    assert config.parse_ip_range(cfg.network.public_range)[-1].exploded == "10.0.0.20"


def test_env_var_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv(config.ENV_VAR, str(write(tmp_path, "region: lab-1\n")))
    assert config.load().region == "lab-1"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("api:\n  port: eighty\n", "api.port: 'eighty' is not valid: expected an integer from 1 to 65535"),
        ("api:\n  port: 70000\n", "api.port: 70000 is not valid: expected a port number from 1 to 65535"),
        ("api:\n  prot: 1\n", "unknown key 'api.prot' (did you mean 'api.port'?)"),
        ("network:\n  subnet: 10.0.0.1/8\n", "network.subnet: '10.0.0.1/8' is not valid"),
        ("network:\n  public_range: 10.0.0.9-10.0.0.1\n", "network.public_range"),
        ("compute:\n  domain_type: xen\n", "expected one of 'auto', 'kvm', 'qemu'"),
        ("compute:\n  nodes:\n    - name: n1\n", "compute.nodes[0].uri is missing"),
        ("api:\n  tls: maybe\n", "api.tls: 'maybe' is not valid: expected true or false"),
        ("- a\n- b\n", "expected a mapping of settings at the top level"),
        ("api: [\n", "not valid YAML"),
        ("network:\n  metadata_port: 8773\n", "a port other than api.port"),
    ],
)
def test_bad_file_is_one_line_naming_the_key(tmp_path, text, fragment):
    with pytest.raises(SilvereyeError) as e:
        config.load(write(tmp_path, text))
    msg = str(e.value)
    assert fragment in msg
    assert "\n" not in msg


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(SilvereyeError, match="file not found"):
        config.load(tmp_path / "absent.yaml")


def test_every_setting_is_documented():
    rows = config.describe()
    assert len(rows) > 15
    assert all(doc for _, _, doc in rows), [k for k, _, d in rows if not d]
