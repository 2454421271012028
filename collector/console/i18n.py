"""Every string the console shows a person, in English and Khmer.

Templates read these as `${t_KEY}`; code reads them with `words(lang)[KEY]`. A key missing in Khmer
falls back to English (a test checks that none is missing).
"""

from __future__ import annotations

LANGS = ("en", "km")

EN = {
    "app": "govwatch console", "incidents": "Incidents", "agents": "Agents", "sites": "Sites", "users": "Users",
    "login": "Log in", "logout": "Log out", "username": "User name", "password": "Password",
    "password_again": "Password (again)", "admin_token": "Admin token (file admin-token from `collector init`)",
    "setup": "First administrator", "setup_intro": "No console user exists yet. Create the first administrator "
    "with the admin token that `govwatch collector init` wrote.", "setup_link": "Create the first administrator",
    "create": "Create", "role": "Role", "role_admin": "admin", "role_viewer": "viewer", "created": "Created",
    "disabled": "Disabled", "disable": "Disable", "enable": "Enable", "active": "active", "new_user": "New user",
    "lang_switch": "Language", "signed_in_as": "Signed in as",
    "severity": "Severity", "status": "Status", "kind": "Kind", "title": "Title", "site": "Site", "agent": "Agent",
    "opened": "Opened", "updated": "Updated", "age": "Age", "ago": "ago", "never": "never",
    "unit_s": "s", "unit_min": "min", "unit_h": "h", "unit_d": "d",
    "status_open": "open", "status_acknowledged": "acknowledged", "status_resolved": "resolved",
    "filter": "Filter", "all": "all", "active_only": "open and acknowledged", "any_kind": "any kind",
    "any_severity": "any severity", "no_incidents": "No incidents match.", "open_count": "open",
    "kind_defacement": "defacement", "kind_fim": "file integrity", "kind_traffic": "traffic",
    "evidence": "Evidence", "reasons": "Reasons", "new_domains": "New domains", "score": "Score",
    "view": "View", "source": "Source", "url": "URL", "page_title": "Page title",
    "diff_visible_text": "Visible text: known good (left) and now (right)", "known_good_side": "Known good",
    "now_side": "Now", "no_diff": "No text diff was sent with this view.", "hidden": "hidden",
    "screenshots": "What the browser showed", "shot_known_good": "Known good", "shot_now": "Now",
    "shot_missing": "No screenshot kept", "visual_difference": "Looks different", "shot_enlarge": "open full size",
    "fim_changes": "File changes", "path": "Path", "change": "Change", "rules": "Rules", "diff": "Diff",
    "known_good": "Known-good copy", "known_good_yes": "A known-good copy exists. Restore it on the agent with:",
    "known_good_no": "No known-good copy was kept: restore this file from your backup or deployment.",
    "problems": "Watcher problems", "detail": "Detail",
    "anomalies": "Traffic anomalies", "top_sources": "Top sources", "ports": "Ports", "rates": "Rates",
    "state": "State", "start": "Start", "end": "End", "destination": "Destination", "explanation": "Explanation",
    "count": "Count", "other_evidence": "Other figures",
    "actions": "Actions", "acknowledge": "Acknowledge", "resolve": "Resolve", "comment": "Comment",
    "add_comment": "Add comment", "rebaseline": "Accept as new baseline",
    "rebaseline_help": "Only for a legitimate redesign: the current page becomes the known-good page and this "
    "incident is resolved.", "confirm_resolve": "Resolve this incident?",
    "confirm_rebaseline": "Accept the current page as the new known-good page?",
    "read_only": "You have the viewer role: you can read, not change, incidents.",
    "timeline": "Timeline", "acknowledged_by": "Acknowledged by", "resolved_by": "Resolved by",
    "msg_acknowledged": "Incident acknowledged.", "msg_resolved": "Incident resolved.",
    "msg_commented": "Comment added.", "msg_rebaselined": "The current page is the new baseline; incident resolved.",
    "msg_user_created": "User created.", "msg_user_changed": "User updated.",
    "action_acknowledged": "acknowledged", "action_resolved": "resolved", "action_rebaselined":
    "accepted the page as the new baseline", "action_commented": "commented",
    "last_seen": "Last seen", "version": "Version", "watchers": "Watchers", "spool_backlog": "Spool backlog",
    "hostname": "Host", "ministry": "Ministry", "silent": "silent", "online": "online", "no_agents":
    "No agent has enrolled yet.", "dropped": "dropped",
    "up": "up", "down": "down", "unknown": "unknown", "defaced": "defaced", "clean": "clean",
    "cert_days": "Certificate days left", "last_probe": "Last probe", "response": "Response", "no_sites":
    "No site is watched yet.", "error": "Error",
    "live": "live", "refreshed": "refreshed",
    "forbidden": "Forbidden", "not_found": "Not found", "back": "Back to incidents",
    "err_login": "Wrong user name or password.", "err_throttled": "Too many failed attempts; wait a few minutes.",
    "err_token": "That is not the admin token.", "err_password_short": "The password needs at least 10 characters.",
    "err_password_match": "The two passwords differ.", "err_name": "User names: lowercase letters, digits, "
    "'-', '_' or '.' (max 63).", "err_exists": "A user of that name exists.", "err_setup_done":
    "An administrator already exists: log in.", "err_csrf": "This form expired or came from another site; "
    "reload the page and try again.", "err_empty_comment": "The comment is empty.",
}

KM = {
    "app": "កុងសូល govwatch", "incidents": "ឧប្បត្តិហេតុ", "agents": "ភ្នាក់ងារ", "sites": "គេហទំព័រ",
    "users": "អ្នកប្រើប្រាស់", "login": "ចូល", "logout": "ចាកចេញ", "username": "ឈ្មោះអ្នកប្រើ",
    "password": "ពាក្យសម្ងាត់", "password_again": "ពាក្យសម្ងាត់ (ម្តងទៀត)",
    "admin_token": "សញ្ញាសម្គាល់អ្នកគ្រប់គ្រង (ឯកសារ admin-token ពី `collector init`)",
    "setup": "អ្នកគ្រប់គ្រងដំបូង", "setup_intro": "មិនទាន់មានអ្នកប្រើកុងសូលនៅឡើយទេ។ សូមបង្កើតអ្នកគ្រប់គ្រងដំបូង "
    "ដោយប្រើសញ្ញាសម្គាល់អ្នកគ្រប់គ្រងដែល `govwatch collector init` បានសរសេរ។",
    "setup_link": "បង្កើតអ្នកគ្រប់គ្រងដំបូង", "create": "បង្កើត", "role": "តួនាទី", "role_admin": "អ្នកគ្រប់គ្រង",
    "role_viewer": "អ្នកមើល", "created": "បានបង្កើត", "disabled": "បានបិទ", "disable": "បិទ", "enable": "បើក",
    "active": "សកម្ម", "new_user": "អ្នកប្រើថ្មី", "lang_switch": "ភាសា", "signed_in_as": "បានចូលជា",
    "severity": "កម្រិតធ្ងន់ធ្ងរ", "status": "ស្ថានភាព", "kind": "ប្រភេទ", "title": "ចំណងជើង",
    "site": "គេហទំព័រ", "agent": "ភ្នាក់ងារ", "opened": "បានបើក", "updated": "បានធ្វើបច្ចុប្បន្នភាព",
    "age": "រយៈពេល", "ago": "មុន", "never": "មិនធ្លាប់", "unit_s": "វិនាទី", "unit_min": "នាទី",
    "unit_h": "ម៉ោង", "unit_d": "ថ្ងៃ", "status_open": "បើក", "status_acknowledged": "បានទទួលស្គាល់",
    "status_resolved": "បានដោះស្រាយ", "filter": "ត្រង", "all": "ទាំងអស់", "active_only": "បើក និងបានទទួលស្គាល់",
    "any_kind": "គ្រប់ប្រភេទ", "any_severity": "គ្រប់កម្រិត", "no_incidents": "គ្មានឧប្បត្តិហេតុត្រូវនឹងការត្រងទេ។",
    "open_count": "បើក", "kind_defacement": "ការកែបំប្លែងគេហទំព័រ", "kind_fim": "ភាពត្រឹមត្រូវនៃឯកសារ",
    "kind_traffic": "ចរាចរណ៍បណ្តាញ", "evidence": "ភស្តុតាង", "reasons": "មូលហេតុ", "new_domains": "ដែនថ្មី",
    "score": "ពិន្ទុ", "view": "ទិដ្ឋភាព", "source": "ប្រភព", "url": "URL", "page_title": "ចំណងជើងទំព័រ",
    "diff_visible_text": "អត្ថបទដែលមើលឃើញ៖ ល្អដែលស្គាល់ (ឆ្វេង) និងឥឡូវ (ស្តាំ)", "known_good_side": "ល្អដែលស្គាល់",
    "now_side": "ឥឡូវ", "no_diff": "ទិដ្ឋភាពនេះមិនបានផ្ញើភាពខុសគ្នានៃអត្ថបទទេ។", "hidden": "លាក់",
    "screenshots": "អ្វីដែលកម្មវិធីរុករកបានបង្ហាញ", "shot_known_good": "ល្អដែលស្គាល់", "shot_now": "ឥឡូវ",
    "shot_missing": "គ្មានរូបថតអេក្រង់ត្រូវបានរក្សាទុកទេ", "visual_difference": "មើលទៅខុសគ្នា",
    "shot_enlarge": "បើកទំហំពេញ",
    "fim_changes": "ការផ្លាស់ប្តូរឯកសារ", "path": "ផ្លូវឯកសារ", "change": "ការផ្លាស់ប្តូរ", "rules": "ច្បាប់",
    "diff": "ភាពខុសគ្នា", "known_good": "ច្បាប់ចម្លងល្អដែលស្គាល់",
    "known_good_yes": "មានច្បាប់ចម្លងល្អដែលស្គាល់។ ស្តារវាឡើងវិញនៅលើភ្នាក់ងារដោយ៖",
    "known_good_no": "គ្មានច្បាប់ចម្លងល្អទេ៖ សូមស្តារឯកសារនេះពីការបម្រុងទុក ឬការដាក់ពង្រាយរបស់អ្នក។",
    "problems": "បញ្ហាអ្នកឃ្លាំមើល", "detail": "ព័ត៌មានលម្អិត", "anomalies": "ភាពមិនប្រក្រតីនៃចរាចរណ៍",
    "top_sources": "ប្រភពកំពូល", "ports": "ច្រក", "rates": "អត្រា", "state": "ស្ថានភាព", "start": "ចាប់ផ្តើម",
    "end": "បញ្ចប់", "destination": "គោលដៅ", "explanation": "ការពន្យល់", "count": "ចំនួន",
    "other_evidence": "តួលេខផ្សេងទៀត", "actions": "សកម្មភាព", "acknowledge": "ទទួលស្គាល់",
    "resolve": "ដោះស្រាយរួច", "comment": "មតិយោបល់", "add_comment": "បន្ថែមមតិយោបល់",
    "rebaseline": "ទទួលយកជាគំរូថ្មី", "rebaseline_help": "សម្រាប់តែការរចនាថ្មីស្របច្បាប់ប៉ុណ្ណោះ៖ "
    "ទំព័របច្ចុប្បន្នក្លាយជាទំព័រល្អដែលស្គាល់ ហើយឧប្បត្តិហេតុនេះត្រូវបានដោះស្រាយ។",
    "confirm_resolve": "ដោះស្រាយឧប្បត្តិហេតុនេះ?", "confirm_rebaseline": "ទទួលយកទំព័របច្ចុប្បន្នជាទំព័រល្អថ្មី?",
    "read_only": "អ្នកមានតួនាទីជាអ្នកមើល៖ អ្នកអាចអាន ប៉ុន្តែមិនអាចផ្លាស់ប្តូរឧប្បត្តិហេតុបានទេ។",
    "timeline": "កាលប្បវត្តិ", "acknowledged_by": "ទទួលស្គាល់ដោយ", "resolved_by": "ដោះស្រាយដោយ",
    "msg_acknowledged": "បានទទួលស្គាល់ឧប្បត្តិហេតុ។", "msg_resolved": "បានដោះស្រាយឧប្បត្តិហេតុ។",
    "msg_commented": "បានបន្ថែមមតិយោបល់។", "msg_rebaselined": "ទំព័របច្ចុប្បន្នជាគំរូថ្មី ហើយឧប្បត្តិហេតុត្រូវបានដោះស្រាយ។",
    "msg_user_created": "បានបង្កើតអ្នកប្រើ។", "msg_user_changed": "បានធ្វើបច្ចុប្បន្នភាពអ្នកប្រើ។",
    "action_acknowledged": "បានទទួលស្គាល់", "action_resolved": "បានដោះស្រាយ",
    "action_rebaselined": "បានទទួលយកទំព័រជាគំរូថ្មី", "action_commented": "បានផ្តល់មតិ",
    "last_seen": "ឃើញចុងក្រោយ", "version": "កំណែ", "watchers": "អ្នកឃ្លាំមើល",
    "spool_backlog": "ព្រឹត្តិការណ៍រង់ចាំផ្ញើ", "hostname": "ម៉ាស៊ីន", "ministry": "ក្រសួង", "silent": "ស្ងាត់",
    "online": "កំពុងដំណើរការ", "no_agents": "មិនទាន់មានភ្នាក់ងារចុះឈ្មោះទេ។", "dropped": "បានបោះបង់",
    "up": "ដំណើរការ", "down": "មិនដំណើរការ", "unknown": "មិនដឹង", "defaced": "ត្រូវបានកែបំប្លែង",
    "clean": "ធម្មតា", "cert_days": "ថ្ងៃនៅសល់នៃវិញ្ញាបនបត្រ", "last_probe": "ការពិនិត្យចុងក្រោយ",
    "response": "ការឆ្លើយតប", "no_sites": "មិនទាន់មានគេហទំព័រត្រូវបានឃ្លាំមើលទេ។", "error": "កំហុស",
    "live": "ផ្ទាល់", "refreshed": "បានធ្វើឱ្យស្រស់", "forbidden": "ហាមឃាត់", "not_found": "រកមិនឃើញ",
    "back": "ត្រឡប់ទៅឧប្បត្តិហេតុ", "err_login": "ឈ្មោះអ្នកប្រើ ឬពាក្យសម្ងាត់មិនត្រឹមត្រូវ។",
    "err_throttled": "ការព្យាយាមបរាជ័យច្រើនពេក សូមរង់ចាំប៉ុន្មាននាទី។",
    "err_token": "នោះមិនមែនជាសញ្ញាសម្គាល់អ្នកគ្រប់គ្រងទេ។", "err_password_short": "ពាក្យសម្ងាត់ត្រូវមានយ៉ាងហោចណាស់ ១០ តួ។",
    "err_password_match": "ពាក្យសម្ងាត់ទាំងពីរខុសគ្នា។",
    "err_name": "ឈ្មោះអ្នកប្រើ៖ អក្សរតូច លេខ '-' '_' ឬ '.' (យ៉ាងច្រើន ៦៣)។", "err_exists": "មានអ្នកប្រើឈ្មោះនេះរួចហើយ។",
    "err_setup_done": "មានអ្នកគ្រប់គ្រងរួចហើយ៖ សូមចូល។",
    "err_csrf": "ទម្រង់នេះផុតកំណត់ ឬមកពីគេហទំព័រផ្សេង។ សូមផ្ទុកទំព័រឡើងវិញ ហើយព្យាយាមម្តងទៀត។",
    "err_empty_comment": "មតិយោបល់ទទេ។",
}

TEXT = {"en": EN, "km": {**EN, **KM}}
SEVERITY_KM = {"info": "ព័ត៌មាន", "low": "ទាប", "medium": "មធ្យម", "high": "ខ្ពស់", "critical": "ធ្ងន់ធ្ងរបំផុត"}


def words(lang: str) -> dict[str, str]:
    return TEXT.get(lang, EN)


def severity_word(severity: str, lang: str) -> str:
    return SEVERITY_KM.get(severity, severity) if lang == "km" else severity


def pick_lang(query: dict[str, str], cookies: dict[str, str]) -> str:
    """`?lang=` wins, then the cookie, then English."""
    for candidate in (query.get("lang"), cookies.get("gw_lang")):
        if candidate in LANGS:
            return candidate
    return "en"
