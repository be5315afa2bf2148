"""A host's machine: state evolving through timed operations, plus its event buffers."""

from __future__ import annotations

from .accounts import AccountOps
from .devices import DeviceOps
from .machine import DOMAINS, EVENT_TABLES, Event
from .netops import NetworkOps

__all__ = ["DOMAINS", "EVENT_TABLES", "Event", "World"]


class World(AccountOps, DeviceOps, NetworkOps):
    """Everything one simulated host is, and every operation that can happen to it."""
