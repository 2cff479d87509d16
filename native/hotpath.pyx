# The batch hot path: native twin of collector/records.py and collector/keying.py.
# One call per request batch; output must equal the Python twin's, record for record.

cdef tuple IDENTITY_FIELDS = ("user_id", "anonymous_id", "session_id")


cdef object choose_key(dict event):
    cdef object value
    for field in IDENTITY_FIELDS:
        value = event.get(field)
        if isinstance(value, str):
            if value:
                return (<str>value).encode("utf-8")
        elif isinstance(value, int) and not isinstance(value, bool):
            return str(value).encode("ascii")
    return None


def build_records(list events, encode):
    """One (key, value) pair per event, in order; value is the event encoded as JSON."""
    cdef Py_ssize_t i, n = len(events)
    cdef list records = [None] * n
    cdef dict event
    for i in range(n):
        event = <dict>events[i]
        records[i] = (choose_key(event), encode(event))
    return records
