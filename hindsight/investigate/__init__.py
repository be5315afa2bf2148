"""Investigations: the questions an incident responder asks, one call each, every answer with
its freshness and the windows in which its edges happened (see `evidence`).

    with hindsight.open("hindsight-data") as hs:
        hs.investigate.who_ip("10.20.0.120", at="2026-11-01T14:03:00Z").dicts()
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hindsight.investigate import usb as usb_mod
from hindsight.investigate import who
from hindsight.investigate.base import Base
from hindsight.timeparse import parse_time

if TYPE_CHECKING:
    from hindsight.api import Result, Time

__all__ = ["Investigator"]


class Investigator(Base):
    """Investigations over one open store (`Hindsight.investigate`)."""

    def who_ip(self, address: str, at: Time = None) -> Result:
        """Host(s) that had ADDRESS (or an address in a CIDR range) at AT."""
        return who.who_ip(self, address, parse_time(at))

    def who_uid(self, uid: int, host: str, at: Time = None) -> Result:
        """The account behind UID on HOST at AT, and those holding it before and after."""
        return who.who_uid(self, uid, host, parse_time(at))

    def who_mount(self, path: str, host: str, at: Time = None) -> Result:
        """The mount behind PATH on HOST at AT, its device and the USB device behind it."""
        return who.who_mount(self, path, host, parse_time(at))

    def usb(self, serial: str) -> Result:
        """Every host and interval the USB device SERIAL was attached, its mounts, and the file
        events under them while mounted."""
        return usb_mod.usb(self, serial)
