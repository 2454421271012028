"""Report charts: the hand-drawn SVG (collector/report/charts.py) against matplotlib, both placed in the same
Khmer report page and written to PDF by WeasyPrint. Prints, per approach, the time to draw the chart, the
time to write the PDF, the PDF's size, and writes page images for a person to check the Khmer shaping.

Usage: python bench/report_charts.py [OUT_DIR]   (matplotlib is optional: its half is skipped without it)
The figures are ratios against the SVG anchor measured in the same run (the machine may be shared).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from govwatch.collector.locale import words
from govwatch.collector.report import charts

TZ = "Asia/Phnom_Penh"
ROUNDS = 5


def month() -> list[tuple[float, float | None, bool]]:
    start = datetime(2026, 9, 1, tzinfo=ZoneInfo(TZ)).timestamp()
    values = [100.0, 99.9, 97.2, None, 100.0, 99.95, 88.0] * 5
    return [(start + d * 86400, values[d], d >= 24) for d in range(30)]


def svg_chart(daily, w) -> str:
    return charts.daily_chart(daily, 99.5, TZ, w.digits)


def matplotlib_chart(daily, w) -> str:
    import matplotlib

    matplotlib.use("svg")
    from matplotlib import pyplot as plt

    plt.rcParams["font.family"] = ["Khmer OS", "DejaVu Sans"]
    fig, ax = plt.subplots(figsize=(7.5, 1.9))
    days = list(range(1, len(daily) + 1))
    ax.bar(days, [v or 0 for _, v, _ in daily], color=["#2e7d32" if (v or 0) >= 99.5 else "#d84315"
                                                          for _, v, _ in daily])
    ax.axhline(99.5, color="#1a237e", linestyle="--", linewidth=0.8)
    ax.set_ylim(0, 100)
    ax.set_xticks(days, [w.digits(str(d)) for d in days], fontsize=6)
    ax.set_title(w["report.chart_daily"], fontsize=9)
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def page(chart: str, w) -> str:
    return (f'<html lang="km"><head><meta charset="utf-8"><style>body{{font-family:"Khmer OS"}}</style></head>'
            f"<body><h2>{w['report.chart_daily']}</h2>{chart}</body></html>")


def measure(name: str, draw, out: Path) -> dict[str, float]:
    from weasyprint import HTML

    w, daily = words("km"), month()
    draw(daily, w)  # warm-up: imports and font cache are not the chart's cost
    started = time.perf_counter()
    for _ in range(ROUNDS):
        chart = draw(daily, w)
    drawn = (time.perf_counter() - started) / ROUNDS
    pdf = out / f"chart-{name}.pdf"
    started = time.perf_counter()
    HTML(string=page(chart, w)).write_pdf(pdf)
    written = time.perf_counter() - started
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-r", "110", "-singlefile", "-png", str(pdf), str(out / f"chart-{name}")],
                       check=False)
    return {"draw_ms": drawn * 1000, "pdf_ms": written * 1000, "pdf_kb": pdf.stat().st_size / 1024}


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/out")
    out.mkdir(parents=True, exist_ok=True)
    results = {"svg": measure("svg", svg_chart, out)}
    try:
        import matplotlib

        results[f"matplotlib {matplotlib.__version__}"] = measure("matplotlib", matplotlib_chart, out)
    except ImportError:
        print("matplotlib not installed: only the SVG anchor measured")
    anchor = results["svg"]
    for name, figures in results.items():
        ratios = ", ".join(f"{k} {v:.1f} (x{v / anchor[k]:.1f})" for k, v in figures.items())
        print(f"{name:18s} {ratios}")
    print(f"page images: {out}/chart-*.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
