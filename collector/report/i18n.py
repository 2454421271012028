"""The report's words in English and Khmer, and number, date and duration formats for each language.

Figures keep Western digits in both languages so a manager can compare the two versions line by line
(and so the test can read them back); all the surrounding text is Khmer in the Khmer report.
"""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

LANGS = ("en", "km")

MONTHS = {
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"],
    "km": ["មករា", "កុម្ភៈ", "មីនា", "មេសា", "ឧសភា", "មិថុនា", "កក្កដា", "សីហា", "កញ្ញា", "តុលា", "វិច្ឆិកា", "ធ្នូ"],
}

STRINGS: dict[str, dict[str, str]] = {
    "title": {"en": "Website availability report", "km": "របាយការណ៍ភាពអាចប្រើបាននៃគេហទំព័រ"},
    "month_label": {"en": "{month} {year}", "km": "ខែ{month} ឆ្នាំ{year}"},
    "generated": {"en": "Generated {time} ({tz})", "km": "បង្កើតនៅ {time} ({tz})"},
    "no_data": {"en": "No probe data was recorded for this month: there is nothing to measure yet.",
                "km": "មិនមានទិន្នន័យត្រួតពិនិត្យសម្រាប់ខែនេះទេ៖ មិនទាន់មានអ្វីសម្រាប់វាស់វែងនៅឡើយ។"},
    "no_sites": {"en": "No site is configured in collector.yml.",
                 "km": "មិនមានគេហទំព័រណាមួយត្រូវបានកំណត់នៅក្នុង collector.yml ទេ។"},
    "summary": {"en": "Summary per ministry", "km": "សេចក្ដីសង្ខេបតាមក្រសួង"},
    "ministry": {"en": "Ministry", "km": "ក្រសួង"},
    "sites": {"en": "Sites", "km": "គេហទំព័រ"},
    "site": {"en": "Site", "km": "គេហទំព័រ"},
    "availability": {"en": "Availability", "km": "ភាពអាចប្រើបាន"},
    "target": {"en": "Target", "km": "គោលដៅ"},
    "met": {"en": "met", "km": "សម្រេច"},
    "missed": {"en": "missed", "km": "មិនសម្រេច"},
    "no_figure": {"en": "no data", "km": "គ្មានទិន្នន័យ"},
    "downtime": {"en": "Downtime", "km": "រយៈពេលគាំង"},
    "outages": {"en": "Outages", "km": "ចំនួនគាំង"},
    "longest": {"en": "Longest outage", "km": "ការគាំងយូរបំផុត"},
    "mttr": {"en": "MTTR", "km": "រយៈពេលជួសជុលមធ្យម"},
    "response": {"en": "Response time (median / 95%)", "km": "ពេលវេលាឆ្លើយតប (មធ្យម / ៩៥%)"},
    "cert_days": {"en": "Certificate days left", "km": "ថ្ងៃនៅសល់នៃវិញ្ញាបនបត្រ"},
    "gaps": {"en": "Data gaps", "km": "ចន្លោះគ្មានទិន្នន័យ"},
    "maintenance": {"en": "Maintenance", "km": "ការថែទាំ"},
    "per_site": {"en": "Sites, worst first", "km": "គេហទំព័រ (អាក្រក់បំផុតមុន)"},
    "chart_daily": {"en": "Availability per day, all sites", "km": "ភាពអាចប្រើបានប្រចាំថ្ងៃ គ្រប់គេហទំព័រ"},
    "chart_sites": {"en": "Availability per site against the target",
                    "km": "ភាពអាចប្រើបានតាមគេហទំព័រ ធៀបនឹងគោលដៅ"},
    "incidents": {"en": "Outages (incidents)", "km": "ការគាំង (ឧប្បត្តិហេតុ)"},
    "start": {"en": "Start", "km": "ចាប់ផ្ដើម"},
    "end": {"en": "End", "km": "បញ្ចប់"},
    "duration": {"en": "Duration", "km": "រយៈពេល"},
    "counted": {"en": "Counted", "km": "បានរាប់"},
    "cause": {"en": "Cause", "km": "មូលហេតុ"},
    "ongoing": {"en": "ongoing", "km": "កំពុងបន្ត"},
    "none": {"en": "None this month.", "km": "មិនមានក្នុងខែនេះទេ។"},
    "maintenance_windows": {"en": "Maintenance windows (excluded)", "km": "ពេលថែទាំ (មិនរាប់បញ្ចូល)"},
    "scope": {"en": "Applies to", "km": "អនុវត្តចំពោះ"},
    "reason": {"en": "Reason", "km": "មូលហេតុ"},
    "security": {"en": "Security events", "km": "ព្រឹត្តិការណ៍សន្តិសុខ"},
    "kind": {"en": "Kind", "km": "ប្រភេទ"},
    "severity": {"en": "Severity", "km": "កម្រិតធ្ងន់ធ្ងរ"},
    "opened": {"en": "Opened", "km": "បានបើក"},
    "status": {"en": "Status", "km": "ស្ថានភាព"},
    "title_col": {"en": "What happened", "km": "អ្វីដែលបានកើតឡើង"},
    "events_received": {"en": "Events received from agents", "km": "ព្រឹត្តិការណ៍ដែលទទួលបានពីភ្នាក់ងារ"},
    "count": {"en": "Count", "km": "ចំនួន"},
    "data_gaps": {"en": "Data gaps (neither up nor down)", "km": "ចន្លោះគ្មានទិន្នន័យ (មិនរាប់ថាដំណើរការ ឬគាំង)"},
    "from": {"en": "From", "km": "ពី"},
    "to": {"en": "To", "km": "ដល់"},
    "method": {"en": "How availability is counted", "km": "វិធីគណនាភាពអាចប្រើបាន"},
    "legend_target": {"en": "dashed line: target {target}", "km": "បន្ទាត់ដាច់ៗ៖ គោលដៅ {target}"},
    "more": {"en": "… and {n} more (see the govwatch console).",
             "km": "… និង {n} ទៀត (សូមមើលផ្ទាំងគ្រប់គ្រង govwatch)។"},
}

METHOD: dict[str, list[str]] = {
    "en": [
        "Each site is fetched from outside, as a citizen would, every {interval} (per site, see the table).",
        "A site counts as down once {confirm} consecutive probes fail (no answer, error status, invalid "
        "certificate). The outage starts at the first failed probe of that run and ends at the first "
        "successful probe, so short blips are not counted but confirmed outages are counted in full.",
        "Time inside a planned maintenance window (collector.yml) is excluded from both the measured time "
        "and the downtime, and listed separately.",
        "A stretch longer than 3 probe intervals without any probe (collector stopped, network cut) is a data "
        "gap: it counts as neither up nor down, is excluded, and is listed separately.",
        "Availability = 1 - downtime / (measured time), where measured time = the calendar month in {tz} "
        "(or from the first probe of a new site) minus maintenance and data gaps. Percentages are truncated, "
        "never rounded up. A ministry's figure is the time-weighted total of its sites.",
    ],
    "km": [
        "គេហទំព័រនីមួយៗត្រូវបានពិនិត្យពីខាងក្រៅ ដូចពលរដ្ឋចូលមើល រៀងរាល់ {interval} (តាមគេហទំព័រ សូមមើលតារាង)។",
        "គេហទំព័រត្រូវបានចាត់ទុកថាគាំង នៅពេលការពិនិត្យចំនួន {confirm} ដងជាប់ៗគ្នាបរាជ័យ (គ្មានចម្លើយ ស្ថានភាពកំហុស "
        "ឬវិញ្ញាបនបត្រមិនត្រឹមត្រូវ)។ ការគាំងចាប់ផ្ដើមនៅការពិនិត្យបរាជ័យដំបូង ហើយបញ្ចប់នៅការពិនិត្យជោគជ័យដំបូង។",
        "ពេលវេលាក្នុងអំឡុងពេលថែទាំតាមគម្រោង (collector.yml) មិនត្រូវបានរាប់បញ្ចូលទេ ហើយត្រូវបានបង្ហាញដោយឡែក។",
        "រយៈពេលលើសពីចន្លោះពិនិត្យ ៣ ដង ដែលគ្មានការពិនិត្យសោះ (ឧបករណ៍ប្រមូលឈប់ ឬបណ្ដាញដាច់) គឺជាចន្លោះគ្មានទិន្នន័យ៖ "
        "មិនរាប់ថាដំណើរការ ឬគាំងទេ ហើយត្រូវបានបង្ហាញដោយឡែក។",
        "ភាពអាចប្រើបាន = 1 - រយៈពេលគាំង / ពេលវេលាដែលបានវាស់ ដែលពេលវេលាដែលបានវាស់ = ខែប្រតិទិននៅតំបន់ម៉ោង {tz} "
        "ដកពេលថែទាំ និងចន្លោះគ្មានទិន្នន័យ។ ភាគរយត្រូវបានកាត់ មិនបង្គត់ឡើងទេ។ តួលេខរបស់ក្រសួងគឺជាផលបូកតាមពេលវេលានៃគេហទំព័ររបស់ខ្លួន។",
    ],
}

UNITS = {"en": {"d": "d", "h": "h", "min": "min", "s": "s", "days": "days"},
         "km": {"d": "ថ្ងៃ", "h": "ម៉ោង", "min": "នាទី", "s": "វិនាទី", "days": "ថ្ងៃ"}}

SEVERITY_NAMES = {"km": {"critical": "ធ្ងន់ធ្ងរបំផុត", "high": "ខ្ពស់", "medium": "មធ្យម", "low": "ទាប", "info": "ព័ត៌មាន"}}


def t(key: str, lang: str, **values: object) -> str:
    return STRINGS[key][lang].format(**values)


def month_title(year: int, month: int, lang: str) -> str:
    return t("month_label", lang, month=MONTHS[lang][month - 1], year=year)


def pct(value: float | None, lang: str) -> str:
    """Percent with 2 decimals, truncated: 99.999 stays 99.99, never shows 100.00 when there was downtime."""
    if value is None:
        return t("no_figure", lang)
    return f"{math.floor(value * 100 + 1e-9) / 100:.2f}%"


def duration(seconds: float | None, lang: str) -> str:
    """`2 d 3 h`, `1 h 05 min`, `4 min 10 s` (largest two units)."""
    if seconds is None:
        return "–"
    u = UNITS[lang]
    seconds = int(round(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} {u['d']} {hours} {u['h']}"
    if hours:
        return f"{hours} {u['h']} {minutes:02d} {u['min']}"
    if minutes:
        return f"{minutes} {u['min']} {secs:02d} {u['s']}"
    return f"{secs} {u['s']}"


def when(ts: float | None, tz: str) -> str:
    if ts is None:
        return "–"
    return datetime.fromtimestamp(ts, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def severity(name: str, lang: str) -> str:
    return SEVERITY_NAMES.get(lang, {}).get(name, name)
