"""No workflow command forged by student text in what a GitHub Actions runner reads.

The runner takes a line of a step's stdout or stderr as a command when, after leading whitespace,
it starts with ``::`` (``::error title=...::message``), and, in the legacy form, when ``##[``
appears anywhere in it (``##[error]message``, ``##[stop-commands]token``). The outputs of ``check``
and ``grade`` carry student text (folder names, messages, printed output), so every such line
start and every ``##[`` in them is broken here, in a way each format keeps readable: a backslash
in text and Markdown, a character reference in XML, a ``\\u`` escape in JSON (where the value
read back is unchanged). The annotations autograde emits itself are not passed through this.
"""

from __future__ import annotations

import re

# A line start, then whitespace (what the runner's TrimStart skips) or invisible format characters,
# then the first colon of "::".
_LINE_COMMAND = re.compile("((?:^|(?<=\r))(?:[^\\S\r\n]|[\u200b-\u200f\u2060-\u2064\ufeff])*):(?=:)", re.M)
_LEGACY_COMMAND = "##["
STYLES = {  # the format: what replaces the first ":" of a leading "::", and the "[" of "##["
    "text": ("\\:", "\\["),
    "xml": ("&#58;", "&#91;"),
    "json": ("\\u003a", "\\u005b"),
}


def neutralise(text: str, style: str = "text") -> str:
    """``text`` with no line that the runner would take for a workflow command, written in
    ``style`` (``text``, also for Markdown; ``xml``; ``json``)."""
    colon, bracket = STYLES[style]
    guarded = _LINE_COMMAND.sub(lambda match: match.group(1) + colon, text)
    return guarded.replace(_LEGACY_COMMAND, "##" + bracket)
