"""Fixtures every test directory may use."""

from tests.fixtures.sshd import sshd  # noqa: F401  (a real OpenSSH sshd on 127.0.0.1)
