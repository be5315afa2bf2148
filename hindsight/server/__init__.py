"""`hindsight serve`: osquery's TLS remote API with durable ingest, and the query API.

Layout of the server's files in the data directory (DATA/serve/):

- config.json     the file the user edits: enroll secret and the osquery config sent to hosts
- state.sqlite    enrolled nodes, check-ins, status logs, API tokens, live queries
- journal/        acknowledged result lines, fsync'd before the acknowledgement
- cert.pem/key.pem the certificate made on first start when none is given
"""

from __future__ import annotations

from pathlib import Path


def serve_dir(data: Path) -> Path:
    """The server's own directory inside a data directory."""
    return Path(data) / "serve"
