from collector.ingest import _read_headers


def test_read_headers_takes_the_first_value_of_each_header_it_reads() -> None:
    raw = [
        (b"host", b"collector"),
        (b"user-agent", b"Mozilla/5.0 (caf\xe9)"),
        (b"authorization", b"Bearer first"),
        (b"authorization", b"Bearer second"),
    ]
    # As Starlette's Headers: the first of repeated headers, values read as latin-1.
    assert _read_headers(raw) == {
        b"user-agent": "Mozilla/5.0 (café)",
        b"authorization": "Bearer first",
    }
    assert _read_headers([]).get(b"content-encoding") is None
