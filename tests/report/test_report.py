"""The managers' report over a constructed month: known downtime, defaced time, maintenance and data gaps give
known figures (computed by hand below), in HTML, CSV and PDF (read back with pdftotext), in English and Khmer."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from govwatch.cli import main
from govwatch.collector.probes import CertInfo, ProbeResult
from govwatch.collector.uptime import UptimeTracker

TZ = ZoneInfo("Asia/Phnom_Penh")
STEP = 600  # probe interval of the constructed history (10 min keeps the month small)
MONTH_START = datetime(2026, 9, 1, tzinfo=TZ).timestamp()
MONTH_END = datetime(2026, 10, 1, tzinfo=TZ).timestamp()


def at(day: int, hour: int, minute: int = 0) -> float:
    return datetime(2026, 9, day, hour, minute, tzinfo=TZ).timestamp()


CONFIG = f"""\
listen: 127.0.0.1:0
data_dir: data
sites:
  - {{name: moc-home, url: "https://moc.example/", ministry: MoC, interval: {STEP}s, confirm_failures: 2}}
  - {{name: moh-home, url: "https://moh.example/", ministry: MoH, interval: {STEP}s, confirm_failures: 2}}
  - {{name: mef-home, url: "https://mef.example/", ministry: MEF, interval: {STEP}s, confirm_failures: 2,
      web_root: "web-01:/var/www/mef"}}
maintenance:
  - {{site: moh-home, start: "2026-09-20T22:00", end: "2026-09-21T01:00+07:00", reason: database upgrade}}
report: {{target: 99.8}}
"""

# Known history (local time):
#  moc-home: down 10 Sep 08:00-10:00 (2 h counted), one lone failed probe on 3 Sep (not confirmed, not counted).
#  moh-home: down 5 Sep 12:00-13:00 (1 h), down during its maintenance 20 Sep 22:00-21 Sep 01:00 (excluded),
#            no probe 25 Sep 00:00-06:00 (data gap 00:10-06:00 excluded).
#  mef-home: always up; certificate expires 5 days after the month ends.
# Known incidents (opened -> resolved):
#  moc-home defaced 12 Sep 03:00-04:00 (1 h) and 10 Sep 09:00-11:00 (2 h, of which 1 h while also down).
#  moh-home defaced 20 Sep 23:00-21 Sep 00:30: inside its maintenance window, not counted.
#  mef-home: FIM change under its web root on web-01 15 Sep 10:00-10:30 (30 min, counted); a change of
#            /etc/nginx on web-01 (outside the web root) 16 Sep, not counted; a traffic incident, not counted.
DOWN = {"moc-home": [(at(10, 8), at(10, 10)), (at(3, 4), at(3, 4, 1))],
        "moh-home": [(at(5, 12), at(5, 13)), (at(20, 22), at(21, 1))]}
GAPS = {"moh-home": [(at(25, 0), at(25, 6))]}
EXPECTED = {  # availability = 1 - downtime / (month - maintenance - gaps)
    "moc-home": 100 * (1 - 7200 / (30 * 86400)),                       # 99.7222
    "moh-home": 100 * (1 - 3600 / (30 * 86400 - 3 * 3600 - (6 * 3600 - STEP))),  # 99.8594
    "mef-home": 100.0,
}
MEASURED = {"moc-home": 30 * 86400, "moh-home": 30 * 86400 - 3 * 3600 - (6 * 3600 - STEP), "mef-home": 30 * 86400}
NOT_INTACT = {"moc-home": 3 * 3600 + 3600,  # down 08-10 and defaced 09-11 on the 10th = 08-11, plus 1 h on the 12th
              "moh-home": 3600, "mef-home": 1800}
TAMPERED = {"moc-home": 3 * 3600, "moh-home": 0, "mef-home": 1800}
INTACT = {site: 100 * (1 - NOT_INTACT[site] / MEASURED[site]) for site in MEASURED}  # 99.44, 99.85, 99.93


SHOT = "ab" * 32   # the rendered view's screenshot of the 12 Sep defacement


def shown(value: float) -> str:
    """How the report prints a percentage: 2 decimals, truncated."""
    return f"{int(value * 100) / 100:.2f}%"


def khmer_digits(text: str) -> str:
    return text.translate(str.maketrans("0123456789", "០១២៣៤៥៦៧៨៩"))


def build_history(folder: Path, dsn: str | None = None) -> Path:
    """The known month in a SQLite store in data/, or in the PostgreSQL database `dsn`."""
    config = folder / "collector.yml"
    config.write_text(CONFIG + (f"store: {dsn}\n" if dsn else ""))
    (folder / "data").mkdir()
    tracker = UptimeTracker(dsn or str(folder / "data" / "govwatch.db"))
    if not dsn:
        tracker.store.backend.writer.execute("PRAGMA synchronous=OFF")  # a fixture, not a durability test
    cert = CertInfo(0, MONTH_END + 5 * 86400, "CN=site", "CN=ca", True)
    for name in ("moc-home", "moh-home", "mef-home"):
        site = {"name": name, "confirm_failures": 2}
        for ts in range(int(MONTH_START) - 3 * STEP, int(MONTH_END) + 3 * STEP, STEP):
            if any(start < ts < end for start, end in GAPS.get(name, [])):
                continue
            up = not any(start <= ts < end for start, end in DOWN.get(name, []))
            tracker.record(site, ProbeResult(url="https://x/", ts=ts, up=up, status=200 if up else 503,
                                             duration=0.4 if up else 1.0, error=None if up else "HTTP 503",
                                             ip="192.0.2.1", cert=cert))
    incidents = [
        ("defacement:moc-home", "defacement", "moc-home", None, at(12, 3), at(12, 4),
         '{"views": [{"source": "render", "state": "defaced", "screenshot": "' + SHOT + '"}]}'),
        ("defacement:moc-home", "defacement", "moc-home", None, at(10, 9), at(10, 11), "{}"),
        ("defacement:moh-home", "defacement", "moh-home", None, at(20, 23), at(21, 0, 30), "{}"),
        ("fim:web-01:/var/www/mef", "fim", None, "web-01", at(15, 10), at(15, 10, 30),
         '{"fim": [{"path": "/var/www/mef/index.php", "change": "modified"}]}'),
        ("fim:web-01:/etc/nginx", "fim", None, "web-01", at(16, 10), at(16, 12),
         '{"fim": [{"path": "/etc/nginx/nginx.conf", "change": "modified"}]}'),
        ("traffic:web-01:syn_flood", "traffic", None, "web-01", at(17, 10), at(17, 12), "{}"),
    ]
    for key, kind, site, agent, opened, resolved, evidence in incidents:
        tracker._conn.execute(
            "INSERT INTO incidents(key, kind, site, agent, severity, status, title, opened, updated, resolved, "
            "evidence) VALUES (?, ?, ?, ?, 'critical', 'resolved', 'stored english title (hacked by x)', ?, ?, ?, ?)",
            (key, kind, site, agent, opened, resolved, resolved, evidence))
    tracker.close()
    return config


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def month(request, tmp_path_factory) -> Path:
    """The known month, once in each store backend."""
    dsn = request.getfixturevalue("pg_server").fresh_database() if request.param == "postgresql" else None
    return build_history(tmp_path_factory.mktemp("report"), dsn)


def report(config: Path, out: Path, *extra: str) -> int:
    return main(["report", "uptime", "--month", "2026-09", "-c", str(config), "-o", str(out), *extra])


def test_html_report_gives_the_known_availability_worst_first(month, tmp_path):
    assert report(month, tmp_path / "r.html") == 0
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    for site, value in EXPECTED.items():
        assert shown(value) in html, site
    table = html[html.index("Sites, worst first"):]
    assert table.index("moc-home") < table.index("moh-home") < table.index("mef-home")
    assert "2026-09-10 08:00" in html and "2026-09-10 10:00" in html  # outage start = first failed probe
    assert "2026-09-03 04:00" not in html  # a lone failure is not an outage
    assert "database upgrade" in html and "2026-09-20 22:00" in html
    assert "2026-09-25 00:10" in html  # the data gap, shown separately
    assert "Site moc-home defaced" in html and "/var/www/mef/index.php modified" in html
    assert "Asia/Phnom_Penh" in html and "consecutive probes fail" in html  # the method is printed
    assert "<svg" in html


def test_security_events_link_the_incident_and_its_screenshot_into_the_console(month, tmp_path):
    report(month, tmp_path / "plain.html")
    plain = (tmp_path / "plain.html").read_text(encoding="utf-8")
    security = plain[plain.index("Security"):]
    assert "· screenshot" in security and "/render/shots/" not in security   # no console_url: said, not linked
    linked = tmp_path / "linked.yml"
    linked.write_text(month.read_text().replace("data_dir: data", f"data_dir: {month.parent / 'data'}")
                      + "console_url: https://govwatch.nida.gov.kh:8443/\n")
    report(linked, tmp_path / "linked.html")
    html = (tmp_path / "linked.html").read_text(encoding="utf-8")
    assert f'href="https://govwatch.nida.gov.kh:8443/render/shots/{SHOT}.png"' in html
    assert html.count('href="https://govwatch.nida.gov.kh:8443/incidents/') == 6   # every incident, once
    assert html.count("/render/shots/") == 1   # only the incident that has a screenshot


def test_ministry_summary_is_judged_against_the_target(month, tmp_path):
    report(month, tmp_path / "r.html")
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    summary = html[html.index("Summary per ministry"):html.index("Available and intact per day")]
    assert f"{shown(INTACT['moc-home'])} · missed" in summary  # 99.44 < 99.8
    assert f"{shown(INTACT['moh-home'])} · met" in summary and f"{shown(INTACT['mef-home'])} · met" in summary


def test_csv_export_has_the_raw_figures(month, tmp_path):
    assert report(month, tmp_path / "r.html", "--csv", str(tmp_path / "r.csv")) == 0
    rows = {r["site"]: r for r in csv.DictReader((tmp_path / "r.csv").open(encoding="utf-8"))}
    for site, value in EXPECTED.items():
        assert float(rows[site]["availability_percent"]) == pytest.approx(value, abs=1e-4)
        assert float(rows[site]["available_intact_percent"]) == pytest.approx(INTACT[site], abs=1e-4)
        assert int(rows[site]["defaced_or_tampered_seconds"]) == TAMPERED[site]
    assert rows["moc-home"]["downtime_seconds"] == "7200" and rows["moc-home"]["outages"] == "1"
    assert rows["moh-home"]["maintenance_seconds"] == "10800"
    assert rows["moh-home"]["data_gap_seconds"] == str(6 * 3600 - STEP)
    assert float(rows["mef-home"]["cert_days_left"]) == pytest.approx(5.0, abs=0.1)


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
@pytest.mark.parametrize("lang", ["en", "km"])
def test_pdf_reads_back_with_the_figures_and_the_language(month, tmp_path, lang):
    pytest.importorskip("weasyprint")
    out = tmp_path / f"r-{lang}.pdf"
    assert report(month, out, "--lang", lang, "--format", "pdf") == 0
    assert out.read_bytes().startswith(b"%PDF")
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout
    for value in [*EXPECTED.values(), *INTACT.values()]:
        assert (khmer_digits(shown(value)) if lang == "km" else shown(value)) in text
    khmer = sum("\u1780" <= c <= "\u17ff" for c in text)
    if lang == "km":
        assert khmer > 200 and "ភាពអាច" in text and "Availability" not in text
        assert not re.search(r"[0-9]", text.replace("web-01", "")), "Western digits in the Khmer report (names aside)"
    else:
        assert khmer == 0 and "Availability" in text


def test_empty_collector_still_gives_a_valid_report(tmp_path):
    (tmp_path / "collector.yml").write_text("listen: 127.0.0.1:0\ndata_dir: .\nsites:\n"
                                            "  - {name: moc-home, url: 'https://moc.example/'}\n")
    assert report(tmp_path / "collector.yml", tmp_path / "r.html", "--lang", "km") == 0
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "មិនមានទិន្នន័យត្រួតពិនិត្យសម្រាប់ខែនេះទេ" in html
    assert not (tmp_path / "govwatch.db").exists()  # a report never creates a store


@pytest.mark.parametrize("month_arg", ["2026-13", "2026-9", "sept"])
def test_bad_month_exits_2_with_one_line(month_arg, month, tmp_path, capsys):
    code = main(["report", "uptime", "--month", month_arg, "-c", str(month), "-o", str(tmp_path / "x.pdf")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "YYYY-MM" in err and "Traceback" not in err


def test_missing_config_exits_2(tmp_path, capsys):
    assert report(tmp_path / "nope.yml", tmp_path / "r.html") == 2
    assert "nope.yml" in capsys.readouterr().err
