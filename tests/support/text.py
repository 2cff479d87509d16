"""Hypothesis strategies for text the free-text scrub looks into."""

from __future__ import annotations

from hypothesis import strategies as st

# Digits as \d finds them: any Unicode decimal digit (ASCII, Arabic-Indic, fullwidth).
_DIGITS = "0123456789\u0663\uff15"
_SEPARATORS = [".", ":", "::", "-", " ", "(", ")", "+", "@", "%40", "/", "_"]

# Runs of digits, the separators the patterns put between them, and words (hex letters too).
_NOISE = st.lists(
    st.one_of(
        st.text(_DIGITS, min_size=1, max_size=4),
        st.sampled_from(_SEPARATORS),
        st.text("abcdefxyz", min_size=1, max_size=3),
    ),
    max_size=10,
).map("".join)
# Numbers grouped as addresses and phone numbers are, around the counts of digits, dots and
# colons that the scrub's pre-check relies on.
_GROUPED = st.builds(
    lambda plus, groups, separator: plus + separator.join(groups),
    st.sampled_from(["", "+", "+1 "]),
    st.lists(st.text(_DIGITS, min_size=1, max_size=4), min_size=2, max_size=6),
    st.sampled_from([".", " ", "-", ":"]),
)
# Email addresses, the @ written as %40 too.
_ADDRESSED = st.builds(
    lambda user, at, domain: f"{user}{at}{domain}.example",
    st.text("abx1.", min_size=1, max_size=4),
    st.sampled_from(["@", "%40"]),
    st.text("cdy2", min_size=1, max_size=4),
)


def pii_like_text() -> st.SearchStrategy[str]:
    """Text near what the patterns of collector.pii's free-text scrub replace."""
    return st.lists(st.one_of(_NOISE, _GROUPED, _ADDRESSED), min_size=1, max_size=3).map(" ".join)
