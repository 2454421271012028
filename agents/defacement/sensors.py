"""Independent, explainable sensors: each looks at one way a page gets defaced and says why.

A sensor returns Findings: a weight in (0, 1] (how strongly this alone says "defaced"), a severity and a
sentence for the analyst. Everything is judged relative to the page's profile, so what the known-good page
already had (its own iframes, its own packed script, its own news about hackers) is never held against it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from itertools import islice

from govwatch.agents.defacement import context
from govwatch.agents.defacement import signatures as signatures_mod
from govwatch.agents.defacement.html import Page
from govwatch.agents.defacement.profile import Features, Profile, link_key, mask, script_fingerprint, url_domain
from govwatch.agents.defacement.signatures import Hit
from govwatch.agents.defacement.structure import standalone_score

# Large, reputable embed/CDN/analytics hosts: a new one is still reported, but alone is not "defaced".
WELL_KNOWN = {"google.com", "googleapis.com", "gstatic.com", "googletagmanager.com", "google-analytics.com",
              "youtube.com", "youtube-nocookie.com", "ytimg.com", "facebook.com", "facebook.net", "fbcdn.net",
              "twitter.com", "x.com", "twimg.com", "cloudflare.com", "cloudflareinsights.com", "bootstrapcdn.com",
              "jquery.com", "fontawesome.com", "microsoft.com", "clarity.ms", "gov.kh", "instagram.com",
              "linkedin.com", "openstreetmap.org", "tiktok.com", "vimeo.com", "recaptcha.net", "hcaptcha.com",
              "doubleclick.net", "googlesyndication.com", "googleadservices.com", "google.co.id", "bing.com",
              "hotjar.com", "addthis.com", "sharethis.com", "statcounter.com", "histats.com", "tawk.to",
              "typekit.net", "gravatar.com", "wp.com", "w.org", "wordpress.org", "yandex.ru", "mapbox.com",
              "arcgis.com", "flickr.com", "issuu.com", "scribd.com", "soundcloud.com", "spotify.com"}
# Measurement and tag hosts: a new one is how analytics gets added to a page (low, never "defaced" alone).
ANALYTICS = {"googletagmanager.com", "google-analytics.com", "clarity.ms", "hotjar.com", "statcounter.com",
             "histats.com", "cloudflareinsights.com", "doubleclick.net", "facebook.net", "yandex.ru"}
REPORTED_CLAIM_WEIGHT = 0.2
_CONTEXT_WEIGHT = {"script": 0.6, "base": 0.7, "form": 0.5, "iframe": 0.3, "media": 0.3, "link": 0.25,
                   "img": 0.1, "a": 0.03}
_CONTEXT_SEVERITY = {"script": "high", "base": "high", "form": "high", "iframe": "medium", "media": "medium",
                     "link": "medium", "img": "low", "a": "low"}
# `\bx` is written `x(?<!\w.)` (the same matches: the character before x is no word character): a
# pattern whose every branch starts with a literal character lets the regex engine skip ahead to them,
# 23x faster on a 35 KB obfuscated blob (5 ms -> 0.2 ms).
_CALLS = re.compile(r"e(?<!\w.)val\s*\(|u(?<!\w.)nescape\s*\(|a(?<!\w.)tob\s*\(|fromcharcode"
                    r"|f(?<!\w.)unction\s*\(\s*p\s*,\s*a\s*,\s*c|n(?<!\w.)ew\s+function\s*\("
                    r"|document\.write\s*\(\s*(?:unescape|atob|decodeuri)"
                    r"|\[\s*['\"](?:constructor|eval|atob|unescape)['\"]\s*\]")
_CALL_PUNCT = re.compile(r"[\s(\[\]'\"]")
_UNI_ESC = re.compile(r"\\u00[0-9a-f]{2}")
_CHAR_CODES = re.compile(r"(?:\b\d{2,3}\s*,\s*){40,}")
_HEX_ESC = re.compile(r"\\x[0-9a-f]{2}")
_PCT_ESC = re.compile(r"%[0-9a-f]{2}")
_OBF_NAMES = re.compile(r"\b_0x[0-9a-f]{4,}")
_LONG = re.compile(r"[A-Za-z0-9+/=%\\]{300,}")
_JS_REDIRECT = re.compile(r"(?:location(?:\.href)?\s*=|location\.(?:replace|assign)\s*\(|window\.open\s*\()"
                          r"\s*['\"]((?:https?:)?//[^'\"\s]+)", re.I)
_JS_URL = re.compile(r"(?:https?:)?//([a-z0-9-]+(?:\.[a-z0-9-]+)+)(?=[/'\":?])", re.I)
_REFRESH_URL = re.compile(r"url\s*=\s*['\"]?([^'\";\s]+)", re.I)


@dataclass(frozen=True)
class Finding:
    """One reason a page looks defaced."""

    sensor: str
    weight: float
    severity: str
    reason: str
    domains: tuple[str, ...] = ()


@dataclass
class Candidate:
    """A page under judgement with everything the sensors share."""

    page: Page
    feats: Features
    profile: Profile
    hits: list[Hit]
    new_scripts: list[str] = field(default_factory=list)
    record: dict[str, str] = field(default_factory=dict)
    rules: list | None = None

    def is_new_domain(self, domain: str | None) -> bool:
        return domain is not None and domain != self.profile.host

    def known(self, domain: str) -> bool:
        return domain in self.profile.all_domains()


def new_scripts(page: Page, profile: Profile, feats: Features | None = None) -> list[str]:
    """Inline scripts no known-good snapshot had (fingerprints ignore nonces, numbers and spacing)."""
    known = set(profile.scripts)
    ids = feats.script_ids if feats is not None else [script_fingerprint(code) for code in page.scripts]
    return [code for code, ident in zip(page.scripts, ids, strict=False) if ident not in known]


def signatures(c: Candidate) -> list[Finding]:
    """Rule hits the known-good page did not already have; a claim inside a news story on an otherwise
    intact page is reported low (see context.py), not as a defacement."""
    baseline = set(c.profile.hits)
    out, intact = [], None
    for hit in c.hits:
        if hit.rule_id in baseline:
            continue
        news_spam = "spam" in hit.tags and _publishes_news(c.profile) and _visible_only(c.record, hit.excerpt)
        if ("claim" in hit.tags or news_spam) and c.record:
            intact = _intact(c) if intact is None else intact
            if intact and context.reported(c.record.get("folded", ""), signatures_mod.unfolded(c.record),
                                           hit.excerpt):
                what = "spam words" if news_spam else "claim words"
                out.append(Finding("signature", REPORTED_CLAIM_WEIGHT, "low",
                                   f"{what} in a news-like sentence, page otherwise intact: "
                                   f"'{hit.excerpt}' (rule {hit.rule_id}: {hit.title})"))
                continue
        out.append(Finding("signature", hit.weight, hit.severity,
                           f"signature: '{hit.excerpt}' (rule {hit.rule_id}: {hit.title})"))
    return out


_NEWS_WORDS = re.compile(r"news|berita|ព័ត៌មាន|tin\s*tức|ข่าว|actualit|noticias|press|announcement|ប្រកាស")


def _publishes_news(profile: Profile) -> bool:
    """The known-good page reads like a news site: prose (lines of 80+ characters) with a rotating list or
    news words in its title and headings; there a story may name the gambling sites it warns about."""
    if not profile.learned:
        return False
    prose = sum(1 for key in profile.text if len(key) >= 80)
    if prose >= 2:
        return True
    volatile = len(profile.text) - len(profile.stable("text"))
    named = any(_NEWS_WORDS.search(key) for key in (*profile.titles, *profile.landmarks))
    return prose >= 1 and (volatile >= 3 or named)


def _visible_only(record: dict[str, str], excerpt: str) -> bool:
    """Spam words only in visible text: not hidden, not in links to other sites, not in the title."""
    low = excerpt.lower()
    return bool(low) and not any(low in signatures_mod.fold(record.get(name, ""))
                                 for name in ("hidden_text", "link_text", "title"))


def _intact(c: Candidate) -> bool:
    """The page kept its recurring elements and reads as edited, not replaced (the replacement sensor
    stays below medium)."""
    if not c.profile.learned:
        return False
    marks = _lost(c.profile.stable("landmarks"), c.feats.landmarks)
    if marks is not None and marks > 0.25:
        return False
    return all(f.weight < 0.3 for f in replacement(c))


def new_domains(c: Candidate) -> list[Finding]:
    """Outside domains the page never loaded before, per place (script, iframe, form, img, link, a)."""
    out = []
    for ctx, found in sorted(c.feats.domains.items()):
        fresh = sorted(d for d in found if c.is_new_domain(d) and d not in c.profile.domains.get(ctx, []))
        if not fresh:
            continue
        weight = 0.0
        for domain in fresh:
            base = _CONTEXT_WEIGHT.get(ctx, 0.1)
            if domain in WELL_KNOWN:
                base /= 4
            elif c.known(domain):
                base /= 2
            weight = 1 - (1 - weight) * (1 - base)
        cap = 0.3 if ctx == "a" else 0.85
        shown = ", ".join(fresh[:5]) + (f" (+{len(fresh) - 5} more)" if len(fresh) > 5 else "")
        severity = "low" if all(d in WELL_KNOWN for d in fresh) else _CONTEXT_SEVERITY.get(ctx, "low")
        out.append(Finding("domains", min(weight, cap), severity,
                           f"new external {ctx} domain{'s' if len(fresh) > 1 else ''} {shown}", tuple(fresh)))
    return out


def hidden_links(c: Candidate) -> list[Finding]:
    """Links hidden from visitors (display:none, off-screen, zero size) that the page never hid before."""
    known = set(c.profile.hidden_links)
    fresh = [link for link in c.page.links
             if link.hidden and link.tag == "a" and link_key(link.url) not in known]
    if not fresh:
        return []
    external = [link for link in fresh if c.is_new_domain(url_domain(link.url))]
    domains = tuple(sorted({url_domain(link.url) or "" for link in external}))
    if external:
        weight = {1: 0.35, 2: 0.5}.get(len(external), 0.65 if len(external) < 6 else 0.85)
        sample = ", ".join(domains[:4])
        return [Finding("hidden_links", weight, "high",
                        f"hidden block with {len(external)} link(s) to other sites ({sample})", domains)]
    if len(fresh) >= 5:
        return [Finding("hidden_links", 0.3, "medium", f"{len(fresh)} new hidden links on the page")]
    return []


def _entropy(text: str) -> float:
    counts = Counter(text)
    total = len(text)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def _at_least(pattern: re.Pattern[str], text: str, count: int) -> bool:
    """`len(pattern.findall(text)) >= count`, stopping at the count-th match (a blob has thousands)."""
    return sum(1 for _ in islice(pattern.finditer(text), count)) >= count


def _payloads(code: str, low: str) -> list[str]:
    """Encoded-payload markers in a script: escapes, char-code lists, obfuscator names, high-entropy blobs."""
    found = []
    if _at_least(_HEX_ESC, low, 20) or _at_least(_UNI_ESC, low, 20):
        found.append("escaped strings")
    if _at_least(_PCT_ESC, low, 50):
        found.append("percent-encoded blob")
    if _CHAR_CODES.search(low):
        found.append("char-code list")
    if _at_least(_OBF_NAMES, low, 5):
        found.append("obfuscator names")
    if any(_entropy(m.group(0)[:2000]) > 4.0 for m in _LONG.finditer(code)):
        found.append("high-entropy blob")
    return found


def obfuscated_scripts(c: Candidate) -> list[Finding]:
    """New inline scripts that hide what they do (eval/unescape/atob/fromCharCode, encoded payloads)."""
    best: Finding | None = None
    for code in c.new_scripts:
        low = code.lower()
        calls = sorted({_CALL_PUNCT.sub("", call) for call in set(_CALLS.findall(low))})   # each distinct once
        payloads = _payloads(code, low)
        what = ", ".join(calls + payloads)
        if calls and payloads:
            weight = 0.8
        elif len(calls) >= 2 or len(payloads) >= 2:
            weight = 0.6
        elif payloads:
            weight = 0.35
        elif calls:
            weight = 0.2
        else:
            continue
        if best is None or weight > best.weight:
            severity = "high" if weight >= 0.5 else "medium"
            best = Finding("obfuscation", weight, severity, f"obfuscated inline script ({what})")
    return [best] if best else []


def script_sources(c: Candidate) -> list[Finding]:
    """New inline scripts that load or call outside domains the page never used (script loaders, beacons)."""
    fresh: set[str] = set()
    for code in c.new_scripts:
        for host in _JS_URL.findall(code[:200_000]):
            domain = url_domain("//" + host)
            if c.is_new_domain(domain) and domain and not c.known(domain) and "." in domain:
                fresh.add(domain)
    if not fresh:
        return []
    unknown = any(d not in WELL_KNOWN for d in fresh)
    reason = f"new inline script reaching {', '.join(sorted(fresh)[:5])}"
    return [Finding("domains", 0.45 if unknown else 0.05, "high" if unknown else "low", reason,
                    tuple(sorted(fresh)))]


def hidden_frames(c: Candidate) -> list[Finding]:
    """New iframes a visitor cannot see: hidden by style or 0-2 pixels wide/high."""
    known = set(c.profile.frames)
    bad = [f for f in c.page.frames if (f.hidden or f.tiny) and link_key(f.src) not in known
           and url_domain(f.src) not in ANALYTICS]   # a tag manager's <noscript> frame is hidden by design
    if not bad:
        return []
    domains = tuple(sorted({url_domain(f.src) or "(same site)" for f in bad}))
    how = "tiny" if all(f.tiny and not f.hidden for f in bad) else "hidden"
    return [Finding("iframe", 0.75, "high", f"{how} iframe to {', '.join(domains[:4])}",
                    tuple(d for d in domains if d != "(same site)"))]


def redirects(c: Candidate, final_url: str | None = None) -> list[Finding]:
    """Meta refresh, script or server redirects that send visitors to another domain."""
    out = []
    known_refresh = set(c.profile.refresh)
    for content in c.page.refresh:
        if link_key(content) in known_refresh:
            continue
        target = _REFRESH_URL.search(content)
        domain = url_domain(target.group(1)) if target else None
        if c.is_new_domain(domain):
            out.append(Finding("redirect", 0.85, "critical", f"meta refresh to {domain}", (domain,)))
        else:
            out.append(Finding("redirect", 0.2, "low", "new meta refresh on the page"))
    for code in c.new_scripts:
        for target in _JS_REDIRECT.findall(code[:200_000]):
            domain = url_domain(target)
            if c.is_new_domain(domain) and domain not in c.profile.domains.get("a", []):
                out.append(Finding("redirect", 0.8, "critical", f"script redirect to {domain}", (domain,)))
                break
    if final_url and c.profile.host:
        domain = url_domain(final_url)
        if domain and domain != c.profile.host:
            out.append(Finding("redirect", 0.85, "critical", f"page redirected to {domain}", (domain,)))
    return out


def structure_ids(page: Page) -> list[str]:
    """The page's structural marks as pseudo rule ids, so a profile remembers what its good page had."""
    return ["structure:" + mark for mark in sorted(page.signals)]


def first_sight(c: Candidate) -> list[Finding]:
    """A defacer's stand-alone page, a self-writing obfuscated page, an unfilled spam template: read from
    the page's build alone, so a first-sight defacement with no claim words is still caught."""
    seen = {hit[10:] for hit in c.profile.hits if hit.startswith("structure:")}
    marks = c.page.signals - seen if "standalone" not in seen else c.page.signals - seen - {"standalone"}
    out = []
    if "self_writing" in marks:
        out.append(Finding("structure", 0.8, "high", "the page shows no text of its own and writes itself "
                                                     "with an obfuscated script (document.write(unescape(...)))"))
    if "placeholders" in marks:
        out.append(Finding("structure", 0.45, "medium", "unfilled template placeholders like {{ BRAND }} "
                                                        "(a spam doorway template)"))
    points, what = standalone_score(marks)
    if points >= 2:
        weight = 0.8 if points >= 3 else 0.6
        out.append(Finding("structure", weight, "high",
                           f"stand-alone page built like a defacement: {', '.join(what)}, no site navigation"))
    return out


def title(c: Candidate) -> list[Finding]:
    """The title no known-good snapshot had."""
    if not c.profile.titles or c.feats.title in c.profile.titles:
        return []
    old = max(c.profile.titles, key=c.profile.titles.get)
    new_words, old_words = set(c.feats.title.split()), set(old.split())
    overlap = len(new_words & old_words) / max(1, len(new_words | old_words))
    weight = 0.15 if overlap >= 0.5 or not old.strip() else 0.35
    if not overlap and old.strip() and c.profile.titles[old] >= 0.8 * c.profile.n and len(c.profile.titles) == 1:
        weight = 0.5   # a full swap of a title the page always had: a defacer's title on a government page
    return [Finding("title", weight, "low" if overlap >= 0.5 else "medium",
                    f"title changed from '{old[:80]}' to '{c.page.title[:80]}'")]


def _lost(stable: set[str], present: set[str] | dict, weights: dict[str, int] | None = None) -> float | None:
    if not stable:
        return None
    if weights is None:
        return sum(1 for key in stable if key not in present) / len(stable)
    total = sum(weights.get(key, 1) for key in stable)
    return sum(weights.get(key, 1) for key in stable if key not in present) / max(1, total)


def replacement(c: Candidate) -> list[Finding]:
    """Loss of what every known-good snapshot had: its text, its logo/headings/ids, its layout."""
    profile = c.profile
    text_lost = _lost(profile.stable("text"), c.feats.text, profile.weights)
    marks_lost = _lost(profile.stable("landmarks"), c.feats.landmarks)
    shape_lost = _lost(profile.stable("shingles"), c.feats.shingles)
    parts = [(v, w) for v, w in ((text_lost, 0.45), (marks_lost, 0.3), (shape_lost, 0.25)) if v is not None]
    if not parts:
        return []
    loss = sum(v * w for v, w in parts) / sum(w for _, w in parts)
    weight = max(0.0, min(1.0, (loss - 0.35) / 0.5)) * 0.85
    if weight < 0.05:
        return []
    detail = ", ".join(f"{int(round(v * 100))}% of its {name}" for v, name in
                       ((text_lost, "stable text"), (marks_lost, "recurring elements (logo, headings, ids)"),
                        (shape_lost, "layout")) if v is not None)
    kept_title = _title_kept(c)
    if kept_title and marks_lost is not None and marks_lost <= 0.4:
        # Same title, most of the logo/headings/ids still there: an editorial rewrite, not a replacement.
        weight = min(weight, 0.4)
        detail += " (title and most recurring elements kept: likely an editorial change)"
    severity = "high" if weight >= 0.6 and not kept_title else "medium" if weight >= 0.3 else "low"
    return [Finding("content", weight, severity, f"page content replaced: lost {detail}")]


def _title_kept(c: Candidate) -> bool:
    """The title is (nearly) one the known-good page had: a redesign keeps its site's name."""
    if not c.feats.title or not c.profile.titles:
        return False
    if c.feats.title in c.profile.titles:
        return True
    new_words = set(c.feats.title.split())
    return any(len(new_words & set(old.split())) / max(1, len(new_words | set(old.split()))) >= 0.5
               for old in c.profile.titles)


def new_text_share(c: Candidate) -> float:
    """Share of the candidate's visible text never seen in any known-good snapshot."""
    total = sum(c.feats.text.values())
    if not total:
        return 0.0
    return sum(w for key, w in c.feats.text.items() if key not in c.profile.text) / total


__all__ = ["Candidate", "Finding", "mask", "new_scripts"]
