"""Is a claim ("hacked by ...") the defacer's signature, or a sentence in a news story about an attack?

Government sites publish news on cyber attacks ("the provincial portal was hacked by an unknown group
last year, police said"). A defacer signs short and loud: a heading, a banner line, a crew name, a taunt.
A claim is read as *reported* only when all of these hold: it sits inside a long line of prose (not at its
start), the words after it are not a crew-like name (leetspeak, `_`, team/crew/army...), the line has no
defacer voice (greetz, taunts, contacts, "!!!", "this site"), it sounds like reporting (someone said it,
an institution, a time), and the page kept its recurring elements (logo, headings, ids: the caller checks).
Then it is reported low, for an analyst to glance at, instead of deciding "defaced" on its own.
"""

from __future__ import annotations

import re

MIN_PROSE_CHARS = 80
MIN_LEAD_CHARS = 12
_SPACED_SCRIPT = re.compile(r"[\u0e00-\u0e7f\u1780-\u17ff\u3040-\u30ff\u4e00-\u9fff]")   # Thai, Khmer, CJK
_CREW_AFTER = re.compile(r"team|crew|squad|army|cyber|hacker|h4x|xploit|\bxpl\b|\bsec\b|anon|ghost|1337|"
                         r"black\s*hat|\bmr\s?\.|\bms\s?\.|_|[a-z][0-9]|[0-9][a-z]|\[|\]|\||~|\./|<|>|"
                         r"ทีม|ក្រុម\s*(?:ហេក|ហ៊ែក)|فريق", re.I)
_DEFACER_VOICE = re.compile(
    r"gre+tz|gre+ts\b|greetings?\s+to\b|special\s+thanks|your\s+(?:security|site|website|system|server)\s+(?:is|has)\b"
    r"|(?:hi|hello|halo|hai|sorry|maaf|dear)\s+admin|patch\s+(?:min|admin)\b|expect\s+us\s*(?:[!.]|$)"
    r"|we\s+are\s+(?:anonymous|legion|everywhere)|was\s+here\s*(?:[!.~:|*-]|$)|!{2,}|:\)|;\)"
    r"|\^_?\^|\blemah\b|\bkém\b|ต่ำ|ខ្សោយ|zone-?h|haxor|t\.me/|telegram|whatsapp|contact\s+(?:me|us)\b"
    r"|just\s+for\s+fun|sorry\b|maaf\b"
    # the page speaks of itself: a defacer's "this site was hacked", not a story about another site
    r"|\bthis\s+(?:web\s*)?(?:site|page|portal)\b|(?:website|situs|web)\s+ini\b|trang\s+(?:web\s+)?này"
    r"|เว็บ(?:ไซต์)?นี้|គេហទំព័រនេះ|\best[ea]\s+(?:site|página|portal)\b|\bbu\s+(?:site|sayfa)|هذا\s+الموقع", re.I)
# What reporting sounds like: who said it, which institution, when. A story names at least one.
_REPORTING = re.compile(
    r"\b(?:said|says|told|according|reported|announced|police|officials?|minist(?:er|ry)|agency|department"
    r"|government|spokes(?:man|woman|person)|investigat\w*|incident|last\s+(?:year|month|week)|yesterday"
    r"|kata|menurut|mengatakan|polisi|pihak|kementerian|dinas|pemerintah|tahun\s+lalu|pelatihan"
    r"|theo|cho\s+biết|bộ|cơ\s+quan|năm\s+ngoái|segundo|polícia|informou|secretaria|governo|prefeitura"
    r"|polis|belediye|soruşturma|bakanlı\w*|geçen\s+(?:yıl|hafta|ay))\b"
    r"|ក្រសួង|មន្ត្រី|កាលពី|รัฐบาล|กระทรวง|เจ้าหน้าที่|กล่าว|เมื่อ|الوزارة|الشرطة|أعلن|الحكومة|20\d\d", re.I)


def line_at(text: str, pos: int) -> tuple[str, int]:
    """The line of `text` holding position `pos`, and where `pos` falls in it."""
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return text[start:len(text) if end < 0 else end], pos - start


def is_prose(line: str) -> bool:
    """A long line of running text: many words, or a long line in a script written without spaces."""
    if len(line) < MIN_PROSE_CHARS:
        return False
    return len(line.split()) >= 12 or bool(_SPACED_SCRIPT.search(line))


def reported(folded: str, raw: str, excerpt: str, most: int = 20) -> bool:
    """True if every place the claim `excerpt` appears in `folded` reads as news reporting.

    `raw` is the same text before leetspeak folding (line for line), where a crew name keeps its digits.
    """
    pos = folded.find(excerpt) if excerpt else -1
    if pos < 0:
        return False
    raw_lines = raw.split("\n")
    while pos >= 0 and most > 0:
        if not _reported_at(folded, raw_lines, pos, excerpt):
            return False
        pos, most = folded.find(excerpt, pos + len(excerpt)), most - 1
    return pos < 0


def _reported_at(folded: str, raw_lines: list[str], pos: int, excerpt: str) -> bool:
    line, at = line_at(folded, pos)
    if at < MIN_LEAD_CHARS or not is_prose(line) or _DEFACER_VOICE.search(line) or not _REPORTING.search(line):
        return False
    index = folded.count("\n", 0, pos)
    raw_line = raw_lines[index] if index < len(raw_lines) else line
    after = raw_line[at + len(excerpt):at + len(excerpt) + 40] if len(raw_line) == len(line) else \
        line[at + len(excerpt):at + len(excerpt) + 40]
    return not _CREW_AFTER.search(after) and not _DEFACER_VOICE.search(raw_line)


REPORTING = _REPORTING   # the reporting-tone words, for other sensors (evidence.unrelated_text)
