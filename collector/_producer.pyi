# Types of the native producer (native/producer.pyx). It has its twin's interface
# (collector/sinks/producer.py) without being its subclass at runtime.
from collections.abc import Sequence

from collector.pipeline import Record
from collector.sinks import producer

class Producer(producer.Producer):
    def __init__(self, config: dict[str, str]) -> None: ...
    def send(self, records: Sequence[Record], token: object) -> producer.Report | None: ...
