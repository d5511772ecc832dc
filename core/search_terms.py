"""Search terms of encrypted text: normalised, split and hashed with a key of their own.

Message bodies and people's names are encrypted at rest, so a database search cannot look
inside them. Instead every text that search should find is cut into terms here, and each term
is stored as a keyed hash (HMAC-SHA256 under the blind-index key, purpose "search-term", cut to
64 bits) beside the row it came from; a typed query is cut and hashed the same way and matched
by equality. The table holds no plaintext; what it still tells someone who has the database
but not the key is in docs/security.md ("Search index").

How text becomes terms (the same for stored text and for what an agent types):
- NFKC, then case-folded: full-width "ＷＡＮＧ" and "wang" are one term; NUL and other control
  characters are dropped.
- Latin-script (and any non-CJK) letters and digits make words: "E101", "nozzle", "000006".
  Very common English words (STOP_WORDS) are not indexed and are dropped from queries: they
  would match nearly every ticket and tell nothing.
- A run of Chinese/Japanese/Korean characters makes overlapping pairs (bigrams): "王建国" is
  "王建" and "建国". A query of one such character can only match single characters, which
  are indexed for short fields alone (names, organisations, subjects: `unigrams=True`), never
  for message bodies, where they would double the index for a search nobody needs.
- A chunk with inner punctuation (an e-mail address, a serial number "LW-3000-0042", a dotted
  name "wang.jianguo") is also kept whole, so typing it whole matches it exactly; an e-mail
  address also gives its local part ("wang.jianguo").

Other apps register what to do when a row that feeds a search index changes
(`on_change`), and a rebuild for key rotation (`register_rebuilder`): core imports no app.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any

from core import crypto

PURPOSE = "search-term"

_CJK = (
    "\u3040-\u30ff"  # kana
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uf900-\ufaff"  # compatibility ideographs
    "\uac00-\ud7af"  # hangul syllables
    "\U00020000-\U0002ebef"  # extensions B-F
)
_TOKEN = re.compile(rf"(?P<cjk>[{_CJK}]+)|(?P<word>(?:(?![{_CJK}])[^\W_])+)")
# Chunks between spaces and CJK text; a chunk with inner punctuation is also kept whole.
_CHUNK = re.compile(rf"[^\s{_CJK}]+")
_EDGE = ".,;:!?()[]{}<>\"'`*~|\\/#=+-_&%$^"
_INNER = re.compile(r"[.\-@_/+:#]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# Longer words and chunks are not terms (hashes, base64, URLs): nobody types them.
MAX_WORD = 40
MAX_CHUNK = 80
# A query matches at most this many terms (the rest of a pasted paragraph is ignored).
MAX_QUERY_TERMS = 16

STOP_WORDS = frozenset(
    {
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have",
        "i", "in", "is", "it", "its", "of", "on", "or", "our", "so", "that", "the", "their",
        "there", "this", "to", "was", "we", "were", "will", "with", "you", "your",
    }
)  # fmt: skip


def normalise(text: str) -> str:
    """NFKC, case-folded, control characters (NUL included) turned into spaces."""
    return _CONTROL.sub(" ", unicodedata.normalize("NFKC", text or "")).casefold()


def _chunk_terms(chunk: str) -> list[str]:
    """The whole-chunk terms of a chunk with inner punctuation (and an address's local part)."""
    chunk = chunk.strip(_EDGE)
    if not chunk or len(chunk) > MAX_CHUNK or not _INNER.search(chunk):
        return []
    terms = [chunk]
    if "@" in chunk:
        local = chunk.split("@", 1)[0].strip(_EDGE)
        if local:
            terms.append(local)
    return terms


def terms(text: str, *, unigrams: bool = False) -> set[str]:
    """Every term of a stored text (normalised, not yet hashed)."""
    text = normalise(text)
    found: set[str] = set()
    for match in _TOKEN.finditer(text):
        word, cjk = match.group("word"), match.group("cjk")
        if word is not None:
            if len(word) <= MAX_WORD and word not in STOP_WORDS:
                found.add(word)
            continue
        found.update(cjk[i : i + 2] for i in range(len(cjk) - 1))
        if unigrams:
            found.update(cjk)
        elif len(cjk) == 1:
            # A lone character (between Latin words) has no pair: it stands alone.
            found.add(cjk)
    for chunk in _CHUNK.findall(text):
        found.update(_chunk_terms(chunk))
    return found


def query_terms(text: str) -> list[str]:
    """The terms a typed query requires, in order, each once (all must match).

    A chunk with inner punctuation is matched whole ("wang.jianguo", "lw-3000-0042"); other
    text by its words and CJK pairs; a single CJK character by itself.
    """
    text = normalise(text)
    wanted: list[str] = []
    for chunk in text.split():
        whole = _chunk_terms(chunk)
        if whole and not re.search(f"[{_CJK}]", chunk):
            wanted.append(whole[0])
            continue
        for match in _TOKEN.finditer(chunk):
            word, cjk = match.group("word"), match.group("cjk")
            if word is not None:
                if len(word) <= MAX_WORD and word not in STOP_WORDS:
                    wanted.append(word)
            elif len(cjk) == 1:
                wanted.append(cjk)
            else:
                wanted.extend(cjk[i : i + 2] for i in range(len(cjk) - 1))
    return list(dict.fromkeys(wanted))[:MAX_QUERY_TERMS]


def term_hash(term: str) -> int:
    """The stored form of a term: the first 64 bits of its keyed hash, as a signed integer.

    64 bits keep the index small (a bigint, not 64 hex characters); at a million distinct
    terms the chance that two collide is about 1 in 36 million, and a collision only adds a
    wrong candidate that the other terms of the query almost always rule out.
    """
    value = int(crypto.keyed_hash(PURPOSE, term)[:16], 16)
    return value - (1 << 64) if value >= 1 << 63 else value


def hashes(found: Iterable[str]) -> set[int]:
    return {term_hash(t) for t in found}


# Change hooks and rebuilders -----------------------------------------------------------------

_LISTENERS: dict[str, list[Callable[[list[Any]], None]]] = {}
_REBUILDERS: dict[str, Callable[..., Any]] = {}


def on_change(label: str, listener: Callable[[list[Any]], None]) -> None:
    """Call `listener(pks)` when rows of the model `label` ("accounts.User") that feed a
    search index change (a name, an e-mail, an organisation name, a serial number)."""
    if listener not in _LISTENERS.setdefault(label, []):
        _LISTENERS[label].append(listener)


def changed(label: str, pks: Iterable[Any]) -> None:
    """Tell the indexes that rows changed; called by the owning app's service, inside its
    transaction, so the index changes with the row or not at all."""
    pks = [pk for pk in pks if pk is not None]
    if not pks:
        return
    for listener in _LISTENERS.get(label, ()):
        listener(pks)


def register_rebuilder(name: str, rebuild: Callable[..., Any]) -> None:
    """A rebuild of one index (after the blind-index key changes): `rebuild(batch_size=,
    progress=)` rewrites every row's terms under the current key, batch by batch."""
    _REBUILDERS[name] = rebuild


def rebuilders() -> dict[str, Callable[..., Any]]:
    return dict(_REBUILDERS)
