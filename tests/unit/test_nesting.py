import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import collector._hotpath as hotpath
from collector import native, nesting

TreeViolation = Callable[[Any, str, int, int, int], tuple[str, str] | None]
IMPLEMENTATIONS: list[TreeViolation] = [nesting.tree_violation, hotpath.tree_violation]
IDS = ["python", "native"]

EMOJI = ["🙂", "👩‍👩‍👧‍👦", "🇯🇵", "🍕", "Zoë", "ключ", "名前", "\u0000", "é"]

# Text without lone surrogates (JSON decoding never yields them in keys that msgspec accepts).
texts = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=25),
    st.lists(st.sampled_from(EMOJI), max_size=8).map("".join),
)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**100), max_value=2**100),
    st.floats(allow_nan=False),
    texts,
)
trees = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(texts, children, max_size=5)
    ),
    max_leaves=40,
)
containers = st.one_of(st.dictionaries(texts, trees, max_size=6), st.lists(trees, max_size=6))


def test_native_implementation_is_the_compiled_extension() -> None:
    # The normal install compiles native/; a silent fallback would hide a broken build.
    assert native.IMPLEMENTATION == "native"
    assert native.Pipeline is hotpath.Pipeline


def test_native_can_be_forced_to_the_python_twin() -> None:
    environ = {**os.environ, "COLLECTOR_NATIVE": "0"}
    code = (
        "from collector import native, pipeline; "
        "print(native.IMPLEMENTATION, native.Pipeline is pipeline.Pipeline)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["python", "True"]


@settings(max_examples=500, deadline=None)
@given(
    tree=containers,
    max_depth=st.integers(min_value=1, max_value=6),
    max_string=st.integers(min_value=0, max_value=20),
)
def test_tree_violation_native_matches_the_python_twin(
    tree: dict[str, Any] | list[Any], max_depth: int, max_string: int
) -> None:
    assert hotpath.tree_violation(
        tree, "properties", 1, max_depth, max_string
    ) == nesting.tree_violation(tree, "properties", 1, max_depth, max_string)


@settings(max_examples=200, deadline=None)
@given(
    tree=containers,
    path=texts,
    depth=st.integers(min_value=0, max_value=8),
    max_depth=st.integers(min_value=0, max_value=8),
    max_string=st.integers(min_value=0, max_value=20),
)
def test_tree_violation_native_matches_the_python_twin_at_any_start(
    tree: dict[str, Any] | list[Any], path: str, depth: int, max_depth: int, max_string: int
) -> None:
    assert hotpath.tree_violation(tree, path, depth, max_depth, max_string) == (
        nesting.tree_violation(tree, path, depth, max_depth, max_string)
    )


@settings(max_examples=200, deadline=None)
@given(tree=containers)
def test_tree_violation_finds_nothing_in_a_tree_within_generous_limits(
    tree: dict[str, Any] | list[Any],
) -> None:
    assert nesting.tree_violation(tree, "properties", 1, 100, 1_000) is None
    assert hotpath.tree_violation(tree, "properties", 1, 100, 1_000) is None


@pytest.mark.parametrize("tree_violation", IMPLEMENTATIONS, ids=IDS)
@pytest.mark.parametrize(
    ("tree", "max_depth", "detail"),
    [
        ({"a": {}}, 1, "properties.a nests deeper than 1 levels"),
        ({"a": []}, 1, "properties.a nests deeper than 1 levels"),
        ([[]], 1, "properties[0] nests deeper than 1 levels"),
        ({"a": {"b": [1, {"c": 1}]}}, 3, "properties.a.b[1] nests deeper than 3 levels"),
        ({"x": 1, "a": [[[]]]}, 3, "properties.a[0][0] nests deeper than 3 levels"),
        ({"🙂": {"é": {}}}, 2, "properties.🙂.é nests deeper than 2 levels"),
    ],
)
def test_tree_violation_reports_nesting_too_deep(
    tree_violation: TreeViolation, tree: Any, max_depth: int, detail: str
) -> None:
    assert tree_violation(tree, "properties", 1, max_depth, 100) == ("too_deep", detail)


@pytest.mark.parametrize("tree_violation", IMPLEMENTATIONS, ids=IDS)
def test_tree_violation_reports_a_start_already_too_deep(tree_violation: TreeViolation) -> None:
    assert tree_violation({}, "context", 3, 2, 100) == (
        "too_deep",
        "context nests deeper than 2 levels",
    )


@pytest.mark.parametrize("tree_violation", IMPLEMENTATIONS, ids=IDS)
@pytest.mark.parametrize(
    ("tree", "detail"),
    [
        ({"p": "abcd"}, "properties.p has 4 characters"),
        ({"p": ["ok", "abcde"]}, "properties.p[1] has 5 characters"),
        (["abcd"], "properties[0] has 4 characters"),
        ({"a": {"b": [{"c": "🙂🙂🙂🙂"}]}}, "properties.a.b[0].c has 4 characters"),
    ],
)
def test_tree_violation_reports_a_long_string(
    tree_violation: TreeViolation, tree: Any, detail: str
) -> None:
    assert tree_violation(tree, "properties", 1, 10, 3) == ("string_too_long", detail)


@pytest.mark.parametrize("tree_violation", IMPLEMENTATIONS, ids=IDS)
@pytest.mark.parametrize(
    ("tree", "detail"),
    [
        ({"long": 1}, "a key in properties is too long"),
        ({"a": {"long": 1}}, "a key in properties.a is too long"),
        ({"a": [{"ok": 1}, {"long": 1}]}, "a key in properties.a[1] is too long"),
    ],
)
def test_tree_violation_reports_a_long_key(
    tree_violation: TreeViolation, tree: Any, detail: str
) -> None:
    assert tree_violation(tree, "properties", 1, 10, 3) == ("string_too_long", detail)


@pytest.mark.parametrize("tree_violation", IMPLEMENTATIONS, ids=IDS)
def test_tree_violation_reports_the_first_violation_in_order(
    tree_violation: TreeViolation,
) -> None:
    tree = {"a": "ok", "b": "too long", "c": {"d": {}}, "longkey": 1}
    assert tree_violation(tree, "properties", 1, 2, 3) == (
        "string_too_long",
        "properties.b has 8 characters",
    )
    assert tree_violation(tree, "properties", 1, 2, 8) == (
        "too_deep",
        "properties.c.d nests deeper than 2 levels",
    )


@pytest.mark.parametrize("tree_violation", IMPLEMENTATIONS, ids=IDS)
def test_tree_violation_checks_a_key_before_its_value(tree_violation: TreeViolation) -> None:
    assert tree_violation({"long": "longer"}, "properties", 1, 10, 3) == (
        "string_too_long",
        "a key in properties is too long",
    )


@pytest.mark.parametrize("tree_violation", IMPLEMENTATIONS, ids=IDS)
def test_tree_violation_accepts_limits_met_exactly(tree_violation: TreeViolation) -> None:
    tree = {"abc": {"def": ["ghi", "🙂🙂🙂", 10**40, -1.5, None, True]}}
    assert tree_violation(tree, "properties", 1, 3, 3) is None


@pytest.mark.parametrize("tree_violation", IMPLEMENTATIONS, ids=IDS)
def test_tree_violation_ignores_numbers_bools_and_nulls(tree_violation: TreeViolation) -> None:
    tree = {"n": 10**100, "f": 1e308, "t": True, "z": None, "l": [0, -(10**50), False]}
    assert tree_violation(tree, "properties", 1, 2, 0) == (
        "string_too_long",
        "a key in properties is too long",
    )
    assert tree_violation(tree, "properties", 1, 2, 1) is None


@pytest.mark.parametrize("tree_violation", IMPLEMENTATIONS, ids=IDS)
def test_tree_violation_allows_empty_strings_and_keys_with_max_string_zero(
    tree_violation: TreeViolation,
) -> None:
    assert tree_violation({"": ["", {"": ""}]}, "properties", 1, 3, 0) is None


@pytest.mark.parametrize("tree_violation", IMPLEMENTATIONS, ids=IDS)
def test_tree_violation_accepts_empty_containers(tree_violation: TreeViolation) -> None:
    assert tree_violation({}, "properties", 1, 1, 0) is None
    assert tree_violation([], "properties", 1, 1, 0) is None
