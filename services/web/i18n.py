"""The forms' languages: one gettext catalogue per language, as a ``.po`` file.

English is the source (the ``msgid``s); every other language is a file
``locale/<code>/LC_MESSAGES/messages.po``, found when the forms start and compiled in memory
with Babel, so there is no build step and no compiled ``.mo`` to keep in step: adding a
language is adding its file. The writing direction comes from the language's own locale data
(Arabic: right-to-left), as do the formats of dates and numbers.
"""

from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from io import BytesIO
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).parent / "locale"
SOURCE_LANGUAGE = "en"
LANGUAGE_COOKIE = "hw_lang"


@dataclass(frozen=True)
class Language:
    code: str
    name: str  # in the language itself: how a reader recognises it
    direction: str  # "ltr" or "rtl"
    translations: NullTranslations

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    def date(self, value: date | None) -> str:
        return "" if value is None else format_date(value, "medium", locale=self.code)

    def datetime(self, value: datetime | None) -> str:
        return "" if value is None else format_datetime(value, "medium", locale=self.code)

    def number(self, value: float | None) -> str:
        return "" if value is None else format_decimal(value, locale=self.code)


def _compiled(po_file: Path) -> Translations:
    with po_file.open("rb") as source:
        catalogue = read_po(source)
    compiled = BytesIO()
    write_mo(compiled, catalogue)
    compiled.seek(0)
    return Translations(compiled)


def _language(code: str, translations: NullTranslations) -> Language:
    locale = Locale.parse(code)
    direction = "rtl" if locale.character_order == "right-to-left" else "ltr"
    return Language(code, locale.get_display_name(locale) or code, direction, translations)


@cache
def languages() -> dict[str, Language]:
    """English and every language with a catalogue, by code."""
    found = {SOURCE_LANGUAGE: _language(SOURCE_LANGUAGE, NullTranslations())}
    for po_file in sorted(LOCALE_DIR.glob("*/LC_MESSAGES/messages.po")):
        code = po_file.parent.parent.name
        found[code] = _language(code, _compiled(po_file))
    return found


def language_of(cookie: str | None, accept_language: str | None) -> Language:
    """The language the user chose (its cookie), else the first their browser asks for that
    the forms have, else English."""
    known = languages()
    if cookie in known:
        return known[cookie]
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().split("-")[0].lower()
        if code in known:
            return known[code]
    return known[SOURCE_LANGUAGE]
