import pytest

from collector import timestamps
from collector.timestamps import EARLIEST_MS, LATEST_MS, InvalidTimestamp

# 2026-11-26T14:25:07.123Z
T = 1_795_703_107_123
# 0001-01-01T00:00:00.000Z
FIRST_MS = -62_135_596_800_000


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        ("2026-11-26T14:25:07.123Z", T),
        ("2026-11-26T14:25:07.123+00:00", T),
        ("2026-11-26T16:25:07.123+02:00", T),
        ("2026-11-26T09:25:07.123-05:00", T),
        ("2026-11-26T14:25:07.123456Z", T),
        ("2026-11-26T14:25:07Z", T - 123),
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59.999Z", -1),
        ("0001-01-01T00:00:00Z", FIRST_MS),
        ("9999-12-31T23:59:59.999Z", LATEST_MS),
    ],
)
def test_parse_reads_iso_8601_with_z_and_offsets(value: str, ms: int) -> None:
    assert timestamps.parse(value) == ms


def test_parse_takes_iso_8601_without_an_offset_as_utc() -> None:
    assert timestamps.parse("2026-11-26T14:25:07.123") == T
    assert timestamps.parse("2026-11-26T14:25:07") == T - 123


def test_parse_reads_a_date_alone_as_midnight_utc() -> None:
    assert timestamps.parse("2026-11-26") == 1_795_651_200_000
    assert timestamps.parse("2000-01-01") == EARLIEST_MS


@pytest.mark.parametrize("ms", [0, 1, -1, T, -86_400_000, FIRST_MS, LATEST_MS])
def test_parse_takes_integers_as_epoch_milliseconds(ms: int) -> None:
    assert timestamps.parse(ms) == ms


@pytest.mark.parametrize(
    "ms", [LATEST_MS + 1, FIRST_MS - 1, 10**18, -(10**18), 2**63, 10**30, -(10**30)]
)
def test_parse_rejects_epoch_milliseconds_out_of_range(ms: int) -> None:
    with pytest.raises(InvalidTimestamp, match="out of range"):
        timestamps.parse(ms)


@pytest.mark.parametrize(
    "value",
    [
        "",
        " ",
        "garbage",
        "yesterday",
        "1795703107123",
        "2026-13-01T00:00:00Z",
        "2026-02-30",
        "2026-11-26T25:00:00Z",
        "2026-11-26T14:25:07+25:00",
        "26/11/2026",
        "2026-11-26T14:25:07Z trailing",
        "🕒",
        "x" * 10_000,
    ],
)
def test_parse_rejects_garbage_strings(value: str) -> None:
    with pytest.raises(InvalidTimestamp, match="not an ISO-8601 timestamp"):
        timestamps.parse(value)


def test_parse_error_quotes_at_most_64_characters_of_the_value() -> None:
    with pytest.raises(InvalidTimestamp) as caught:
        timestamps.parse("y" * 1000)
    assert "y" * 64 in str(caught.value)
    assert "y" * 65 not in str(caught.value)


def test_parse_invalid_timestamp_is_a_value_error() -> None:
    assert issubclass(InvalidTimestamp, ValueError)


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_parse_rejects_offsets_that_leave_years_0001_to_9999(value: str) -> None:
    with pytest.raises(InvalidTimestamp):
        timestamps.parse(value)


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (T, "2026-11-26T14:25:07.123Z"),
        (0, "1970-01-01T00:00:00.000Z"),
        (1, "1970-01-01T00:00:00.001Z"),
        (999, "1970-01-01T00:00:00.999Z"),
        (1000, "1970-01-01T00:00:01.000Z"),
        (EARLIEST_MS, "2000-01-01T00:00:00.000Z"),
        (FIRST_MS, "0001-01-01T00:00:00.000Z"),
        (LATEST_MS, "9999-12-31T23:59:59.999Z"),
    ],
)
def test_format_gives_the_canonical_form(ms: int, text: str) -> None:
    assert timestamps.format(ms) == text


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (-1, "1969-12-31T23:59:59.999Z"),
        (-999, "1969-12-31T23:59:59.001Z"),
        (-1000, "1969-12-31T23:59:59.000Z"),
        (-1001, "1969-12-31T23:59:58.999Z"),
        (-86_400_000, "1969-12-31T00:00:00.000Z"),
    ],
)
def test_format_handles_negative_milliseconds(ms: int, text: str) -> None:
    assert timestamps.format(ms) == text


def test_format_zero_pads_years_below_1000() -> None:
    assert timestamps.format(timestamps.parse("0999-06-15T01:02:03.004Z")) == (
        "0999-06-15T01:02:03.004Z"
    )
    assert timestamps.format(FIRST_MS + 1) == "0001-01-01T00:00:00.001Z"


@pytest.mark.parametrize("ms", [FIRST_MS, -1, 0, 1, EARLIEST_MS, T, LATEST_MS])
def test_format_round_trips_through_parse(ms: int) -> None:
    assert timestamps.parse(timestamps.format(ms)) == ms


def test_correct_adds_the_skew_to_the_client_time() -> None:
    # The client's clock runs 5 minutes behind the server's.
    received = T
    sent = T - 300_000
    client = T - 300_000 - 2_000
    ts, skew = timestamps.correct(client, sent, received, 60_000)
    assert skew == 300_000
    assert ts == client + (received - sent) == T - 2_000


def test_correct_skew_is_negative_for_a_clock_that_runs_ahead() -> None:
    ts, skew = timestamps.correct(T + 3_600_000 - 500, T + 3_600_000, T, 60_000)
    assert skew == -3_600_000
    assert ts == T - 500


def test_correct_skew_is_positive_for_a_clock_that_runs_behind() -> None:
    ts, skew = timestamps.correct(T - 3_600_000 - 500, T - 3_600_000, T, 60_000)
    assert skew == 3_600_000
    assert ts == T - 500


def test_correct_skew_is_zero_for_a_clock_in_sync() -> None:
    assert timestamps.correct(T - 10, T, T, 60_000) == (T - 10, 0)


def test_correct_without_sent_at_keeps_the_client_time_and_no_skew() -> None:
    assert timestamps.correct(T - 5_000, None, T, 60_000) == (T - 5_000, None)


def test_correct_without_client_time_uses_the_receive_time() -> None:
    assert timestamps.correct(None, None, T, 60_000) == (T, None)
    assert timestamps.correct(None, T - 1_000, T, 60_000) == (T, 1_000)


def test_correct_clamps_a_future_time_beyond_the_tolerance_to_the_receive_time() -> None:
    assert timestamps.correct(T + 60_001, None, T, 60_000) == (T, None)
    assert timestamps.correct(T + 10 * 365 * 86_400_000, None, T, 60_000) == (T, None)


def test_correct_clamps_a_corrected_time_still_in_the_future() -> None:
    # sent_at claims the past, the event claims far later: the corrected time is ahead.
    ts, skew = timestamps.correct(T + 120_000, T - 1_000, T, 60_000)
    assert (ts, skew) == (T, 1_000)


def test_correct_keeps_a_future_time_within_the_tolerance() -> None:
    assert timestamps.correct(T + 60_000, None, T, 60_000) == (T + 60_000, None)
    assert timestamps.correct(T + 1, None, T, 60_000) == (T + 1, None)


def test_correct_clamps_times_before_2000_to_the_receive_time() -> None:
    assert timestamps.correct(0, None, T, 60_000) == (T, None)
    assert timestamps.correct(EARLIEST_MS - 1, None, T, 60_000) == (T, None)
    assert timestamps.correct(-(10**12), None, T, 60_000) == (T, None)


def test_correct_keeps_the_first_instant_of_2000() -> None:
    assert timestamps.correct(EARLIEST_MS, None, T, 60_000) == (EARLIEST_MS, None)


def test_correct_rescues_a_device_reset_to_1970_when_it_sends_sent_at() -> None:
    # The device thinks it is 1970 but reports both times by the same clock.
    ts, skew = timestamps.correct(10_000, 12_000, T, 60_000)
    assert skew == T - 12_000
    assert ts == T - 2_000


def test_correct_clamps_when_the_skew_carries_the_time_before_2000() -> None:
    ts, skew = timestamps.correct(T, T + 30 * 365 * 86_400_000, T, 60_000)
    assert ts == T
    assert skew == -30 * 365 * 86_400_000
