"""`govwatch deface learn|check|rules` as an operator uses them."""

from __future__ import annotations

import json

from deface_testlib import corpus_root

from govwatch.cli import main

LEGIT = f"{corpus_root()}/legit/pariwisata.padang.go.id_profil.v1.html"
NEXT = f"{corpus_root()}/legit/pariwisata.padang.go.id_profil.v2.html"
DEFACED = f"{corpus_root()}/defaced/Spizie19__Deface__deface.html"


def test_learn_then_check_several_candidates(tmp_path, capsys) -> None:
    profile = str(tmp_path / "p.json")
    assert main(["deface", "learn", LEGIT, "-o", profile]) == 0
    assert json.load(open(profile))["version"] == 2
    capsys.readouterr()
    assert main(["deface", "check", "--profile", profile, NEXT, DEFACED]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["file"], line["defaced"]) for line in lines] == [(NEXT, False), (DEFACED, True)]
    assert lines[1]["score"] > 0.9 and any("hacked by" in r for r in lines[1]["reasons"])
    assert main(["deface", "check", "--profile", profile, NEXT]) == 0


def test_check_a_url(tmp_path, capsys, site) -> None:
    state, url = site
    profile = str(tmp_path / "p.json")
    (tmp_path / "good.html").write_text(state.page)
    assert main(["deface", "learn", str(tmp_path / "good.html"), "-o", profile, "--url", url]) == 0
    state.page = "<html><body><h1>Diretas oleh Tim X</h1></body></html>"
    capsys.readouterr()
    assert main(["deface", "check", "--profile", profile, "--url", url]) == 1
    assert json.loads(capsys.readouterr().out)["url"] == url


def test_errors_are_one_line_and_exit_2(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["deface", "check", "--profile", str(bad), LEGIT]) == 2
    assert main(["deface", "check", "--profile", str(tmp_path / "missing.json"), LEGIT]) == 2
    assert main(["deface", "learn", str(tmp_path / "missing.html"), "-o", str(tmp_path / "p.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("govwatch: ") for line in err)
    assert "Traceback" not in "".join(err)


def test_rules_self_test(capsys) -> None:
    assert main(["deface", "rules"]) == 0
    assert " 0 failed" in capsys.readouterr().out
