import math

from collector.quotas import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_refuses_with_the_wait() -> None:
    clock = Clock()
    bucket = TokenBucket(rate_per_s=10, burst=20, clock=clock)
    assert bucket.take(20) == 0
    assert bucket.take(5) == 0.5
    clock.now += 0.5
    assert bucket.take(5) == 0


def test_bucket_refills_at_its_rate_up_to_the_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(rate_per_s=10, burst=20, clock=clock)
    bucket.take(20)
    clock.now += 100
    assert bucket.take(20) == 0
    assert bucket.take(1) > 0


def test_a_refused_request_takes_nothing() -> None:
    clock = Clock()
    bucket = TokenBucket(rate_per_s=1, burst=10, clock=clock)
    assert bucket.take(8) == 0
    assert bucket.take(5) > 0
    assert bucket.take(2) == 0


def test_more_than_the_burst_can_never_pass() -> None:
    bucket = TokenBucket(rate_per_s=1000, burst=10, clock=Clock())
    assert math.isinf(bucket.take(11))
