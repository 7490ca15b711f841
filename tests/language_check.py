"""Finding English catalogue texts left in a text meant to be Vietnamese.

Used by the unit tests (alert texts, status-page words, the report) and by the
end-to-end test that reads the CLI, the pages and the notifications of a
daemon with ``language = "vi"``.
"""

from __future__ import annotations

import re

from monitor.i18n import _TEXTS

# ``{name}`` and ``{name:02d}``: the parts of a text filled in per use.
_FIELD = re.compile(r"\{[a-z_]+(?::[^}]*)?\}")


def english_left(text: str, families: tuple[str, ...] = ("",)) -> list[str]:
    """English catalogue texts (of keys starting with one of ``families``) in ``text``.

    Whole words, any case; the fields of a text match anything. Texts that are
    the same in both languages (``MTTR``, ``{replies_text}, {rtt_text}``) and
    texts whose fixed part has fewer than four letters (``OK``, ``{n}d``) are
    not looked for: they cannot tell one language from the other.
    """
    found = []
    for key, (english, vietnamese) in _TEXTS.items():
        fixed = re.sub(r"\W", "", _FIELD.sub("", english))
        if not key.startswith(families) or english in vietnamese or len(fixed) < 4:
            continue
        parts = [re.escape(part.strip()) for part in _FIELD.split(english.strip())]
        pattern = r".*?".join(part for part in parts if part)
        # Not inside a name either: "site" is no word of its own in "old-site", nor
        # is the label name in the matcher "target=cong-dong".
        if re.search(r"(?<![\w-])" + pattern + r"(?![\w=-])", text, re.IGNORECASE):
            found.append(f"{key}: {english}")
    return found


def visible_text(html: str) -> str:
    """What a person reads of an HTML page: no tags, styles or scripts (the
    page script's JSON carries the texts of every language key, not shown)."""
    text = re.sub(r"<(style|script)\b.*?</\1>", " ", html, flags=re.S | re.I)
    text = re.sub(r"<[^>]+>", " ", text)
    return re.sub(r"&[a-z]+;|&#\d+;", " ", text)
