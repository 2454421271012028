"""The report tells the truth: a month in progress says so and counts only what has happened, a future
month and an unknown output format are refused, the path written is printed, the charts run 0-100 % and
draw future and data-less days apart, the Khmer report holds no stray English; and the weekly digest
gives the same figures in both languages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from govwatch.cli import main
from govwatch.collector.config import load_config
from govwatch.collector.locale.check import english_words
from govwatch.collector.report import charts
from govwatch.collector.report.data import build_report
from govwatch.collector.report.digest import build_digest, digest_html, digest_text
from govwatch.collector.report.render import render_html

from .test_report import INTACT, at, build_history, khmer_digits, shown

NAMES = {"moc-home", "moh-home", "mef-home", "MoC", "MoH", "MEF", "web-01", "database upgrade",
         "National Institute of Digital Technology (NiDA), MPTC", "Asia/Phnom_Penh", "collector.yml", "web_root"}


@pytest.fixture(scope="module")
def month(tmp_path_factory) -> Path:
    return build_history(tmp_path_factory.mktemp("truth"))


def test_month_in_progress_is_marked_and_counts_only_the_days_gone(month):
    cfg = load_config(str(month))
    report = build_report(cfg, "2026-09", now=at(16, 0))
    html = render_html(report, "en")
    assert "Month in progress: the figures cover 2026-09-01 00:00 to 2026-09-16 00:00" in html
    # moc-home by hand: 15 days measured, 3 h down-or-defaced on the 10th + 1 h defaced on the 12th
    assert shown(100 * (1 - 4 * 3600 / (15 * 86400))) in html  # 98.88%
    future = [day for day, _, ahead in report.daily if ahead]
    assert len(future) == 15 and html.count('stroke-dasharray="2 2"/>') >= 15
    finished = render_html(build_report(cfg, "2026-09", now=at(30, 0) + 3 * 86400), "en")
    assert "Month in progress" not in finished and shown(INTACT["moc-home"]) in finished


def test_a_future_month_is_refused_with_exit_2(month, tmp_path, capsys):
    code = main(["report", "uptime", "--month", "2099-01", "-c", str(month), "-o", str(tmp_path / "r.html")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "not started" in err and not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("name", ["r.docx", "report", "r.pdf.txt"])
def test_an_output_format_it_cannot_write_is_refused(month, tmp_path, capsys, name):
    code = main(["report", "uptime", "--month", "2026-09", "-c", str(month), "-o", str(tmp_path / name)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--format" in err and not (tmp_path / name).exists()


def test_the_path_written_is_printed_and_format_beats_extension(month, tmp_path, capsys):
    out = tmp_path / "monthly.out"
    assert main(["report", "uptime", "--month", "2026-09", "-c", str(month), "-o", str(out), "--format",
                 "html"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}" and out.read_text().startswith("<!DOCTYPE html>")


def test_charts_run_from_0_to_100_and_draw_missing_and_future_days_apart():
    day = at(1, 0)
    svg = charts.daily_chart([(day, None, False), (day + 86400, 99.0, False), (day + 2 * 86400, None, True)],
                             99.5, "Asia/Phnom_Penh")
    assert ">0%<" in svg and ">50%<" in svg and ">100%<" in svg
    assert svg.count('fill="url(#nodata)"') == 1 and svg.count('stroke-dasharray="2 2"') == 1
    bar = re.search(r'<rect x="[^"]+" y="([^"]+)" width="[^"]+" height="([^"]+)" fill="#d84315"', svg)
    assert float(bar.group(2)) == pytest.approx(140 * 0.99, abs=0.2)  # 99 % of the 0-100 axis, not a sliver


def test_khmer_report_has_no_english_outside_names_and_uses_khmer_digits(month):
    html = render_html(build_report(load_config(str(month)), "2026-09", now=at(30, 0) + 86400 * 3), "km")
    assert english_words(html, NAMES) == []
    assert khmer_digits(shown(INTACT["moc-home"])) in html and "ខែកញ្ញា ឆ្នាំ ២០២៦" in html


def test_weekly_digest_gives_the_report_figures_in_both_languages(month):
    digest = build_digest(load_config(str(month)), "2026-09-12", now=at(30, 0))
    text = digest_text(digest, "en")
    # 6-12 Sep by hand: moc-home down 2 h, defaced 3 h (1 h of it while down) -> 4 h of 7 days not intact
    moc = shown(100 * (1 - 4 * 3600 / (7 * 86400)))
    assert f"moc-home: {moc} available and intact (down 2 h 00 min, defaced or tampered 3 h 00 min)" in text
    assert "moh-home" not in text.split("Incidents")[0].split("below the target")[1]
    assert "2 opened, 2 resolved, 0 still open" in text and "Site moc-home defaced" in text
    assert f"All sites together: {shown(100 * (1 - 4 * 3600 / (3 * 7 * 86400)))}" in text
    khmer = digest_text(digest, "km")
    assert khmer_digits(moc) in khmer and not re.search(r"[0-9]", khmer.replace("web-01", ""))
    assert english_words(digest_html(digest, "km"), NAMES) == []


def test_digest_command_writes_text_or_html_and_refuses_other_formats(month, tmp_path, capsys):
    out = tmp_path / "week.txt"
    assert main(["report", "digest", "--week-ending", "2026-09-12", "--lang", "km", "-c", str(month),
                 "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}" and "សេចក្ដីសង្ខេបប្រចាំសប្ដាហ៍" in out.read_text()
    assert main(["report", "digest", "--week-ending", "2026-09-12", "-c", str(month), "-o",
                 str(tmp_path / "w.docx")]) == 2
    assert main(["report", "digest", "--week-ending", "2099-01-07", "-c", str(month), "-o", "-"]) == 2
    assert main(["report", "digest", "--week-ending", "12/09/2026", "-c", str(month), "-o", "-"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 3 and "Traceback" not in err
    with pytest.raises(SystemExit) as done:
        main(["report", "digest", "--help"])
    assert done.value.code == 0 and "weekly digest" in capsys.readouterr().out


def test_an_open_defacement_counts_until_the_end_of_the_period_or_now(tmp_path):
    import sqlite3

    config = build_history(tmp_path)
    with sqlite3.connect(tmp_path / "data" / "govwatch.db") as conn:
        conn.execute("INSERT INTO incidents(key, kind, site, severity, status, title, opened, updated) VALUES "
                     "('defacement:mef-home', 'defacement', 'mef-home', 'critical', 'open', 'x', ?, ?)",
                     (at(28, 0), at(28, 0)))
    cfg = load_config(str(config))
    done = build_report(cfg, "2026-09", now=at(30, 0) + 5 * 86400)
    # by hand: 30 min of FIM tampering on the 15th + 3 whole days (28-30 Sep) defaced, over 30 days
    assert done.integrity["mef-home"].tampered_seconds == 1800 + 3 * 86400
    assert done.integrity["mef-home"].intact == pytest.approx(100 * (1 - (1800 + 3 * 86400) / (30 * 86400)))
    assert done.accounts[0].site == "mef-home"  # now the worst site
    running = build_report(cfg, "2026-09", now=at(29, 12))
    assert running.integrity["mef-home"].tampered_seconds == 1800 + 36 * 3600  # up to "now", not the month's end
