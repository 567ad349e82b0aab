"""Typed spans: the spans of a sentence that fit what a question asks for
(``question.py`` says what it asks for).

Without a trained reader, a typed question (who, when, where, how many, how
much, what percentage, which ...) is answered by the candidate span of the
expected type that stands closest to the question's own words in the best
sentence. Every span is an exact slice of the sentence.
"""

from __future__ import annotations

import re

from ragdiplo.answer.question import DAYS, MONTHS, AnswerType, Question
from ragdiplo.stores.bm25 import terms

_NUM_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|"
    "sixty|seventy|eighty|ninety|hundred|thousand|dozen|several|half"
)
_SCALE = r"(?:\s?(?:billion|million|trillion|thousand|bn|m)\b)?"
_NUMBER = rf"(?:\d[\d,]*(?:\.\d+)?|\b(?:{_NUM_WORDS})\b(?:[- ](?:{_NUM_WORDS})\b)*)"

PATTERNS: dict[AnswerType, re.Pattern[str]] = {
    AnswerType.MONEY: re.compile(rf"(?:[$£€]\s?{_NUMBER}{_SCALE})|(?:{_NUMBER}{_SCALE}\s?(?:dollars|pounds|euros))", re.IGNORECASE),
    AnswerType.PERCENT: re.compile(rf"{_NUMBER}\s?(?:%|percent\b|per cent\b)", re.IGNORECASE),
    AnswerType.DATE: re.compile(
        rf"\b(?:(?:\d{{1,2}}\s)?(?:{MONTHS})(?:\s\d{{1,2}})?(?:,?\s\d{{4}})?|(?:1[5-9]|20)\d\d(?:s)?|(?:{DAYS})"
        rf"(?:,\s\d{{1,2}}\s(?:{MONTHS}))?|(?:last|next|this)\s(?:year|week|month))\b"
    ),
    AnswerType.DURATION: re.compile(
        rf"{_NUMBER}[- ](?:day|week|month|year|hour|minute|decade|centur(?:y|ies))s?\b", re.IGNORECASE
    ),
    AnswerType.NUMBER: re.compile(rf"{_NUMBER}{_SCALE}", re.IGNORECASE),
    AnswerType.NAME: re.compile(
        r"\b[A-Z][\w’'\-.]*(?:\s(?:of|the|de|da|von|van|al|bin|and|&)?\s?[A-Z][\w’'\-.]*)*", re.UNICODE
    ),
}
PATTERNS[AnswerType.PERSON] = PATTERNS[AnswerType.NAME]
PATTERNS[AnswerType.PLACE] = PATTERNS[AnswerType.NAME]


_STOP_NAMES = frozenset(
    ["The", "A", "An", "In", "On", "At", "As", "But", "And", "Or", "If", "For", "To", "Of", "By", "With", "From", "It", "He", "She", "They", "We", "I", "You", "This", "That", "These", "Those", "His", "Her", "Their", "Our", "Its", "Yet", "However", "While", "When", "Where", "Who", "What", "Which", "Despite", "During", "After", "Before", "Since", "Mr", "Mrs", "Ms", "Sir", "Dr", "Speaking", "Following", "According", "Amid", "Amidst", "Moreover", "Meanwhile", "Also", "Although", "Because", "Writing", "Recent", "Further", "Instead", "Despite", "Just", "Whether", "Whilst"]
)
_NOT_NAMES = re.compile(rf"^(?:{MONTHS}|{DAYS})$")
_TITLES = frozenset(
    ["admiral", "sir", "dame", "lord", "lady", "king", "queen", "prince", "princess", "president", "vice", "prime", "minister", "chancellor", "secretary", "general", "secretary-general", "chief", "envoy", "ambassador", "governor", "senator", "judge", "general", "colonel", "captain", "mr", "mrs", "ms", "dr", "professor", "pope", "saint", "st", "special"]
)


def _strip_known(sentence: str, s: int, e: int, asked: frozenset[str]) -> int:
    """Move the start of a name past leading titles and words of the question,
    so "Chief of Defence Staff Admiral Sir Tony Radakin" answers as "Tony Radakin"."""
    for m in re.finditer(r"[\w’'\-.]+", sentence[s:e]):
        word = m.group()
        stem = terms(word)
        if word.lower().strip(".") in _TITLES or (stem and set(stem) <= asked) or word.lower() in {"of", "the", "and"}:
            continue
        return s + m.start()
    return e








def _trim_name(text: str, start: int, end: int) -> tuple[int, int]:
    words = text[start:end].split(" ")
    while words and words[0].strip(".") in _STOP_NAMES:
        start += len(words.pop(0)) + 1
    while text[end - 1 : end] in ".’'" and end > start:
        end -= 1
    if text[end - 2 : end] in ("’s", "'s"):
        end -= 2
    return start, max(start, end)


def _plausible_name(sentence: str, s: int, e: int) -> bool:
    """Reject dates and a lone capitalised word opening the sentence, which is
    usually an ordinary word rather than a name."""
    text = sentence[s:e]
    if _NOT_NAMES.match(text):
        return False
    return not (s == 0 and " " not in text and sentence[e : e + 1] not in ("", "’", "'"))


def candidates(sentence: str, kind: AnswerType) -> list[tuple[int, int]]:
    """Spans of ``sentence`` that could answer a question of type ``kind``."""
    pattern = PATTERNS.get(kind)
    if pattern is None:
        return []
    spans = []
    for m in pattern.finditer(sentence):
        s, e = m.span()
        if pattern is PATTERNS[AnswerType.NAME]:
            s, e = _trim_name(sentence, s, e)
            if e <= s or not _plausible_name(sentence, s, e):
                continue
        if e > s and sentence[s:e].strip():
            spans.append((s, e))
    return spans




APPOSITION_BONUS = 0.2  # a name right after the question's words: their apposition
ASKED_WORD_PENALTY = 0.3  # per word of the question a span repeats: an answer says what the question does not


def ranked_spans(question: Question, sentence: str) -> list[tuple[int, int]]:
    """Candidates of the kind the question asks for that it does not already
    contain, nearest to the question's words first."""
    kind, asked = question.kind, question.asked
    words = [m for m in re.finditer(r"\w+", sentence) if set(terms(m.group())) & asked]
    positions = [m.start() for m in words]
    ends = {m.end() for m in words}
    part = question.date_part if kind is AnswerType.DATE else None
    scored = []
    for s, e in candidates(sentence, kind):
        if part is not None and not part.search(sentence[s:e]):
            continue
        if PATTERNS[kind] is PATTERNS[AnswerType.NAME]:
            s = _strip_known(sentence, s, e, asked)
        span_terms = set(terms(sentence[s:e]))
        if not sentence[s:e].strip() or (span_terms and span_terms <= asked):
            continue
        distance = min((min(abs(p - s), abs(p - e)) for p in positions), default=len(sentence))
        # a name right after the question's words is their apposition ("envoy, Steve Witkoff")
        apposed = PATTERNS[kind] is PATTERNS[AnswerType.NAME] and any(
            s - end <= 2 and not sentence[end:s].strip(" ,") for end in ends if end <= s
        )
        repeated = len(span_terms & asked)
        score = -distance / max(len(sentence), 1) - ASKED_WORD_PENALTY * repeated + APPOSITION_BONUS * apposed
        scored.append((score, -s, (s, e)))
    scored.sort(reverse=True)
    return [span for *_, span in scored]


def best_span(question: Question, sentence: str) -> tuple[int, int] | None:
    """The candidate nearest to the question's words that the question does not
    already contain; ``None`` when the sentence has no candidate of that type."""
    spans = ranked_spans(question, sentence)
    return spans[0] if spans else None
