"""What `hindsight serve` checks before it says it is ready: that its certificate and key load
(and match), and that it can listen on its address, so a mistake is one clear line, not a
"ready" banner followed by a traceback."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

from hindsight.errors import InputError


def check_tls(cert: Path, key: Path) -> None:
    """CERT and KEY load as a pair; InputError naming them otherwise."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        reason = exc.reason or str(exc)
        hint = " (the key is not the certificate's)" if "KEY_VALUES_MISMATCH" in reason else ""
        raise InputError(
            f"cannot use --cert {cert} with --key {key}: {reason.lower()}{hint}"
        ) from None
    except OSError as exc:
        raise InputError(f"cannot read --cert {cert} or --key {key}: {exc.strerror}") from None


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to HOST:PORT (as uvicorn would bind it), handed to the server; InputError
    when the address is in use or not this machine's."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        reason = (exc.strerror or str(exc)).lower()
        raise InputError(f"cannot listen on {host}:{port}: {reason}") from None
    sock.set_inheritable(True)
    return sock
