"""The real server, as a subprocess on a free localhost port (HTTPS, its own certificate)."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServerProcess:
    def __init__(
        self,
        data: Path,
        port: int | None = None,
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
        cert: Path | None = None,
        new_session: bool = False,
    ) -> None:
        self.new_session = new_session
        self.data = data
        self.args = args
        self._cert = cert
        self.port = port or free_port()
        self._port_chosen = port is None  # another may be picked if this one is taken
        # lines go to the store as each journal segment closes, unless a test sets the
        # gathering time (test_protocol checks it): tests wait for what they sent
        self.env = {**os.environ, "HINDSIGHT_SERVE_GATHER": "0", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data.parent / f"serve-{self.port}.log"

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def cert(self) -> str:
        return str(self._cert or self.data / "serve" / "cert.pem")

    @property
    def verify(self) -> ssl.SSLContext:
        """Trusts the server's own certificate, as osqueryd does with --tls_server_certs."""
        return ssl.create_default_context(cafile=self.cert)

    @property
    def secret(self) -> str:
        doc: dict[str, Any] = orjson.loads((self.data / "serve" / "config.json").read_bytes())
        return str(doc["enroll_secret"])

    def start(self, timeout_s: float = 30.0) -> ServerProcess:
        """Start the server; when the port picked for it was taken meanwhile (another test
        worker's server or client got it between free_port() and the bind), pick another."""
        for _ in range(3):
            try:
                return self._start(timeout_s)
            except RuntimeError as exc:
                if not (self._port_chosen and "address already in use" in str(exc).lower()):
                    raise
                self.port = free_port()
                self.log = self.data.parent / f"serve-{self.port}.log"
        return self._start(timeout_s)

    def _start(self, timeout_s: float) -> ServerProcess:
        code = "from hindsight.cli import main; main()"
        args = [
            sys.executable,
            "-c",
            code,
            "serve",
            "--data",
            str(self.data),
            "--listen",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--hostname",
            "localhost",
            *self.args,
        ]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=self.new_session,
            )
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.kill()
            raise
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.output()[-3000:]}")
            try:
                if (
                    httpx.get(self.url + "/healthz", verify=self.verify, timeout=1).status_code
                    == 200
                ):
                    return
            except (httpx.HTTPError, OSError, ssl.SSLError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start: {self.output()[-3000:]}")

    def stop(self, timeout_s: float = 120.0) -> int:
        """SIGTERM: the server ingests everything acknowledged, then exits."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout_s)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def output(self) -> str:
        return self.log.read_text(errors="replace")
