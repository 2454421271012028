"""Config loading: the bounded YAML loader against plain yaml.safe_load (the anchor, same run), and an alias bomb.

Prints figures only (no thresholds): the cost of the bounds on a large real config, and how fast a bomb is
refused (plain PyYAML builds it fast too, but any walk over the result visits 9^9 values).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import yaml

from govwatch.yamlload import YamlRefused, compose_bounded


def best(func: Callable[[], object], rounds: int = 5) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    sites = "".join(f"  - {{name: site-{i}, url: 'https://s{i}.gov.kh/', ministry: M{i % 20}, interval: 60s}}\n"
                    for i in range(1000))
    text = "listen: 127.0.0.1:8443\nsites:\n" + sites
    anchor, ours = best(lambda: yaml.safe_load(text)), best(lambda: compose_bounded(text))
    print(f"1000-site config: yaml.safe_load {anchor * 1000:.0f} ms (anchor), bounded loader {ours * 1000:.0f} ms "
          f"({ours / anchor:.2f}x)")
    bomb = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9) if i else ', '.join(['lol'] * 9)}]\n"
                   for i in range(9))
    start = time.perf_counter()
    try:
        compose_bounded(bomb)
        print("alias bomb accepted (a bug)")
    except YamlRefused as exc:
        print(f"alias bomb refused in {(time.perf_counter() - start) * 1000:.1f} ms: {exc.reason}")


if __name__ == "__main__":
    main()
