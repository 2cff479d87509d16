"""The training run of the hot path's profile-guided build (scripts/build-native).

GCC lays out and inlines collector._hotpath by what this run does most: web events as the
collector receives them, in both spellings (`/track` arrays and Segment's `/v1/batch`), in
batches of 1, 20 and 100, with two dozen more user agents than the load generator's mix,
under the default policy and under one that scrubs and masks more; and, in about one batch
in forty (3,000 of 52,500 events), irregular events that take the slower paths (escapes,
non-ASCII text, nulls, numbers as ids, unknown fields, bots, rejections).

Its events come from the same generator as the benchmarks' (loadtest/payloads.py, so the
same kind of traffic), drawn with other seeds: the build is not tuned to the very bytes it
is measured on, but it is tuned to traffic like them, which is what the collector expects;
other traffic gains less. Profile-guided builds change only how the code is laid out, never
what it computes: the parity tests run on this build.
"""

from __future__ import annotations

import random
import sys
from typing import Any

import msgspec

from bench.pipeline import through
from collector import native
from collector.config import Pii, Settings
from loadtest.payloads import AGENTS, SEED, client_ips, segment_bodies, track_bodies, web_events

SECRET = b"profile-training-secret-0123456789"
START_MS = 1_795_800_000_000
MORE_AGENTS = [
    *(
        f"Mozilla/5.0 (Linux; Android {android}; Pixel {android - 6}) AppleWebKit/537.36 "
        f"(KHTML, like Gecko) Chrome/{chrome}.0.0.0 Mobile Safari/537.36"
        for android in (12, 13, 14, 15)
        for chrome in (128, 130)
    ),
    *(
        f"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{version}.0) Gecko/20100101 "
        f"Firefox/{version}.0"
        for version in range(125, 134)
    ),
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "python-requests/2.32.3",
    "curl/8.5.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/131.0.0.0 Safari/537.36",
]
# The load generator's user agents and these, which a third of the visitors then have.
TRAINING_AGENTS = [*AGENTS, *((agent, 2) for agent in MORE_AGENTS)]
# A policy that scrubs the context too, and masks and truncates more than the default.
STRICTER = Settings(
    pii=Pii(
        scrub_paths=["context", "properties"],
        rules={"user_id": "tokenize", "**.email": "mask", "context.ip": "truncate_ip"},
    )
)


def irregular_events(count: int, seed: int) -> list[dict[str, Any]]:
    """Web events bent, one way each, towards the pipeline's less travelled paths."""
    rng = random.Random(seed)
    bends = [
        lambda e: e["properties"].update(note='said "hi"\nthen left \u00e9\u2603 \U0001f600'),
        lambda e: e.update(user_id=None, session_id=None),
        lambda e: e.update(anonymous_id=rng.randrange(10**6)),
        lambda e: e.update(unknown_field={"a": [1, 2.5, None, True]}),
        lambda e: e["properties"].update(deep={"a": {"b": {"c": {"d": [1, {"e": "f"}]}}}}),
        lambda e: e["properties"].update(big=2**70, negative=-(2**40), ratio=-1.5e-7),
        lambda e: e["context"].update(user_agent="Mozilla/5.0 HeadlessChrome/131.0.0.0"),
        lambda e: e["context"].update(webdriver=True),
        lambda e: e["context"].update(traits={"email": "someone@example.com", "phone": "+1 555"}),
        lambda e: e.pop("event"),
        lambda e: e.update(timestamp="2026-11-26T10:00:00.123+01:00"),
        lambda e: e.update(timestamp="yesterday"),
        lambda e: e.update(context=None, properties=None),
        lambda e: e["properties"].update(message="mail me at visitor@example.org please"),
    ]
    events = web_events(count, seed, visitors=5_000)
    for event in events:
        rng.choice(bends)(event)
    return events


def bodies() -> list[tuple[bytes, bool]]:
    """(body, in Segment's spelling) for every batch of the run, interleaved."""
    agents = TRAINING_AGENTS
    regular = [(body, False) for body in track_bodies(300, 100, SEED + 1, agents)]
    regular += [(body, True) for body in segment_bodies(150, 100, seed=SEED + 2)]
    regular += [(body, False) for body in track_bodies(200, 20, SEED + 3, agents)]
    regular += [(body, False) for body in track_bodies(500, 1, SEED + 4, agents)]
    irregular = irregular_events(3_000, seed=SEED + 5)
    odd = [
        (msgspec.json.encode(irregular[i : i + 100]), False) for i in range(0, len(irregular), 100)
    ]
    random.Random(SEED + 6).shuffle(regular)
    return _interleave(regular, odd)


def _interleave(
    regular: list[tuple[bytes, bool]], odd: list[tuple[bytes, bool]]
) -> list[tuple[bytes, bool]]:
    # One odd batch after every `step` regular ones.
    step = max(1, len(regular) // max(1, len(odd)))
    mixed: list[tuple[bytes, bool]] = []
    for index, item in enumerate(regular):
        mixed.append(item)
        if index % step == step - 1 and odd:
            mixed.append(odd.pop())
    return mixed + odd


def main() -> int:
    if native.IMPLEMENTATION != "native":
        print("train_native: collector._hotpath is not built", file=sys.stderr)
        return 1
    batches = bodies()
    ips = client_ips(len(batches), seed=SEED + 7)
    events = 0
    # Two rounds under the default policy, one under the stricter one, each batch decoded
    # and processed as bench/pipeline.py (and the collector) does.
    for round_, settings in enumerate([Settings(), Settings(), STRICTER]):
        pipeline = native.Pipeline(settings, SECRET)
        run = {False: through(pipeline), True: through(pipeline, segment=True)}
        for index, (body, segment) in enumerate(batches):
            now = START_MS + (round_ * len(batches) + index) * 20
            events += len(run[segment](body, now, ips[index]))
    print(f"train_native: {events} records made", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
