"""Is an event from a bot? A verdict with a reason, or None for a person.

Signals, in order: the client's own `webdriver` flag, automation in the user agent (headless
browsers), a known crawler (the `crawler-user-agents` dataset, compiled once), a web event
without a user agent, and an event rate from one IP or one anonymous id far above a person's.
User-agent verdicts are cached per distinct string, so a repeated agent costs one dict lookup.
"""

from __future__ import annotations

import re
from typing import Any

import crawleruseragents

from collector.config import Bots
from collector.envelope import Activity
from collector.rates import SlidingWindow

# Reasons, as they appear in the `bot` header and the metrics' `reason` label.
WEBDRIVER = "webdriver"
AUTOMATION = "automation"
CRAWLER = "crawler"
MISSING_USER_AGENT = "missing_user_agent"
RATE_IP = "rate_ip"
RATE_ANONYMOUS_ID = "rate_anonymous_id"
REASONS = (WEBDRIVER, AUTOMATION, CRAWLER, MISSING_USER_AGENT, RATE_IP, RATE_ANONYMOUS_ID)

# Browser automation that announces itself in the user agent.
_AUTOMATION = re.compile(r"HeadlessChrome|PhantomJS|SlimerJS|Electron/.*\bHeadless")
# Distinct user agents remembered; beyond this the cache starts over (agents are few in
# practice, so reaching it means someone is sending random ones).
_CACHE_LIMIT = 100_000


def _crawler_pattern() -> re.Pattern[str]:
    # The dataset's patterns are case-sensitive regular expressions, one per crawler.
    patterns = (entry["pattern"] for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA)
    return re.compile("|".join(f"(?:{p})" for p in patterns))


class BotDetector:
    def __init__(self, settings: Bots) -> None:
        self.settings = settings
        self._crawler = _crawler_pattern()
        self._verdicts: dict[str, str | None] = {}
        window_ms = settings.rate_window_s * 1000
        self._per_ip = SlidingWindow(window_ms)
        self._per_anonymous_id = SlidingWindow(window_ms)

    def user_agent_verdict(self, user_agent: str) -> str | None:
        verdict = self._verdicts.get(user_agent, "")
        if verdict != "":
            return verdict
        if _AUTOMATION.search(user_agent):
            verdict = AUTOMATION
        elif self._crawler.search(user_agent):
            verdict = CRAWLER
        else:
            verdict = None
        if len(self._verdicts) >= _CACHE_LIMIT:
            self._verdicts.clear()
        self._verdicts[user_agent] = verdict
        return verdict

    def verdict(self, event: Activity, now_ms: int) -> str | None:
        """Why `event` looks like a bot, or None. Counts it towards the rate windows."""
        context = event.context
        ip = context.get("ip")
        # A server library sends for many people from one address: its rate says nothing.
        over_ip = (
            event.source != "server"
            and isinstance(ip, str)
            and self._per_ip.hit(ip, now_ms) > self.settings.max_events_per_ip
        )
        over_anonymous_id = event.anonymous_id is not None and (
            self._per_anonymous_id.hit(event.anonymous_id, now_ms)
            > self.settings.max_events_per_anonymous_id
        )
        if _truthy(context.get("webdriver")):
            return WEBDRIVER
        user_agent = context.get("user_agent")
        if isinstance(user_agent, str) and user_agent:
            verdict = self.user_agent_verdict(user_agent)
            if verdict is not None:
                return verdict
        elif event.source == "web" and self.settings.flag_missing_user_agent:
            return MISSING_USER_AGENT
        if over_ip:
            return RATE_IP
        if over_anonymous_id:
            return RATE_ANONYMOUS_ID
        return None


def _truthy(value: Any) -> bool:
    return value is True or value == "true"
