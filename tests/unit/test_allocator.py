"""Which environment `collector serve` runs itself again with, for its allocator."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.allocator import JEMALLOC, loaded, preload_environment


@pytest.fixture
def libraries(tmp_path: Path) -> tuple[str, ...]:
    (tmp_path / JEMALLOC).write_bytes(b"")
    return (str(tmp_path / "elsewhere"), str(tmp_path))


def test_jemalloc_goes_first_in_ld_preload_keeping_what_was_there(
    libraries: tuple[str, ...],
) -> None:
    environ = {"PATH": "/bin", "LD_PRELOAD": "/opt/libtrace.so"}
    assert preload_environment("jemalloc", environ, libraries) == {
        "PATH": "/bin",
        "LD_PRELOAD": f"{JEMALLOC} /opt/libtrace.so",
    }
    assert preload_environment("jemalloc", {}, libraries) == {"LD_PRELOAD": JEMALLOC}


def test_no_second_run_once_jemalloc_is_preloaded(libraries: tuple[str, ...]) -> None:
    for preload in (JEMALLOC, f"/usr/lib/x86_64-linux-gnu/{JEMALLOC}", f"/a.so:{JEMALLOC}"):
        assert preload_environment("jemalloc", {"LD_PRELOAD": preload}, libraries) is None


def test_system_malloc_needs_no_second_run(libraries: tuple[str, ...]) -> None:
    assert preload_environment("system", {}, libraries) is None


def test_missing_library_warns_and_runs_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert preload_environment("jemalloc", {}, (str(tmp_path),)) is None
    assert "libjemalloc2" in caplog.text


def test_loaded_reads_the_mapped_libraries(tmp_path: Path) -> None:
    maps = tmp_path / "maps"
    maps.write_text(f"7f00-7f01 r-xp 00000000 08:01 42 /usr/lib/x86_64-linux-gnu/{JEMALLOC}\n")
    assert loaded(maps) == "jemalloc"
    maps.write_text("7f00-7f01 r-xp 00000000 08:01 42 /usr/lib/x86_64-linux-gnu/libc.so.6\n")
    assert loaded(maps) == "system"
    assert loaded(tmp_path / "absent") == "unknown"
