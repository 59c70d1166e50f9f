"""The checkable facts in a sentence: numbers, dates, quoted strings, proper names and negation cues,
each in a normal form, so that "1,000" meets "1000", "May 22" meets "22 May", "five" meets "5" and
"Koptev's" meets "Koptev". Pure; rag.llm.verify compares a generated sentence's facts with a passage's."""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

_MONTHS = {m[:3]: i for i, m in enumerate(("january february march april may june july august september "
                                             "october november december").split(), start=1)}
_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|"
          r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_AND = r"\s*(?:-|–|and|to|through)\s*"
# "May 22", "June 9-10", "September 11 and 12", "22 May", "16-18 May"; not "May 2,000"
_DATE = re.compile(rf"\b(?P<m>{_MONTH})\s+(?P<d>{_DAY})(?:{_AND}(?P<e>{_DAY}))?\b(?!,\d)"
                   rf"|\b(?P<d2>{_DAY})(?:{_AND}(?P<e2>{_DAY}))?\s+(?:of\s+)?(?P<m2>{_MONTH})\b", re.I)
_NUMBER = re.compile(r"(?:(?<![\w.])\d{1,3}(?:,\d{3})+|(?<![\w.,])\d+)(?:\.\d+)?(?!\d|(?:st|nd|rd|th)\b)")
_SCALE = re.compile(r"\s*(?:-\s*)?(thousand|million|billion|trillion)\b", re.I)
_PERCENT = re.compile(r"\s*(?:%|percent\b|per cent\b)", re.I)
_YEARS = re.compile(r"\b(\d{2})(\d{2})\s*[-–]\s*(\d{2})\b(?![\d,])")     # "1904-05" also says 1905
_WORD_NUMBERS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven "
                                             "twelve thirteen fourteen fifteen sixteen seventeen eighteen "
                                             "nineteen twenty".split())}
_WORD_NUMBERS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
                      "ninety": 90, "hundred": 100, "dozen": 12})
_ORDINALS = {w: f"#{i}" for i, w in enumerate("first second third fourth fifth sixth seventh eighth ninth "
                                              "tenth".split(), start=1)}
_QUOTE = re.compile(r"“([^“”]+)”|\"([^\"]+)\"|‘([^‘’]+)’(?![a-z])")
_WORD = re.compile(r"[^\W\d_][\w’']*(?:\.[^\W\d_]+)*")
_NEGATION = re.compile(r"\b(?:not|no|never|neither|nor|none|nobody|nothing|nowhere|without|cannot|unable|unlikely|"
                       r"refused|refuses|refuse|fail|fails|failed|failing|lack|lacks|lacked|yet to|instead of|"
                       r"prevents?|prevented|precludes?|precluded|rejects?|rejected|rejecting|denies|deny|denied|"
                       r"stops?|stopped|stopping)\b|"
                       r"n[’']t\b", re.I)
_AFFIRMING = re.compile(r"\s+(?:question|doubt|only|surprisingly|less)\b", re.I)   # "no doubt", "not only"
_SCOPE_END = re.compile(r"[,;:!?()–—\[\]]|(?<![A-Z])\.(?:\s|$)|\s(?:but|while|although|whereas|and then)\s", re.I)
_STOP = set("the a an to of in on for with at by from and or that this these those be been being is was were are "
            "have has had it its his her their way any longer more all as do does did will would".split())


@dataclass(frozen=True)
class Facts:
    numbers: dict[str, str]            # normal form -> as written: "1500000000" -> "1.5 billion"
    dates: frozenset[tuple[int, int]]  # (month, day)
    quotes: tuple[str, ...]            # normalised quoted strings
    names: tuple[tuple[int, str], ...]                    # (offset, name): runs of capitalised words
    negations: tuple[tuple[str, frozenset[str]], ...]     # (cue, the words it negates)


def facts(text: str) -> Facts:
    """The facts a sentence states. Days inside dates are dates, not numbers."""
    dates, rest = set(), text
    for m in _DATE.finditer(text):
        month = _MONTHS[(m.group("m") or m.group("m2"))[:3].lower()]
        for day in (m.group("d"), m.group("e"), m.group("d2"), m.group("e2")):
            if day:
                dates.add((month, int(re.match(r"\d+", day).group())))
        rest = rest[:m.start()] + " " * (m.end() - m.start()) + rest[m.end():]
    quotes = tuple(q for m in _QUOTE.finditer(text) if (q := normal(next(g for g in m.groups() if g))))
    return Facts(numbers(rest), frozenset(dates), quotes, tuple(names(text)), negations(text))


def numbers(text: str) -> dict[str, str]:
    """Every number, normal form -> as written: digits without grouping, scaled ("$1.5 billion" is
    "1500000000"), "%" for a percentage, words as digits ("five" is "5"), ordinals as "#n"."""
    out: dict[str, str] = {}
    tails = set()
    for m in _YEARS.finditer(text):          # "1904-05" says 1904 and 1905, not 5
        out.setdefault(m.group(1) + m.group(3), m.group())
        tails.add(m.start(3))
    for m in _NUMBER.finditer(text):
        if m.start() in tails:
            continue
        value, after = Decimal(m.group().replace(",", "")), text[m.end():]
        end = m.end()
        if s := _SCALE.match(after):
            value *= {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}[s.group(1).lower()]
            end += s.end()
        pct = _PERCENT.match(text[end:])
        out.setdefault(_plain(value) + ("%" if pct else ""), text[m.start():end + (pct.end() if pct else 0)])
    for w in re.findall(r"[a-z]+", text.lower()):
        if w in _WORD_NUMBERS or w in _ORDINALS:
            out.setdefault(str(_WORD_NUMBERS[w]) if w in _WORD_NUMBERS else _ORDINALS[w], w)
    for m in re.finditer(r"\b(\d+)(?:st|nd|rd|th)\b", text):
        out.setdefault(f"#{m.group(1)}", m.group())
    return out


def names(text: str) -> list[tuple[int, str]]:
    """Runs of capitalised words ("Takekazu Kawamura", "World Bank") with their offsets; hyphenated
    parts are words, "'s" is removed and ends a run. The text's first word is included."""
    runs: list[list[tuple[int, str]]] = []
    end = None
    for m in _WORD.finditer(text):
        w = m.group()
        if not w[:1].isupper():
            end = None
            continue
        if end is not None and text[end:m.start()].strip(" -") == "" and not re.search(r"[’']s?$", runs[-1][-1][1]):
            runs[-1].append((m.start(), w))
        else:
            runs.append([(m.start(), w)])
        end = m.end()
    return [(run[0][0], " ".join(key_form(w, keep_case=True) for _, w in run)) for run in runs]


def negations(text: str) -> tuple[tuple[str, frozenset[str]], ...]:
    """Each negation cue ("not", "no", "n't", "failed", "unlikely", …) and the content words it
    governs: up to five, to the end of its clause. "No doubt", "not only" are not negations."""
    out = []
    for m in _NEGATION.finditer(text):
        if _AFFIRMING.match(text, m.end()):
            continue
        clause = text[m.end():]
        if stop := _SCOPE_END.search(clause):
            clause = clause[:stop.start()]
        scope = [k for w in _WORD.findall(clause) if (k := key_form(w)) not in _STOP][:5]
        out.append((m.group().lower(), frozenset(scope)))
    return tuple(out)


def words(text: str, lower_only: bool = False) -> set[str]:
    """The words of a text in the form names are compared in (lower case, no dots, no "'s"); with
    `lower_only`, only those written in lower case there (ordinary words, not names)."""
    return {key_form(m.group()) for m in _WORD.finditer(text) if not lower_only or m.group()[:1].islower()}


def phrase(text: str) -> str:
    """The text's words in compared form, space-separated, to find a name of several words in."""
    return " " + " ".join(key_form(m.group()) for m in _WORD.finditer(text)) + " "


def key_form(word: str, keep_case: bool = False) -> str:
    word = re.sub(r"[’']s?$", "", word.replace(".", ""))
    return word if keep_case else word.lower()


def normal(text: str) -> str:
    """Text for substring comparison: lower case, one kind of quote and dash, no edge punctuation."""
    text = text.lower().replace("’", "'").replace("‘", "'").replace("–", "-").replace("—", "-")
    return " ".join(text.split()).strip(" .,;:!?'\"")


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
