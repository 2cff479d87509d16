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


def delete_topics(bootstrap: str, prefix: str) -> None:
    """Delete the topics a run made (every name starting with `prefix`): a broker that keeps
    every run's partitions spends more CPU per event with each run, which would make later
    runs look slower than earlier ones."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    names = [name for name in admin.list_topics(timeout=10).topics if name.startswith(prefix)]
    if names:
        for future in admin.delete_topics(names, operation_timeout=30).values():
            future.result(60)
