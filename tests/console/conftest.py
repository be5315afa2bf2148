"""A real `hindsight serve` on localhost, loaded with a small simulated fleet, two console users,
and Debian's chromium driven by Playwright (through its executable path: nothing is downloaded)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

import hindsight
from hindsight.sim import SimConfig, simulate
from tests.server.serverproc import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("HINDSIGHT_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "console"
ADMIN, ADMIN_PASSWORD = "alice", "correct horse battery"
VIEWER, VIEWER_PASSWORD = "victor", "viewer password 1"


@dataclass
class Console:
    server: ServerProcess
    data: Path
    fleet: Path
    manifest: dict[str, Any]

    @property
    def url(self) -> str:
        return self.server.url + "/console"

    def moment(self, kind: str) -> dict[str, Any]:
        return next(m for m in self.manifest["moments"] if m["kind"] == kind)


def _hindsight(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from hindsight.cli import main; main()", *args],
                          input=stdin, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture(scope="package")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    root = tmp_path_factory.mktemp("console")
    fleet, data = root / "fleet", root / "data"
    simulate(SimConfig(hosts=20, days=1, out=fleet, seed=3))
    with hindsight.open(data) as hs:
        assert hs.ingest([fleet / "hosts", fleet / "late"]).rejected == 0
    # the admin types the password at the prompt (twice); the viewer's is given as an option
    made = _hindsight("user", "add", ADMIN, "--role", "admin", "--data", str(data),
                      stdin=f"{ADMIN_PASSWORD}\n{ADMIN_PASSWORD}\n")
    assert made.returncode == 0, made.stderr
    made = _hindsight("user", "add", VIEWER, "--role", "viewer", "--password", VIEWER_PASSWORD,
                      "--data", str(data))
    assert made.returncode == 0, made.stderr
    server = ServerProcess(data).start(timeout_s=60)
    try:
        yield Console(server, data, fleet, orjson.loads((fleet / "manifest.json").read_bytes()))
    finally:
        server.kill()


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium is needed (apt-get install -y chromium; tests/install-deps does it)"
    with sync_playwright() as p:
        found = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield found
        found.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1400, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    errors: list[str] = []  # script errors and refused resources (the CSP) fail the test
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" and _unexpected(msg.text) else None)
    yield tab
    context.close()
    assert errors == []


def _unexpected(text: str) -> bool:
    """Console errors a test does not cause on purpose (a 401/403/429 answer logs one)."""
    return not re.search(r"status of (401|403|429)", text)


def sign_in(page: Page, console: Console, name: str, password: str) -> None:
    page.goto(console.url + "/")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("form.login button[type=submit]")
    page.wait_for_load_state()


def shot(page: Page, name: str) -> Path:
    """A screenshot kept as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
