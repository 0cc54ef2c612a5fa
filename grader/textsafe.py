"""Student text made harmless in the files and terminals people open.

Student ids (folder and file names), exception messages, printed output and hints reach the
terminal, Markdown feedback, the gradebook and JUnit files. Here each output gets the form of
that text that cannot act on it: control characters shown as visible escapes (a terminal never
receives an ESC from a student), a one-line field kept on one line, a Markdown fence the text
cannot close, a spreadsheet cell that cannot start a formula or a workflow command, and text that
XML 1.0 accepts.
Honest text passes through unchanged.
"""

from __future__ import annotations

import re

from grader.reporters.workflow_commands import neutralise

# C0 controls but newline and tab, DEL, C1 controls, and surrogates (a Python str holds one only
# when it is lone, e.g. an undecodable byte of a file name).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_NONCHARACTER = re.compile("[\ufffe\uffff]")  # not controls, but XML 1.0 forbids them too
_BACKTICKS = re.compile("`+")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")  # OWASP, and full-width forms


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """``text`` with every control character (but newline and tab) and lone surrogate written as a
    visible escape (ESC becomes ``\\x1b``); a Windows line end becomes a newline."""
    return _CONTROL.sub(_escape, text.replace("\r\n", "\n"))


def one_line(text: str) -> str:
    """``visible(text)`` with its newlines escaped too: for fields that are one line by design (an
    id, a file name, a warning), so that they cannot start a line of their own."""
    return visible(text).replace("\n", "\\n")


def fence(text: str) -> str:
    """A Markdown code fence that ``text`` cannot close: longer than any run of backticks in it
    (CommonMark closes a fence only with a run at least as long), and at least three."""
    return "`" * max(3, 1 + max((len(run) for run in _BACKTICKS.findall(text)), default=0))


def csv_cell(text: str) -> str:
    """A spreadsheet cell showing ``text`` as text: on one line (``one_line``), forming no workflow
    command (``workflow_commands.neutralise``: a CI step may print the file), and with a leading quote
    when it would start with a formula character (OWASP's advice on CSV injection)."""
    shown = neutralise(one_line(text))
    return f"'{shown}" if shown.startswith(FORMULA_STARTS) else shown


def xml_text(text: str) -> str:
    """``visible(text)`` with the noncharacters U+FFFE and U+FFFF escaped too: only characters
    XML 1.0 allows remain."""
    return _NONCHARACTER.sub(_escape, visible(text))
