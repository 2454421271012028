"""Linked stylesheets: same-site only, bounded, revalidated by ETag; what they hide is read as hidden."""

from __future__ import annotations

from govwatch.agents.defacement.html import parse
from govwatch.agents.defacement.stylesheets import MAX_SHEETS, SheetCache, linked

PAGE = ('<link rel="stylesheet" href="/theme.css"><link rel="stylesheet" href="https://static.moc.gov.kh/a.css">'
        '<link rel="stylesheet" href="https://cdn.example.org/fw.css"><link rel="preload" href="/x.css">'
        '<body><div class="promo"><a href="https://gacor.example/">slot gacor</a></div><p>news</p></body>')


def test_only_same_site_stylesheets_are_fetched() -> None:
    assert linked(PAGE, "https://www.moc.gov.kh/index.html") == [
        "https://www.moc.gov.kh/theme.css", "https://static.moc.gov.kh/a.css"]
    many = "".join(f'<link rel="stylesheet" href="/{i}.css">' for i in range(50))
    assert len(linked(many, "https://moc.gov.kh/")) == MAX_SHEETS


def test_cache_revalidates_by_etag_and_hidden_block_is_read_as_hidden() -> None:
    calls: list[tuple[str, str | None]] = []

    def get(url: str, etag: str | None) -> tuple[int, str, str | None]:
        calls.append((url, etag))
        if etag == '"v1"':
            return 304, "", '"v1"'
        return 200, ".promo{position:absolute;left:-9999px}", '"v1"'

    cache = SheetCache(get)
    first = cache.sheets(PAGE, "https://www.moc.gov.kh/")
    again = cache.sheets(PAGE, "https://www.moc.gov.kh/")
    assert first == again and calls[2:] == [("https://www.moc.gov.kh/theme.css", '"v1"'),
                                            ("https://static.moc.gov.kh/a.css", '"v1"')]
    page = parse(PAGE, first)
    assert [link.hidden for link in page.links if link.tag == "a"] == [True] and page.text == ["news"]


def test_a_stylesheet_that_fails_is_left_out() -> None:
    def get(url: str, etag: str | None) -> tuple[int, str, str | None]:
        raise OSError("connection refused")

    assert SheetCache(get).sheets(PAGE, "https://www.moc.gov.kh/") == []
