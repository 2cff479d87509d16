"""The tests' own murmur2 must agree with Kafka's; vectors printed by the Java client
(org.apache.kafka.common.utils.Utils from kafka-clients 4.1.2)."""

import pytest

from tests.support.partitioner import murmur2, partition_for

JAVA = [
    ("21", -973932308, 0),
    ("foobar", -790332482, 6),
    ("a-little-bit-long-string", -985981536, 8),
    ("a-little-bit-longer-string", -1486304829, 11),
    ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971, 5),
    ("abc", 479470107, 3),
    ("u-42", -1954991815, 1),
    ("ü-ñ", -359537958, 2),
]


@pytest.mark.parametrize(("key", "signed", "partition"), JAVA)
def test_murmur2_matches_java_client(key: str, signed: int, partition: int) -> None:
    assert murmur2(key.encode()) == signed & 0xFFFFFFFF
    assert partition_for(key.encode(), 12) == partition
