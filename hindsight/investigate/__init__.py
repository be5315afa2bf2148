"""Investigations: the questions an incident responder asks, one call each, every answer with
its freshness and the windows in which its edges happened (see `evidence`).

    with hindsight.open("hindsight-data") as hs:
        hs.investigate.who_ip("10.20.0.120", at="2026-11-01T14:03:00Z").dicts()
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hindsight.investigate import timeline, who
from hindsight.investigate import usb as usb_mod
from hindsight.investigate.base import Base, investigation
from hindsight.investigate.enrich import BUILTIN, Enrichment, EventFilter, enrich
from hindsight.timeparse import parse_time

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hindsight.api import Result, Time

__all__ = ["BUILTIN", "Enrichment", "Investigator"]


class Investigator(Base):
    """Investigations over one open store (`Hindsight.investigate`)."""

    @investigation
    def who_ip(self, address: str, at: Time = None) -> Result:
        """Host(s) that had ADDRESS (or an address in a CIDR range) at AT."""
        return who.who_ip(self, address, parse_time(at))

    @investigation
    def who_uid(self, uid: int, host: str, at: Time = None) -> Result:
        """The account behind UID on HOST at AT, and those holding it before and after."""
        return who.who_uid(self, uid, host, parse_time(at))

    @investigation
    def who_mount(self, path: str, host: str, at: Time = None) -> Result:
        """The mount behind PATH on HOST at AT, its device and the USB device behind it."""
        return who.who_mount(self, path, host, parse_time(at))

    @investigation
    def usb(self, serial: str) -> Result:
        """Every host and interval the USB device SERIAL was attached, its mounts, and the file
        events under them while mounted."""
        return usb_mod.usb(self, serial)

    @investigation
    def enrich(
        self,
        query: str,
        since: Time = None,
        until: Time = None,
        host: str | None = None,
        enrichments: Sequence[Enrichment] = BUILTIN,
    ) -> Result:
        """Events of QUERY, each joined with its host's state as of the event's own time."""
        return enrich(self, query, self.event_filter(since, until, host), enrichments)

    def event_filter(self, since: Time, until: Time, host: str | None) -> EventFilter:
        return EventFilter(
            None if since is None else parse_time(since),
            None if until is None else parse_time(until),
            self.host_ids(host),
        )

    @investigation
    def timeline_ip(self, address: str, since: Time = None, until: Time = None) -> Result:
        """Every host that had ADDRESS (or an address in a range), with the gaps."""
        return timeline.timeline_ip(self, address, _opt(since), _opt(until))

    @investigation
    def timeline_user(self, name: str, since: Time = None, until: Time = None) -> Result:
        """The accounts named NAME on every host and their login sessions."""
        return timeline.timeline_user(self, name, _opt(since), _opt(until))

    @investigation
    def timeline_host(
        self, host: str, query: str | None = None, since: Time = None, until: Time = None
    ) -> Result:
        """Every interval of HOST's state (or QUERY's), with the spans the host was silent."""
        return timeline.timeline_host(self, host, query, _opt(since), _opt(until))

    @investigation
    def diff(self, query: str, host: str, t1: Time, t2: Time) -> Result:
        """Rows of QUERY on HOST added and removed between T1 and T2."""
        return timeline.diff(self, query, host, parse_time(t1), parse_time(t2))


def _opt(value: Time) -> int | None:
    return None if value is None else parse_time(value)
