"""A page's learned profile: what its known-good snapshots share, and what changes between them.

Each snapshot adds counts for its text chunks, recurring elements (logo, headings, ids), tag shapes, and
the outside domains it loads. What every snapshot has is *stable* (its loss means the page was replaced);
what only some have is *volatile* (dates, counters, rotating news) and is never held against a page.
Digits and long tokens are masked before counting, so counters, dates, CSRF tokens and `?v=` cache
busters look the same on every load. Counts decay once a profile has seen `MAX_SNAPSHOTS`, so a profile
keeps following a page that slowly evolves.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from govwatch.agents.defacement.blocks import Memo
from govwatch.agents.defacement.html import Page, parse
from govwatch.errors import GovwatchError

VERSION = 2   # 2: features read from the HTML5 tree (selectolax); version-1 profiles are learned again
MAX_SNAPSHOTS = 20
STABLE = 0.8
MAX_REFERENCE = 400
_DIGITS = re.compile(r"\d+")
_TOKEN = re.compile(r"[A-Za-z0-9_+/=-]{24,}")
_WORD = re.compile(r"\w{3,}")
_SPACE = re.compile(r"\s+")
_RELATIVE_START = set("#?.abcdefgijklmnopqrstuvwxyzABCDEFGIJKLMNOPQRSTUVWXYZ0123456789_-~%")   # not h, /, space
_MASKED = Memo(max_entries=16_384, max_key=500)
_FINGERPRINTS = Memo(max_entries=1024, max_key=8000)
_SECOND_LEVEL = {"co", "com", "gov", "go", "ac", "or", "org", "net", "edu", "mil", "sch", "web", "nic", "in",
                 "ne", "gob", "gouv", "govt", "info", "biz", "per", "ltd", "plc", "my"}
_SHARED_HOSTING = {"github.io", "blogspot.com", "wordpress.com", "pages.dev", "netlify.app", "vercel.app",
                   "herokuapp.com", "azurewebsites.net", "cloudfront.net", "appspot.com", "firebaseapp.com",
                   "web.app", "workers.dev", "glitch.me", "000webhostapp.com", "weebly.com", "wixsite.com",
                   "s3.amazonaws.com", "blob.core.windows.net", "googleusercontent.com", "r2.dev"}
CONTEXTS = {"script": "script", "iframe": "iframe", "frame": "iframe", "img": "img", "input": "img",
            "link": "link", "a": "a", "area": "a", "form": "form", "embed": "media", "object": "media",
            "audio": "media", "video": "media", "source": "media", "base": "base"}


class ProfileError(GovwatchError, ValueError):
    """A saved profile cannot be used (wrong version or malformed); learn again."""


def mask(text: str) -> str:
    """Mask what changes on every load (numbers, tokens) so re-renders compare equal."""
    return _DIGITS.sub("0", _TOKEN.sub("*", text))[:200]


def registrable(host: str) -> str:
    """The owner-level domain of a host (`www.moc.gov.kh` -> `moc.gov.kh`), or the IP itself."""
    host = host.lower().strip().strip(".").rsplit("@", 1)[-1]
    if host.startswith("["):
        return host.split("]")[0] + "]"
    host = host.split(":")[0]
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    labels = host.split(".")
    if len(labels) >= 3 and ".".join(labels[-2:]) in _SHARED_HOSTING:
        return ".".join(labels[-3:])
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def url_domain(url: str) -> str | None:
    """Registrable domain a URL points at; None for relative, data:, javascript:, mailto: and the like.
    Remembered without the query and fragment (they never hold the host, and `?v=` cache busters make
    every render's URLs new)."""
    return _url_domain(url.split("?", 1)[0].split("#", 1)[0])


@lru_cache(maxsize=8192)
def _url_domain(url: str) -> str | None:
    url = url.strip()
    if url.startswith("//"):
        url = "http:" + url
    elif not url.lower().startswith(("http://", "https://")):
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return registrable(host) if host else None


def script_fingerprint(code: str) -> str:
    """Stable identity of an inline script across re-renders (numbers, nonces and spacing ignored)."""
    found = _FINGERPRINTS.get(code)
    if found is None:
        canon = _SPACE.sub("", _DIGITS.sub("0", _TOKEN.sub("*", code)))
        found = hashlib.blake2b(canon.encode("utf-8", "replace"), digest_size=8).hexdigest()
        _FINGERPRINTS.put(code, found)
    return found


def link_key(url: str) -> str:
    """A link without query and fragment: how a hidden link is remembered."""
    return re.split(r"[?#]", url.strip().lower(), maxsplit=1)[0][:200]


@dataclass
class Features:
    """What one snapshot contributes to a profile (and what a candidate is compared on)."""

    title: str
    text: dict[str, int]
    landmarks: set[str]
    shingles: set[str]
    domains: dict[str, set[str]]
    hidden_links: set[str]
    frames: set[str]
    scripts: set[str]
    refresh: set[str]
    masked: list[str] = field(default_factory=list)
    script_ids: list[str] = field(default_factory=list)

    def new_text(self, page: Page, known: dict[str, float]) -> list[str]:
        """The page's visible text chunks a profile has never seen (long chunks always count as new:
        their key is cut at 200 characters, and words appended to a known paragraph must still be read)."""
        return [line for line, key in zip(page.text, self.masked, strict=False)
                if len(key) >= 200 or key not in known]


def mask_lines(lines: list[str]) -> list[str]:
    """`mask` of each visible text line (uncut), remembered per line: most lines of a re-render are
    the lines of the last one, and the regexes cost 0.3 ms on a dense page."""
    get = _MASKED.getter()
    out: list[str | None] = [get(line) for line in lines]
    missing = [index for index, found in enumerate(out) if found is None]
    if missing:
        fresh = _mask_all([lines[index] for index in missing])
        if len(fresh) != len(missing):   # a line holding a newline (never from the reader): as before
            return _mask_all(lines)
        for index, found in zip(missing, fresh, strict=True):
            out[index] = found
            _MASKED.put(lines[index], found)
    return out  # type: ignore[return-value]


def _mask_all(lines: list[str] | set[str]) -> list[str]:
    """`mask` over many short strings in two regex passes (one per joined block, not one per string)."""
    if not lines:
        return []
    return _DIGITS.sub("0", _TOKEN.sub("*", "\n".join(lines))).split("\n")


def _domains(page: Page) -> dict[str, set[str]]:
    """Outside domains per place (script, iframe, img...); relative URLs, most of a page's links, are
    passed over without a lookup."""
    found: dict[str, set[str]] = {}
    for link in page.links:
        url = link.url
        if url[:1] in _RELATIVE_START:
            continue
        domain = url_domain(url)
        if domain:
            place = CONTEXTS.get(link.tag, "a")
            if place in found:
                found[place].add(domain)
            else:
                found[place] = {domain}
    return found


def features(page: Page) -> Features:
    """Reduce a parsed page to the masked features a profile counts."""
    masked = mask_lines(page.text)
    text = {key[:200]: min(len(key), 200) for key in masked}
    script_ids = [script_fingerprint(code) for code in page.scripts]
    return Features(
        title=mask(page.title), text=text, landmarks={x[:200] for x in _mask_all(page.landmarks)},
        shingles=page.shingles, domains=_domains(page),
        hidden_links={link_key(link.url) for link in page.links if link.hidden},
        frames={link_key(frame.src) for frame in page.frames},
        scripts=set(script_ids),
        refresh={link_key(r) for r in page.refresh}, masked=masked,
        script_ids=script_ids)


def _bump(counts: dict[str, float], keys: Any) -> None:
    for key in keys:
        counts[key] = counts.get(key, 0.0) + 1.0


@dataclass
class Profile:
    """Counts over known-good snapshots of one page; JSON-able with `to_dict()`/`from_dict()`."""

    url: str | None = None
    host: str | None = None
    n: float = 0.0
    titles: dict[str, float] = field(default_factory=dict)
    text: dict[str, float] = field(default_factory=dict)
    weights: dict[str, int] = field(default_factory=dict)
    landmarks: dict[str, float] = field(default_factory=dict)
    shingles: dict[str, float] = field(default_factory=dict)
    domains: dict[str, list[str]] = field(default_factory=dict)
    hidden_links: list[str] = field(default_factory=list)
    frames: list[str] = field(default_factory=list)
    scripts: list[str] = field(default_factory=list)
    refresh: list[str] = field(default_factory=list)
    hits: list[str] = field(default_factory=list)
    reference: list[str] = field(default_factory=list)
    overlays: list[str] = field(default_factory=list)
    _stable: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def learned(self) -> bool:
        return self.n > 0

    def add(self, page: Page, hits: list[str] | None = None) -> None:
        """Count one more known-good snapshot (already judged clean, or one of the learning set)."""
        feats = features(page)
        if self.n >= MAX_SNAPSHOTS:
            self._decay(1.0 - 1.0 / MAX_SNAPSHOTS)
        self.n += 1.0
        _bump(self.titles, [feats.title])
        _bump(self.text, feats.text)
        self.weights.update(feats.text)
        _bump(self.landmarks, feats.landmarks)
        _bump(self.shingles, feats.shingles)
        for ctx, found in feats.domains.items():
            self.domains[ctx] = sorted(set(self.domains.get(ctx, [])) | found)
        for name in ("hidden_links", "frames", "scripts", "refresh"):
            merged = set(getattr(self, name)) | getattr(feats, name)
            setattr(self, name, sorted(merged)[-2000:])
        self.hits = sorted(set(self.hits) | set(hits or []))
        self.overlays = sorted(set(self.overlays) | set(page.overlays))[-200:]
        self.reference = (page.display or page.text + ["[hidden] " + t for t in page.hidden_text])[:MAX_REFERENCE]
        self._stable = {}

    def _decay(self, factor: float) -> None:
        self.n *= factor
        floor = 0.3
        for counts in (self.titles, self.text, self.landmarks, self.shingles):
            for key in list(counts):
                counts[key] *= factor
                if counts[key] < floor:
                    del counts[key]
        self.weights = {k: v for k, v in self.weights.items() if k in self.text}

    def stable(self, name: str) -> set[str]:
        """Keys of `text`, `landmarks` or `shingles` present in (nearly) every snapshot."""
        if name not in self._stable:
            counts: dict[str, float] = getattr(self, name)
            need = max(1.0, STABLE * self.n) - 1e-9
            self._stable[name] = {key for key, count in counts.items() if count >= need}
        return self._stable[name]

    def vocabulary(self) -> set[str]:
        """Every word (3+ letters) of the text the known-good snapshots showed."""
        if "vocabulary" not in self._stable:
            self._stable["vocabulary"] = {w for key in self.text for w in _WORD.findall(key)}
        return self._stable["vocabulary"]

    def all_domains(self) -> set[str]:
        if "domains" not in self._stable:
            self._stable["domains"] = {d for found in self.domains.values() for d in found}
        return self._stable["domains"]

    def to_dict(self) -> dict[str, Any]:
        return {"version": VERSION, "url": self.url, "host": self.host, "n": self.n, "titles": self.titles,
                "text": self.text, "weights": self.weights, "landmarks": self.landmarks,
                "shingles": self.shingles, "domains": self.domains, "hidden_links": self.hidden_links,
                "frames": self.frames, "scripts": self.scripts, "refresh": self.refresh, "hits": self.hits,
                "reference": self.reference, "overlays": self.overlays}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        if not isinstance(data, dict) or data.get("version") != VERSION:
            found = data.get("version") if isinstance(data, dict) else type(data).__name__
            raise ProfileError(f"not a govwatch page profile of version {VERSION} (found {found!r})")
        try:
            return cls(**{k: v for k, v in data.items() if k != "version"})
        except TypeError as exc:
            raise ProfileError(f"page profile is malformed: {exc}") from None


def learn(snapshots: list[str], url: str | None = None, rules: list | None = None,
          stylesheets: list[str] | None = None) -> Profile:
    """Learn a profile from known-good HTML snapshots of one page (one works; 3+ teach what varies)."""
    from govwatch.agents.defacement import signatures

    if not snapshots:
        raise GovwatchError("learning a page profile needs at least one snapshot")
    host = urlsplit(url).hostname if url else None
    profile = Profile(url=url, host=registrable(host) if host else None)
    rules = signatures.load() if rules is None else rules
    for html in snapshots:
        page = parse(html, stylesheets)
        if profile.host is None:
            profile.host = _guess_host(page)
        from govwatch.agents.defacement.evidence import comment_rule_ids

        hits = signatures.scan(rules, signatures.record(page, external_test(profile.host)))
        profile.add(page, [hit.rule_id for hit in hits] + ["structure:" + mark for mark in sorted(page.signals)]
                    + comment_rule_ids(page, rules))
    return profile


def _guess_host(page: Page) -> str | None:
    """Without a URL, take the page's own domain from <link rel=canonical> or og:url when present."""
    for link in page.links:
        if link.tag == "link" and "canonical" in link.rel:
            return url_domain(link.url)
    return None


def external_test(host: str | None):
    """A predicate telling whether a URL leads away from the page's own domain."""
    def is_external(url: str) -> bool:
        domain = url_domain(url)
        return domain is not None and domain != host
    return is_external
