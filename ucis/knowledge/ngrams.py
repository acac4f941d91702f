"""Tokens for Chinese full-text search: overlapping character bigrams (二元切分).

Chinese is written without spaces and most words are two characters long (停水, 缴费, 水表), so
PostgreSQL's word parser sees a whole sentence as one "word" and pg_trgm's 3-grams miss 2-character
words. Instead every run of CJK characters becomes its overlapping bigrams (计划停水 → 计划 划停
停水); a lone CJK character stays a unigram; Latin words and numbers stay whole (IC卡 → ic 卡).
The token string is indexed as ``to_tsvector('simple', tokens)``: a query's bigrams then match
any text that contains the same two characters side by side, whatever the word boundaries.

Pure: no Django. ``highlight`` returns HTML-escaped text with ``<mark>`` around matched characters.
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Particles and question words: they say how something is asked, not what. A query whose bigrams do
# not all match falls back to any-bigram ranking, where these would only add noise (怎么, 了怎 …).
PARTICLES = frozenset("了吗呢吧啊呀的么嘛哦")
QUESTION_BIGRAMS = frozenset({
    "怎么", "如何", "什么", "为什", "为啥", "哪里", "哪儿", "哪些", "可以", "能否", "是否", "请问", "一下",
    "我家", "我的", "应该", "需要", "多少", "怎样", "能不", "不能", "办理",
})


def is_cjk(ch: str) -> bool:
    """A Han character (CJK unified ideographs, extensions and compatibility ideographs)."""
    code = ord(ch)
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF
            or 0x20000 <= code <= 0x3134F)


def _fold(ch: str) -> str:
    """One character normalised (NFKC, lower-case); characters that expand keep their original."""
    folded = unicodedata.normalize("NFKC", ch).lower()
    return folded if len(folded) == 1 else ch.lower() if len(ch.lower()) == 1 else ch


def normalise(text: str) -> str:
    """NFKC, lower-case, every character that is not a letter, digit or CJK (punctuation, full-width
    。，？！、 …, symbols) replaced by a space."""
    folded = unicodedata.normalize("NFKC", text or "").lower()
    return "".join(ch if ch.isalnum() or is_cjk(ch) else " " for ch in folded)


@dataclass(frozen=True)
class Run:
    text: str
    cjk: bool


def runs(text: str) -> list[Run]:
    """The normalised text cut into runs of CJK characters and runs of other letters/digits."""
    out: list[Run] = []
    current: list[str] = []
    kind: bool | None = None
    for ch in normalise(text):
        if ch == " ":
            if current:
                out.append(Run("".join(current), bool(kind)))
            current, kind = [], None
            continue
        cjk = is_cjk(ch)
        if current and cjk != kind:
            out.append(Run("".join(current), bool(kind)))
            current = []
        current.append(ch)
        kind = cjk
    if current:
        out.append(Run("".join(current), bool(kind)))
    return out


def bigrams(run: str) -> list[str]:
    """Overlapping bigrams of a CJK run; a single character stays a unigram."""
    if len(run) < 2:
        return [run] if run else []
    return [run[i:i + 2] for i in range(len(run) - 1)]


def tokens(text: str) -> list[str]:
    """Search tokens of ``text`` in order (repeats kept: they count for ranking)."""
    out: list[str] = []
    for run in runs(text):
        out.extend(bigrams(run.text) if run.cjk else [run.text])
    return out


def token_string(text: str) -> str:
    """The tokens joined by spaces: what ``to_tsvector('simple', …)`` indexes."""
    return " ".join(tokens(text))


@dataclass(frozen=True)
class Query:
    """A search text as tsquery operands: ``all_terms`` must all match (AND); ``any_terms`` are
    the bigrams that carry meaning, for the fall-back ranking (OR). The last term is a prefix
    (``:*``) when it is a lone character or a Latin word, so typing 停 already finds 停水."""

    all_terms: tuple[str, ...]
    any_terms: tuple[str, ...]
    words: tuple[str, ...]  # the plain tokens, for highlighting

    @property
    def empty(self) -> bool:
        return not self.all_terms

    def tsquery_all(self) -> str:
        return " & ".join(self.all_terms)

    def tsquery_any(self) -> str:
        return " | ".join(self.any_terms)


def _meaningful(token: str) -> bool:
    return token not in QUESTION_BIGRAMS and not any(ch in PARTICLES for ch in token)


def parse_query(text: str) -> Query:
    """The query's tokens, de-duplicated in order, as AND and OR operands (see ``Query``)."""
    seen: dict[str, None] = {}
    parsed = runs(text)
    for run in parsed:
        for tok in (bigrams(run.text) if run.cjk else [run.text]):
            seen.setdefault(tok, None)
    words = tuple(seen)
    if not words:
        return Query((), (), ())
    last = parsed[-1]
    prefix_last = not last.cjk or len(last.text) == 1
    terms = [f"{w}:*" if prefix_last and w == words[-1] else w for w in words]
    meaningful = [t for t, w in zip(terms, words, strict=True) if _meaningful(w)]
    return Query(tuple(terms), tuple(meaningful or terms), words)


def _marks(folded: str, words: Iterable[str]) -> list[bool]:
    marked = [False] * len(folded)
    for word in words:
        if not word:
            continue
        start = folded.find(word)
        while start != -1:
            for i in range(start, start + len(word)):
                marked[i] = True
            start = folded.find(word, start + 1)
    return marked


def _render(text: str, marked: Sequence[bool]) -> str:
    parts: list[str] = []
    i = 0
    while i < len(text):
        j = i
        while j < len(text) and marked[j] == marked[i]:
            j += 1
        chunk = html.escape(text[i:j])
        parts.append(f"<mark>{chunk}</mark>" if marked[i] else chunk)
        i = j
    return "".join(parts)


def highlight(text: str, words: Iterable[str], *, width: int = 0) -> str:
    """``text`` HTML-escaped with ``<mark>`` around every occurrence of ``words`` (tokens from
    ``tokens``/``parse_query``). With ``width``, only an excerpt of about that many characters around
    the first match (or the start), with … where it is cut."""
    text = text or ""
    folded = "".join(_fold(ch) for ch in text)  # same length as text, character for character
    marked = _marks(folded, words)
    if width and len(text) > width:
        first = marked.index(True) if True in marked else 0
        start = max(0, min(first - width // 4, len(text) - width))
        end = min(len(text), start + width)
        body = _render(text[start:end], marked[start:end])
        return ("…" if start else "") + body + ("…" if end < len(text) else "")
    return _render(text, marked)
