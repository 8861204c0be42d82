"""A keyed blind index of children's names: the case list is searched by name, and no name
is kept there in clear.

Each word of a name (accents and case set aside: ``Zawadi-Kuvuka`` → ``zawadi``, ``kuvuka``)
is kept as a keyed hash (HMAC-SHA256 under a key derived from the master key, truncated to
128 bits); a search hashes its words the same way and finds the rows holding them all. Whoever
reads the list without the master key can neither read a name nor test a guess; equal words
have equal hashes, which is what makes the search work. The hashes go with the row: when a
case is erased its row is deleted, and its name can no longer be found.
"""

import hashlib
import hmac
import re
import unicodedata

INDEX_PURPOSE = "intake-case-list-names"
WORD = re.compile(r"\w+")
MOST_WORDS = 10


def name_words(name: str) -> list[str]:
    """The words a name is found by: without accents, case-folded, in order, once each."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    return list(dict.fromkeys(WORD.findall(plain.casefold())))[:MOST_WORDS]


class NameIndex:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def hashes(self, name: str) -> list[str]:
        """One keyed hash per word of ``name``."""
        return [
            hmac.new(self._key, word.encode(), hashlib.sha256).hexdigest()[:32]
            for word in name_words(name)
        ]

    def column(self, name: str) -> str:
        """What the list keeps for a name: its words' hashes, each between spaces."""
        return f" {' '.join(self.hashes(name))} "
