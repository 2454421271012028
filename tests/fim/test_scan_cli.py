"""`govwatch fim scan` and `govwatch fim restore` as users run them: JSON lines and exit codes."""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
from typing import Any

import pytest

from govwatch.agents.fim.baseline import Baseline, load_or_create_key
from govwatch.cli import main


def run(capsys: Any, *argv: str) -> tuple[int, list[dict[str, Any]], str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines() if line.strip()], err


@pytest.fixture
def tree(tmp_path: Any) -> str:
    root = tmp_path / "www"
    for i in range(30):
        folder = root / f"d{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i}.html").write_text(f"<p>page {i}</p>\n" * (i + 1))
    return str(root)


def changes(lines: list[dict[str, Any]]) -> dict[str, str]:
    return {line["path"]: line["change"] for line in lines}


def test_unchanged_tree_exits_0_and_prints_nothing(capsys: Any, tree: str, tmp_path: Any) -> None:
    db = str(tmp_path / "b.db")
    assert run(capsys, "fim", "scan", tree, "--db", db, "--init")[0] == 0
    assert oct(os.stat(db + ".key").st_mode & 0o777) == "0o600"
    code, lines, _ = run(capsys, "fim", "scan", tree, "--db", db)
    assert (code, lines) == (0, [])


def unseal(db: str) -> None:
    """Drop the whole-file seal: the next check verifies every row and compares every path (the slow path)."""
    os.unlink(db + ".seal")


def same_size_edit(path: str) -> None:
    """What an intruder does to hide: same size, mtime put back (only content and ctime move)."""
    st = os.stat(path)
    with open(path, "r+b") as handle:
        handle.write(b"<P>")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.parametrize("sealed", [True, False], ids=["folder-gates", "every-row"])
def test_intruder_changes_are_each_reported_once(capsys: Any, tree: str, tmp_path: Any, sealed: bool) -> None:
    db = str(tmp_path / "b.db")
    run(capsys, "fim", "scan", tree, "--db", db, "--init")
    if not sealed:
        unseal(db)
    same = os.path.join(tree, "d0", "f0.html")
    st = os.stat(same)
    with open(same, "r+b") as handle:
        handle.write(b"<P>")
    os.utime(same, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.chmod(os.path.join(tree, "d1", "f1.html"), 0o777)
    os.chown(os.path.join(tree, "d2", "f2.html"), 1234, 1234)
    os.rename(os.path.join(tree, "d0", "f3.html"), os.path.join(tree, "d0", "shell.php"))
    os.unlink(os.path.join(tree, "d1", "f4.html"))
    os.symlink("/etc/passwd", os.path.join(tree, "d1", "f4.html"))
    open(os.path.join(tree, "d2", "f5.html"), "w").close()
    os.makedirs(os.path.join(tree, "uploads", "2026"))
    with open(os.path.join(tree, "uploads", "2026", "x.phtml"), "w") as handle:
        handle.write("<?php eval(base64_decode('ZWNobyAx')); ?>")
    code, lines, _ = run(capsys, "fim", "scan", tree, "--db", db)
    assert code == 1
    j = lambda *p: os.path.join(tree, *p)  # noqa: E731
    assert changes(lines) == {
        j("d0", "f0.html"): "modified", j("d1", "f1.html"): "attributes", j("d2", "f2.html"): "attributes",
        j("d0", "f3.html"): "deleted", j("d0", "shell.php"): "created", j("d1", "f4.html"): "modified",
        j("d2", "f5.html"): "modified", j("uploads"): "created", j("uploads", "2026"): "created",
        j("uploads", "2026", "x.phtml"): "created"}
    by_path = {line["path"]: line for line in lines}
    assert by_path[j("d0", "shell.php")]["old_path"] == j("d0", "f3.html")
    assert by_path[j("uploads", "2026", "x.phtml")]["severity"] == "critical"
    assert by_path[j("d1", "f4.html")]["after"]["type"] == "symlink"
    assert set(lines[0]) >= {"path", "change", "before", "after"}


@pytest.mark.parametrize("sealed", [True, False], ids=["folder-gates", "every-row"])
def test_deleted_folder_reports_everything_below_it(capsys: Any, tree: str, tmp_path: Any, sealed: bool) -> None:
    db = str(tmp_path / "b.db")
    os.makedirs(os.path.join(tree, "d1", "deep", "er"))
    open(os.path.join(tree, "d1", "deep", "er", "x.html"), "w").close()
    run(capsys, "fim", "scan", tree, "--db", db, "--init")
    if not sealed:
        unseal(db)
    gone = sorted(os.path.join(folder, name) for folder, dirs, files in os.walk(os.path.join(tree, "d1"))
                  for name in dirs + files) + [os.path.join(tree, "d1")]
    shutil.rmtree(os.path.join(tree, "d1"))
    code, lines, _ = run(capsys, "fim", "scan", tree, "--db", db)
    assert code == 1 and changes(lines) == {p: "deleted" for p in gone}


def test_changes_after_update_are_still_found(capsys: Any, tree: str, tmp_path: Any) -> None:
    db = str(tmp_path / "b.db")
    run(capsys, "fim", "scan", tree, "--db", db, "--init")
    with open(os.path.join(tree, "d0", "f6.html"), "a") as handle:
        handle.write("more\n")
    os.utime(os.path.join(tree, "d1", "f1.html"), (1, 1))  # a touch: no change, but its folder's gate moves
    assert run(capsys, "fim", "scan", tree, "--db", db, "--update")[0] == 1
    assert run(capsys, "fim", "scan", tree, "--db", db)[:2] == (0, [])
    baseline = Baseline(db, load_or_create_key(db + ".key", create=False))
    assert baseline.open_sealed() is not None and not os.path.exists(db + "-wal")  # still the fast path
    same_size_edit(os.path.join(tree, "d0", "f0.html"))
    same_size_edit(os.path.join(tree, "d1", "f1.html"))
    code, lines, _ = run(capsys, "fim", "scan", tree, "--db", db)
    assert (code, changes(lines)) == (1, {os.path.join(tree, "d0", "f0.html"): "modified",
                                          os.path.join(tree, "d1", "f1.html"): "modified"})


def test_touch_alone_is_not_a_change_and_update_accepts_changes(capsys: Any, tree: str, tmp_path: Any) -> None:
    db = str(tmp_path / "b.db")
    run(capsys, "fim", "scan", tree, "--db", db, "--init")
    os.utime(os.path.join(tree, "d0", "f0.html"), (1, 1))
    with open(os.path.join(tree, "d0", "f6.html"), "a") as handle:
        handle.write("more\n")
    code, lines, _ = run(capsys, "fim", "scan", tree, "--db", db, "--update")
    assert (code, list(changes(lines).values())) == (1, ["modified"])
    assert run(capsys, "fim", "scan", tree, "--db", db)[:2] == (0, [])


def test_edited_baseline_is_refused(capsys: Any, tree: str, tmp_path: Any) -> None:
    db = str(tmp_path / "b.db")
    run(capsys, "fim", "scan", tree, "--db", db, "--init")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE files SET sha256 = 'x' WHERE path = ?", (os.path.join(tree, "d0", "f0.html").encode(),))
    code, lines, err = run(capsys, "fim", "scan", tree, "--db", db)
    assert code == 2 and lines == []
    assert "fails verification" in err and err.count("\n") == 1


def test_baseline_of_an_older_format_asks_for_init(capsys: Any, tree: str, tmp_path: Any) -> None:
    db = str(tmp_path / "b.db")
    run(capsys, "fim", "scan", tree, "--db", db, "--init")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'version'")
    code, lines, err = run(capsys, "fim", "scan", tree, "--db", db)
    assert (code, lines) == (2, []) and "--init" in err and "fails verification" not in err


@pytest.mark.parametrize("argv, message", [
    (["fim", "scan", "/nonexistent-gw", "--db", "DB", "--init"], "no such file or folder"),
    (["fim", "scan", "/tmp", "--db", "DB"], "no baseline"),
    (["fim", "scan", "/tmp", "--db", "DB", "--max-hash-size", "lots"], "--max-hash-size"),
])
def test_bad_input_is_one_line_and_exit_2(capsys: Any, tmp_path: Any, argv: list[str], message: str) -> None:
    argv = [str(tmp_path / "b.db") if a == "DB" else a for a in argv]
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err and "Traceback" not in err


def test_restore_puts_known_good_copy_back(capsys: Any, tree: str, tmp_path: Any) -> None:
    db, store = str(tmp_path / "b.db"), str(tmp_path / "store")
    page = os.path.join(tree, "d0", "f0.html")
    original = open(page, "rb").read()
    run(capsys, "fim", "scan", tree, "--db", db, "--init", "--store", store)
    with open(page, "w") as handle:
        handle.write("Hacked by Gh0st\n")
    os.chmod(page, 0o666)
    code = main(["fim", "restore", page, "--store", store])
    assert code == 0 and capsys.readouterr().out.startswith(f"restored {page} from known-good copy")
    assert open(page, "rb").read() == original
    assert os.stat(page).st_mode & 0o777 == 0o644
    code, _, err = run(capsys, "fim", "restore", os.path.join(tree, "never.html"), "--store", store)
    assert code == 2 and "no known-good copy" in err


def test_scan_path_does_not_import_heavy_modules(tmp_path: Any, tree: str) -> None:
    code = ("import sys; from govwatch.cli import main; main(['fim','scan',sys.argv[1],'--db',sys.argv[2],'--init']);"
            "print(sorted(m for m in ('watchdog','scapy','requests') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, tree, str(tmp_path / "b.db")], capture_output=True, text=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def mutate(rng: random.Random, tree: str) -> None:
    """One random intruder-or-admin step on the tree."""
    entries = sorted(os.path.join(d, n) for d, dirs, files in os.walk(tree) for n in dirs + files)
    files = [p for p in entries if os.path.isfile(p) and not os.path.islink(p)]
    folders = [tree] + [p for p in entries if os.path.isdir(p) and not os.path.islink(p)]
    step = rng.choice(["edit", "same_size", "chmod", "delete", "create", "mkdir", "rmtree", "rename", "symlink"])
    target = rng.choice(files) if files else None
    if step in ("edit", "same_size", "chmod", "delete", "rename", "symlink") and target is None:
        step = "create"
    if step == "edit":
        with open(target, "a") as handle:
            handle.write("x")
    elif step == "same_size":
        same_size_edit(target)
    elif step == "chmod":
        os.chmod(target, 0o600 if os.stat(target).st_mode & 0o044 else 0o644)
    elif step == "delete":
        os.unlink(target)
    elif step == "rename":
        os.rename(target, os.path.join(rng.choice(folders), f"moved{rng.randrange(10**6)}.php"))
    elif step == "symlink":
        os.unlink(target)
        os.symlink("/etc/hostname", target)
    elif step == "create":
        with open(os.path.join(rng.choice(folders), f"new{rng.randrange(10**6)}.php"), "w") as handle:
            handle.write("<?php ?>")
    elif step == "mkdir":
        os.makedirs(os.path.join(rng.choice(folders), f"dir{rng.randrange(10**6)}", "sub"), exist_ok=True)
    elif len(folders) > 1:
        shutil.rmtree(rng.choice(folders[1:]))


def test_folder_gates_report_exactly_what_every_row_reports(capsys: Any, tree: str, tmp_path: Any) -> None:
    rng, reported = random.Random(7), 0
    for round_ in range(6):
        gated, full = str(tmp_path / f"g{round_}.db"), str(tmp_path / f"f{round_}.db")
        run(capsys, "fim", "scan", tree, "--db", gated, "--init")
        for suffix in ("", ".key", ".seal"):
            shutil.copyfile(gated + suffix, full + suffix)
        unseal(full)
        for _ in range(rng.randrange(1, 6)):
            mutate(rng, tree)
        got = {db: run(capsys, "fim", "scan", tree, "--db", db) for db in (gated, full)}
        assert got[gated][0] == got[full][0] and changes(got[gated][1]) == changes(got[full][1])
        reported += len(got[gated][1])
    assert reported >= 6
