"""A question, analysed once: its words as the index analyses text, the names
it asks about, the kind of short answer it wants, and whether it asks for the
latest news. Retrieval, sentence scoring, short answers, the reader's
confidence and the recency tie-break all take this one frozen value, so no
stage parses the question again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from functools import cached_property

from ragdiplo.errors import QuestionError
from ragdiplo.stores.bm25 import terms

MAX_QUESTION_CHARS = 2000


class AnswerType(str, Enum):
    PERSON = "person"
    DATE = "date"
    PLACE = "place"
    NUMBER = "number"
    MONEY = "money"
    PERCENT = "percent"
    DURATION = "duration"
    NAME = "name"
    OTHER = "other"


MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December|"
    "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec"
)


DAYS = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"


# "which <noun>" and "which <one or two words> <noun>" ("which television network")
_WHICH = r"\b(?:what|which)\s+(?:(?!(?:is|are|was|were|did|does|do|has|have|had|will|would|can|could|should|the|a|an)\b)[a-z][\w-]*\s+){0,2}?"
_PERSON_NOUNS = (
    "person|people|leader|leaders|president|minister|official|officials|man|woman|diplomat|envoy|ambassador|"
    "general|commander|chief|spokesman|spokeswoman|politician|chancellor|secretary"
)
_ORG_NOUNS = (
    "company|organi[sz]ation|party|newspaper|team|group|agency|fund|network|broadcaster|channel|outlet|"
    "alliance|bloc|institution|body|union|coalition|council"
)

_RULES: list[tuple[re.Pattern[str], AnswerType]] = [
    (re.compile(r"\b(what|which) (percentage|percent|share|proportion)\b|\bhow much of\b", re.IGNORECASE), AnswerType.PERCENT),
    (re.compile(r"\bhow (long|many (days|weeks|months|years|hours))\b", re.IGNORECASE), AnswerType.DURATION),
    (re.compile(r"\bhow much\b|\b(value|amount|price|cost|sum|worth)\b", re.IGNORECASE), AnswerType.MONEY),
    (re.compile(r"\bhow many\b|\b(what|which) number\b", re.IGNORECASE), AnswerType.NUMBER),
    (re.compile(r"\bwhen\b|\b(what|which|in what) (year|date|day|month|decade|century)\b|\bby (what|which) year\b", re.IGNORECASE), AnswerType.DATE),
    (re.compile(rf"\bwhere\b|{_WHICH}(city|country|place|town|state|region|territory|location|capital)\b", re.IGNORECASE), AnswerType.PLACE),
    (re.compile(rf"\bwho(m|se)?\b|{_WHICH}({_PERSON_NOUNS})\b|\bname of the (?:[a-z]+\s+)?({_PERSON_NOUNS})\b", re.IGNORECASE),
     AnswerType.PERSON),
    (re.compile(rf"{_WHICH}({_ORG_NOUNS})\b", re.IGNORECASE), AnswerType.NAME),
]


_YEAR = re.compile(r"\b(?:1[5-9]|20)\d\d\b")


# What part of a date a question asks for, and what a candidate must hold to give it.
_DATE_PARTS: list[tuple[re.Pattern[str], re.Pattern[str]]] = [
    (re.compile(r"\b(what|which|in what|by what|by which) year\b|\bwhat year\b", re.IGNORECASE), _YEAR),
    (re.compile(r"\b(what|which) day of the week\b", re.IGNORECASE), re.compile(rf"\b(?:{DAYS})\b")),
    (re.compile(r"\b(what|which|in what) month\b", re.IGNORECASE), re.compile(rf"\b(?:{MONTHS})\b")),
]


_QUESTION_WORDS = frozenset(
    ["what", "which", "who", "whom", "whose", "when", "where", "why", "how", "is", "are", "was", "were", "did", "do", "does", "can", "could", "would", "should", "will", "in", "on", "at", "the", "a", "an", "of", "to", "for", "by", "according", "as", "if", "under", "after", "before", "during", "with", "from", "i"]
)


def named_words(question: str) -> list[str]:
    """Capitalised words of a question other than its first word (capitalised
    because it opens the sentence, as in "Roughly how much ...", unless it is an
    acronym) and question
    words: the names it asks about. Only the capitalised parts of a hyphenated
    word count, so "NATO-style" names NATO, not "style"."""
    words = re.findall(r"[^\W\d_][\w’'\-]*", question)
    words = words[1:] if words and not words[0].isupper() else words  # "NATO said what?" keeps NATO
    parts = [p for w in words for p in w.split("-")]
    return [p for p in parts if p[:1].isupper() and p.lower() not in _QUESTION_WORDS]


_YES_NO = re.compile(
    r"^\W*(?:is|are|was|were|am|do|does|did|has|have|had|can|could|will|would|should|shall|may|might|must|"
    r"isn't|aren't|wasn't|weren't|don't|doesn't|didn't|hasn't|haven't|hadn't|can't|couldn't|won't|wouldn't|shouldn't)\b",
    re.IGNORECASE,
)
_WH = re.compile(r"\b(?:who|whom|whose|what|which|when|where|why|how)\b", re.IGNORECASE)


def asks_yes_no(question: str) -> bool:
    """Whether the question is answered by yes or no ("Has Trump committed to
    security guarantees?"): it opens with an auxiliary verb and asks for
    nothing else ("Did the article say who ...?" asks for a name)."""
    return bool(_YES_NO.search(question)) and not _WH.search(question) and " or " not in question.lower()


def answer_type(question: str) -> AnswerType:
    """The kind of short answer a question asks for, or OTHER for a description."""
    for pattern, kind in _RULES:
        if pattern.search(question):
            return kind
    return AnswerType.OTHER


def _date_part(question: str) -> re.Pattern[str] | None:
    """The pattern a date answer must hold when the question asks for a year,
    a weekday or a month: "this week" is a date, but not an answer to "by which year"."""
    for asks, holds in _DATE_PARTS:
        if asks.search(question):
            return holds
    return None


# "latest", "most recent(ly)", "newest", "now", "currently", "current", "today", "as of now"
_RECENT = re.compile(r"\b(?:latest|most\s+recent(?:ly)?|newest|now|currently|current|today|these\s+days)\b", re.IGNORECASE)


def asks_for_latest(question: str) -> bool:
    """Whether the question asks for the newest state of things ("What is the
    latest ...", "Who now leads ..."): then newer reports win among close
    candidates (``QAConfig.recency_margin``)."""
    return _RECENT.search(question) is not None


def check_question(question: str) -> str:
    """The question stripped of outer space; a non-string is a programming error
    (``TypeError``), an unusable string a user's (``QuestionError``)."""
    if not isinstance(question, str):
        raise TypeError(f"the question must be a str, not {type(question).__name__}")
    if not question.strip():
        raise QuestionError("the question is empty; ask something, e.g. 'What backstop did Starmer ask for?'")
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionError(f"the question is {len(question)} characters long; keep it under {MAX_QUESTION_CHARS}")
    if not re.search(r"\w", question):
        raise QuestionError("the question has no words in it")
    if re.search("[\ud800-\udfff]", question):
        raise QuestionError("the question holds undecodable bytes (lone surrogates); pass it as valid UTF-8 text")
    return question.strip()


@dataclass(frozen=True)
class Question:
    """What every answering stage needs to know about a question.

    ``terms``: its words as BM25 analyses passages (in order, repeats kept);
    ``names``: the capitalised words it asks about, each as its terms;
    ``kind``: the short answer it asks for; ``date_part``: what a date answer
    must hold ("which year" needs a year); ``latest``: it asks for the newest
    report; ``yes_no``: yes or no answers it (its evidence is a sentence, not
    a span).
    """

    text: str
    terms: tuple[str, ...]
    names: tuple[tuple[str, ...], ...]
    kind: AnswerType
    date_part: re.Pattern[str] | None
    latest: bool
    yes_no: bool = False

    @cached_property
    def asked(self) -> frozenset[str]:
        """``terms`` as a set, made once (short answers test every sentence against it)."""
        return frozenset(self.terms)

    @classmethod
    def of(cls, question: str | Question) -> Question:
        """``question`` checked and analysed (a ``Question`` is returned as it is)."""
        if isinstance(question, Question):
            return question
        text = check_question(question)
        return cls(
            text=text,
            terms=tuple(terms(text)),
            names=tuple(tuple(terms(w)) for w in named_words(text)),
            kind=answer_type(text),
            date_part=_date_part(text),
            latest=asks_for_latest(text),
            yes_no=asks_yes_no(text),
        )


__all__ = ["MAX_QUESTION_CHARS", "AnswerType", "Question", "answer_type", "asks_for_latest", "asks_yes_no", "check_question", "named_words"]
