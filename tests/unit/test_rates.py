import pytest

from collector.rates import SlidingWindow


def test_sliding_window_counts_hits_within_a_window() -> None:
    window = SlidingWindow(1000)
    assert [window.hit("k", t) for t in (0, 100, 500, 999)] == [1, 2, 3, 4]


def test_sliding_window_counts_each_key_apart() -> None:
    window = SlidingWindow(1000)
    window.hit("a", 10)
    window.hit("a", 20)
    assert window.hit("b", 30) == 1
    assert window.hit("a", 40) == 3
    assert window.hit(("ip", "a"), 50) == 1


def test_sliding_window_weights_the_previous_window_by_its_overlap() -> None:
    window = SlidingWindow(1000)
    for _ in range(10):
        window.hit("k", 500)
    # Half of the previous window still lies within the last 1000 ms.
    assert window.hit("k", 1500) == pytest.approx(1 + 10 * 0.5)
    assert window.hit("k", 1750) == pytest.approx(2 + 10 * 0.25)


def test_sliding_window_counts_all_of_the_previous_window_at_the_start_of_the_next() -> None:
    window = SlidingWindow(1000)
    for t in range(0, 1000, 100):
        window.hit("k", t)
    assert window.hit("k", 1000) == pytest.approx(1 + 10)


def test_sliding_window_previous_window_fades_to_almost_nothing() -> None:
    window = SlidingWindow(1000)
    for _ in range(10):
        window.hit("k", 0)
    assert window.hit("k", 1999) == pytest.approx(1 + 10 * 0.001)


def test_sliding_window_previous_window_counts_for_a_key_new_in_this_window() -> None:
    window = SlidingWindow(1000)
    for _ in range(4):
        window.hit("k", 900)
    window.hit("other", 1100)
    assert window.hit("k", 1200) == pytest.approx(1 + 4 * 0.8)


def test_sliding_window_forgets_after_a_gap_of_two_windows() -> None:
    window = SlidingWindow(1000)
    for _ in range(10):
        window.hit("k", 900)
    assert window.hit("k", 2100) == 1


def test_sliding_window_forgets_after_a_long_gap() -> None:
    window = SlidingWindow(1000)
    for _ in range(10):
        window.hit("k", 900)
    assert window.hit("k", 1_000_000_500) == 1


def test_sliding_window_forgets_a_key_idle_for_a_whole_window() -> None:
    window = SlidingWindow(1000)
    for _ in range(10):
        window.hit("k", 500)
    window.hit("other", 1500)
    window.hit("other", 2500)
    assert window.hit("k", 2500) == 1


def test_sliding_window_resets_when_the_clock_goes_back() -> None:
    window = SlidingWindow(1000)
    for _ in range(10):
        window.hit("k", 5500)
    assert window.hit("k", 4500) == 1
    assert window.hit("k", 4600) == 2


def test_sliding_window_resets_when_the_clock_goes_back_one_window() -> None:
    window = SlidingWindow(1000)
    for _ in range(5):
        window.hit("k", 1000)
    for _ in range(5):
        window.hit("k", 2000)
    assert window.hit("k", 1500) == 1


def test_sliding_window_starts_at_any_time() -> None:
    window = SlidingWindow(60_000)
    now = 1_795_703_107_123
    assert window.hit("k", now) == 1
    assert window.hit("k", now + 1) == 2


@pytest.mark.parametrize("window_ms", [0, -1, -60_000])
def test_sliding_window_rejects_a_window_that_is_not_positive(window_ms: int) -> None:
    with pytest.raises(ValueError, match="window_ms must be positive"):
        SlidingWindow(window_ms)


def test_sliding_window_keeps_its_window() -> None:
    assert SlidingWindow(250).window_ms == 250


def test_sliding_window_is_empty_at_first() -> None:
    assert len(SlidingWindow(1000)) == 0


def test_sliding_window_forgets_keys_idle_for_two_windows() -> None:
    window = SlidingWindow(1000)
    for key in range(1000):
        window.hit(key, 100)
    assert len(window) == 1000
    # One window later the old keys are still held, as the previous window's counts.
    window.hit("active", 1100)
    assert len(window) == 1001
    # Two windows later they are gone; only the active key is left (held once as the
    # current window's count and once as the previous window's).
    window.hit("active", 2100)
    assert 1 <= len(window) <= 2
    assert window.hit(0, 2200) == 1


def test_sliding_window_forgets_every_key_after_a_gap() -> None:
    window = SlidingWindow(1000)
    for key in range(100):
        window.hit(key, 100)
    window.hit("active", 5000)
    assert len(window) == 1


def test_sliding_window_memory_follows_the_active_keys() -> None:
    window = SlidingWindow(1000)
    for second in range(20):
        for key in range(50):
            window.hit((second, key), second * 1000 + 10)
        # Only this window's 50 keys and the previous window's 50 are held.
        assert len(window) <= 100
