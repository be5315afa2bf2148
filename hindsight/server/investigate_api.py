"""The investigations in the query API: who, usb, enrich, timeline and diff, one route each.

Each route calls `hindsight.investigate` in the store process (`investigate.<name>`), with the
same arguments as the command line; answers carry their freshness and uncertainty columns.
"""

from __future__ import annotations

from hindsight.api import Result
from hindsight.server.core import Core
from hindsight.server.query_api import AT, ApiRoute, Handler, Param, Params, register

SINCE = Param(
    "from", "start of the window: ISO 8601, unix seconds or relative like 2d ago", kind="instant"
)
UNTIL = Param(
    "to", "end of the window: ISO 8601, unix seconds or relative like 2d ago", kind="instant"
)
UID_MAX = 2**32 - 1
ONE_HOST = Param("host", "host uuid or identifier", required=True)


def _call(name: str, *names: str) -> Handler:
    """A handler passing the named parameters, in order, to `investigate.<name>`."""

    def handler(core: Core, p: Params) -> Result:
        args = [int(p[n]) if n == "uid" else p.get(n) for n in names]
        result: Result = core.store.call(f"investigate.{name}", *args)
        return result

    return handler


TAGS = ("investigations",)

INVESTIGATION_ROUTES = [
    ApiRoute(
        "/who/ip",
        "The host(s) that had an address (or an address in a CIDR range) at an instant",
        _call("who_ip", "address", "at"),
        (Param("address", "IPv4/IPv6 address or CIDR range", required=True), AT),
        TAGS,
    ),
    ApiRoute(
        "/who/uid",
        "The account behind a uid on a host at an instant, and its holders before and after",
        _call("who_uid", "uid", "host", "at"),
        (
            Param(
                "uid", "numeric user id", required=True, kind="integer", minimum=0, maximum=UID_MAX
            ),
            ONE_HOST,
            AT,
        ),
        TAGS,
    ),
    ApiRoute(
        "/who/mount",
        "The mount behind a path on a host at an instant, and the USB device behind it",
        _call("who_mount", "path", "host", "at"),
        (Param("path", "a file or directory path", required=True), ONE_HOST, AT),
        TAGS,
    ),
    ApiRoute(
        "/usb",
        "Every host and interval a USB device was attached, its mounts and file events",
        _call("usb", "serial"),
        (Param("serial", "the device's serial number", required=True),),
        TAGS,
    ),
    ApiRoute(
        "/enrich",
        "Events of an event query, each joined with its host's state as of its own time",
        _call("enrich", "query", "from", "to", "host"),
        (
            Param("query", "event query name", required=True),
            SINCE,
            UNTIL,
            Param("host", "host uuid or identifier"),
        ),
        TAGS,
    ),
    ApiRoute(
        "/timeline/ip",
        "Every host that had an address, in time order, with the gaps",
        _call("timeline_ip", "address", "from", "to"),
        (Param("address", "address or CIDR range", required=True), SINCE, UNTIL),
        TAGS,
    ),
    ApiRoute(
        "/timeline/user",
        "The accounts named NAME on every host and their login sessions",
        _call("timeline_user", "name", "from", "to"),
        (Param("name", "user name", required=True), SINCE, UNTIL),
        TAGS,
    ),
    ApiRoute(
        "/timeline/host",
        "Every interval of a host's state (or one query's), with the spans it was silent",
        _call("timeline_host", "host", "query", "from", "to"),
        (ONE_HOST, Param("query", "query name"), SINCE, UNTIL),
        TAGS,
    ),
    ApiRoute(
        "/diff",
        "Rows of a query on a host added and removed between two instants",
        _call("diff", "query", "host", "from", "to"),
        (
            Param("query", "query name", required=True),
            ONE_HOST,
            Param("from", "first instant", required=True, kind="instant"),
            Param("to", "second instant", required=True, kind="instant"),
        ),
        TAGS,
    ),
]

for _route in INVESTIGATION_ROUTES:
    register(_route)
