"""Text from outside (labels, annotations, Alertmanager payloads, silence comments) made safe to show.

Each format escapes its own markup at the place it is rendered (Slack mrkdwn: the `slack` filter; HTML:
autoescape; JSON: `tojson`). What is common to every format is here: no control characters (a newline in a
label could forge a line of an SMS or an email; an escape sequence could repaint a terminal), and links
only to http(s) pages (a `javascript:` runbook link, or one that breaks out of Slack's <url|label>, is dropped).
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_LINK_BREAKERS = re.compile(r"[\s<>|\"'`\\]")


def one_line(text: object) -> str:
    """Control characters and line breaks as spaces: for labels, names and one-line fields."""
    return _CONTROL.sub(" ", str(text)).replace("\n", " ").replace("\t", " ")


def plain(text: object) -> str:
    """Control characters as spaces, line breaks and tabs kept: for summaries and comments."""
    return _CONTROL.sub(" ", str(text))


def safe_link(url: object) -> str:
    """An http(s) URL with a host, or "" when it is anything else."""
    text = str(url or "").strip()
    if not re.match(r"^https?://[^/?#\s]+", text, re.IGNORECASE) or _LINK_BREAKERS.search(text) \
            or _CONTROL.search(text):
        return ""
    return text
