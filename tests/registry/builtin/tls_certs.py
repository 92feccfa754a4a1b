"""Test certificates for the TLS tests of the built-in actions."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def make_cert(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for ``name`` (``DNS:x`` or ``IP:x``), made by the openssl
    command; skips the test when there is none."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
         "-subj", "/CN=flowpin-test", "-addext", f"subjectAltName={name}"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key
