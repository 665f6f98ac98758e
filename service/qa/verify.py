"""Quote verification: keep a model's quote only if it is in the sources, at exact raw offsets.

The model writes quotes as “…” [n] (n = passage number). For each quote we look for it in the passage it
cites, then in the other retrieved passages, comparing text that differs only typographically: curly vs
straight quotes, dash variants, runs of whitespace, letter case (and a trailing full stop or comma that
English puts inside quotation marks). A match is mapped back to the raw span of the passage, and since a
passage is `file[passage.start:passage.end]`, the citation is `file[passage.start + i : passage.start + j]`
— the offset invariant holds for every citation we emit. The answer shows the raw span, not the model's
spelling of it. A quote found in another passage is re-attributed; a quote found nowhere is removed from
the answer and counted. Bare [n] markers not attached to a quote are removed (they point at passages,
and citation numbers in our answers point at verified quotes).

Sentences without quotes are left as written: judging unsupported prose is the eval suite's job.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from verbatim.service.qa.schemas import Citation, Passage

THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.S)
_CITE = r"\[\s*(?:passages?\s*)?\d+(?:\s*(?:,|;|and|&)\s*(?:passages?\s*)?\d+)*\s*\]"
QUOTE = re.compile(
    r"(?:“(?P<curly>[^“”]*)”|\"(?P<straight>(?:[^\"\n]|\n(?!\n))*)\"|«(?P<guillemet>[^«»]*)»)"
    rf"(?:(?P<gap>\s*[.,;:]?\s*)(?P<cites>{_CITE}(?:[ \t]*{_CITE})*))?"
)
BARE_CITE = re.compile(rf"[ \t]*{_CITE}")
NUMBER = re.compile(r"\d+")
OPENERS = '“"«'
ABSTAIN = re.compile(
    r"\b(?:documents?|passages?|sources?|texts?)\b[^.]{0,40}\b(?:do(?:es)?\s*n[o']t|never|cannot|can't)\b"
    r"[^.]{0,30}\b(?:say|answer|contain|mention|state|provide|address|include)",
    re.I,
)
ELLIPSIS = re.compile(r"\s*\.\.\.\s*")
HOLD = re.compile(r"[\s.,;:]*(?:\[[^\]\n]*)?\Z")

_TYPOGRAPHIC = {
    **{ord(c): "'" for c in "‘’‚‛′`´"},
    **{ord(c): '"' for c in "“”„‟″«»"},
    **{ord(c): "-" for c in "‐‑‒–—―−"},
}
_INVISIBLE = frozenset("\u00ad\u200b\u200c\u200d\u2060\ufeff")


def strip_reasoning(text: str) -> str:
    """Drop <think>…</think> blocks that reasoning models (DeepSeek-R1, Qwen3) put before the answer."""
    return THINK.sub("", text).strip()


@dataclass(frozen=True)
class Folded:
    """Text folded for comparison; `starts[i]:ends[i]` is the raw span folded char i came from."""

    text: str
    starts: list[int]
    ends: list[int]


def fold(raw: str) -> Folded:
    """Lower-case, straight quotes, plain hyphens, one space per whitespace run, … as ..., no soft hyphens."""
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    i, n = 0, len(raw)
    while i < n:
        ch = raw[i]
        if ch.isspace():
            j = i
            while j < n and raw[j].isspace():
                j += 1
            out.append(" ")
            starts.append(i)
            ends.append(j)
            i = j
            continue
        if ch in _INVISIBLE:
            i += 1
            continue
        if ch == "…":
            out.extend("...")
            starts.extend((i, i, i))
            ends.extend((i + 1, i + 1, i + 1))
            i += 1
            continue
        folded = _TYPOGRAPHIC.get(ord(ch)) or ch.lower()
        out.append(folded if len(folded) == 1 else ch)
        starts.append(i)
        ends.append(i + 1)
        i += 1
    return Folded("".join(out), starts, ends)


def find_span(quote: str, passage: Folded) -> tuple[int, int] | None:
    """Raw (start, end) of `quote` in a folded passage, on word boundaries; None when it is not there."""
    wanted = fold(quote).text.strip()
    candidates = [wanted]
    trimmed = wanted.rstrip(".,;:").rstrip()
    if trimmed and trimmed != wanted:
        candidates.append(trimmed)
    hay = passage.text
    for needle in candidates:
        if not any(c.isalnum() for c in needle):
            continue
        at = hay.find(needle)
        while at != -1:
            end = at + len(needle)
            left_ok = at == 0 or not (needle[0].isalnum() and hay[at - 1].isalnum())
            right_ok = end == len(hay) or not (needle[-1].isalnum() and hay[end].isalnum())
            if left_ok and right_ok:
                return passage.starts[at], passage.ends[end - 1]
            at = hay.find(needle, at + 1)
    return None


@dataclass(frozen=True)
class VerifiedQuote:
    """A quote kept in the answer: citation number `n`, in passage `passage` (0-based), raw span there."""

    n: int
    passage: int
    start: int
    end: int
    text: str
    cited: tuple[int, ...]
    reattributed: bool


@dataclass
class Verification:
    """The answer after verification: model text with only verified quotes, renumbered as citations."""

    text: str
    quotes: list[VerifiedQuote] = field(default_factory=list)
    dropped: int = 0
    reattributed: int = 0
    abstained: bool = False

    def citations(self, passages: Sequence[Passage]) -> list[Citation]:
        """Citations in file offsets: passage.start + offset in passage text (the offset invariant)."""
        out = []
        for q in self.quotes:
            p = passages[q.passage]
            out.append(
                Citation(
                    n=q.n,
                    source=p.source,
                    title=p.title,
                    section=p.section,
                    page=p.page,
                    quote=q.text,
                    start=p.start + q.start,
                    end=p.start + q.end,
                    chunk_id=p.chunk_id,
                    score=p.score,
                )
            )
        return out


def _body(m: re.Match[str]) -> str:
    """The text between the quotation marks of a QUOTE match."""
    return next(g for g in (m.group("curly"), m.group("straight"), m.group("guillemet")) if g is not None)


def _tidy(text: str) -> str:
    """Mend the prose around removed quotes and markers (never applied inside a verified quote)."""
    text = BARE_CITE.sub("", text)
    text = re.sub(r"\(\s*\)", "", text)
    text = re.sub(r"[ \t]{2,}", " ", text)
    return re.sub(r"[ \t]+(?=[.,;:!?])", "", text)


class QuoteVerifier:
    """Verifies answers against one list of passages (folded once, so a stream can re-verify cheaply)."""

    def __init__(self, passages: Sequence[Passage]) -> None:
        self.passages = passages
        self.folded = [fold(p.text) for p in passages]

    def verify(self, text: str) -> Verification:
        """Check every quote of `text` against the passages (numbered from 1 in their order)."""
        return _Pass(self).run(strip_reasoning(text))


class _Pass:
    """The state of one verification: citation numbers by span, kept quotes, counts."""

    def __init__(self, verifier: QuoteVerifier) -> None:
        self.passages = verifier.passages
        self.folded = verifier.folded
        self.numbers: dict[tuple[int, int, int], int] = {}
        self.quotes: list[VerifiedQuote] = []
        self.dropped = 0
        self.reattributed = 0

    def locate(self, quote: str, order: list[int]) -> tuple[int, int, int] | None:
        for index in order:
            span = find_span(quote, self.folded[index])
            if span is not None:
                return index, span[0], span[1]
        return None

    def keep(self, index: int, start: int, end: int, cited: tuple[int, ...]) -> str:
        """Register a verified span (one citation number per distinct span) and render it."""
        key = (index, start, end)
        if key not in self.numbers:
            self.numbers[key] = len(self.numbers) + 1
            moved = bool(cited) and index + 1 not in cited
            self.reattributed += int(moved)
            self.quotes.append(
                VerifiedQuote(
                    self.numbers[key], index, start, end, self.passages[index].text[start:end], cited, moved
                )
            )
        return f"“{self.passages[index].text[start:end]}” [{self.numbers[key]}]"

    def quote(self, body: str, m: re.Match[str]) -> str | None:
        """The rendering of one quote; None when it cannot be verified (and must go)."""
        cited = tuple(int(x) for x in NUMBER.findall(m.group("cites") or ""))
        valid = [c - 1 for c in cited if 1 <= c <= len(self.passages)]
        order = list(dict.fromkeys(valid + list(range(len(self.passages)))))
        found = self.locate(body, order)
        if found is not None:
            return self.keep(*found, cited) + (m.group("gap") or "").strip()
        parts = [p for p in ELLIPSIS.split(fold(body).text) if any(c.isalnum() for c in p)]
        if len(parts) > 1:
            located = [self.locate(p, order) for p in parts]
            if all(loc is not None for loc in located):
                return " … ".join(self.keep(*loc, cited) for loc in located if loc is not None)
        return None

    def run(self, text: str) -> Verification:
        out: list[str] = []
        buffer: list[str] = []
        quoted_anything = False
        pos = 0
        for m in QUOTE.finditer(text):
            body = _body(m)
            if not any(c.isalnum() for c in body):
                continue
            quoted_anything = True
            buffer.append(text[pos : m.start()])
            pos = m.end()
            rendered = self.quote(body, m)
            if rendered is None:
                self.dropped += 1
                continue
            out.append(_tidy("".join(buffer)))
            buffer = []
            out.append(rendered)
        buffer.append(text[pos:])
        out.append(_tidy("".join(buffer)))
        answer = re.sub(r"\n{3,}", "\n\n", "".join(out)).strip()
        abstained = not quoted_anything and bool(ABSTAIN.search(text))
        return Verification(
            text=answer,
            quotes=self.quotes,
            dropped=self.dropped,
            reattributed=self.reattributed,
            abstained=abstained,
        )


def verify(text: str, passages: Sequence[Passage]) -> Verification:
    """Check every quote of `text` against `passages` (numbered from 1 in this order)."""
    return QuoteVerifier(passages).verify(text)


def stable_prefix(text: str) -> int:
    """How much of a partly streamed answer can be verified and shown without being contradicted later.

    Holds back an unclosed quote, a closed quote whose [n] may still arrive, a half-written [n, a
    half-open <think> block and trailing whitespace.
    """
    cut = len(text)
    opened = text.rfind("<think>")
    if opened != -1 and "</think>" not in text[opened:]:
        cut = opened
    for k in range(len("<think>") - 1, 0, -1):
        if text[:cut].endswith("<think>"[:k]):
            cut -= k
            break
    last: re.Match[str] | None = None
    for m in QUOTE.finditer(text, 0, cut):
        last = m
    after = last.end() if last else 0
    if last is not None and HOLD.match(text, after, cut):
        cut = last.start()
    else:
        pending = [i for i in (text.find(c, after, cut) for c in OPENERS) if i != -1]
        if pending:
            cut = min(pending)
        bracket = text.rfind("[", after, cut)
        if bracket != -1 and "]" not in text[bracket:cut]:
            cut = bracket
    return len(text[:cut].rstrip())
