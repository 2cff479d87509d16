from typing import Any

import pytest

from collector.bots import (
    AUTOMATION,
    CRAWLER,
    MISSING_USER_AGENT,
    RATE_ANONYMOUS_ID,
    RATE_IP,
    WEBDRIVER,
    BotDetector,
)
from collector.config import Bots
from collector.envelope import Activity, Source

NOW_MS = 1_795_700_000_000

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36"
)
EDGE = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"
)

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
GOOGLEBOT_SMARTPHONE = (
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.6778.69 Mobile Safari/537.36 "
    "(compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
)
BINGBOT = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
CURL = "curl/8.5.0"
PYTHON_REQUESTS = "python-requests/2.32.3"

HEADLESS_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/131.0.0.0 Safari/537.36"
)
PHANTOMJS = (
    "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) "
    "PhantomJS/2.1.1 Safari/538.1"
)


def activity(
    context: dict[str, Any] | None = None,
    source: Source = "web",
    anonymous_id: str | None = None,
) -> Activity:
    return Activity(
        event_id="e",
        type="track",
        source=source,
        received_at="x",
        ts="x",
        anonymous_id=anonymous_id,
        context={} if context is None else context,
    )


@pytest.mark.parametrize(
    "user_agent", [GOOGLEBOT, GOOGLEBOT_SMARTPHONE, BINGBOT, CURL, PYTHON_REQUESTS]
)
def test_verdict_flags_known_crawlers(user_agent: str) -> None:
    detector = BotDetector(Bots())
    assert detector.verdict(activity({"user_agent": user_agent}), NOW_MS) == CRAWLER


@pytest.mark.parametrize("user_agent", [HEADLESS_CHROME, PHANTOMJS])
def test_verdict_flags_headless_browsers_as_automation(user_agent: str) -> None:
    detector = BotDetector(Bots())
    assert detector.verdict(activity({"user_agent": user_agent}), NOW_MS) == AUTOMATION


@pytest.mark.parametrize("webdriver", [True, "true"])
def test_verdict_flags_the_webdriver_context_flag(webdriver: object) -> None:
    detector = BotDetector(Bots())
    event = activity({"user_agent": CHROME, "webdriver": webdriver})
    assert detector.verdict(event, NOW_MS) == WEBDRIVER


@pytest.mark.parametrize("webdriver", [False, "false", None, 0])
def test_verdict_ignores_a_false_webdriver_flag(webdriver: object) -> None:
    detector = BotDetector(Bots())
    event = activity({"user_agent": CHROME, "webdriver": webdriver})
    assert detector.verdict(event, NOW_MS) is None


def test_verdict_webdriver_wins_over_the_user_agent() -> None:
    detector = BotDetector(Bots())
    event = activity({"user_agent": GOOGLEBOT, "webdriver": True})
    assert detector.verdict(event, NOW_MS) == WEBDRIVER


@pytest.mark.parametrize("user_agent", [CHROME, FIREFOX, SAFARI, IPHONE, ANDROID_CHROME, EDGE])
def test_verdict_passes_ordinary_browsers(user_agent: str) -> None:
    detector = BotDetector(Bots())
    event = activity({"user_agent": user_agent, "ip": "198.51.100.1"})
    assert detector.verdict(event, NOW_MS) is None


@pytest.mark.parametrize("context", [{}, {"user_agent": ""}, {"user_agent": None}])
def test_verdict_flags_a_web_event_without_user_agent(context: dict[str, Any]) -> None:
    detector = BotDetector(Bots())
    assert detector.verdict(activity(context), NOW_MS) == MISSING_USER_AGENT


@pytest.mark.parametrize("source", ["mobile", "server"])
def test_verdict_passes_mobile_and_server_events_without_user_agent(source: Source) -> None:
    detector = BotDetector(Bots())
    assert detector.verdict(activity({}, source=source), NOW_MS) is None


def test_verdict_missing_user_agent_flag_can_be_disabled() -> None:
    detector = BotDetector(Bots(flag_missing_user_agent=False))
    assert detector.verdict(activity({}), NOW_MS) is None


def test_verdict_mobile_crawler_user_agent_is_still_flagged() -> None:
    detector = BotDetector(Bots())
    event = activity({"user_agent": CURL}, source="mobile")
    assert detector.verdict(event, NOW_MS) == CRAWLER


def test_user_agent_verdict_is_cached_per_distinct_agent() -> None:
    detector = BotDetector(Bots())
    assert detector.user_agent_verdict(GOOGLEBOT) == CRAWLER
    assert detector.user_agent_verdict(GOOGLEBOT) == CRAWLER
    assert len(detector._verdicts) == 1
    assert detector.user_agent_verdict(CHROME) is None
    assert detector.user_agent_verdict(CHROME) is None
    assert len(detector._verdicts) == 2
    assert detector._verdicts == {GOOGLEBOT: CRAWLER, CHROME: None}


def test_verdict_repeated_user_agent_gives_the_same_verdict() -> None:
    detector = BotDetector(Bots())
    first = detector.verdict(activity({"user_agent": HEADLESS_CHROME}), NOW_MS)
    second = detector.verdict(activity({"user_agent": HEADLESS_CHROME}), NOW_MS)
    assert first == second == AUTOMATION
    assert len(detector._verdicts) == 1


def test_verdict_flags_an_ip_over_its_rate() -> None:
    detector = BotDetector(Bots(max_events_per_ip=5, rate_window_s=60))
    event = activity({"user_agent": CHROME, "ip": "198.51.100.1"})
    verdicts = [detector.verdict(event, NOW_MS) for _ in range(6)]
    assert verdicts == [None] * 5 + [RATE_IP]


def test_verdict_ip_rate_does_not_affect_other_ips() -> None:
    detector = BotDetector(Bots(max_events_per_ip=5, rate_window_s=60))
    busy = activity({"user_agent": CHROME, "ip": "198.51.100.1"})
    for _ in range(6):
        detector.verdict(busy, NOW_MS)
    other = activity({"user_agent": CHROME, "ip": "198.51.100.2"})
    assert detector.verdict(other, NOW_MS) is None
    assert detector.verdict(busy, NOW_MS) == RATE_IP


def test_verdict_ip_rate_is_forgotten_after_the_window() -> None:
    detector = BotDetector(Bots(max_events_per_ip=5, rate_window_s=60))
    event = activity({"user_agent": CHROME, "ip": "198.51.100.1"})
    for _ in range(6):
        detector.verdict(event, NOW_MS)
    assert detector.verdict(event, NOW_MS + 5 * 60_000) is None


def test_verdict_flags_an_anonymous_id_over_its_rate() -> None:
    detector = BotDetector(Bots(max_events_per_anonymous_id=5, rate_window_s=60))
    verdicts = [
        detector.verdict(
            activity({"user_agent": CHROME, "ip": f"198.51.100.{i}"}, anonymous_id="anon-1"),
            NOW_MS,
        )
        for i in range(6)
    ]
    assert verdicts == [None] * 5 + [RATE_ANONYMOUS_ID]


def test_verdict_anonymous_id_rate_does_not_affect_other_ids() -> None:
    detector = BotDetector(Bots(max_events_per_anonymous_id=5, rate_window_s=60))
    for _ in range(6):
        detector.verdict(activity({"user_agent": CHROME}, anonymous_id="anon-1"), NOW_MS)
    other = activity({"user_agent": CHROME}, anonymous_id="anon-2")
    assert detector.verdict(other, NOW_MS) is None


def test_verdict_user_agent_reason_wins_over_rate() -> None:
    detector = BotDetector(Bots(max_events_per_ip=1, rate_window_s=60))
    event = activity({"user_agent": CURL, "ip": "198.51.100.1"})
    assert [detector.verdict(event, NOW_MS) for _ in range(3)] == [CRAWLER] * 3


def test_verdict_ip_rate_wins_over_anonymous_id_rate() -> None:
    settings = Bots(max_events_per_ip=2, max_events_per_anonymous_id=2, rate_window_s=60)
    detector = BotDetector(settings)
    event = activity({"user_agent": CHROME, "ip": "198.51.100.1"}, anonymous_id="anon-1")
    assert [detector.verdict(event, NOW_MS) for _ in range(3)] == [None, None, RATE_IP]


def test_verdict_non_string_ip_is_not_rate_counted() -> None:
    detector = BotDetector(Bots(max_events_per_ip=1, rate_window_s=60))
    event = activity({"user_agent": CHROME, "ip": 12345})
    assert [detector.verdict(event, NOW_MS) for _ in range(3)] == [None] * 3
