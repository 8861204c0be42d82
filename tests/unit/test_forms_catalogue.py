"""The forms' catalogues: every language says everything any page shows, every form's labels,
choices, sections and hints, and every refusal of the services."""

import re
from datetime import date

import pytest
from babel.messages.pofile import read_po

from services.web.i18n import LOCALE_DIR, language_of, languages
from tests.formswords import needed

PLACEHOLDER = re.compile(r"\{\w+\}")


def test_the_languages_are_found_from_their_files_and_arabic_reads_right_to_left():
    found = languages()
    assert set(found) == {"en", "fr", "ar"}
    assert {code: found[code].direction for code in found} == {
        "en": "ltr",
        "fr": "ltr",
        "ar": "rtl",
    }
    assert {path.parent.parent.name for path in LOCALE_DIR.glob("*/LC_MESSAGES/*.po")} == {
        "fr",
        "ar",
    }


@pytest.mark.parametrize("code", ["fr", "ar"])
def test_every_word_of_every_page_and_form_is_translated_with_its_placeholders(code):
    with (LOCALE_DIR / code / "LC_MESSAGES" / "messages.po").open("rb") as po_file:
        catalogue = read_po(po_file)
    translated = {message.id for message in catalogue if message.id and message.string}
    assert sorted(needed() - translated) == []
    language = languages()[code]
    for msgid in needed():
        assert PLACEHOLDER.findall(language.gettext(msgid)) == PLACEHOLDER.findall(msgid)


def test_the_language_is_the_users_choice_then_the_browsers_then_english():
    assert language_of("ar", "fr-FR,fr;q=0.9").code == "ar"
    assert language_of(None, "fr-CD,fr;q=0.9,en;q=0.5").code == "fr"
    assert language_of("xx", "de-DE").code == "en"


def test_dates_and_numbers_are_written_the_way_each_language_writes_them():
    day = date(2026, 10, 3)
    assert languages()["en"].date(day) == "Oct 3, 2026"
    assert languages()["fr"].date(day) == "3 oct. 2026"
    assert languages()["fr"].number(12345) == "12\u202f345"


@pytest.mark.parametrize("code", ["fr", "ar"])
def test_no_msgid_is_written_twice_with_two_meanings(code):
    """Babel keeps the last of two entries for one msgid: the other page's word would read
    wrong without a test failing."""
    written = [
        line
        for line in (LOCALE_DIR / code / "LC_MESSAGES" / "messages.po").read_text().splitlines()
        if line.startswith('msgid "') and line != 'msgid ""'
    ]
    assert sorted({line for line in written if written.count(line) > 1}) == []
