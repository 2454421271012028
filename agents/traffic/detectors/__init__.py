"""Detectors that plug into the engine: one module each, found here by name, beside its rule file.

A module in this folder defines one `Detector` subclass decorated with `@register`; its `kind`, default
`PARAMS` and `decide` join the rule loader's tables (rules.py), and the engine builds one instance per
enabled rule and calls `second()` once a second with the shared per-second feature table
(`table.SecondTable`), which the detector reads but does not own. Adding a detector is one new file here
and one rule file in rules/traffic/.
"""

from __future__ import annotations

import importlib
import pkgutil

from ..table import REGISTRY, Detector, register

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["REGISTRY", "Detector", "register"]
