"""Text from hosts and users shown on a terminal exactly as it is.

Rich reads `[bold]` and `:smile:` in plain strings as markup and emoji, and a terminal obeys
escape sequences: a host's cmdline `grep '[a-z]+' /var/log/[bold]x` would be shown without its
brackets, `[/]` would crash the command, and ESC sequences could rewrite the screen. Every value
and every message holding user or host text goes through `literal`: a rich Text (never read as
markup) whose control characters are shown escaped (`\\x1b`, `\\n`, `\\u202e`).
"""

from __future__ import annotations

import re

from rich.text import Text

#: C0 and C1 controls, DEL, and the bidirectional overrides and isolates that reorder text
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    """TEXT with every control character written as its Python escape."""
    return _INVISIBLE.sub(_escape, text)


_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    if match[0] in _SHORT:
        return _SHORT[match[0]]
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def literal(text: str, style: str = "") -> Text:
    """TEXT to print literally: no markup, no emoji, control characters made visible."""
    return Text(visible(text), style=style)
