"""The handlers behind `govwatch fim scan` and `govwatch fim restore` (kept out of cli.py for import speed)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import IO, Any

from govwatch.agents.fim.baseline import Baseline, load_or_create_key
from govwatch.agents.fim.recheck import GatedWalk
from govwatch.agents.fim.scan import Change, Excluder, Hasher, Problem, compare, walk
from govwatch.errors import GovwatchError

MARKER_SCAN_BYTES = 1 << 20
DEFAULT_MAX_HASH_SIZE = 4 << 30


def _roots(paths: list[str]) -> list[str]:
    return [os.path.abspath(p) for p in paths]


def _size(text: str | None, option: str) -> int:
    if text is None:
        return DEFAULT_MAX_HASH_SIZE  # without importing the config schema (and yaml) on every scan
    from govwatch.schema import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise GovwatchError(f"{option}: {exc}") from None


def run_scan(args: argparse.Namespace, out: IO[str]) -> int:
    """`fim scan`: --init writes the baseline; otherwise print one JSON line per change (exit 1 if any)."""
    roots = _roots(args.paths)
    key_path = args.key or args.db + ".key"
    hasher = Hasher(args.workers or None, _size(args.max_hash_size, "--max-hash-size"), roots=roots)
    problems: list[Problem] = []
    started = time.monotonic()
    if args.init:
        return _init(args, roots, key_path, hasher, problems, started)
    if not os.path.exists(args.db):
        raise GovwatchError(f"no baseline at {args.db} (create one with --init)")
    baseline = Baseline(args.db, load_or_create_key(key_path, create=False))
    gates = baseline.open_sealed()
    if gates is not None:  # the sealed file is intact: compare folder gates, rows only where they moved
        gated = GatedWalk(gates)
        gated.run(roots, Excluder(args.exclude), problems)
        changes = compare(gated.baseline_rows(baseline, roots), gated.current, roots, hasher, problems)
        entries, fresh_gates = gated.entries, gated.fresh_gates
    else:
        baseline.load()
        current = walk(roots, Excluder(args.exclude), problems)
        changes = compare(dict(baseline.states()), current, roots, hasher, problems, baseline.roots())
        entries, fresh_gates = len(current), {}
    verdicts = _judge(args, changes, roots) if changes else {}
    for change in changes:
        out.write(json.dumps(_line(change, verdicts.get(change.path))) + "\n")
    out.flush()
    if args.update and (changes or fresh_gates):
        _update(baseline, changes, fresh_gates, problems)
    _report(problems)
    _summary(f"{entries} entries checked, {hasher.files_hashed} re-hashed, {len(changes)} changes", started)
    return 1 if changes else 0


def _update(baseline: Baseline, changes: list[Change], fresh_gates: dict[str, bytes],
            problems: list[Problem]) -> None:
    """--update: accept the changes, and the gates of the folders now matching the baseline (not those
    holding an unreadable entry: it must be reported again next time)."""
    baseline.apply({c.path: c.after for c in changes if c.after is not None},
                   [c.path for c in changes if c.after is None])
    troubled = {os.path.dirname(p.path) for p in problems} | {p.path for p in problems}
    baseline.set_gates({f: g for f, g in fresh_gates.items() if f not in troubled})
    baseline.write_file_seal()


def _init(args: argparse.Namespace, roots: list[str], key_path: str, hasher: Hasher,
          problems: list[Problem], started: float) -> int:
    for root in roots:
        if not os.path.lexists(root):
            raise GovwatchError(f"{root}: no such file or folder")
    from govwatch.progress import Progress

    gates: dict[str, bytes] = {}
    with Progress("fim: walking", count=lambda: len(gates), unit="folders"):
        files = walk(roots, Excluder(args.exclude), problems, gates, early=hasher)
    regular = [p for p, s in files.items() if s.type == "file"]
    with Progress("fim: hashing", count=lambda: hasher.done, total=len(regular), unit="files"):
        hasher.fill(files, regular, problems)
    key = load_or_create_key(key_path, create=True)
    Baseline(args.db, key).write_all(files, roots, gates)
    if args.store:
        from govwatch.agents.fim.beneath import Roots
        from govwatch.agents.fim.evidence import KnownGoodStore

        store, tree, kept = KnownGoodStore(args.store), Roots(roots), [0]
        with Progress("fim: keeping known-good copies", count=lambda: kept[0], total=len(regular), unit="files"):
            for path in regular:
                if path in files:
                    store.remember(path, files[path], trusted=True, root=tree.root_of(path))
                kept[0] += 1
        store.close()
    _report(problems)
    _summary(f"baseline of {len(files)} entries written to {args.db}", started)
    return 0


def _judge(args: argparse.Namespace, changes: list[Change], roots: list[str]) -> dict[str, Any]:
    """Severity and rule ids per changed path, when a FIM rules folder is available."""
    from govwatch.agents.fim.rules import FimRules, default_rules_dir

    folder = args.rules or default_rules_dir()
    if folder is None:
        return {}
    from govwatch.agents.fim.beneath import Roots
    from govwatch.agents.fim.evidence import webshell_markers
    from govwatch.agents.fim.scan import hash_file

    rules, tree = FimRules.load(folder), Roots(roots)
    verdicts = {}
    for change in changes:
        markers: list[str] = []
        if change.change in ("created", "modified") and change.after and change.after.type == "file":
            try:
                content = hash_file(change.path, keep=MARKER_SCAN_BYTES, root=tree.root_of(change.path),
                                    inode=change.after.inode)[1]
                markers = webshell_markers(content)
            except OSError:
                pass
        verdicts[change.path] = rules.judge_change(change, roots, web_roots=roots, markers=markers)
    return verdicts


def _line(change: Change, verdict: Any) -> dict[str, Any]:
    line: dict[str, Any] = {"path": change.path, "change": change.change,
                            "before": change.before.to_json() if change.before else None,
                            "after": change.after.to_json() if change.after else None}
    if change.old_path:
        line["old_path"] = change.old_path
    if verdict is not None:
        line["severity"], line["rules"] = verdict.severity, verdict.rule_ids
    return line


def _report(problems: list[Problem]) -> None:
    for problem in problems:
        sys.stderr.write(f"govwatch: fim: {problem.path}: {problem.detail}\n")


def _summary(text: str, started: float) -> None:
    sys.stderr.write(f"govwatch: fim: {text} in {time.monotonic() - started:.2f}s\n")


def run_restore(args: argparse.Namespace, out: IO[str]) -> int:
    """`fim restore`: put the latest trusted copy back (or list versions); exit 2 if there is none."""
    from govwatch.agents.fim.evidence import KnownGoodStore, restore

    folder = args.store or _store_from_config(args.config)
    if folder is None or not os.path.isdir(folder):
        raise GovwatchError("no known-good store: give --store DIR or -c agent.yml")
    path = os.path.abspath(args.path)
    store = KnownGoodStore(folder)
    try:
        if args.list:
            for version in store.versions(path):
                out.write(json.dumps(version) + "\n")
            return 0
        out.write(restore(store, path, args.sha256) + "\n")
        return 0
    finally:
        store.close()


def _store_from_config(config: str | None) -> str | None:
    if config is None:
        return None
    from govwatch.agents.fim.watcher import store_dir_for_agent

    return store_dir_for_agent(config)
