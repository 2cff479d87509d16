"""Benchmarks that print figures: `python -m bench.<name> --help`."""

from __future__ import annotations

import json


def print_figures(figures: dict[str, object], as_json: bool) -> None:
    """One JSON object (for docs and scripts), or one aligned line per figure."""
    if as_json:
        print(json.dumps(figures))
        return
    width = max(map(len, figures), default=0) + 2
    for name, value in figures.items():
        print(f"{name:{width}} {value}")
