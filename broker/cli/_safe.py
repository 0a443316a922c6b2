"""One way to show text someone else wrote on the central office's terminal (M6).

Citizens write subjects and descriptions, agencies write answers, follow-up reasons and error
texts: any of it may hold rich markup (``[bold]``, ``[link=…]``, a stray ``[/]`` that breaks the
whole table) or terminal control sequences (``ESC]0;…`` retitles the window, ``ESC]8;;…`` plants a
link, ``ESC[2J`` clears the screen). Every CLI command passes such text through `shown`.
"""

from __future__ import annotations

import re

from rich.markup import escape

_CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, clearing
    r"|\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC, DCS, SOS, PM, APC up to their terminator
    r"|\x1b.?"  # any other escape
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"  # C0 (tab, newline kept), C1, bidi overrides
)


def plain(value: object) -> str:
    """`value` as text without terminal control sequences, control characters or bidi overrides."""
    return _CONTROL.sub("", "" if value is None else str(value))


def shown(value: object) -> str:
    """`value` safe to put into rich output: control sequences stripped and markup escaped."""
    return escape(plain(value))
