"""Sensors that generalise beyond the corpus: comments, overlays, DOM-writing scripts, unrelated text,
default server pages, and the one verdict that is not an attack at all (planned maintenance).

Each is a plain function of a Candidate (see sensors.py). Comments are evidence only: a claim there
raises the score, and nothing in a comment ever lowers it or hides anything.
"""

from __future__ import annotations

import re

from govwatch.agents.defacement import context
from govwatch.agents.defacement import signatures as signatures_mod
from govwatch.agents.defacement.html import Page
from govwatch.agents.defacement.sensors import Candidate, Finding

COMMENT_CLAIM_WEIGHT = 0.4
_DOM_WRITE = re.compile(r"document\s*\.\s*write(?:ln)?\s*\(|\.\s*(?:inner|outer)html\s*=|insertadjacenthtml\s*\("
                        r"|document\s*\.\s*body\s*\.\s*(?:append|prepend)|\.\s*replacechildren\s*\(")
_DECODE = re.compile(r"\batob\s*\(|fromcharcode|\bunescape\s*\(|decodeuricomponent\s*\(|\\x[0-9a-f]{2}")
_MARKUP_LITERAL = re.compile(r"['\"`]\s*<\s*(?:h[1-6]|div|center|marquee|p|font|b|img|body|html|style|span)\b")
_MAINTENANCE = re.compile(
    r"under\s+(?:scheduled\s+|planned\s+)?maintenance|(?:scheduled|planned)\s+maintenance|maintenance\s+mode"
    r"|(?:we(?:'|’)?ll|we\s+will)\s+be\s+back\s+soon|be\s+right\s+back|temporarily\s+(?:unavailable|down)\s+for"
    r"|site\s+(?:is\s+)?(?:currently\s+)?(?:down\s+for|undergoing)\s+(?:maintenance|upgrade)|en\s+maintenance"
    r"|sedang\s+(?:dalam\s+)?(?:perbaikan|pemeliharaan|maintenance)|dalam\s+pemeliharaan|đang\s+bảo\s+trì"
    r"|ปิดปรับปรุง|กำลังปรับปรุง|កំពុង\s*(?:ថែទាំ|ជួសជុល|ធ្វើបច្ចុប្បន្នភាព)|ការថែទាំ\s*ប្រព័ន្ធ|en\s+mantenimiento")
_DEFAULT_PAGE = re.compile(
    r"^it works!?$|apache2? (?:ubuntu |debian )?default page|welcome to nginx!?|iis windows server"
    r"|internet information services|test page for the (?:apache|nginx)|^index of /|congratulations!? your (?:new )?"
    r"(?:site|website|server)|default web site page|web server's default page|this is the default (?:web )?page"
    r"|welcome to (?:centos|fedora|the red hat|almalinux|rocky linux)|plesk default page|cpanel default"
    r"|future home of something quite cool")
MAX_SMALL_LINES = 40


def _small(page: Page) -> bool:
    return len(page.text) <= MAX_SMALL_LINES


def maintenance(page: Page, hits: list) -> bool:
    """A planned-maintenance notice standing in for the site: small, says so, and claims nothing."""
    if not _small(page) or any("claim" in hit.tags or "spam" in hit.tags for hit in hits):
        return False
    return bool(_MAINTENANCE.search(page.title + "\n" + "\n".join(page.text)))


def default_page(c: Candidate) -> list[Finding]:
    """A web server's default page, a bare directory listing or an empty body where a ministry page belongs:
    the site's content is lost (a wiped or re-installed server), whatever else the page says."""
    page = c.page
    if "structure:default_page" in c.profile.hits:
        return []
    lines = [page.title, *page.text[:8]]
    if _small(page) and any(_DEFAULT_PAGE.search(line) for line in lines if line):
        return [Finding("content_lost", 0.5, "medium",
                        f"a web server default page or bare directory listing ('{(page.title or page.text[0])[:60]}')"
                        f" instead of the site's content")]
    empty = not page.text and not page.scripts and not page.frames and not any(
        link.tag in ("img", "embed", "object", "video") for link in page.links)
    if empty and not page.refresh:
        return [Finding("content_lost", 0.5, "medium", "the page is empty: no text, images or scripts")]
    return []


def comment_claims(c: Candidate) -> list[Finding]:
    """Defacement claims written in HTML comments: invisible to visitors but a defacer's signature; with
    any new visible text beside them they are enough to alarm."""
    if not c.page.comments:
        return []
    folded = signatures_mod.fold("\n".join(c.page.comments)[:200_000])
    record = {name: "" for name in signatures_mod.FIELDS} | {"folded": folded}
    baseline = set(c.profile.hits)
    hits = [hit for hit in signatures_mod.scan(_claim_rules(c), record)
            if "claim" in hit.tags and "comment:" + hit.rule_id not in baseline]
    if not hits:
        return []
    fresh_text = bool(c.profile.learned and c.feats.new_text(c.page, c.profile.text))
    weight = 0.6 if fresh_text or not c.profile.learned else COMMENT_CLAIM_WEIGHT
    return [Finding("comment", weight, "high", f"defacement claim in an HTML comment: '{hits[0].excerpt}' "
                                               f"(rule {hits[0].rule_id})")]


def _claim_rules(c: Candidate) -> list:
    from govwatch.agents.defacement.detector import default_rules

    return c.rules if c.rules is not None else default_rules()


def comment_rule_ids(page: Page, rules: list) -> list[str]:
    """Pseudo rule ids of claims the page's comments carry (a profile remembers its own)."""
    if not page.comments:
        return []
    record = {name: "" for name in signatures_mod.FIELDS} | {"folded": signatures_mod.fold("\n".join(page.comments))}
    return ["comment:" + hit.rule_id for hit in signatures_mod.scan(rules, record) if "claim" in hit.tags]


def dom_writing_scripts(c: Candidate) -> list[Finding]:
    """A new inline script that writes the page (document.write, innerHTML=...) with decoded or literal
    markup: how a defacer replaces a page at run time without touching its HTML."""
    for code in c.new_scripts:
        low = code[:200_000].lower()
        if not _DOM_WRITE.search(low):
            continue
        if _DECODE.search(low) or _MARKUP_LITERAL.search(low):
            return [Finding("dom_write", 0.55, "high", "new inline script writing markup into the page "
                                                       "(document.write / innerHTML with decoded or literal HTML)")]
    return []


def overlays(c: Candidate) -> list[Finding]:
    """Large fixed/absolute elements newly covering the viewport: an image-only defacement laid over the
    real page leaves all its text in place."""
    known = set(c.profile.overlays) if c.profile.learned else set()
    fresh = sorted(set(c.page.overlays) - known)
    if not fresh or not c.profile.learned:
        return []
    return [Finding("overlay", 0.55, "high", f"new element covering the whole viewport: {', '.join(fresh[:3])}")]


def unrelated_text(c: Candidate) -> list[Finding]:
    """A large new block of visible text whose words the page never used: a banner or manifesto pasted
    into the page, unlike an editorial change that speaks the site's language."""
    if not c.profile.learned:
        return []
    lines = c.feats.new_text(c.page, c.profile.text)
    words = [w for line in lines for w in re.findall(r"\w{3,}", line)]
    if len(words) < 40:
        return []
    vocabulary = c.profile.vocabulary()
    unknown = sum(1 for w in words if w not in vocabulary) / len(words)
    share = sum(len(line) for line in lines) / max(1, sum(len(line) for line in c.page.text))
    if unknown < 0.8 or share < 0.3:
        return []
    prose = [line for line in lines if context.is_prose(line)]
    reporting = sum(len(line) for line in prose if context.REPORTING.search(line))
    if prose and reporting >= 0.5 * sum(len(line) for line in prose):
        weight = 0.25   # prose that reads as reporting (said, ministry, last year...): a news story was published
    else:
        weight = 0.5 if share >= 0.5 else 0.3   # a news story added to a full page is rarely half of its text
    if weight > 0.3 and len(c.profile.stable("text")) < 0.7 * len(c.profile.text):
        weight = 0.3   # much of this page changes between loads anyway (a daily notice, a live feed)
    return [Finding("new_text", weight, "medium", f"large new block of text ({len(words)} words, "
                                               f"{int(unknown * 100)}% never used by the page)")]
