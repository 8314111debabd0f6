"""Fixtures: every test runs against both modes, the embedded engine
(`omnex.Omnex`) and a real `omnex serve` through `omnex.Client`."""

import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest

import omnex

ROOT = Path(__file__).resolve().parents[2]
OMNEX_BIN = os.environ.get("OMNEX_BIN", str(ROOT / "target/debug/omnex"))


def pytest_configure(config):
    # The suite must test the installed wheel, not a source tree on sys.path.
    assert "site-packages" in omnex.__file__, f"omnex imported from {omnex.__file__}, not an installed wheel"


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """A real `omnex serve` on an ephemeral port; yields its base URL."""
    data = tmp_path_factory.mktemp("server-data")
    proc = subprocess.Popen(
        [OMNEX_BIN, "serve", "--data-dir", str(data), "--addr", "127.0.0.1:0", "--api-key", "py-test-key"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "OMNEX_LOG": "warn"},
        text=True,
    )
    line = proc.stdout.readline()
    match = re.search(r"http://[\d.]+:\d+", line)
    assert match, f"unexpected first line from omnex serve: {line!r}"
    yield match.group(0)
    proc.terminate()
    assert proc.wait(timeout=30) == 0


@pytest.fixture(scope="session")
def embedded(tmp_path_factory):
    return omnex.Omnex(str(tmp_path_factory.mktemp("embedded-data")))


@pytest.fixture(params=["embedded", "remote"])
def db(request, embedded):
    if request.param == "embedded":
        return embedded
    return omnex.Client(request.getfixturevalue("server"), api_key="py-test-key")


@pytest.fixture(params=["embedded", "remote"])
def adb(request, tmp_path):
    if request.param == "embedded":
        return omnex.AsyncOmnex(str(tmp_path / "async-data"))
    return omnex.AsyncClient(request.getfixturevalue("server"), api_key="py-test-key")


@pytest.fixture
def ns():
    """A namespace of its own for each test."""
    return "t-" + uuid.uuid4().hex[:12]
