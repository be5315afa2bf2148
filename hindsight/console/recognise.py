"""What the Ask box was given: an IP address or CIDR range, `uid@host`, `path@host`, or a word
(a host name, a user name or a USB serial, told apart by what the store knows)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from hindsight.errors import InputError

KINDS = ("auto", "ip", "uid", "mount", "usb", "host", "user")
_WINDOWS_PATH = re.compile(r"^[A-Za-z]:[\\/]")
_UID = re.compile(
    r"[0-9]{1,10}"
)  # ASCII digits: str.isdigit also takes superscripts, other scripts' digits


def is_uid(text: str) -> bool:
    return bool(_UID.fullmatch(text))


@dataclass(frozen=True)
class Question:
    """One recognised question: KIND of SUBJECT (on HOST for uid and mount)."""

    kind: str
    subject: str
    host: str | None = None


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def is_path(text: str) -> bool:
    return text.startswith("/") or bool(_WINDOWS_PATH.match(text))


def recognise(text: str, kind: str = "auto") -> Question:
    """The question TEXT asks. Words stay `word` (resolved against the store by the caller)."""
    text = text.strip()
    if not text:
        raise InputError(
            "type something to ask about: an IP, uid@host, path@host, a host, a user or a USB serial"
        )
    if kind not in KINDS:
        raise InputError(f"unknown question kind {kind!r} (expected one of {', '.join(KINDS)})")
    left, at_sign, right = text.rpartition("@")
    if kind in ("uid", "mount") or (
        kind == "auto" and at_sign and (is_uid(left) or is_path(left))
    ):
        return _on_host(text, left, right, at_sign, kind)
    if kind == "ip" or (kind == "auto" and _is_network(text)):
        if not _is_network(text):
            raise InputError(f"not an IP address or CIDR range: {text!r}")
        return Question("ip", text)
    if kind == "auto" and is_path(text):
        raise InputError(f"on which host? type the path as {text}@HOST")
    return Question("word" if kind == "auto" else kind, text)


def _on_host(text: str, left: str, right: str, at_sign: str, kind: str) -> Question:
    if not at_sign or not left or not right.strip():
        raise InputError(f"{text!r}: type it as uid@host or path@host (e.g. 1001@db-0004)")
    if kind == "uid" or (kind == "auto" and is_uid(left)):
        if not is_uid(left):
            raise InputError(f"{left!r} is not a uid (a whole number), in {text!r}")
        return Question("uid", left, right.strip())
    if not is_path(left):
        raise InputError(
            f"{left!r} is not a path (it starts with / or a drive letter), in {text!r}"
        )
    return Question("mount", left, right.strip())
