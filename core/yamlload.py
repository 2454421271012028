"""Bounded YAML parsing for config and rule files: hostile input ends in one line, never a hang or traceback.

PyYAML's SafeLoader already refuses object construction, but it still expands alias bombs (each alias
is shared, yet every walk over the result is exponential), recurses once per nesting level, accepts a key
written twice (the last one silently wins) and turns a 5,000-digit integer into a ValueError traceback.
`compose_bounded` refuses all of these (and YAML tags, which would select other constructors) while
composing and walking the node tree — before anything is constructed — at the line where they occur.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import AliasEvent

MAX_DEPTH = 32  # nesting levels; real configs use fewer than 6
MAX_ALIASES = 32  # `*name` references; a config needs a handful at most
MAX_NODES = 200_000  # nodes visited with aliases expanded (a 1,000-site config is ~15,000)
MAX_NUMBER_CHARS = 40  # an integer or float written with more characters is a mistake or an attack
MAX_BYTES = 4 * 2**20  # a config or rule file larger than this is not one
_STD = "tag:yaml.org,2002:"
_PLAIN_TAGS = {_STD + t for t in ("str", "int", "float", "bool", "null", "timestamp", "seq", "map", "merge")}
_NUMBER_TAGS = {_STD + "int", _STD + "float"}


class YamlRefused(Exception):
    """A YAML document refused for its shape: `line` is 1-based, `key` the dotted path when known."""

    def __init__(self, reason: str, line: int | None, key: tuple = ()) -> None:
        super().__init__(reason)
        self.reason, self.line, self.key = reason, line, key


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that counts nesting depth and aliases while composing (before anything recurses far)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        event = self.peek_event()
        line = event.start_mark.line + 1
        if isinstance(event, AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise YamlRefused(f"more than {MAX_ALIASES} YAML aliases (*name); write the values out", line)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise YamlRefused(f"nested deeper than {MAX_DEPTH} levels", line)
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def compose_bounded(text: str) -> tuple[Any, dict[tuple, int]]:
    """Parse one YAML document; return (data, {key path: line}) or raise YamlRefused / yaml.YAMLError."""
    if len(text) > MAX_BYTES:
        raise YamlRefused(f"larger than {MAX_BYTES // 2**20} MiB: is this the right file?", None)
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: dict[tuple, int] = {}
        _Walker(lines).walk(node, ())
        return loader.construct_document(node), lines
    except RecursionError:
        raise YamlRefused(f"nested deeper than {MAX_DEPTH} levels", None) from None
    finally:
        loader.dispose()


class _Walker:
    """Records the line of every key and item, refuses duplicate keys, and bounds alias expansion."""

    def __init__(self, lines: dict[tuple, int]) -> None:
        self.lines, self.visited = lines, 0

    def walk(self, node: yaml.Node, path: tuple) -> None:
        self.visited += 1
        if self.visited > MAX_NODES:
            raise YamlRefused(f"expands to more than {MAX_NODES} values (alias bomb?)", node.start_mark.line + 1,
                              path)
        self.lines.setdefault(path, node.start_mark.line + 1)
        self._plain(node, path)
        if isinstance(node, yaml.MappingNode):
            self._mapping(node, path)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.walk(item, path + (index,))

    def _plain(self, node: yaml.Node, path: tuple) -> None:
        line = node.start_mark.line + 1
        if node.tag not in _PLAIN_TAGS:
            tag = node.tag.replace(_STD, "!!")
            raise YamlRefused(f"YAML tag {tag} is not allowed; write a plain value", line, path)
        if isinstance(node, yaml.ScalarNode) and node.tag in _NUMBER_TAGS and len(node.value) > MAX_NUMBER_CHARS:
            raise YamlRefused(f"number longer than {MAX_NUMBER_CHARS} characters", line, path)

    def _mapping(self, node: yaml.MappingNode, path: tuple) -> None:
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlRefused("a key must be a plain word, not a list or mapping", line, path)
            key = key_node.value
            if key in seen and key != "<<":
                raise YamlRefused(f"written twice (lines {seen[key]} and {line}); keep one", line, path + (key,))
            seen[key] = line
            self.walk(value_node, path + (key,))
            self.lines[path + (key,)] = line
