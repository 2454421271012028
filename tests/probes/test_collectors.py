"""Several real collector processes on ONE SQLite store file (standing in for PostgreSQL): leases and
two-vantage confirmation as an operator sees them (the store's tables, incidents and /metrics).

A vantage that cannot reach a site is simulated honestly on loopback: that collector's collector.yml gives
the site (same name) an address that refuses connections, while the other collector's gives the working
server, exactly what a broken network path from one vantage looks like to the prober.
"""

from __future__ import annotations

import json
import time

DEAD = "http://127.0.0.1:9/"       # connection refused: the site as a vantage with a broken path sees it


def sites(url_for, count: int = 1, **extra) -> list[dict]:
    return [{"name": f"site-{i}" if count > 1 else "moc", "url": url_for(i), "interval": "1s", "timeout": "3s",
             "defacement": False, "confirm_failures": 2, **extra} for i in range(count)]


def site_down(fleet) -> list[tuple]:
    return fleet.query("SELECT site, status, evidence FROM incidents WHERE kind='site_down'")


def test_a_killed_collectors_sites_are_probed_by_the_other_within_one_interval(fleet, http_server):
    wait_for = fleet.wait_for
    listed = sites(lambda i: http_server.url(f"/s{i}"), 6, interval="6s")
    fleet.start("col-a", "net-a", listed)
    assert wait_for(lambda: len(fleet.held("col-a")) == 6, 30), fleet.log("col-a")
    fleet.start("col-b", "net-b", listed)
    assert wait_for(lambda: len(fleet.held("col-a")) == 3 and len(fleet.held("col-b")) == 3, 30), fleet.log("col-b")
    orphaned = fleet.held("col-a")
    fleet.kill("col-a")
    killed = time.time()

    def taken_over() -> dict[str, float] | None:
        first = {site: fleet.query("SELECT MIN(ts) FROM site_probes WHERE site=? AND ts > ?", (site, killed))[0][0]
                 for site in orphaned}
        return first if all(first.values()) else None

    first = wait_for(taken_over, 30)
    assert first, fleet.log("col-b")
    assert fleet.held("col-b") == {f"site-{i}" for i in range(6)}
    assert max(first.values()) - killed <= 6.0, first      # within one interval of the sites (6 s)


def two_collectors(fleet, b_sites: list[dict], a_sites: list[dict]) -> str:
    """col-b starts first and holds both sites; col-a joins and takes one: the site col-a probes, with a
    peer already live before its first failure."""
    wait_for = fleet.wait_for
    fleet.start("col-b", "net-b", b_sites)
    assert wait_for(lambda: len(fleet.held("col-b")) == 2, 30), fleet.log("col-b")
    fleet.start("col-a", "net-a", a_sites)
    assert wait_for(lambda: len(fleet.held("col-a")) == 1, 30), fleet.log("col-a")
    return next(iter(fleet.held("col-a")))


def test_one_vantage_down_alone_opens_no_site_down(fleet, http_server):
    wait_for = fleet.wait_for
    site = two_collectors(fleet, sites(lambda i: http_server.url(f"/s{i}"), 2), sites(lambda i: DEAD, 2))
    answered = wait_for(lambda: fleet.query("SELECT answer_vantage, up FROM probe_confirmations WHERE handled=1 "
                                            "AND site=?", (site,)), 60)
    assert answered and answered[0] == ("net-b", 1), fleet.log("col-a")
    failures = fleet.query("SELECT COUNT(*) FROM site_probes WHERE up=0")[0][0]
    assert wait_for(lambda: fleet.query("SELECT COUNT(*) FROM site_probes WHERE up=0")[0][0] >= failures + 3, 30)
    assert site_down(fleet) == [] and fleet.query("SELECT * FROM outages") == []
    assert fleet.query("SELECT up FROM site_state WHERE site=?", (site,)) == [(1,)]    # not confirmed down
    assert fleet.held("col-a") == {site}
    assert fleet.metric("col-b", "govwatch_site_vantage_up", site=site, vantage="net-a") == 0
    assert fleet.metric("col-b", "govwatch_site_vantage_up", site=site, vantage="net-b") == 1
    assert fleet.metric("col-b", "govwatch_site_up", site=site) == 1


def test_both_vantages_down_open_site_down(fleet):
    wait_for = fleet.wait_for
    # col-b never confirms alone in this test (confirm_failures 100): only col-a's two-vantage outage counts
    site = two_collectors(fleet, sites(lambda i: DEAD, 2, confirm_failures=100), sites(lambda i: DEAD, 2))
    found = wait_for(lambda: site_down(fleet), 60)
    assert found, fleet.log("col-a")
    [(down_site, status, evidence)] = found
    assert (down_site, status) == (site, "open")
    assert json.loads(evidence)["probes"][0]["confirmed_by"] == ["net-a", "net-b"]
    assert fleet.metric("col-a", "govwatch_site_up", site=site) == 0
    assert len(fleet.query("SELECT * FROM outages WHERE site=? AND ended IS NULL", (site,))) == 1


def test_up_inside_down_outside_is_a_network_finding_not_an_outage(fleet, http_server):
    wait_for = fleet.wait_for
    fleet.start("col-a", "net-a", [])
    fleet.enroll_agent("web1", "col-a", defacement={"sites": [
        {"name": "moc", "url": http_server.url("/"), "interval": "1s", "crawler_check": False}]})
    reporting = wait_for(lambda: json.loads(fleet.query("SELECT status FROM agents WHERE name='web1'")[0][0]).get(
        "stats", {}).get("defacement", {}).get("local", {}).get("moc"), 60)
    assert reporting, fleet.log("web1")        # the agent has been watching the site from inside for a while
    fleet.stop_one("col-a")
    fleet.start("col-a", "net-a", sites(lambda i: DEAD, web_root="web1:/var/www/moc"))
    found = wait_for(lambda: fleet.query("SELECT status, agent, evidence FROM incidents "
                                         "WHERE kind='site_unreachable'"), 90)
    assert found, fleet.log("col-a") + fleet.log("web1")
    [(status, agent, evidence)] = found
    assert (status, agent) == ("open", "web1")
    view = json.loads(evidence)["views"][0]
    assert view["up"] is True and view["vantage"] == "inside" and view["status"] == 200
    assert view["outside"]["up"] is False and "refused" in view["outside"]["error"].lower()
    assert site_down(fleet) == [] and fleet.query("SELECT * FROM outages") == []
    assert fleet.metric("col-a", "govwatch_site_vantage_up", site="moc", vantage="inside") == 1
