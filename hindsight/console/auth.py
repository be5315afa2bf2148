"""Console accounts and sessions, kept in DATA/serve/console.sqlite.

Passwords are hashed with argon2id (argon2-cffi). A session is a random id kept server-side
(hashed) with its user, its CSRF token and its expiry; the cookie carries the id signed with
the console's secret (DATA/serve/console.secret, made on first use, mode 0600). Logging out
deletes the session; an expired one is refused and deleted when next presented.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import secrets
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, Signer

from hindsight.errors import InputError

ROLES = ("viewer", "admin")
_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # longer ones are refused at sign-in before hashing (and never made)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users(
    name TEXT PRIMARY KEY, role TEXT NOT NULL, hash TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sessions(
    id_hash TEXT PRIMARY KEY, name TEXT NOT NULL, csrf TEXT NOT NULL,
    created REAL NOT NULL, expires REAL NOT NULL);
"""


@dataclass(frozen=True)
class Session:
    name: str
    role: str
    csrf: str
    expires: float

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class Lookup:
    """A cookie's session, or why there is none ('none', 'invalid', 'expired')."""

    session: Session | None
    reason: str = "none"


def _id_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def load_secret(path: Path) -> bytes:
    """The console's signing secret, made on first use (readable by its owner only)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


class Accounts:
    """Users and sessions of the console (thread-safe; one SQLite file)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "console.sqlite"
        self._con = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
        self._con.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._hasher = PasswordHasher()
        self.signer = Signer(load_secret(directory / "console.secret"), salt="hindsight-console")

    def close(self) -> None:
        self._con.close()

    # -- users ----------------------------------------------------------------------------------
    def add_user(self, name: str, role: str, password: str) -> None:
        if not could_be_user(name):
            raise InputError(f"user name {name!r}: use 1-64 letters, digits, _ . @ -")
        if role not in ROLES:
            raise InputError(f"role {role!r}: expected one of {', '.join(ROLES)}")
        if len(password) < MIN_PASSWORD:
            raise InputError(f"password too short: at least {MIN_PASSWORD} characters")
        if len(password) > MAX_PASSWORD:
            raise InputError(f"password too long: at most {MAX_PASSWORD} characters")
        with self._lock, self._con:
            if self._con.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise InputError(f"user {name!r} exists (hindsight user remove {name} first)")
            self._con.execute(
                "INSERT INTO users VALUES (?, ?, ?, ?)",
                (name, role, self._hasher.hash(password), time.time()),
            )

    def remove_user(self, name: str) -> bool:
        with self._lock, self._con:
            self._con.execute("DELETE FROM sessions WHERE name = ?", (name,))
            return self._con.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount > 0

    def users(self) -> list[tuple[str, str, float]]:
        with self._lock:
            rows = self._con.execute(
                "SELECT name, role, created FROM users ORDER BY name"
            ).fetchall()
        return [(str(n), str(r), float(c)) for n, r, c in rows]

    def verify(self, name: str, password: str) -> str | None:
        """The user's role when the password is right, else None (same work either way)."""
        with self._lock:
            row = self._con.execute(
                "SELECT role, hash FROM users WHERE name = ?", (name,)
            ).fetchone()
        stored = row[1] if row else _dummy_hash()
        try:
            self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        return str(row[0]) if row else None

    # -- sessions -------------------------------------------------------------------------------
    def open_session(self, name: str, ttl_s: float) -> tuple[str, Session]:
        """A new session for NAME: (cookie value, session)."""
        session_id, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(32), time.time()
        with self._lock, self._con:
            role = self._con.execute("SELECT role FROM users WHERE name = ?", (name,)).fetchone()
            if role is None:
                raise InputError(f"no user {name!r}")
            self._con.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                (_id_hash(session_id), name, csrf, now, now + ttl_s),
            )
            self._con.execute("DELETE FROM sessions WHERE expires < ?", (now - 86_400,))
        cookie = self.signer.sign(session_id.encode()).decode()
        return cookie, Session(name, str(role[0]), csrf, now + ttl_s)

    def session(self, cookie: str | None) -> Lookup:
        if not cookie:
            return Lookup(None)
        try:
            session_id = self.signer.unsign(cookie.encode()).decode()
        except BadSignature:
            return Lookup(None, "invalid")
        key = _id_hash(session_id)
        with self._lock:
            row = self._con.execute(
                "SELECT s.name, u.role, s.csrf, s.expires FROM sessions s JOIN users u USING (name) "
                "WHERE s.id_hash = ?",
                (key,),
            ).fetchone()
        if row is None:
            return Lookup(None, "invalid")
        if row[3] <= time.time():
            self.close_session(cookie)
            return Lookup(None, "expired")
        return Lookup(Session(str(row[0]), str(row[1]), str(row[2]), float(row[3])))

    def close_session(self, cookie: str | None) -> None:
        if not cookie:
            return
        try:
            session_id = self.signer.unsign(cookie.encode()).decode()
        except BadSignature:
            return
        with self._lock, self._con:
            self._con.execute("DELETE FROM sessions WHERE id_hash = ?", (_id_hash(session_id),))


class FailedSignIns:
    """Recent failed sign-ins per user name (any case), to pause a name after LIMIT failures
    within WINDOW_S. At most TRACKED names are kept: past it, names whose failures are older
    than the window go first, then the oldest names (the map never grows without bound)."""

    def __init__(self, limit: int, window_s: float, tracked: int) -> None:
        self.limit, self.window_s, self.tracked = limit, window_s, tracked
        self._names: dict[str, deque[float]] = {}

    def __len__(self) -> int:
        return len(self._names)

    def locked_out(self, name: str, now: float | None = None) -> bool:
        """Whether NAME had LIMIT failed sign-ins within the window."""
        now = time.time() if now is None else now
        key = name.lower()
        failures = self._names.get(key)
        while failures and now - failures[0] > self.window_s:
            failures.popleft()
        if failures is not None and not failures:
            del self._names[key]
            return False
        return failures is not None and len(failures) >= self.limit

    def add(self, name: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        key = name.lower()
        if key not in self._names and len(self._names) >= self.tracked:
            stale = [k for k, v in self._names.items() if not v or now - v[-1] > self.window_s]
            for k in stale:
                del self._names[k]
            while len(self._names) >= self.tracked:
                del self._names[next(iter(self._names))]
        self._names.setdefault(key, deque(maxlen=self.limit)).append(now)


def could_be_user(name: str) -> bool:
    """Whether NAME is one an account can have (1-64 letters, digits, _ . @ -)."""
    return bool(_NAME.fullmatch(name))


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against for unknown users, so they cost the same time."""
    return PasswordHasher().hash(secrets.token_hex(8))


def same(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two tokens (False when either is missing)."""
    return bool(a) and bool(b) and secrets.compare_digest(str(a), str(b))
