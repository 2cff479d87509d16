"""Which environment `collector serve` runs itself again with, for its allocator."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.allocator import JEMALLOC, TRIED, loaded, preload_environment


@pytest.fixture
def libraries(tmp_path: Path) -> tuple[str, ...]:
    (tmp_path / JEMALLOC).write_bytes(b"")
    return (str(tmp_path / "elsewhere"), str(tmp_path))


def test_jemalloc_is_preloaded_by_its_path_once(libraries: tuple[str, ...]) -> None:
    assert preload_environment("jemalloc", {"PATH": "/bin"}, libraries) == {
        "PATH": "/bin",
        "LD_PRELOAD": str(Path(libraries[1], JEMALLOC)),
        TRIED: "1",
    }


def test_one_try_only_even_when_the_loader_dropped_it(libraries: tuple[str, ...]) -> None:
    assert preload_environment("jemalloc", {TRIED: "1"}, libraries) is None


def test_an_ld_preload_set_by_someone_else_is_left_alone(
    libraries: tuple[str, ...], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    for preload in ("/usr/lib/x86_64-linux-gnu/libasan.so.8", f"/opt/{JEMALLOC}", "libmimalloc.so"):
        assert preload_environment("jemalloc", {"LD_PRELOAD": preload}, libraries) is None
    assert "not adding jemalloc" in caplog.text


def test_system_malloc_needs_no_second_run(libraries: tuple[str, ...]) -> None:
    assert preload_environment("system", {}, libraries) is None


def test_missing_library_warns_and_runs_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert preload_environment("jemalloc", {}, (str(tmp_path),)) is None
    assert "libjemalloc2" in caplog.text


def test_the_library_is_found_where_this_machine_keeps_it() -> None:
    # `make setup` installs Debian's libjemalloc2; the real search must find it.
    environment = preload_environment("jemalloc", {})
    assert environment is not None
    assert Path(environment["LD_PRELOAD"]).name == JEMALLOC


def test_loaded_reads_the_mapped_libraries(tmp_path: Path) -> None:
    maps = tmp_path / "maps"
    maps.write_text(f"7f00-7f01 r-xp 00000000 08:01 42 /usr/lib/x86_64-linux-gnu/{JEMALLOC}\n")
    assert loaded(maps) == "jemalloc"
    maps.write_text("7f00-7f01 r-xp 00000000 08:01 42 /usr/lib/x86_64-linux-gnu/libc.so.6\n")
    assert loaded(maps) == "system"
    assert loaded(tmp_path / "absent") == "unknown"
