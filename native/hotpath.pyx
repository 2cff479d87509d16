# The native hot path: the event pipeline of collector/pipeline.py, one call per batch.
#
# Every function and class here has a pure-Python twin that is its specification, named in
# its docstring; tests/unit/test_hotpath_parity.py feeds both the same random batches and
# requires identical records, byte for byte. The twins define what happens; this file only
# makes it cheaper: typed loops, C arithmetic for times and rates, caches for tokens,
# truncated addresses and user-agent verdicts, an event's fields read from its bytes and kept
# there while they can be, and record values written straight into a byte buffer instead of
# through an envelope object.

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.datetime cimport (
    datetime_day, datetime_hour, datetime_minute, datetime_month, datetime_second,
    datetime_microsecond, datetime_year, import_datetime,
)
from cpython.dict cimport PyDict_GetItem, PyDict_GetItemWithError, PyDict_Next, PyDict_SetItem
from cpython.long cimport PyLong_FromLongLong
from cpython.object cimport PyObject
from cpython.pycapsule cimport PyCapsule_New
from cpython.ref cimport Py_INCREF, Py_XDECREF
from cpython.set cimport PySet_Contains
from cpython.unicode cimport (
    PyUnicode_AsEncodedString, PyUnicode_AsUTF8AndSize, PyUnicode_DecodeUTF8,
)

from records cimport (
    COLLECTOR_RECORDS_CAPSULE, collector_record_span, collector_records_view,
)

cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object text)
    # An ASCII str's own bytes, which are its UTF-8 too: no call, where
    # PyUnicode_AsUTF8AndSize is one. (CPython returns void*, which C converts.)
    const char* PyUnicode_DATA(object text)
    Py_ssize_t PyUnicode_GET_LENGTH(object text)

cdef extern from *:
    """
    /* A record, allocated as its tuple subtype in one step: tuple.__new__(Record, (...))
       makes two tuples and goes through a generic call. The items are set before anything
       else can see the record. From 3.14 a tuple caches its hash, -1 meaning not computed
       yet, and tp_alloc's zeroed memory would read as a hash of 0: there, the generic way. */
    /* Every item of the list set to None, with no per-item type checks. */
    static void collector_clear_list(PyObject *items) {
        Py_ssize_t i;
        for (i = 0; i < PyList_GET_SIZE(items); i++) {
            PyObject *old = PyList_GET_ITEM(items, i);
            if (old != Py_None) {
                Py_INCREF(Py_None);
                PyList_SET_ITEM(items, i, Py_None);
                Py_DECREF(old);
            }
        }
    }

    /* What hash() gives an ASCII str or a bytes object with these bytes. CPython 3.14 names
       it Py_HashBuffer; before, it is _Py_HashBytes, whose declaration 3.13 moved to the
       internal headers (the function is still exported), so it is declared here. */
    #if PY_VERSION_HEX >= 0x030E0000
    #define collector_hash_bytes Py_HashBuffer
    #else
    PyAPI_FUNC(Py_hash_t) _Py_HashBytes(const void *, Py_ssize_t);
    #define collector_hash_bytes _Py_HashBytes
    #endif

    /* A zeroed table of `count` slots, aligned to a cache line, so that slots of a size
       dividing 64 bytes never straddle two (calloc aligns to 16). Freed with free(). */
    #include <stdlib.h>
    #include <string.h>
    static void *collector_table(size_t count, size_t size) {
        void *table = NULL;
        if (count > ((size_t)-1) / size) return NULL;
        if (posix_memalign(&table, 64, count * size) != 0) return NULL;
        memset(table, 0, count * size);
        return table;
    }

    static PyObject *collector_record(PyObject *type, PyObject *topic, PyObject *key,
                                      PyObject *value, PyObject *headers) {
    #if PY_VERSION_HEX >= 0x030E0000
        PyObject *items = PyTuple_Pack(4, topic, key, value, headers);
        if (items == NULL) return NULL;
        PyObject *args = PyTuple_Pack(1, items);
        Py_DECREF(items);
        if (args == NULL) return NULL;
        PyObject *made = PyTuple_Type.tp_new((PyTypeObject *)type, args, NULL);
        Py_DECREF(args);
        return made;
    #else
        PyObject *record = ((PyTypeObject *)type)->tp_alloc((PyTypeObject *)type, 4);
        if (record == NULL) return NULL;
        Py_INCREF(topic); PyTuple_SET_ITEM(record, 0, topic);
        Py_INCREF(key); PyTuple_SET_ITEM(record, 1, key);
        Py_INCREF(value); PyTuple_SET_ITEM(record, 2, value);
        Py_INCREF(headers); PyTuple_SET_ITEM(record, 3, headers);
        return record;
    #endif
    }
    """
    void __builtin_prefetch(const void* address) nogil
    int __builtin_ctz(unsigned int bits) nogil
    void collector_clear_list(list items)
    Py_hash_t collector_hash_bytes(const void* data, Py_ssize_t n) noexcept nogil
    void* collector_table(size_t count, size_t size) noexcept nogil
    object collector_record(object type, object topic, object key, object value, object headers)
from libc.math cimport isfinite
from libc.stdint cimport uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memchr, memcmp, memcpy
from posix.unistd cimport getpid

import collections.abc as _abc
import hashlib
import os

import ciso8601
import msgspec

from collector import pipeline as _twin
from collector.bots import (
    _AUTOMATION, AUTOMATION, CRAWLER, MISSING_USER_AGENT, RATE_ANONYMOUS_ID, RATE_IP, WEBDRIVER,
)
from collector.envelope import SegmentEvent, TrackEvent
from collector.nesting import MAX_DECODE_DEPTH as _MAX_DECODE_DEPTH
from collector.normalize import decode_event as _decode_any_dialect
from collector.pii import _FREE_TEXT, _TOP_LEVEL, _replacement, MASK, truncate_ip as _truncate_ip_twin

import_datetime()

cdef object _Record = _twin.Record
cdef Py_ssize_t _DLQ_VALUE_BYTES = _twin.DLQ_VALUE_BYTES
cdef object _Rejection = _twin.Rejection
cdef object _Outcome = _twin.Outcome
cdef object _decode_event = msgspec.json.Decoder(TrackEvent).decode
cdef object _decode_object = msgspec.json.Decoder(dict | None).decode

# Fields of a decoded event, read from one msgspec.structs.astuple call instead of an
# attribute lookup each.
cdef object _astuple = msgspec.structs.astuple
cdef Py_ssize_t _F_TYPE = TrackEvent.__struct_fields__.index("type")
cdef Py_ssize_t _F_EVENT = TrackEvent.__struct_fields__.index("event")
cdef Py_ssize_t _F_EVENT_ID = TrackEvent.__struct_fields__.index("event_id")
cdef Py_ssize_t _F_USER_ID = TrackEvent.__struct_fields__.index("user_id")
cdef Py_ssize_t _F_ANONYMOUS_ID = TrackEvent.__struct_fields__.index("anonymous_id")
cdef Py_ssize_t _F_SESSION_ID = TrackEvent.__struct_fields__.index("session_id")
cdef Py_ssize_t _F_TIMESTAMP = TrackEvent.__struct_fields__.index("timestamp")
cdef Py_ssize_t _F_SENT_AT = TrackEvent.__struct_fields__.index("sent_at")
cdef Py_ssize_t _F_CONTEXT = TrackEvent.__struct_fields__.index("context")
cdef Py_ssize_t _F_PROPERTIES = TrackEvent.__struct_fields__.index("properties")
cdef Py_ssize_t _F_TRAITS = TrackEvent.__struct_fields__.index("traits")
cdef Py_ssize_t _F_GROUP_ID = TrackEvent.__struct_fields__.index("group_id")
cdef Py_ssize_t _F_PREVIOUS_ID = TrackEvent.__struct_fields__.index("previous_id")
cdef object _encode = msgspec.json.Encoder().encode
cdef object _ValidationError = msgspec.ValidationError
cdef object _DecodeError = msgspec.DecodeError
cdef object _DROP = object()
cdef object _NO_SALT = object()
cdef object _NOT_PLAIN = object()
cdef object _blake2b = hashlib.blake2b
cdef object _parse_datetime = ciso8601.parse_datetime

cdef long long _EARLIEST_MS = 946_684_800_000
cdef long long _LATEST_MS = 253_402_300_799_999
cdef long long _FIRST_MS = -62_135_596_800_000
cdef Py_ssize_t _CACHE_LIMIT = 100_000
cdef Py_ssize_t _TOKEN_CACHE_LIMIT = 200_000
cdef Py_ssize_t _SCRUB_CACHE_LIMIT = 50_000
# User agents kept (see _State._user_agent); a power of two.
cdef enum:
    _USER_AGENT_SLOTS = 256
    # Library names kept (see _State._library_name); a power of two.
    _LIBRARY_SLOTS = 16
cdef Py_ssize_t _SCRUB_CACHE_LENGTH = 256
# The caches keyed by what clients write keep only keys of a sane length, so that their
# memory stays bounded whatever the clients send (strings may be max_string_length long):
# library names and addresses up to 64 characters, user agents up to 1024 characters and
# tokenized values up to 1024 bytes of UTF-8.
cdef Py_ssize_t _LIBRARY_NAME_LIMIT = 64
cdef Py_ssize_t _ADDRESS_LIMIT = 64
cdef Py_ssize_t _CACHED_TEXT_LENGTH = 1024
cdef Py_ssize_t _SALT_LIMIT = 100_000

_MOBILE_LIBRARIES = ("ios", "android", "react-native", "flutter", "kotlin", "swift", "xamarin")
_SERVER_LIBRARIES = (
    "analytics-python", "analytics-node", "analytics-go", "analytics-java", "analytics-ruby",
    "analytics-php", "analytics.net", "rudder-sdk-python", "rudder-sdk-node", "rudder-sdk-go",
    "rudder-sdk-java", "rudder-sdk-ruby", "rudder-sdk-php",
)


class _NotJSON(Exception):
    """An outlined event that is not JSON: the body is msgspec's to read."""


class _Rejected(Exception):
    def __init__(self, reason, detail):
        self.reason = reason
        self.detail = detail


# ---------------------------------------------------------------------------------------------
# Limits (twin: collector.nesting)

cpdef object tree_violation(object value, str path, Py_ssize_t depth, Py_ssize_t max_depth,
                            Py_ssize_t max_string):
    """Twin of collector.nesting.tree_violation."""
    cdef object key, item, found
    cdef Py_ssize_t index
    if depth > max_depth:
        return "too_deep", f"{path} nests deeper than {max_depth} levels"
    if type(value) is dict:
        for key, item in (<dict>value).items():
            if len(<str>key) > max_string:
                return "string_too_long", f"a key in {path} is too long"
            found = _item_violation(item, f"{path}.{key}", depth, max_depth, max_string)
            if found is not None:
                return found
    else:
        for index in range(len(<list>value)):
            item = (<list>value)[index]
            found = _item_violation(item, f"{path}[{index}]", depth, max_depth, max_string)
            if found is not None:
                return found
    return None


cdef extern from *:
    """
    /* How many opening brackets ({ and [) the n bytes at p hold: sixteen bytes compared at
       once with SSE2 (events hold few brackets, so this is one pass over them), one at a
       time elsewhere and in the sanitized build. */
    #if defined(__SSE2__) && !defined(COLLECTOR_PORTABLE_SCAN)
    #include <emmintrin.h>
    #endif
    static Py_ssize_t collector_count_openers(const unsigned char *p, Py_ssize_t n) {
        Py_ssize_t count = 0, i = 0;
    #if defined(__SSE2__) && !defined(COLLECTOR_PORTABLE_SCAN)
        const __m128i brace = _mm_set1_epi8(0x7B), bracket = _mm_set1_epi8(0x5B);
        for (; i + 16 <= n; i += 16) {
            const __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
            /* Bits cleared one by one: few are set, and __builtin_popcount is a libgcc call
               without -mpopcnt. */
            int bits = _mm_movemask_epi8(
                _mm_or_si128(_mm_cmpeq_epi8(v, brace), _mm_cmpeq_epi8(v, bracket)));
            for (; bits; bits &= bits - 1) count++;
        }
    #endif
        for (; i < n; i++) count += (p[i] == 0x7B) | (p[i] == 0x5B);
        return count;
    }
    """
    Py_ssize_t collector_count_openers(const unsigned char* p, Py_ssize_t n) noexcept nogil


cdef bint _buffer_deeper_than(const unsigned char* data, Py_ssize_t n, Py_ssize_t limit) noexcept:
    """Twin of collector.nesting.nests_deeper_than."""
    cdef Py_ssize_t i, depth = 0
    cdef unsigned char byte
    cdef bint in_string = False, escaped = False
    # Nesting deeper than `limit` needs more than `limit` opening brackets somewhere.
    if collector_count_openers(data, n) <= limit:
        return False
    for i in range(n):
        byte = data[i]
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte == 0x5B or byte == 0x7B:
            depth += 1
            if depth > limit:
                return True
        elif byte == 0x5D or byte == 0x7D:
            depth -= 1
    return False


cdef inline object _item_violation(object item, str where, Py_ssize_t depth,
                                   Py_ssize_t max_depth, Py_ssize_t max_string):
    cdef type kind = type(item)
    if kind is dict or kind is list:
        return tree_violation(item, where, depth + 1, max_depth, max_string)
    if kind is str and len(<str>item) > max_string:
        return "string_too_long", f"{where} has {len(<str>item)} characters"
    return None


# ---------------------------------------------------------------------------------------------
# Times (twin: collector.timestamps)

@cython.cdivision(True)
cdef inline long long _floor_div(long long a, long long b) noexcept:
    # Python's floor division for b > 0 (every caller's), in two C operations: Cython's own
    # floor semantics (cdivision off) cost a call and several branches per division.
    cdef long long q = a / b
    return q - 1 if a - q * b < 0 else q


# The calendar's arithmetic below divides only non-negative numbers (the one that can be
# negative goes through _floor_div), where C's division is already Python's.
@cython.cdivision(True)
cdef long long _days_from_civil(long long y, long long m, long long d):
    # Howard Hinnant's days_from_civil: days since 1970-01-01 in the proleptic Gregorian calendar.
    y -= m <= 2
    cdef long long era = _floor_div(y, 400)
    cdef long long yoe = y - era * 400
    cdef long long doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    cdef long long doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


@cython.cdivision(True)
cdef void _format_ms_into(char* out, long long ms) noexcept:
    """Twin of collector.timestamps.format, into out[0:24]."""
    cdef long long seconds = _floor_div(ms, 1000)
    cdef long long millis = ms - seconds * 1000
    cdef long long days = _floor_div(seconds, 86400)
    cdef long long rest = seconds - days * 86400
    cdef long long z = days + 719468
    cdef long long era = _floor_div(z, 146097)
    cdef long long doe = z - era * 146097
    cdef long long yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    cdef long long doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    cdef long long mp = (5 * doy + 2) // 153
    cdef long long day = doy - (153 * mp + 2) // 5 + 1
    cdef long long month = mp + (3 if mp < 10 else -9)
    cdef long long year = yoe + era * 400 + (month <= 2)
    _digits(out, 0, year, 4)
    out[4] = b"-"
    _digits(out, 5, month, 2)
    out[7] = b"-"
    _digits(out, 8, day, 2)
    out[10] = b"T"
    _digits(out, 11, rest // 3600, 2)
    out[13] = b":"
    _digits(out, 14, (rest // 60) % 60, 2)
    out[16] = b":"
    _digits(out, 17, rest % 60, 2)
    out[19] = b"."
    _digits(out, 20, millis, 3)
    out[23] = b"Z"


cdef int _append_integer(Buffer* buf, long long value) except -1:
    cdef char digits[20]
    cdef int at = 20
    # Negated as unsigned: -value would overflow for the smallest long long.
    cdef unsigned long long rest = <unsigned long long>value
    if value < 0:
        rest = 0 - rest
    while True:
        at -= 1
        digits[at] = <char>(48 + rest % 10)
        rest //= 10
        if rest == 0:
            break
    if value < 0:
        _append(buf, b"-", 1)
    return _append(buf, digits + at, 20 - at)


# Seconds lately written by _append_ms, as "YYYY-MM-DDTHH:MM:SS.", in four slots by the
# second's last two bits: an event writes up to three times (sent_at, client_ts, ts) a few
# seconds apart, and the events of a batch share them, so copying beats the calendar
# arithmetic. The empty mark is no second a timestamp can have.
cdef enum:
    _SECOND_SLOTS = 4
cdef long long _NO_SECOND = -(1LL << 62)
cdef long long _slot_seconds[_SECOND_SLOTS]
cdef char _slot_texts[_SECOND_SLOTS][20]
for _slot in range(_SECOND_SLOTS):
    _slot_seconds[_slot] = _NO_SECOND


cdef int _append_ms(Buffer* buf, long long ms) except -1:
    # Written as msgspec writes the twin's string: quoted, no escapes needed.
    cdef long long second = _floor_div(ms, 1000)
    cdef int slot = <int>(second & (_SECOND_SLOTS - 1))
    cdef char* out
    _reserve(buf, 26)
    out = buf.data + buf.length
    out[0] = b'"'
    if _slot_seconds[slot] == second:
        memcpy(out + 1, _slot_texts[slot], 20)
        _digits(out, 21, ms - second * 1000, 3)
        out[24] = b"Z"
    else:
        _format_ms_into(out + 1, ms)
        memcpy(_slot_texts[slot], out + 1, 20)
        _slot_seconds[slot] = second
    out[25] = b'"'
    buf.length += 26
    return 0


cdef inline void _digits(char* buf, int at, unsigned long long value, int width) noexcept:
    # Unsigned (every value written is a calendar field or milliseconds, never negative), so
    # that % and // are C's own.
    cdef int i
    for i in range(width - 1, -1, -1):
        buf[at + i] = <char>(48 + value % 10)
        value //= 10


cdef inline int _two(const char* at) noexcept:
    """Two ASCII digits' value, or -1."""
    if not (b"0"[0] <= at[0] <= b"9"[0] and b"0"[0] <= at[1] <= b"9"[0]):
        return -1
    return (at[0] - 0x30) * 10 + at[1] - 0x30


cdef bint _utc_ms(str value, long long* ms) noexcept:
    cdef Py_ssize_t n
    if not PyUnicode_IS_ASCII(value):
        return False
    cdef const char* text = PyUnicode_AsUTF8AndSize(value, &n)
    return _utc_ms_text(text, n, ms)


@cython.cdivision(True)
cdef bint _utc_ms_text(const char* text, Py_ssize_t n, long long* ms) noexcept:
    """The common spellings of a UTC time, read in C: YYYY-MM-DDTHH:MM:SS,
    then a fraction or none (ciso8601 takes any number of digits and keeps microseconds),
    then Z, +00:00 or nothing (taken as UTC, as the twin takes it). False for anything else,
    which ciso8601 then reads (or refuses) as before."""
    cdef Py_ssize_t at
    cdef int year, month, day, hour, minute, second, millis = 0, scale = 100, days
    if (n < 19 or text[4] != b"-"[0] or text[7] != b"-"[0] or text[10] != b"T"[0]
            or text[13] != b":"[0] or text[16] != b":"[0]):
        return False
    if _two(text) < 0 or _two(text + 2) < 0:
        return False
    year = _two(text) * 100 + _two(text + 2)
    month = _two(text + 5)
    day = _two(text + 8)
    hour = _two(text + 11)
    minute = _two(text + 14)
    second = _two(text + 17)
    if year < 1 or not 1 <= month <= 12 or day < 1 or not 0 <= hour <= 23:
        return False
    if not 0 <= minute <= 59 or not 0 <= second <= 59:
        return False
    days = 31
    if month == 4 or month == 6 or month == 9 or month == 11:
        days = 30
    elif month == 2:
        days = 29 if (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)) else 28
    if day > days:
        return False
    at = 19
    if at < n and text[at] == b"."[0]:
        at += 1
        while at < n and b"0"[0] <= text[at] <= b"9"[0]:
            millis += (text[at] - 0x30) * scale
            scale //= 10
            at += 1
        if at == 20:
            return False
    if at == n - 1 and text[at] == b"Z"[0]:
        at += 1
    elif n - at == 6 and memcmp(text + at, b"+00:00", 6) == 0:
        at += 6
    if at != n:
        return False
    ms[0] = ((_days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60
              + second) * 1000 + millis)
    return True


cdef object _parse_timestamp(object value):
    """Twin of collector.timestamps.parse: epoch milliseconds, or _Rejected."""
    cdef long long ms
    if type(value) is int:
        if not (_FIRST_MS <= value <= _LATEST_MS):
            raise _Rejected("invalid_timestamp", f"epoch milliseconds out of range: {value}")
        return value
    if type(value) is str and _utc_ms(<str>value, &ms):
        return ms
    try:
        parsed = _parse_datetime(value)
    except (ValueError, OverflowError):
        raise _Rejected("invalid_timestamp",
                        f"not an ISO-8601 timestamp in years 1-9999: {value[:64]!r}")
    offset = parsed.utcoffset()
    cdef long long shift = 0
    if offset is not None:
        shift = (<long long>offset.days) * 86400 + offset.seconds
    cdef long long seconds = (
        _days_from_civil(datetime_year(parsed), datetime_month(parsed), datetime_day(parsed))
        * 86400 + datetime_hour(parsed) * 3600 + datetime_minute(parsed) * 60
        + datetime_second(parsed) - shift
    )
    # The twin's utctimetuple() refuses a UTC time outside years 1-9999.
    if seconds < -62_135_596_800 or seconds > 253_402_300_799:
        raise _Rejected("invalid_timestamp",
                        f"not an ISO-8601 timestamp in years 1-9999: {value[:64]!r}")
    return seconds * 1000 + datetime_microsecond(parsed) // 1000


# ---------------------------------------------------------------------------------------------
# Rates (twin: collector.rates.SlidingWindow)

# 32 bytes, so that no slot straddles two cache lines: the window's one cache miss per hit
# stays one. A count stops at 2^32 - 1 events per window.
cdef struct _Slot:
    Py_hash_t hash  # 0: empty
    long long epoch
    uint32_t generation
    uint32_t current
    uint32_t previous


# A window's own state, apart from its slots: saved and put back whole around a batch that
# may be undone (Window.begin, Window.rollback).
cdef struct _Clock:
    long long epoch
    uint32_t generation
    # The clock of the last hit, and what it makes of the windows: the events of a batch
    # share their clock, and a division for each hit would cost more than the rest of it.
    long long last_ms
    bint clocked  # whether last_ms is set
    double previous_weight
    Py_ssize_t used


cdef struct _Undo:
    Py_ssize_t index
    _Slot slot


@cython.final
cdef class Window:
    """Twin of collector.rates.SlidingWindow, in an open-addressing table of C structs.

    The twin's two dicts of Python objects cost a cache miss or three per lookup once a
    window holds tens of thousands of visitors; here a lookup touches one slot. A slot knows
    its key by the key's 64-bit hash (str and bytes cache theirs): two keys sharing a hash
    would share a count, which for 100,000 active keys happens with odds of about 1 in 10^9.
    Where the twin starts over after a gap or a clock step back, this one starts a new
    generation, and slots of an older one count as empty.
    """

    cdef long long window_ms
    cdef _Clock clock
    cdef _Slot* slots
    cdef Py_ssize_t capacity
    # While a batch of events not yet known to be JSON is read (see Events.outlined): each
    # slot as it was before its first change, and the window's own state, so that the
    # batch can leave no trace when it turns out not to be.
    cdef bint logging
    cdef _Undo* undo
    cdef Py_ssize_t undo_used
    cdef Py_ssize_t undo_capacity
    cdef _Clock saved

    def __cinit__(self, long long window_ms):
        if window_ms <= 0:
            raise ValueError("window_ms must be positive")
        self.window_ms = window_ms
        self.capacity = 1024
        self.slots = <_Slot*>collector_table(self.capacity, sizeof(_Slot))
        if self.slots is NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.slots)
        free(self.undo)

    cdef int begin(self, Py_ssize_t hits) except -1:
        """Start logging changes, for a batch that hits at most `hits` keys: the table first
        made large enough for them, so that no rebuild moves the slots under the log."""
        if (self.clock.used + hits) * 2 > self.capacity:
            self._rebuild(hits)
        if self.undo_capacity < hits:
            free(self.undo)
            self.undo_capacity = 0
            self.undo = <_Undo*>malloc(hits * sizeof(_Undo))
            if self.undo is NULL:
                raise MemoryError()
            self.undo_capacity = hits
        self.saved = self.clock
        self.undo_used = 0
        self.logging = True
        return 0

    cdef void commit(self) noexcept:
        self.logging = False

    cdef void rollback(self) noexcept:
        """Every change since begin() undone, the last first."""
        cdef Py_ssize_t i
        for i in range(self.undo_used - 1, -1, -1):
            self.slots[self.undo[i].index] = self.undo[i].slot
        self.clock = self.saved
        self.logging = False

    cdef double hit(self, object key, long long now_ms) except? -1:
        return self.hit_hash(hash(key), now_ms)

    cdef double hit_hash(self, Py_hash_t h, long long now_ms) except? -1:
        # h: the key's hash(), which is all a slot keeps of it.
        cdef long long epoch, into
        if now_ms != self.clock.last_ms or not self.clock.clocked:
            epoch = _floor_div(now_ms, self.window_ms)
            into = now_ms - epoch * self.window_ms
            if epoch != self.clock.epoch:
                if epoch != self.clock.epoch + 1:
                    self.clock.generation += 1
                self.clock.epoch = epoch
            self.clock.previous_weight = 1 - <double>into / <double>self.window_ms
            self.clock.last_ms = now_ms
            self.clock.clocked = True
        epoch = self.clock.epoch
        if h == 0:
            h = 1
        cdef _Slot* slot = self._slot(h)
        if self.logging:
            # begin() made room for this many hits; one more would be a caller's bug.
            if self.undo_used == self.undo_capacity:
                raise RuntimeError("Window: more hits than begin() was told of")
            self.undo[self.undo_used].index = slot - self.slots
            self.undo[self.undo_used].slot = slot[0]
            self.undo_used += 1
        if slot.hash == 0:
            slot.hash = h
            slot.generation = self.clock.generation
            slot.epoch = epoch
            self.clock.used += 1
        elif slot.generation != self.clock.generation or slot.epoch < epoch - 1:
            slot.current = 0
            slot.previous = 0
        elif slot.epoch == epoch - 1:
            slot.previous = slot.current
            slot.current = 0
        slot.generation = self.clock.generation
        slot.epoch = epoch
        # Typed, or Cython compares through Python ints (2**32 - 1 is past a C int).
        if slot.current != <uint32_t>0xFFFFFFFF:
            slot.current += 1
        cdef double rate = slot.current + slot.previous * self.clock.previous_weight
        if self.clock.used * 2 > self.capacity and not self.logging:
            self._rebuild(0)
        return rate

    cdef inline int prefetch(self, Py_hash_t h) except -1:
        # Start loading the slot of the key hashing to h now: with tens of thousands of
        # visitors the table is larger than the caches, and the hit comes a few hundred
        # nanoseconds later.
        if h == 0:
            h = 1
        __builtin_prefetch(&self.slots[<size_t>h & <size_t>(self.capacity - 1)])
        return 0

    cdef inline _Slot* _slot(self, Py_hash_t h):
        cdef Py_ssize_t mask = self.capacity - 1
        cdef Py_ssize_t i = <Py_ssize_t>(<size_t>h & <size_t>mask)
        while self.slots[i].hash != 0 and self.slots[i].hash != h:
            i = (i + 1) & mask
        return &self.slots[i]

    cdef void _rebuild(self, Py_ssize_t room) except *:
        # Slots idle for two windows, or of an older generation, are forgotten (as the twin
        # forgets such keys); the table doubles if what is left still fills a quarter of it,
        # or half of it with `room` more keys.
        cdef Py_ssize_t live = 0, i
        cdef _Slot* old = self.slots
        cdef Py_ssize_t old_capacity = self.capacity
        for i in range(old_capacity):
            if old[i].hash != 0 and self._alive(&old[i]):
                live += 1
        cdef Py_ssize_t capacity = old_capacity
        while live * 4 > capacity or (live + room) * 2 > capacity:
            capacity *= 2
        self.slots = <_Slot*>collector_table(capacity, sizeof(_Slot))
        if self.slots is NULL:
            self.slots = old
            raise MemoryError()
        self.capacity = capacity
        self.clock.used = 0
        for i in range(old_capacity):
            if old[i].hash != 0 and self._alive(&old[i]):
                self._slot(old[i].hash)[0] = old[i]
                self.clock.used += 1
        free(old)

    cdef inline bint _alive(self, _Slot* slot):
        return slot.generation == self.clock.generation and slot.epoch >= self.clock.epoch - 1


# ---------------------------------------------------------------------------------------------
# Record values: the activity.v1 envelope as msgspec would encode collector.envelope.Activity

cdef struct Buffer:
    char* data
    Py_ssize_t length
    Py_ssize_t capacity


cdef int _buffer_init(Buffer* buf, Py_ssize_t capacity=1024) except -1:
    buf.capacity = capacity
    buf.length = 0
    buf.data = <char*>malloc(buf.capacity)
    if buf.data is NULL:
        raise MemoryError()
    return 0


cdef inline int _reserve(Buffer* buf, Py_ssize_t extra) except -1:
    cdef Py_ssize_t wanted = buf.length + extra
    cdef char* grown
    if wanted > buf.capacity:
        while buf.capacity < wanted:
            buf.capacity *= 2
        grown = <char*>realloc(buf.data, buf.capacity)
        if grown is NULL:
            raise MemoryError()
        buf.data = grown
    return 0


cdef extern from *:
    """
    /* n bytes copied, those of a short span (most of a record's names and values: up to 32
       bytes) by two overlapping loads and stores inline rather than by a call to memcpy,
       whose call and size dispatch cost more than the copy. Both loads come before the
       stores, and neither reads outside [src, src + n). */
    #include <stdint.h>
    #include <string.h>
    static inline void collector_copy(char *dst, const char *src, size_t n) {
        if (n >= 16) {
            if (n > 32) {
                memcpy(dst, src, n);
                return;
            }
            unsigned char head[16], tail[16];
            memcpy(head, src, 16);
            memcpy(tail, src + n - 16, 16);
            memcpy(dst, head, 16);
            memcpy(dst + n - 16, tail, 16);
        } else if (n >= 8) {
            uint64_t head, tail;
            memcpy(&head, src, 8);
            memcpy(&tail, src + n - 8, 8);
            memcpy(dst, &head, 8);
            memcpy(dst + n - 8, &tail, 8);
        } else if (n >= 4) {
            uint32_t head, tail;
            memcpy(&head, src, 4);
            memcpy(&tail, src + n - 4, 4);
            memcpy(dst, &head, 4);
            memcpy(dst + n - 4, &tail, 4);
        } else if (n > 0) {
            char first = src[0], middle = src[n >> 1], last = src[n - 1];
            dst[0] = first;
            dst[n >> 1] = middle;
            dst[n - 1] = last;
        }
    }
    """
    void collector_copy(char* dst, const char* src, size_t n) noexcept


cdef inline int _append(Buffer* buf, const char* data, Py_ssize_t n) except -1:
    _reserve(buf, n)
    collector_copy(buf.data + buf.length, data, n)
    buf.length += n
    return 0


cdef inline int _append_bytes(Buffer* buf, bytes data) except -1:
    return _append(buf, data, len(data))


cdef int _append_str(Buffer* buf, str text) except -1:
    # Text without quotes, backslashes or control characters is written as its UTF-8, as
    # msgspec writes it; anything else is left to msgspec's own escaping (as is text
    # with lone surrogates, which has no UTF-8).
    cdef Py_ssize_t n
    cdef const char* utf8
    # The exact type checked first: `str` lets None through, and PyUnicode_IS_ASCII would
    # read it as a str (PyUnicode_AsUTF8AndSize below raises for it instead).
    if type(text) is str and PyUnicode_IS_ASCII(text):
        utf8 = PyUnicode_DATA(text)
        n = PyUnicode_GET_LENGTH(text)
    else:
        try:
            utf8 = PyUnicode_AsUTF8AndSize(text, &n)
        except UnicodeEncodeError:
            return _append_bytes(buf, _encode(text))
    if not collector_json_verbatim(<const unsigned char*>utf8, n):
        return _append_bytes(buf, _encode(text))
    _reserve(buf, n + 2)
    buf.data[buf.length] = b'"'
    collector_copy(buf.data + buf.length + 1, utf8, n)
    buf.data[buf.length + n + 1] = b'"'
    buf.length += n + 2
    return 0


cdef inline int _append_member(Buffer* out, const unsigned char* data, Py_ssize_t key_start,
                               Py_ssize_t key_stop, bint comma) except -1:
    """A member's start, as msgspec writes it: the comma before it (when `comma`), its key
    (data[key_start:key_stop], quoted) and the colon; in one copy of the client's bytes when
    they are already that (no space around them, as most clients write JSON)."""
    cdef Py_ssize_t first = key_start - 1 - comma
    if data[key_stop + 1] == 0x3A and (not comma or data[first] == 0x2C):
        return _append(out, <const char*>data + first, key_stop + 2 - first)
    if comma:
        _append(out, b",", 1)
    _append(out, <const char*>data + key_start - 1, key_stop - key_start + 2)
    return _append(out, b":", 1)


cdef int _append_result(Buffer* buf, object result) except -1:
    # What a PII rule made of a scalar: a token, the mask, a truncated address, or null.
    if result is None:
        return _append(buf, b"null", 4)
    if type(result) is str:
        return _append_str(buf, result)
    return _append_bytes(buf, _encode(result))


cdef inline int _append_optional_str(Buffer* buf, object text) except -1:
    if text is None:
        return _append(buf, b"null", 4)
    return _append_str(buf, <str?>text)




# ---------------------------------------------------------------------------------------------
# Records (twin: a list of collector.pipeline.Record)

@cython.final
cdef class Records:
    """A batch's Kafka records, their keys and values in one buffer (see native/records.h):
    the native producer hands them to librdkafka as they are, so a record costs no Python
    objects on its way. As a sequence it is the twin's list: each item a Record, made when
    asked for."""

    cdef Buffer data
    cdef collector_record_span* spans
    cdef Py_ssize_t count
    cdef Py_ssize_t capacity
    cdef collector_records_view view

    def __cinit__(self, Py_ssize_t expected=16):
        # About what a batch of web events takes, so that most batches never grow; bounded,
        # so that a body of a million tiny events does not reserve gigabytes up front.
        self.capacity = min(max(expected, 16), 4096)
        self.spans = <collector_record_span*>malloc(
            self.capacity * sizeof(collector_record_span))
        if self.spans is NULL:
            raise MemoryError()
        _buffer_init(&self.data, self.capacity * 768)

    def __dealloc__(self):
        cdef Py_ssize_t i
        for i in range(self.count):
            Py_XDECREF(self.spans[i].topic)
            Py_XDECREF(self.spans[i].headers)
        free(self.spans)
        free(self.data.data)

    cdef int add(self, object topic, object headers, Py_ssize_t key_at, Py_ssize_t key_n,
                 Py_ssize_t value_at) except -1:
        """A record whose value is the buffer from value_at on (its key before it, if any)."""
        cdef collector_record_span* grown
        if self.count == self.capacity:
            grown = <collector_record_span*>realloc(
                self.spans, 2 * self.capacity * sizeof(collector_record_span))
            if grown is NULL:
                raise MemoryError()
            self.spans = grown
            self.capacity *= 2
        cdef collector_record_span* span = &self.spans[self.count]
        Py_INCREF(topic)
        Py_INCREF(headers)
        span.topic = <PyObject*>topic
        span.headers = <PyObject*>headers
        span.key_at = key_at
        span.key_n = key_n
        span.value_at = value_at
        span.value_n = self.data.length - value_at
        self.count += 1
        return 0

    def __len__(self):
        return self.count

    def __getitem__(self, Py_ssize_t index):
        if index < 0:
            index += self.count
        if not 0 <= index < self.count:
            raise IndexError("record index out of range")
        cdef collector_record_span* span = &self.spans[index]
        key = None
        if span.key_at >= 0:
            key = PyBytes_FromStringAndSize(self.data.data + span.key_at, span.key_n)
        value = PyBytes_FromStringAndSize(self.data.data + span.value_at, span.value_n)
        return collector_record(_Record, <object>span.topic, key, value,
                                <object>span.headers)

    def __iter__(self):
        cdef Py_ssize_t index
        for index in range(self.count):
            yield self[index]

    def __repr__(self):
        return f"<Records: {self.count} records, {self.data.length} bytes>"

    def _view(self):
        """The layout, for the native producer: a capsule named COLLECTOR_RECORDS_CAPSULE.
        It holds no reference: it is valid only while its holder keeps this object alive
        (the producer's request does, until its last report). Only the pipeline adds
        records, before anyone sees the object."""
        self.view.data = self.data.data
        self.view.spans = self.spans
        self.view.count = self.count
        return PyCapsule_New(&self.view, COLLECTOR_RECORDS_CAPSULE, NULL)


# ---------------------------------------------------------------------------------------------
# Event ids (twin: collector.pipeline.new_event_id, a UUIDv7 from uuid_utils)

cdef bytes _entropy = b""
cdef Py_ssize_t _entropy_at = 0
cdef long _entropy_pid = -1


cdef extern from *:
    """
    /* A UUID's sixteen bytes as its quoted text, "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
       (38 bytes). Where SSE2 is, all 32 hex digits at once: each byte's two nibbles side
       by side, then '0' added, and 'a' - '0' - 10 more where a nibble is above 9. */
    #include <string.h>
    #if defined(__SSE2__) && !defined(COLLECTOR_PORTABLE_SCAN)
    #include <emmintrin.h>
    #endif
    static inline void collector_uuid_text(const unsigned char *raw, char *text) {
        char hex[32];
    #if defined(__SSE2__) && !defined(COLLECTOR_PORTABLE_SCAN)
        const __m128i v = _mm_loadu_si128((const __m128i *)raw);
        const __m128i low = _mm_set1_epi8(0x0F);
        const __m128i high_nibbles = _mm_and_si128(_mm_srli_epi16(v, 4), low);
        const __m128i low_nibbles = _mm_and_si128(v, low);
        __m128i first = _mm_unpacklo_epi8(high_nibbles, low_nibbles);
        __m128i second = _mm_unpackhi_epi8(high_nibbles, low_nibbles);
        first = _mm_add_epi8(_mm_add_epi8(first, _mm_set1_epi8('0')), _mm_and_si128(
            _mm_cmpgt_epi8(first, _mm_set1_epi8(9)), _mm_set1_epi8('a' - '0' - 10)));
        second = _mm_add_epi8(_mm_add_epi8(second, _mm_set1_epi8('0')), _mm_and_si128(
            _mm_cmpgt_epi8(second, _mm_set1_epi8(9)), _mm_set1_epi8('a' - '0' - 10)));
        _mm_storeu_si128((__m128i *)hex, first);
        _mm_storeu_si128((__m128i *)(hex + 16), second);
    #else
        static const char digits[] = "0123456789abcdef";
        int i;
        for (i = 0; i < 16; i++) {
            hex[2 * i] = digits[raw[i] >> 4];
            hex[2 * i + 1] = digits[raw[i] & 0x0F];
        }
    #endif
        text[0] = '"';
        memcpy(text + 1, hex, 8);
        text[9] = '-';
        memcpy(text + 10, hex + 8, 4);
        text[14] = '-';
        memcpy(text + 15, hex + 12, 4);
        text[19] = '-';
        memcpy(text + 20, hex + 16, 4);
        text[24] = '-';
        memcpy(text + 25, hex + 20, 12);
        text[37] = '"';
    }
    """
    void collector_uuid_text(const unsigned char* raw, char* text) noexcept nogil


cdef void _check_fork():
    """Forget the random bytes drawn before a fork: a forked worker draws its own.

    Called once per batch (getpid is a system call, too dear for every event).
    """
    global _entropy_at, _entropy_pid
    cdef long pid = getpid()
    if pid != _entropy_pid:
        _entropy_at = len(_entropy)
        _entropy_pid = pid


cdef int _append_uuid7(Buffer* buf, long long now_ms) except -1:
    """A UUIDv7 (RFC 9562), quoted: 48 bits of Unix milliseconds, 74 random bits from
    os.urandom, written straight into the record.

    Random bytes are drawn in bulk, and again after a fork (see _check_fork).
    """
    global _entropy, _entropy_at
    if _entropy_at + 10 > len(_entropy):
        _entropy = os.urandom(10 * 4096)
        _entropy_at = 0
    cdef const unsigned char* random = <const unsigned char*><const char*>_entropy
    random += _entropy_at
    _entropy_at += 10
    cdef unsigned char raw[16]
    cdef int i
    for i in range(6):
        raw[i] = (now_ms >> (8 * (5 - i))) & 0xFF
    raw[6] = 0x70 | (random[0] & 0x0F)
    raw[7] = random[1]
    raw[8] = 0x80 | (random[2] & 0x3F)
    for i in range(7):
        raw[9 + i] = random[3 + i]
    _reserve(buf, 38)
    collector_uuid_text(raw, buf.data + buf.length)
    buf.length += 38
    return 0


# ---------------------------------------------------------------------------------------------
# Trees as bytes: context, properties and traits rewritten from the client's JSON straight
# into the record, as msgspec would encode them after decoding, limit checks and the PII walk
# (twins: msgspec, collector.nesting.tree_violation, collector.pii.PiiPolicy.apply). Only
# plain trees take this path: a string with an escape, a float that is not finite, a long
# integer, a duplicate key, a broken limit, a rule over an object or array, or anything
# unexpected sends the whole event back through the decoded path, which then decides, so
# the records and errors stay the twin's. Events in Segment's spelling take the same path with
# its field names (twin: collector.normalize.decode_event).

cdef enum:
    _PLAIN = 0
    _FALL_BACK = 1
    _MAX_PATH = 64
    _MAX_KEYS = 256

cdef struct _Cursor:
    const unsigned char* data
    Py_ssize_t pos
    Py_ssize_t end
    # Keys of the objects on the way down from the tree's root (array levels add none).
    int depth_keys
    Py_ssize_t key_start[_MAX_PATH]
    Py_ssize_t key_stop[_MAX_PATH]


# A top-level field of an event read from its bytes is kept as it is there while it can be:
# most are plain strings (ids, names) that go into the record unchanged, and a str for each
# would cost more than the rest of their way.
cdef enum:
    _OBJECT = 0  # the value is the object in _State.fields (None when absent)
    _SPAN = 1  # a plain JSON string, still the client's bytes
    _INTEGER = 2  # a time's integer of at most 18 digits
    _MAX_FIELDS = 32

cdef struct _Scalar:
    int kind
    const unsigned char* data  # _SPAN: the string's bytes, quotes excluded
    Py_ssize_t n
    Py_ssize_t chars
    bint ascii
    long long integer  # _INTEGER


cdef inline void _skip_space(_Cursor* c) noexcept:
    cdef unsigned char b
    while c.pos < c.end:
        b = c.data[c.pos]
        # One compare for what follows most often (a token, in compact JSON), then the four.
        if b > 0x20 or (b != 0x20 and b != 0x0A and b != 0x0D and b != 0x09):
            return
        c.pos += 1


cdef extern from *:
    """
    /* How many of the 16 bytes at p need no look inside a JSON string: none a quote, a
       backslash or below 0x20, and, when `ascii_only`, none above 0x7F (the scanner reading
       a string checks those for UTF-8; the splitter skipping one, like msgspec, does not).
       SSE2 (every x86-64) compares all 16 at once: the signed compare counts 0x80-0xFF as
       below 0x20, the unsigned one does not. Elsewhere (and in the sanitized build,
       COLLECTOR_PORTABLE_SCAN, so that the tests cover it) eight bytes at a time with the
       usual bit tricks for a zero or small byte in a word. Called with a constant
       `ascii_only`, which the compiler folds. */
    #include <stdint.h>
    #include <string.h>
    #if defined(__SSE2__) && !defined(COLLECTOR_PORTABLE_SCAN)
    #include <emmintrin.h>
    static inline int collector_prefix16(const unsigned char *p, int ascii_only) {
        const __m128i v = _mm_loadu_si128((const __m128i *)p);
        const __m128i control = ascii_only
            ? _mm_cmplt_epi8(v, _mm_set1_epi8(0x20))
            : _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x1F)), _mm_set1_epi8(0x1F));
        const __m128i special = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(0x22)),
                         _mm_cmpeq_epi8(v, _mm_set1_epi8(0x5C))),
            control);
        const int bits = _mm_movemask_epi8(special);
        return bits ? __builtin_ctz(bits) : 16;
    }
    #else
    static inline int collector_prefix16(const unsigned char *p, int ascii_only) {
        const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
        int at, i;
        for (at = 0; at < 16; at += 8) {
            uint64_t w, quote, backslash;
            memcpy(&w, p + at, 8);
            quote = w ^ (ones * 0x22);
            backslash = w ^ (ones * 0x5C);
            if (((ascii_only ? w : 0) | ((w - ones * 0x20) & ~w) | ((quote - ones) & ~quote)
                    | ((backslash - ones) & ~backslash)) & highs) {
                for (i = at; i < at + 8; i++) {
                    if (p[i] < 0x20 || (ascii_only && p[i] > 0x7F) || p[i] == 0x22
                            || p[i] == 0x5C) return i;
                }
            }
        }
        return 16;
    }
    #endif
    /* What the free-text scrub's pre-check counts, by byte: 1 a digit, 2 a dot, 4 a colon,
       8 an @ or a %. */
    static const unsigned char collector_scrub_classes[256] = {
        [0x30 ... 0x39] = 1, [0x2E] = 2, [0x3A] = 4, [0x40] = 8, [0x25] = 8};
    /* The bits set in a 16-bit mask. */
    static inline int collector_count16(unsigned x) {
        x = x - ((x >> 1) & 0x5555u);
        x = (x & 0x3333u) + ((x >> 2) & 0x3333u);
        x = (x + (x >> 4)) & 0x0F0Fu;
        return (int)((x + (x >> 8)) & 0x1Fu);
    }
    /* Whether ASCII text could hold what the free-text scrub replaces (the pre-check of
       collector.pii.scrub_text): an @ or a % anywhere, two colons, nine digits, or four
       digits and three dots. Sixteen bytes at a time where SSE2 is, the last sixteen
       overlapping those before, whose bytes are not counted twice. */
    static inline int collector_scrub_candidate(const unsigned char *p, Py_ssize_t n) {
        Py_ssize_t i = 0;
        int digits = 0, dots = 0, colons = 0;
    #if defined(__SSE2__) && !defined(COLLECTOR_PORTABLE_SCAN)
        if (n >= 16) {
            for (;;) {
                const Py_ssize_t at = i + 16 <= n ? i : n - 16;
                const unsigned seen = (unsigned)(i - at);
                const __m128i v = _mm_loadu_si128((const __m128i *)(p + at));
                const __m128i digit = _mm_sub_epi8(v, _mm_set1_epi8(0x30));
                const __m128i marks = _mm_or_si128(
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(0x40)), _mm_cmpeq_epi8(v, _mm_set1_epi8(0x25)));
                if (_mm_movemask_epi8(marks)) return 1;
                const unsigned d = (unsigned)_mm_movemask_epi8(
                    _mm_cmpeq_epi8(_mm_min_epu8(digit, _mm_set1_epi8(9)), digit)) >> seen;
                const unsigned t = (unsigned)_mm_movemask_epi8(
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(0x2E))) >> seen;
                const unsigned k = (unsigned)_mm_movemask_epi8(
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(0x3A))) >> seen;
                if (d | t | k) {
                    digits += collector_count16(d);
                    dots += collector_count16(t);
                    colons += collector_count16(k);
                    if (colons >= 2 || digits >= 9) return 1;
                }
                i += 16;
                if (i >= n) break;
            }
            return digits >= 4 && dots >= 3;
        }
    #endif
        for (; i < n; i++) {
            const unsigned char k = collector_scrub_classes[p[i]];
            if (k) {
                if (k & 8) return 1;
                digits += k & 1;
                dots += (k >> 1) & 1;
                colons += k >> 2;
            }
        }
        return colons >= 2 || digits >= 9 || (digits >= 4 && dots >= 3);
    }
    /* Whether UTF-8 text is written in JSON as it is: no quote, backslash or control
       character. Sixteen bytes at a time where SSE2 is, the last sixteen overlapping
       those before. */
    static inline int collector_json_verbatim(const unsigned char *p, Py_ssize_t n) {
        Py_ssize_t i = 0;
    #if defined(__SSE2__) && !defined(COLLECTOR_PORTABLE_SCAN)
        if (n >= 16) {
            for (;;) {
                const __m128i v = _mm_loadu_si128(
                    (const __m128i *)(p + (i + 16 <= n ? i : n - 16)));
                const __m128i bad = _mm_or_si128(
                    _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(0x22)),
                                 _mm_cmpeq_epi8(v, _mm_set1_epi8(0x5C))),
                    _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x1F)), _mm_set1_epi8(0x1F)));
                if (_mm_movemask_epi8(bad)) return 0;
                i += 16;
                if (i >= n) return 1;
            }
        }
    #endif
        for (; i < n; i++) {
            const unsigned char b = p[i];
            if (b < 0x20 || b == 0x22 || b == 0x5C) return 0;
        }
        return 1;
    }
    static inline int collector_plain_prefix16(const unsigned char *p) {
        return collector_prefix16(p, 1);
    }
    static inline int collector_text_prefix16(const unsigned char *p) {
        return collector_prefix16(p, 0);
    }
    """
    int collector_plain_prefix16(const unsigned char* p) noexcept nogil
    bint collector_scrub_candidate(const unsigned char* p, Py_ssize_t n) noexcept nogil
    bint collector_json_verbatim(const unsigned char* p, Py_ssize_t n) noexcept nogil
    int collector_text_prefix16(const unsigned char* p) noexcept nogil


cdef int _string_span(_Cursor* c, Py_ssize_t* start, Py_ssize_t* chars, bint* ascii) noexcept:
    """At a quote: the string's bytes are data[start:c.pos - 1]. Falls back on any escape,
    control character or invalid UTF-8 (strict RFC 3629: no overlongs, no surrogates)."""
    cdef Py_ssize_t at = c.pos + 1, n = 0
    cdef unsigned char b, b1
    cdef int more, i, plain
    ascii[0] = True
    start[0] = at
    while at < c.end:
        # Plain ASCII bytes sixteen at a time (none a quote, backslash, control character
        # or above 0x7F); the first other byte is taken one at a time below.
        while at + 16 <= c.end:
            plain = collector_plain_prefix16(c.data + at)
            at += plain
            n += plain
            if plain < 16:
                break
        if at >= c.end:
            break
        b = c.data[at]
        if b == 0x22:
            chars[0] = n
            c.pos = at + 1
            return _PLAIN
        if b == 0x5C or b < 0x20:
            return _FALL_BACK
        n += 1
        if b < 0x80:
            at += 1
            continue
        ascii[0] = False
        if 0xC2 <= b <= 0xDF:
            more = 1
        elif 0xE0 <= b <= 0xEF:
            more = 2
        elif 0xF0 <= b <= 0xF4:
            more = 3
        else:
            return _FALL_BACK
        if at + more >= c.end:
            return _FALL_BACK
        b1 = c.data[at + 1]
        if ((b == 0xE0 and b1 < 0xA0) or (b == 0xED and b1 > 0x9F)
                or (b == 0xF0 and b1 < 0x90) or (b == 0xF4 and b1 > 0x8F)):
            return _FALL_BACK
        for i in range(1, more + 1):
            if c.data[at + i] & 0xC0 != 0x80:
                return _FALL_BACK
        at += more + 1
    return _FALL_BACK


cdef int _number_span(_Cursor* c, bint* integer) noexcept:
    """A JSON number from c.pos (strict grammar); c.pos ends after it."""
    cdef Py_ssize_t at = c.pos
    integer[0] = True
    if at < c.end and c.data[at] == 0x2D:
        at += 1
    if at >= c.end:
        return _FALL_BACK
    if c.data[at] == 0x30:
        at += 1
    elif 0x31 <= c.data[at] <= 0x39:
        while at < c.end and 0x30 <= c.data[at] <= 0x39:
            at += 1
    else:
        return _FALL_BACK
    if at < c.end and c.data[at] == 0x2E:
        integer[0] = False
        at += 1
        if at >= c.end or not (0x30 <= c.data[at] <= 0x39):
            return _FALL_BACK
        while at < c.end and 0x30 <= c.data[at] <= 0x39:
            at += 1
    if at < c.end and (c.data[at] == 0x65 or c.data[at] == 0x45):
        integer[0] = False
        at += 1
        if at < c.end and (c.data[at] == 0x2B or c.data[at] == 0x2D):
            at += 1
        if at >= c.end or not (0x30 <= c.data[at] <= 0x39):
            return _FALL_BACK
        while at < c.end and 0x30 <= c.data[at] <= 0x39:
            at += 1
    c.pos = at
    return _PLAIN


cdef inline bint _literal(_Cursor* c, const char* word, Py_ssize_t n) noexcept:
    if c.end - c.pos >= n and memcmp(c.data + c.pos, word, n) == 0:
        c.pos += n
        return True
    return False


cdef inline bint _needs_scrub_check(const unsigned char* text, Py_ssize_t n) noexcept:
    """For ASCII text: whether _scrub could change it (its pre-check, on bytes)."""
    return collector_scrub_candidate(text, n)


cdef inline str _text(_Cursor* c, Py_ssize_t start, Py_ssize_t stop):
    return PyUnicode_DecodeUTF8(<const char*>c.data + start, stop - start, NULL)


cdef Py_ssize_t _FIELD_COUNT = len(TrackEvent.__struct_fields__)
cdef tuple _FIELD_NAMES = tuple(name.encode() for name in TrackEvent.__struct_fields__)
# Segment's `name`, which stands in for `event` when that is absent: one index past the
# TrackEvent fields.
cdef int _F_NAME = _FIELD_COUNT
if _F_NAME >= _MAX_FIELDS:
    raise RuntimeError(f"TrackEvent has {_FIELD_COUNT} fields; _State.scalars holds fewer")
cdef enum:
    _TOP_FIELDS = 6
if len(_TOP_LEVEL) != _TOP_FIELDS:
    raise RuntimeError(f"collector.pii has {len(_TOP_LEVEL)} top-level fields, not 6")


def _segment_field_names():
    """Segment's spelling of each TrackEvent field (None for session_id, which Segment has
    not), then of `name`, as SegmentEvent decodes them."""
    spelled = dict(zip(SegmentEvent.__struct_fields__, SegmentEvent.__struct_encode_fields__))
    ours = {"event_id": "message_id"}
    names = [spelled.pop(ours.get(field, field), None) for field in TrackEvent.__struct_fields__]
    names.append(spelled.pop("name"))
    # A Segment field this table does not place would be silently ignored by the byte path.
    assert not spelled, f"Segment fields without a TrackEvent field: {spelled}"
    return tuple(None if name is None else name.encode() for name in names)


cdef tuple _SEGMENT_FIELD_NAMES = _segment_field_names()
cdef frozenset _EVENT_TYPES = frozenset(["track", "page", "screen", "identify", "group", "alias"])


# The field names as C strings (pointing into the tuples' bytes), so that finding a key's
# field costs no reference counting: [0] /track's spelling, [1] Segment's; a length of -1
# where a dialect has no such field.
cdef struct _Name:
    const char* data
    Py_ssize_t n

cdef _Name _field_names[2][_MAX_FIELDS]
# A key's one candidate field, found by _name_slot of its length and first and last bytes
# with a multiplier chosen so that no two of the dialect's names share a slot: -1 for none.
cdef enum:
    _NAME_SLOTS = 64
cdef signed char _field_slots[2][_NAME_SLOTS]
cdef uint32_t _name_multiplier[2]


cdef inline unsigned int _name_slot(const unsigned char* key, Py_ssize_t n,
                                    uint32_t multiplier) noexcept:
    # Multiplicative hashing: the top six bits of the product.
    return ((<uint32_t>n | (<uint32_t>key[0] << 8) | (<uint32_t>key[n - 1] << 16))
            * multiplier) >> 26


cdef int _name_fields(int dialect, tuple names) except -1:
    cdef Py_ssize_t i
    cdef uint32_t multiplier, slot
    cdef int attempt
    for i, name in enumerate(names):
        _field_names[dialect][i].data = NULL if name is None else PyBytes_AS_STRING(name)
        _field_names[dialect][i].n = -1 if name is None else len(name)
    for attempt in range(4096):
        multiplier = 0x9E3779B1u + 2 * <uint32_t>attempt  # odd, golden-ratio-like
        for i in range(_NAME_SLOTS):
            _field_slots[dialect][i] = -1
        for i, name in enumerate(names):
            if name is None:
                continue
            slot = _name_slot(<const unsigned char*>PyBytes_AS_STRING(name), len(name), multiplier)
            if _field_slots[dialect][slot] >= 0:
                break
            _field_slots[dialect][slot] = i
        else:
            _name_multiplier[dialect] = multiplier
            return 0
    raise RuntimeError("native/hotpath.pyx: no slot table fits the event's field names")


_name_fields(0, _FIELD_NAMES)
_name_fields(1, _SEGMENT_FIELD_NAMES)


cdef inline bint _same_bytes(const char* a, const unsigned char* b, Py_ssize_t n) noexcept:
    """a[:n] == b[:n] for the short names of fields: two overlapping words compared, not a
    call to memcmp (which names under 4 or over 16 bytes would take; today's have 4 to 12)."""
    cdef uint64_t a8, b8, c8, d8
    cdef uint32_t a4, b4, c4, d4
    if n >= 8:
        memcpy(&a8, a, 8)
        memcpy(&b8, b, 8)
        memcpy(&c8, a + n - 8, 8)
        memcpy(&d8, b + n - 8, 8)
        return n <= 16 and a8 == b8 and c8 == d8 or n > 16 and memcmp(a, b, n) == 0
    if n >= 4:
        memcpy(&a4, a, 4)
        memcpy(&b4, b, 4)
        memcpy(&c4, a + n - 4, 4)
        memcpy(&d4, b + n - 4, 4)
        return a4 == b4 and c4 == d4
    return memcmp(a, b, n) == 0


cdef inline int _field_of(const unsigned char* key, Py_ssize_t n, bint segment) noexcept:
    """The index of the field spelled `key` in the dialect's names, or -1."""
    if n == 0:
        return -1
    cdef int i = _field_slots[segment][_name_slot(key, n, _name_multiplier[segment])]
    if i >= 0 and _field_names[segment][i].n == n and _same_bytes(
            _field_names[segment][i].data, key, n):
        return i
    return -1


cdef object _plain_scalar(_Cursor* c, int field):
    """A top-level scalar as msgspec decodes it into TrackEvent, or _NOT_PLAIN for what
    would be an error or needs msgspec (escapes, long integers)."""
    cdef Py_ssize_t start, chars, at = c.pos
    cdef bint ascii, integer
    if c.data[c.pos] == 0x22:
        if _string_span(c, &start, &chars, &ascii) != _PLAIN:
            return _NOT_PLAIN
        text = _text(c, start, c.pos - 1)
        if field == _F_TYPE and text not in _EVENT_TYPES:
            return _NOT_PLAIN
        return text
    if field == _F_TYPE:
        return _NOT_PLAIN
    if _literal(c, b"null", 4):
        return None
    if field == _F_EVENT or field == _F_EVENT_ID:
        return _NOT_PLAIN
    if c.data[c.pos] == 0x2D or 0x30 <= c.data[c.pos] <= 0x39:
        if _number_span(c, &integer) != _PLAIN or not integer:
            return _NOT_PLAIN
        if c.pos - at - (c.data[at] == 0x2D) > 18:
            return _NOT_PLAIN
        return _small_integer(c.data + at, c.pos - at)
    return _NOT_PLAIN


cdef inline object _small_integer(const unsigned char* digits, Py_ssize_t n):
    # int(bytes) would cost two objects more.
    return PyLong_FromLongLong(_integer(digits, n))


cdef long long _integer(const unsigned char* digits, Py_ssize_t n) noexcept:
    # A JSON integer of at most 18 digits, so that it fits a long long.
    cdef bint negative = digits[0] == 0x2D
    cdef long long value = 0
    cdef Py_ssize_t i
    for i in range(negative, n):
        value = value * 10 + (digits[i] - 0x30)
    return -value if negative else value


# ---------------------------------------------------------------------------------------------
# Bodies: a batch body split into its events (twins: msgspec, in
# collector.decoding.decode_with_msgspec and the Segment route's), a JSON array by
# split_array, an object {"batch": [...], ...} by split_object. An array is split by its
# outline (collector_outline) where that is sure, its events then each read strictly once,
# as Events.outlined says; otherwise in one pass that checks every byte (_skip_json). Only a
# body this scanner is sure msgspec would read the same way is split; for anything else (a
# lone surrogate escape, an event nesting deeper than the pipeline takes, bad JSON, and what
# split_object names) msgspec decides, with its own error: at once (None), or when an
# event is read. It is as lax as msgspec where msgspec is lax: bytes above 0x7F in strings
# are not checked (msgspec checks them when it decodes a string, not when it skips one).
# msgspec's own nesting limit is Python's recursion limit, which a request's handler is far
# from: at 256 levels this never refuses what msgspec would take there.

cdef inline int _hex_digit(unsigned char b) noexcept:
    if 0x30 <= b <= 0x39:
        return b - 0x30
    b |= 0x20
    if 0x61 <= b <= 0x66:
        return b - 0x61 + 10
    return -1


cdef int _escaped_unit(const unsigned char* at) noexcept:
    """The UTF-16 unit of the six bytes \\uXXXX at `at`, or -1."""
    cdef int unit = 0, i, digit
    if at[0] != 0x5C or at[1] != 0x75:
        return -1
    for i in range(2, 6):
        digit = _hex_digit(at[i])
        if digit < 0:
            return -1
        unit = unit * 16 + digit
    return unit


cdef int _skip_text(_Cursor* c) noexcept:
    """At a quote: past the string, or _FALL_BACK (bad JSON, or a surrogate escape that is
    not a high one followed by a low one, which msgspec refuses)."""
    cdef Py_ssize_t at = c.pos + 1
    cdef int plain, unit
    cdef unsigned char b
    while True:
        while at + 16 <= c.end:
            plain = collector_text_prefix16(c.data + at)
            at += plain
            if plain < 16:
                break
        while at < c.end and c.data[at] != 0x22 and c.data[at] != 0x5C and c.data[at] >= 0x20:
            at += 1
        if at >= c.end or c.data[at] < 0x20:
            return _FALL_BACK
        if c.data[at] == 0x22:
            c.pos = at + 1
            return _PLAIN
        if at + 1 >= c.end:
            return _FALL_BACK
        b = c.data[at + 1]
        if b == 0x75:  # \uXXXX
            if at + 6 > c.end:
                return _FALL_BACK
            unit = _escaped_unit(c.data + at)
            if unit < 0 or 0xDC00 <= unit <= 0xDFFF:
                return _FALL_BACK
            if 0xD800 <= unit <= 0xDBFF:
                if at + 12 > c.end or not 0xDC00 <= _escaped_unit(c.data + at + 6) <= 0xDFFF:
                    return _FALL_BACK
                at += 6
            at += 6
        elif (b == 0x22 or b == 0x5C or b == 0x2F or b == 0x62 or b == 0x66 or b == 0x6E
                or b == 0x72 or b == 0x74):
            at += 2
        else:
            return _FALL_BACK


cdef enum:
    # collector.nesting.MAX_DECODE_DEPTH, checked at import: events split here are never
    # too deep for the pipeline.
    _SPLIT_DEPTH = 256

if _SPLIT_DEPTH != _MAX_DECODE_DEPTH:
    # Not an ImportError, which collector.native would take for a missing build.
    raise RuntimeError("native/hotpath.pyx: _SPLIT_DEPTH must equal MAX_DECODE_DEPTH")


cdef int _skip_json(_Cursor* c) noexcept:
    """At a value (not space): past it, or _FALL_BACK (bad JSON, a lone surrogate escape, or
    nesting deeper than _SPLIT_DEPTH, the value itself being depth 1 when a container).
    Iterative: a body's nesting never reaches the C stack."""
    cdef char closers[_SPLIT_DEPTH + 1]
    cdef int depth = 0
    cdef bint integer
    cdef unsigned char b
    while True:
        # A value starts at c.pos.
        if c.pos >= c.end:
            return _FALL_BACK
        b = c.data[c.pos]
        if b == 0x22:
            if _skip_text(c) != _PLAIN:
                return _FALL_BACK
        elif b == 0x7B or b == 0x5B:
            depth += 1
            if depth > _SPLIT_DEPTH:
                return _FALL_BACK
            closers[depth] = b + 2  # } and ] follow { and [ by two
            c.pos += 1
            _skip_space(c)
            if c.pos < c.end and c.data[c.pos] == closers[depth]:
                c.pos += 1
                depth -= 1
            elif b == 0x7B:
                if _skip_key(c) != _PLAIN:
                    return _FALL_BACK
                continue
            else:
                continue
        elif b == 0x74:
            if not _literal(c, b"true", 4):
                return _FALL_BACK
        elif b == 0x66:
            if not _literal(c, b"false", 5):
                return _FALL_BACK
        elif b == 0x6E:
            if not _literal(c, b"null", 4):
                return _FALL_BACK
        elif b == 0x2D or 0x30 <= b <= 0x39:
            if _number_span(c, &integer) != _PLAIN:
                return _FALL_BACK
        else:
            return _FALL_BACK
        # After a value: close containers, or go on to the next member.
        while depth > 0:
            _skip_space(c)
            if c.pos >= c.end:
                return _FALL_BACK
            b = c.data[c.pos]
            if b == closers[depth]:
                c.pos += 1
                depth -= 1
                continue
            if b != 0x2C:
                return _FALL_BACK
            c.pos += 1
            _skip_space(c)
            if closers[depth] == 0x7D and _skip_key(c) != _PLAIN:
                return _FALL_BACK
            break
        if depth == 0:
            return _PLAIN


cdef inline int _skip_key(_Cursor* c) noexcept:
    """At an object's key: past it, its colon and the space after."""
    if c.pos >= c.end or c.data[c.pos] != 0x22 or _skip_text(c) != _PLAIN:
        return _FALL_BACK
    return _colon(c)


cdef inline int _colon(_Cursor* c) noexcept:
    """After an object's key: past the colon and the space around it, at a value."""
    _skip_space(c)
    if c.pos >= c.end or c.data[c.pos] != 0x3A:
        return _FALL_BACK
    c.pos += 1
    _skip_space(c)
    return _PLAIN if c.pos < c.end else _FALL_BACK


cdef bint _is_json(const unsigned char* data, Py_ssize_t n) noexcept:
    """Whether data[:n] is one JSON value, as the full splitter checks an event (no space
    around it: the outline trims that)."""
    cdef _Cursor c
    c.data = data
    c.pos = 0
    c.end = n
    c.depth_keys = 0
    return _skip_json(&c) == _PLAIN and c.pos == n


@cython.final
cdef class Events:
    """The events of a batch body: slices of the body, read in place by the pipeline;
    bytes (copies) to anything else that iterates them or indexes them."""

    cdef readonly bytes body
    cdef Py_ssize_t* bounds  # start, stop of each event
    cdef Py_ssize_t size
    # Split by the body's outline alone (collector_outline): each event is still to be
    # read strictly, which the pipeline does as it reads it and any other reader makes
    # this do first. When one is not JSON, the body is msgspec's to read: `recheck`, set
    # by whoever split it, does that, raising what msgspec finds or giving its events.
    cdef readonly bint outlined
    cdef public object recheck

    def __init__(self, *args):
        raise TypeError("Events are made by split_array")

    def __dealloc__(self):
        free(self.bounds)

    def __len__(self):
        return self.size

    cpdef int check(self) except -1:
        """Every outlined event read strictly; when one is not JSON, the recheck's error
        (ValueError if there is no recheck, or if msgspec takes what the check refused,
        which would be this module's bug)."""
        cdef Py_ssize_t i
        if not self.outlined:
            return 0
        for i in range(self.size):
            if not _is_json(<const unsigned char*>PyBytes_AS_STRING(self.body)
                            + self.bounds[2 * i], self.bounds[2 * i + 1] - self.bounds[2 * i]):
                if self.recheck is not None:
                    self.recheck()
                raise ValueError("the body's events are not all JSON")
        self.outlined = False
        return 0

    def __getitem__(self, index):
        cdef Py_ssize_t at
        self.check()
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.size))]
        at = index
        if at < 0:
            at += self.size
        if not 0 <= at < self.size:
            raise IndexError("event index out of range")
        return self.body[self.bounds[2 * at]:self.bounds[2 * at + 1]]

    # The rest of what a Sequence has, which registering does not lend.
    def index(self, value, start=0, stop=None):
        for i in range(*slice(start, stop).indices(self.size)):
            if self[i] == value:
                return i
        raise ValueError(f"{value!r} is not among the events")

    def count(self, value):
        return sum(1 for event in self if event == value)


_abc.Sequence.register(Events)


cdef extern from *:
    """
    /* The outline of a JSON array: where each element starts and stops, found from the
       positions of quotes, backslashes, brackets and commas alone, 64 bytes at a time.
       Nothing inside an element is checked: the pipeline reads each element strictly, and
       a body with an element it cannot read goes back to msgspec whole (Events.outlined).
       The 64-bit masks give, for each byte of a block, whether it is a quote that is not
       escaped; their running XOR marks the bytes inside strings, so that the brackets and
       commas left are the structure. */
    typedef struct {
        uint64_t quote, backslash, open, close, comma;
    } collector_masks;

    static inline void collector_block_masks(const unsigned char *p, collector_masks *m) {
    #if defined(__SSE2__) && !defined(COLLECTOR_PORTABLE_SCAN)
        int k;
        m->quote = m->backslash = m->open = m->close = m->comma = 0;
        for (k = 0; k < 4; k++) {
            const __m128i v = _mm_loadu_si128((const __m128i *)(p + 16 * k));
            /* [ and ] differ from { and } only in the bit 0x20. */
            const __m128i folded = _mm_or_si128(v, _mm_set1_epi8(0x20));
            const int shift = 16 * k;
            m->quote |= (uint64_t)(unsigned)_mm_movemask_epi8(
                _mm_cmpeq_epi8(v, _mm_set1_epi8(0x22))) << shift;
            m->backslash |= (uint64_t)(unsigned)_mm_movemask_epi8(
                _mm_cmpeq_epi8(v, _mm_set1_epi8(0x5C))) << shift;
            m->open |= (uint64_t)(unsigned)_mm_movemask_epi8(
                _mm_cmpeq_epi8(folded, _mm_set1_epi8(0x7B))) << shift;
            m->close |= (uint64_t)(unsigned)_mm_movemask_epi8(
                _mm_cmpeq_epi8(folded, _mm_set1_epi8(0x7D))) << shift;
            m->comma |= (uint64_t)(unsigned)_mm_movemask_epi8(
                _mm_cmpeq_epi8(v, _mm_set1_epi8(0x2C))) << shift;
        }
    #else
        int i;
        m->quote = m->backslash = m->open = m->close = m->comma = 0;
        for (i = 0; i < 64; i++) {
            const uint64_t bit = (uint64_t)1 << i;
            const unsigned char b = p[i];
            if (b == 0x22) m->quote |= bit;
            else if (b == 0x5C) m->backslash |= bit;
            else if ((b | 0x20) == 0x7B) m->open |= bit;
            else if ((b | 0x20) == 0x7D) m->close |= bit;
            else if (b == 0x2C) m->comma |= bit;
        }
    #endif
    }

    /* The same masks 32 bytes at a time, for CPUs with AVX2 (chosen at run time, below). */
    #if defined(__x86_64__) && defined(__GNUC__) && !defined(COLLECTOR_PORTABLE_SCAN)
    #define COLLECTOR_AVX2_SCAN 1
    #include <immintrin.h>
    __attribute__((target("avx2")))
    static inline void collector_block_masks_avx2(const unsigned char *p, collector_masks *m) {
        int k;
        m->quote = m->backslash = m->open = m->close = m->comma = 0;
        for (k = 0; k < 2; k++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(p + 32 * k));
            const __m256i folded = _mm256_or_si256(v, _mm256_set1_epi8(0x20));
            const int shift = 32 * k;
            m->quote |= (uint64_t)(uint32_t)_mm256_movemask_epi8(
                _mm256_cmpeq_epi8(v, _mm256_set1_epi8(0x22))) << shift;
            m->backslash |= (uint64_t)(uint32_t)_mm256_movemask_epi8(
                _mm256_cmpeq_epi8(v, _mm256_set1_epi8(0x5C))) << shift;
            m->open |= (uint64_t)(uint32_t)_mm256_movemask_epi8(
                _mm256_cmpeq_epi8(folded, _mm256_set1_epi8(0x7B))) << shift;
            m->close |= (uint64_t)(uint32_t)_mm256_movemask_epi8(
                _mm256_cmpeq_epi8(folded, _mm256_set1_epi8(0x7D))) << shift;
            m->comma |= (uint64_t)(uint32_t)_mm256_movemask_epi8(
                _mm256_cmpeq_epi8(v, _mm256_set1_epi8(0x2C))) << shift;
        }
    }

    /* Each bit XORed with every bit below it (which bytes lie inside strings), in one
       carry-less multiplication by all ones. */
    __attribute__((target("pclmul,sse2")))
    static inline uint64_t collector_prefix_xor_clmul(uint64_t bits) {
        const __m128i product = _mm_clmulepi64_si128(
            _mm_set_epi64x(0, (long long)bits), _mm_set1_epi8((char)0xFF), 0);
        return (uint64_t)_mm_cvtsi128_si64(product);
    }
    #endif

    static inline uint64_t collector_prefix_xor(uint64_t bits) {
        bits ^= bits << 1;
        bits ^= bits << 2;
        bits ^= bits << 4;
        bits ^= bits << 8;
        bits ^= bits << 16;
        bits ^= bits << 32;
        return bits;
    }

    static inline int collector_space(unsigned char b) {
        return b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09;
    }

    /* data[start:stop] without the space around it, as the next (start, stop) pair of
       *bounds; 0 when it is empty (or memory runs out), which the caller leaves to the
       full splitter. */
    static int collector_add_element(const unsigned char *data, Py_ssize_t start,
                                     Py_ssize_t stop, Py_ssize_t **bounds,
                                     Py_ssize_t *capacity, Py_ssize_t count) {
        while (start < stop && collector_space(data[start])) start++;
        while (stop > start && collector_space(data[stop - 1])) stop--;
        if (start == stop) return 0;
        if (count == *capacity) {
            Py_ssize_t *grown = (Py_ssize_t *)realloc(
                *bounds, 4 * (size_t)*capacity * sizeof(Py_ssize_t));
            if (grown == NULL) return 0;
            *bounds = grown;
            *capacity *= 2;
        }
        (*bounds)[2 * count] = start;
        (*bounds)[2 * count + 1] = stop;
        return 1;
    }

    /* At the array's opening bracket data[open_at]: the number of its elements, their
       (start, stop) pairs in *bounds (*capacity pairs, grown as needed) and in *after the
       position past its closing bracket; -1 when this outline is not sure of it (no
       closing bracket, or a brace closing it, an empty element, nesting deeper than
       `limit` inside the array) or when it has more than `most` elements. */
    static inline __attribute__((always_inline)) Py_ssize_t collector_outline_with(
            const unsigned char *data, Py_ssize_t open_at, Py_ssize_t end, int limit,
            Py_ssize_t most, Py_ssize_t **bounds, Py_ssize_t *capacity, Py_ssize_t *after,
            int avx2) {
        unsigned char tail[64];
        Py_ssize_t base = open_at + 1, element = open_at + 1, count = 0;
        uint64_t inside = 0;  /* all ones when the last block ended inside a string */
        int escape_carried = 0, depth = 0;
        for (; base < end; base += 64) {
            const unsigned char *p = data + base;
            collector_masks m;
            uint64_t escaped = 0, strings, brackets, commas;
            if (end - base < 64) {
                /* The last bytes, padded with spaces, which are none of the masks'. */
                memset(tail, 0x20, 64);
                memcpy(tail, p, (size_t)(end - base));
                p = tail;
            }
    #ifdef COLLECTOR_AVX2_SCAN
            if (avx2) collector_block_masks_avx2(p, &m);
            else
    #endif
            collector_block_masks(p, &m);
            if (m.backslash || escape_carried) {
                /* A backslash escapes the byte after it, unless it is escaped itself. */
                uint64_t left = m.backslash;
                if (escape_carried) {
                    escaped = 1;
                    left &= ~(uint64_t)1;
                }
                escape_carried = 0;
                while (left) {
                    const int i = __builtin_ctzll(left);
                    if (i == 63) {
                        escape_carried = 1;
                        break;
                    }
                    escaped |= (uint64_t)1 << (i + 1);
                    left &= ~((uint64_t)3 << i);
                }
            }
    #ifdef COLLECTOR_AVX2_SCAN
            if (avx2) strings = collector_prefix_xor_clmul(m.quote & ~escaped);
            else
    #endif
            strings = collector_prefix_xor(m.quote & ~escaped);
            strings ^= inside;
            inside = (uint64_t)((int64_t)strings >> 63);
            /* The brackets in order; between two of them the depth holds, and the commas
               there matter only at the array's own level. */
            brackets = (m.open | m.close) & ~strings;
            commas = m.comma & ~strings;
            for (;;) {
                const uint64_t next = brackets & (0 - brackets);
                const uint64_t before = next ? next - 1 : ~(uint64_t)0;
                if (depth == 0) {
                    uint64_t separators = commas & before;
                    while (separators) {
                        const Py_ssize_t at = base + __builtin_ctzll(separators);
                        separators &= separators - 1;
                        if (count == most || !collector_add_element(
                                data, element, at, bounds, capacity, count)) return -1;
                        count++;
                        element = at + 1;
                    }
                }
                if (!next) break;
                commas &= ~before;
                brackets &= brackets - 1;
                const Py_ssize_t at = base + __builtin_ctzll(next);
                const unsigned char b = data[at];
                if ((b | 0x20) == 0x7B) {
                    if (++depth > limit) return -1;
                } else if (depth > 0) {
                    depth--;
                } else {
                    if (b != 0x5D) return -1;
                    /* The last element; none is [] or [ ], but [1,] is not sure. */
                    if (collector_add_element(data, element, at, bounds, capacity, count)) {
                        count++;
                    } else if (count > 0) {
                        return -1;
                    }
                    *after = at + 1;
                    return count;
                }
            }
        }
        return -1;
    }

    /* The outline compiled once per variant, the variant chosen per CPU when the module is
       imported: 1 where AVX2 and CLMUL are, else 0 (SSE2, or one byte at a time in the
       sanitized build), which is also what anything before that choice would run. Tests set
       it to 0 to cover both on one machine. */
    static int collector_outline_avx2 = 0;

    #ifdef COLLECTOR_AVX2_SCAN
    __attribute__((target("avx2,pclmul")))
    static Py_ssize_t collector_outline_wide(
            const unsigned char *data, Py_ssize_t open_at, Py_ssize_t end, int limit,
            Py_ssize_t most, Py_ssize_t **bounds, Py_ssize_t *capacity, Py_ssize_t *after) {
        return collector_outline_with(data, open_at, end, limit, most, bounds, capacity,
                                      after, 1);
    }
    #endif

    static int collector_outline_avx2_supported(void) {
    #ifdef COLLECTOR_AVX2_SCAN
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("pclmul");
    #else
        return 0;
    #endif
    }

    static Py_ssize_t collector_outline(
            const unsigned char *data, Py_ssize_t open_at, Py_ssize_t end, int limit,
            Py_ssize_t most, Py_ssize_t **bounds, Py_ssize_t *capacity, Py_ssize_t *after) {
    #ifdef COLLECTOR_AVX2_SCAN
        if (collector_outline_avx2)
            return collector_outline_wide(data, open_at, end, limit, most, bounds, capacity,
                                          after);
    #endif
        return collector_outline_with(data, open_at, end, limit, most, bounds, capacity,
                                      after, 0);
    }
    """
    Py_ssize_t collector_outline(const unsigned char* data, Py_ssize_t open_at, Py_ssize_t end,
                                 int limit, Py_ssize_t most, Py_ssize_t** bounds,
                                 Py_ssize_t* capacity, Py_ssize_t* after) noexcept nogil
    int collector_outline_avx2
    int collector_outline_avx2_supported() noexcept


collector_outline_avx2 = collector_outline_avx2_supported()


def outline_scans() -> tuple:
    """The ways of finding a body's outline this CPU can run, the one chosen at import
    first; for the tests, which run each."""
    return ("avx2", "baseline") if collector_outline_avx2_supported() else ("baseline",)


def use_outline_scan(str name) -> None:
    """For tests: finds outlines the named way from now on (one of outline_scans()), in the
    whole process and without a lock; the collector never calls it."""
    if name not in outline_scans():
        raise ValueError(f"this CPU cannot find outlines with {name}")
    global collector_outline_avx2
    collector_outline_avx2 = name == "avx2"


# The most events a body split by its outline may have: the rate windows make room for a
# key per event before such a batch (Window.begin), which a body of a million one-key
# events should not make them do; larger bodies take the checking split.
cdef Py_ssize_t _OUTLINED_EVENTS = 10_000


cdef Events _array_events(bytes body, _Cursor* c):
    """At an array's opening bracket in `body`: its elements, the cursor past the array;
    None when the scanner is not sure of it."""
    cdef Events events = Events.__new__(Events)
    cdef Py_ssize_t capacity = 128
    cdef Py_ssize_t* grown
    cdef Py_ssize_t count, after
    events.body = body
    events.bounds = <Py_ssize_t*>malloc(2 * capacity * sizeof(Py_ssize_t))
    if events.bounds is NULL:
        raise MemoryError()
    count = collector_outline(c.data, c.pos, c.end, _SPLIT_DEPTH, _OUTLINED_EVENTS,
                              &events.bounds, &capacity, &after)
    if count >= 0:
        events.size = count
        events.outlined = True
        c.pos = after
        return events
    c.pos += 1
    _skip_space(c)
    if c.pos < c.end and c.data[c.pos] == 0x5D:
        c.pos += 1
        return events
    while True:
        if events.size == capacity:
            capacity *= 2
            grown = <Py_ssize_t*>realloc(events.bounds, 2 * capacity * sizeof(Py_ssize_t))
            if grown is NULL:
                raise MemoryError()
            events.bounds = grown
        events.bounds[2 * events.size] = c.pos
        if _skip_json(c) != _PLAIN:
            return None
        events.bounds[2 * events.size + 1] = c.pos
        events.size += 1
        _skip_space(c)
        if c.pos >= c.end:
            return None
        if c.data[c.pos] == 0x5D:
            c.pos += 1
            return events
        if c.data[c.pos] != 0x2C:
            return None
        c.pos += 1
        _skip_space(c)


cdef inline void _start(_Cursor* c, bytes body) noexcept:
    c.data = <const unsigned char*>PyBytes_AS_STRING(body)
    c.pos = 0
    c.end = PyBytes_GET_SIZE(body)
    c.depth_keys = 0
    _skip_space(c)


def check_events(events):
    """Events split by their outline read strictly now, rather than by the pipeline: the
    body's 400 when one is not JSON. Other events are left as they are."""
    if type(events) is Events:
        (<Events>events).check()


def split_array(bytes body not None, recheck=None):
    """Events of `body` when it is a JSON array this scanner is sure of the outline of,
    else None. `recheck`: how msgspec reads the body, its error or its events, for when
    an event turns out not to be JSON (Events.outlined)."""
    cdef _Cursor c
    cdef Events events
    _start(&c, body)
    if c.pos >= c.end or c.data[c.pos] != 0x5B:
        return None
    events = _array_events(body, &c)
    if events is None:
        return None
    _skip_space(&c)
    if c.pos != c.end:
        return None
    events.recheck = recheck
    return events


def split_object(bytes body not None, bytes sent_key not None, recheck=None):
    """(events, the batch's sent time as sent) when `body` is an object {"batch": [...],
    <sent_key>: ..., ...} this scanner is sure of, as msgspec decodes it into TrackBatch
    (sent_key b"sent_at") or SegmentBatch (b"sentAt"); else None. Other members are checked
    as JSON and skipped, as msgspec skips them; the batch's events are split as
    split_array splits them, and `recheck` is theirs. Left to msgspec: a key with an escape,
    a member twice, a sent time other than a plain string, an integer of up to 18 digits
    or null, and no batch."""
    cdef _Cursor c
    cdef Py_ssize_t key_start, key_length
    cdef bint sent_seen = False
    events = None
    sent = None
    _start(&c, body)
    if c.pos >= c.end or c.data[c.pos] != 0x7B:
        return None
    c.pos += 1
    _skip_space(&c)
    while True:
        if c.pos >= c.end or c.data[c.pos] != 0x22:
            return None
        key_start = c.pos + 1
        if _skip_text(&c) != _PLAIN:
            return None
        key_length = c.pos - 1 - key_start
        if memchr(c.data + key_start, 0x5C, key_length) != NULL:
            return None
        if _colon(&c) != _PLAIN:
            return None
        if key_length == 5 and memcmp(c.data + key_start, b"batch", 5) == 0:
            if events is not None or c.data[c.pos] != 0x5B:
                return None
            events = _array_events(body, &c)
            if events is None:
                return None
        elif (key_length == len(sent_key)
                and memcmp(c.data + key_start, <const char*>sent_key, key_length) == 0):
            if sent_seen:
                return None
            sent_seen = True
            sent = _plain_scalar(&c, _F_SENT_AT)
            if sent is _NOT_PLAIN:
                return None
        elif _skip_json(&c) != _PLAIN:
            return None
        _skip_space(&c)
        if c.pos >= c.end:
            return None
        if c.data[c.pos] == 0x7D:
            c.pos += 1
            break
        if c.data[c.pos] != 0x2C:
            return None
        c.pos += 1
        _skip_space(&c)
    _skip_space(&c)
    if events is None or c.pos != c.end:
        return None
    (<Events>events).recheck = recheck
    return events, sent


# ---------------------------------------------------------------------------------------------
# Tokens of values still in the client's bytes (twin: collector.pii.Tokenizer, through the
# tokens dict of _State._token)

cdef struct _TokenSlot:
    Py_hash_t hash  # 0: empty
    Py_ssize_t n  # the value's length in bytes (and the slot 32 bytes, in one cache line)
    PyObject* text  # the value's UTF-8, a bytes object the table holds a reference to
    PyObject* token  # its token, a str (a reference too)


cdef inline Py_hash_t _token_hash(const unsigned char* data, Py_ssize_t n) noexcept:
    """The hash the token table keys these bytes by: theirs, never 0 (an empty slot's)."""
    cdef Py_hash_t h = collector_hash_bytes(data, n)
    return 1 if h == 0 else h


@cython.final
cdef class _Tokens:
    """Tokens of the values tokenized lately, in an open-addressing table keyed by their
    UTF-8, so that a value read from an event's bytes (a user id, mostly) is looked up with
    no str made. Holds at most `limit` values of up to _CACHED_TEXT_LENGTH bytes; a full
    table starts over."""

    cdef _TokenSlot* slots
    cdef Py_ssize_t capacity
    cdef Py_ssize_t used
    cdef Py_ssize_t limit

    def __cinit__(self, Py_ssize_t limit):
        self.limit = limit
        # The capacity only once the table is there: __dealloc__ runs after a failed
        # __cinit__ too.
        self.slots = <_TokenSlot*>collector_table(1024, sizeof(_TokenSlot))
        if self.slots is NULL:
            raise MemoryError()
        self.capacity = 1024

    def __dealloc__(self):
        self._release()
        free(self.slots)

    cdef void _release(self) noexcept:
        cdef Py_ssize_t i
        for i in range(self.capacity):
            if self.slots[i].hash != 0:
                Py_XDECREF(self.slots[i].text)
                Py_XDECREF(self.slots[i].token)
                self.slots[i].hash = 0
        self.used = 0

    cdef inline _TokenSlot* _slot(self, const unsigned char* data, Py_ssize_t n,
                                  Py_hash_t h) noexcept:
        # The slot holding these bytes, or the empty one where they would go.
        cdef Py_ssize_t mask = self.capacity - 1
        cdef Py_ssize_t i = <Py_ssize_t>(<size_t>h & <size_t>mask)
        cdef _TokenSlot* slot
        while True:
            slot = &self.slots[i]
            if slot.hash == 0 or (
                    slot.hash == h and slot.n == n
                    and memcmp(PyBytes_AS_STRING(<object>slot.text), data, n) == 0):
                return slot
            i = (i + 1) & mask

    cdef inline void prefetch(self, Py_hash_t h) noexcept:
        # Start loading the slot of the bytes hashing to h (_token_hash; see Window.prefetch).
        __builtin_prefetch(&self.slots[<size_t>h & <size_t>(self.capacity - 1)])

    cdef str get(self, const unsigned char* data, Py_ssize_t n, Py_hash_t h):
        """The token of these bytes (h: their _token_hash), or None."""
        cdef _TokenSlot* slot = self._slot(data, n, h)
        return None if slot.hash == 0 else <str>slot.token

    cdef int put(self, bytes text, Py_hash_t h, str token) except -1:
        if PyBytes_GET_SIZE(text) > _CACHED_TEXT_LENGTH:
            return 0
        if self.used >= self.limit:
            self._release()
        if (self.used + 1) * 2 > self.capacity:
            self._grow()
        cdef _TokenSlot* slot = self._slot(<const unsigned char*>PyBytes_AS_STRING(text),
                                           PyBytes_GET_SIZE(text), h)
        if slot.hash != 0:
            return 0
        Py_INCREF(text)
        Py_INCREF(token)
        slot.hash = h
        slot.n = PyBytes_GET_SIZE(text)
        slot.text = <PyObject*>text
        slot.token = <PyObject*>token
        self.used += 1
        return 0

    cdef int _grow(self) except -1:
        cdef _TokenSlot* old = self.slots
        cdef Py_ssize_t old_capacity = self.capacity, i
        cdef _TokenSlot* moved
        cdef _TokenSlot* grown = <_TokenSlot*>collector_table(old_capacity * 2,
                                                               sizeof(_TokenSlot))
        if grown is NULL:
            raise MemoryError()
        self.slots = grown
        self.capacity = old_capacity * 2
        for i in range(old_capacity):
            if old[i].hash != 0:
                moved = self._slot(<const unsigned char*>PyBytes_AS_STRING(<object>old[i].text),
                                   old[i].n, old[i].hash)
                moved[0] = old[i]
        free(old)
        return 0


# ---------------------------------------------------------------------------------------------
# The pipeline

class Pipeline(_twin.Pipeline):
    """Twin of collector.pipeline.Pipeline: same settings, same records, fewer cycles.

    The Python twin's constructor compiles the settings (PII rule tables, crawler patterns,
    topics, headers); this class reads them from it and keeps its own caches and windows.
    """

    def __init__(self, settings, secret, new_id=_twin.new_event_id):
        super().__init__(settings, secret, new_id)
        self._native = _State(self, secret)

    def process(self, events, received):
        return (<_State>self._native).process(events, received)


cdef object _UNJUDGED = object()


@cython.final
cdef class _Agent:
    """A user agent seen lately (_State._user_agent): its bytes and its text, and what the
    verdict (_UNJUDGED until asked) and the free-text scrub (None until asked) made of it,
    and the `"user_agent":...` entry made of it when an event names it in Segment's
    context.userAgent (_UNJUDGED until made; None when a rule drops it)."""
    cdef bytes utf8
    cdef str text
    cdef object verdict
    cdef str scrubbed
    cdef object entry


@cython.final
cdef class _AddedEntry:
    """An entry the collector adds to `context`: its key, its policy (_entry_policy), and
    the value it was rendered for last with that rendering (`"key":value`, or None when a
    rule drops it)."""
    cdef str key
    cdef tuple policy
    cdef object value
    cdef bytes rendered

    def __init__(self, str key, tuple policy):
        self.key = key
        self.policy = policy


@cython.final
cdef class _State:
    cdef object settings
    cdef object new_id
    cdef object crawler_search
    cdef object automation_search
    cdef object secret_key
    cdef object redact
    cdef dict verdicts
    cdef dict library_sources
    # (UTF-8, str) of the library names seen lately (_library_name).
    cdef list library_names
    cdef list user_agents
    cdef list fields
    cdef _Scalar scalars[_MAX_FIELDS]
    # Bit n set when scalars[n] was made a span or an integer by the last _plain_event.
    cdef uint32_t spanned
    cdef _Tokens tokens
    cdef dict truncated
    cdef dict salts
    # While an outlined batch is read: (key, its salt before, or _NO_SALT), or (None, a
    # copy of salts before they were cleared), the changes the batch made to salts.
    cdef list salt_log
    cdef dict topics
    # Event type -> (the record's headers, the type's JSON text).
    cdef dict type_headers
    # The last event's type and source, with their headers, topic and JSON text: most
    # batches have one of each, so most events need no dict lookup or encoding for them
    # (compared by identity).
    cdef object last_type
    cdef tuple last_type_headers
    cdef bytes last_type_json
    cdef object last_source
    cdef object last_topic
    cdef bytes last_source_json
    cdef dict by_name
    cdef dict notable
    cdef dict by_path
    cdef set scrub_paths
    cdef set scrub_last
    cdef tuple top_actions
    cdef tuple top_scrub
    cdef bint top_tokenized[_TOP_FIELDS]
    cdef tuple common
    cdef bytes tenant
    cdef str bots_topic
    cdef bint drop_bots
    cdef bint flag_missing_user_agent
    cdef bint pass_properties
    cdef bint has_wildcard
    cdef bint default_ids
    cdef object bot
    cdef bint salted
    cdef bint scrub_context
    cdef bint scrub_properties
    cdef bint scrub_traits
    cdef double max_per_ip
    cdef double max_per_anonymous_id
    cdef double max_per_key
    cdef long long salts_n
    cdef Py_ssize_t max_event_bytes
    cdef Py_ssize_t max_string
    cdef Py_ssize_t max_properties
    cdef Py_ssize_t max_depth
    cdef long long max_future_ms
    cdef Window per_ip
    cdef Window per_anonymous_id
    cdef Window per_key
    # The byte-level tree path (see "Trees as bytes"): whether the policy allows it, the
    # notable keys as UTF-8, scratch buffers for the three trees, and what the scan of
    # `context` found for the bot verdict and the source.
    cdef bint trees_as_bytes
    cdef tuple notable_utf8
    # The same as C strings, into notable_utf8's bytes.
    cdef _Name* notable_names
    cdef Py_ssize_t notable_count
    # Bit n set when a notable key is n bytes long (bit 63: 63 bytes or more), so that most
    # keys are passed over without a comparison.
    cdef uint64_t notable_lengths
    cdef Buffer context_out
    cdef Buffer properties_out
    cdef Buffer traits_out
    cdef Py_ssize_t root_keys
    cdef Py_ssize_t root_emitted
    cdef bint capturing
    # The batch is in Segment's spelling, and its events' type when they name none.
    cdef bint segment
    cdef str default_type
    # Segment's context.userAgent, written as user_agent after the client's own entries.
    cdef _Agent deferred_user_agent
    cdef bint found_ip_present
    cdef bint found_user_agent_present
    cdef bint found_webdriver
    cdef object found_ip
    cdef object found_user_agent
    # The captured user agent as the cache of recent ones holds it, where its text starts
    # in the event's bytes (-1: none) and where its closing quote ends (read only when it
    # has a start), so that the verdict and the tree's writer take what was made of it
    # before rather than look it up or read it again by its hundred-odd characters.
    cdef _Agent found_agent
    cdef Py_ssize_t found_user_agent_at
    cdef Py_ssize_t found_user_agent_end
    cdef object found_library_name
    cdef _AddedEntry ip_entry
    cdef Py_ssize_t properties_keys
    cdef Py_ssize_t context_emitted
    cdef _AddedEntry user_agent_entry
    cdef dict root_policies
    # The batch's receive time as the records write it, quotes included.
    cdef char received_at[26]

    def __cinit__(self, *args):
        _buffer_init(&self.context_out)
        _buffer_init(&self.properties_out)
        _buffer_init(&self.traits_out)

    def __dealloc__(self):
        free(self.context_out.data)
        free(self.properties_out.data)
        free(self.traits_out.data)
        free(self.notable_names)

    def __init__(self, twin, bytes secret):
        settings = twin.settings
        self.settings = settings
        self.new_id = twin.new_id
        self.default_ids = twin.new_id is _twin.new_event_id
        self.crawler_search = twin.bots._crawler.search
        self.automation_search = _AUTOMATION.search
        self.secret_key = twin.pii._tokenizer._key
        self.redact = twin.pii.redact
        self.verdicts = {}
        self.library_sources = {}
        self.library_names = [None] * _LIBRARY_SLOTS
        self.user_agents = [None] * _USER_AGENT_SLOTS
        self.fields = [None] * _FIELD_COUNT
        self.tokens = _Tokens(_TOKEN_CACHE_LIMIT)
        self.truncated = {}
        self.salts = {}
        self.topics = dict(twin._topics)
        self.type_headers = {}
        # Nothing yet, not even None: an event type or source is compared with these first.
        self.last_type = self.last_source = object()
        self.by_name = dict(twin.pii._by_name)
        self.by_path = {k: list(v) for k, v in twin.pii._by_path.items()}
        self.has_wildcard = "*" in self.by_path
        self.scrub_paths = set(twin.pii._scrub_paths)
        self.scrub_last = {path[len(path) - 1] for path in self.scrub_paths}
        # Every key name a rule or scrub path can concern, so that the walk pays one dict
        # lookup for an ordinary key instead of three.
        self.notable = dict.fromkeys([*self.by_name, *self.by_path, *self.scrub_last], True)
        self.top_actions = tuple(twin.pii._top_level.get(f) for f in _TOP_LEVEL)
        self.top_scrub = tuple(f in twin.pii._scrub_top for f in _TOP_LEVEL)
        for i, action in enumerate(self.top_actions):
            self.top_tokenized[i] = action == "tokenize"
        self.scrub_context = ("context",) in self.scrub_paths
        self.scrub_properties = ("properties",) in self.scrub_paths
        self.scrub_traits = ("traits",) in self.scrub_paths
        self.common = tuple(twin._common)
        self.tenant = settings.tenant.encode()
        self.bots_topic = settings.topics.bots
        self.drop_bots = settings.bots.action == "drop"
        self.flag_missing_user_agent = settings.bots.flag_missing_user_agent
        self.pass_properties = twin._pass_properties
        self.max_per_ip = settings.bots.max_events_per_ip
        self.max_per_anonymous_id = settings.bots.max_events_per_anonymous_id
        self.max_per_key = settings.hot_keys.max_events_per_key
        self.salts_n = settings.hot_keys.salts
        limits = settings.limits
        self.max_event_bytes = limits.max_event_bytes
        self.max_string = limits.max_string_length
        self.max_properties = limits.max_properties
        self.max_depth = limits.max_depth
        self.max_future_ms = limits.max_future_ms
        self.per_ip = Window(settings.bots.rate_window_s * 1000)
        self.per_anonymous_id = Window(settings.bots.rate_window_s * 1000)
        self.per_key = Window(settings.hot_keys.window_s * 1000)
        # A rule with a wildcard last step concerns every key; such policies keep to the
        # decoded path.
        self.trees_as_bytes = not self.has_wildcard
        self.notable_utf8 = tuple(key.encode() for key in self.notable)
        free(self.notable_names)
        self.notable_count = 0
        self.notable_names = <_Name*>malloc(max(len(self.notable_utf8), 1) * sizeof(_Name))
        if self.notable_names is NULL:
            raise MemoryError()
        self.notable_count = len(self.notable_utf8)
        self.notable_lengths = 0
        for i, name in enumerate(self.notable_utf8):
            self.notable_names[i].data = PyBytes_AS_STRING(name)
            self.notable_names[i].n = len(name)
            self.notable_lengths |= (<uint64_t>1) << min(len(name), 63)
        self.ip_entry = _AddedEntry("ip", self._entry_policy("context", self.scrub_context, "ip"))
        self.user_agent_entry = _AddedEntry(
            "user_agent", self._entry_policy("context", self.scrub_context, "user_agent"))
        # The notable keys' policies straight under each root, in notable_utf8's order.
        self.root_policies = {
            root: tuple([self._entry_policy(root, scrub, key) for key in self.notable])
            for root, scrub in (("context", self.scrub_context),
                                ("properties", self.scrub_properties),
                                ("traits", self.scrub_traits))
        }

    def process(self, events, received):
        cdef Events split = events if type(events) is Events else None
        if split is None or not split.outlined:
            return self._process(events, received, False)
        # Events split by their outline are read strictly one by one, after the rate
        # windows and the salts of earlier ones have changed: those changes are logged, so
        # that a body with an event that is not JSON leaves none of them behind.
        try:
            self._log_changes(len(split))
            outcome = self._process(events, received, True)
        except _NotJSON:
            self._undo_changes()
            if split.recheck is None:
                raise ValueError("an outlined event is not JSON, and its body has no recheck")
            # msgspec reads the body: its error (a 400), or its events, read as any others.
            return self._process(split.recheck(), received, False)
        finally:
            self._keep_changes()
        split.outlined = False  # each of its events has been read strictly
        return outcome

    cdef int _log_changes(self, Py_ssize_t events) except -1:
        self.per_ip.begin(events)
        self.per_anonymous_id.begin(events)
        self.per_key.begin(events)
        self.salt_log = []
        return 0

    cdef void _undo_changes(self) except *:
        self.per_ip.rollback()
        self.per_anonymous_id.rollback()
        self.per_key.rollback()
        for key, before in reversed(self.salt_log):
            if key is None:
                self.salts.clear()
                self.salts.update(before)
            elif before is _NO_SALT:
                del self.salts[key]
            else:
                self.salts[key] = before
        self.salt_log = None

    cdef void _keep_changes(self) noexcept:
        # After _undo_changes, nothing is left to keep.
        self.per_ip.commit()
        self.per_anonymous_id.commit()
        self.per_key.commit()
        self.salt_log = None

    cdef object _process(self, events, received, bint outlined):
        cdef Records records
        cdef list rejected = []
        cdef object bots = {}
        cdef dict per_topic = {}
        # Records of a batch mostly go to one topic: counted in runs, not one dict update each.
        cdef object run_topic = None
        cdef Py_ssize_t run = 0
        cdef long long accepted = 0, dropped = 0, salted = 0
        cdef long long now = received.received_ms
        cdef Py_ssize_t index, mark
        # Events split natively (Events) are read in place, and are known not to nest too deep;
        # any other sequence's items through the buffer protocol (any other iterable is
        # made a list first, as the twin takes any).
        cdef Events split = events if type(events) is Events else None
        cdef const unsigned char* body = NULL
        cdef const unsigned char* data
        cdef Py_ssize_t n, count
        cdef Py_buffer view
        if split is not None:
            body = <const unsigned char*>PyBytes_AS_STRING(split.body)
        elif type(events) is not list and type(events) is not tuple:
            events = list(events)
        count = len(events)
        _check_fork()
        records = Records(count)
        self.received_at[0] = self.received_at[25] = b'"'
        _format_ms_into(self.received_at + 1, now)
        batch_sent = received.sent_ms
        client_ip = received.client_ip
        user_agent_header = received.user_agent
        source_override = received.source
        dlq = self.topics[source_override or "web"] + ".dlq"
        # Segment's spelling, when decoded, goes through the twin's mapping onto the
        # collector's own fields.
        decode = _decode_event if received.dialect == "track" else None
        self.segment = decode is None
        self.default_type = received.default_type
        for index in range(count):
            raw = None
            if split is not None:
                data = body + split.bounds[2 * index]
                n = split.bounds[2 * index + 1] - split.bounds[2 * index]
            else:
                raw = events[index]
                PyObject_GetBuffer(raw, &view, PyBUF_SIMPLE)
                data = <const unsigned char*>view.buf
                n = view.len
            # What an event rejected or dropped halfway wrote is taken back.
            mark = records.data.length
            try:
                topic = self._one(raw, data, n, split is not None, outlined, now, batch_sent,
                                  client_ip, user_agent_header, source_override, decode,
                                  received, records)
            except _Rejected as rejection:
                records.data.length = mark
                rejected.append(_Rejection(index, rejection.reason, rejection.detail))
                self._dead_letter(records, dlq, PyBytes_FromStringAndSize(<const char*>data, n),
                                  rejection, now)
                per_topic[dlq] = per_topic.get(dlq, 0) + 1
                continue
            finally:
                if raw is not None:
                    PyBuffer_Release(&view)
            accepted += 1
            if self.bot is not None:
                bots[self.bot] = bots.get(self.bot, 0) + 1
                if topic is None:
                    records.data.length = mark
                    dropped += 1
                    continue
            if self.salted:
                salted += 1
            if topic is not run_topic:
                if run:
                    per_topic[run_topic] = per_topic.get(run_topic, 0) + run
                run_topic, run = topic, 0
            run += 1
        if run:
            per_topic[run_topic] = per_topic.get(run_topic, 0) + run
        outcome = _Outcome(records=records, rejected=rejected, per_topic=per_topic, bots=bots)
        outcome.accepted = accepted
        outcome.bots_dropped = dropped
        outcome.salted = salted
        return outcome

    cdef object _one(self, object raw, const unsigned char* data, Py_ssize_t n, bint shallow,
                    bint outlined, long long now, object batch_sent, object client_ip,
                    object user_agent_header, object source_override, object decode,
                    object received, Records records):
        """Adds the event's record to `records`; its topic, or None when it is dropped as a
        bot (the verdict in self.bot either way). Raises _Rejected."""
        # normalize (twin: collector.normalize.normalize). `raw` is the event's object, or
        # None when it is read in place from its body (then made only if it is decoded);
        # `shallow` when it is known to nest no deeper than the pipeline takes; `outlined`
        # when it is not yet known to be JSON (Events.outlined), which is then found out
        # before anything else about it counts: read plainly, it is; otherwise it is
        # checked as the full splitter checks it, and raises _NotJSON if it is not.
        if n > self.max_event_bytes:
            if outlined and not _is_json(data, n):
                raise _NotJSON()
            raise _Rejected("event_too_large",
                            f"{n} bytes; the limit is {self.max_event_bytes}")
        if not shallow and _buffer_deeper_than(data, n, _MAX_DECODE_DEPTH):
            raise _Rejected("too_deep",
                            f"the event nests deeper than {_MAX_DECODE_DEPTH} levels")
        # Plain events are read from their bytes, their trees rewritten as bytes (see "Trees
        # as bytes"), their top-level strings kept as spans of those bytes; any other event
        # is decoded whole. Either way the fields are then in `fields` and `scalars`.
        cdef list fields = self.fields
        cdef _Scalar* scalars = self.scalars
        cdef bint fast = False
        cdef bint passed, has_client, has_sent, anonymous_hashed = False
        cdef Py_ssize_t properties_keys = 0, i
        cdef Py_ssize_t identity
        cdef long long client_ms = 0, sent_ms = 0, skew = 0, ts
        cdef Py_hash_t anonymous_hash = 0, identity_hash = 0
        # The user id's _token_hash, once the token table's slot is on its way (0: not yet).
        cdef Py_hash_t user_id_hash = 0
        context = traits = properties = None
        if self.trees_as_bytes:
            fast = self._plain_event(data, n) == _PLAIN
            properties_keys = self.properties_keys
            self.root_emitted = self.context_emitted
        if not fast:
            if outlined and not _is_json(data, n):
                raise _NotJSON()
            if raw is None:
                raw = PyBytes_FromStringAndSize(<const char*>data, n)
            try:
                event = decode(raw) if decode is not None else _decode_any_dialect(raw, received)
            except _ValidationError as exc:
                raise _Rejected("invalid_field", str(exc))
            except (_DecodeError, UnicodeDecodeError) as exc:
                raise _Rejected("invalid_json", str(exc))
            decoded = _astuple(event)
            for i in range(_FIELD_COUNT):
                fields[i] = decoded[i]
                scalars[i].kind = _OBJECT
        event_type = fields[_F_TYPE]
        if _is_text(event_type, "track") and self._absent(_F_EVENT):
            raise _Rejected("missing_event", 'a "track" event needs a non-empty "event" name')
        if not fast:
            context = fields[_F_CONTEXT]
            if context is None:
                context = {}
            traits = fields[_F_TRAITS]
            if traits is None:
                traits = {}
            raw_properties = fields[_F_PROPERTIES]
            try:
                properties = _decode_object(raw_properties)
            except _ValidationError as exc:
                raise _Rejected("invalid_field", f"{exc} - at `$.properties`")
            except UnicodeDecodeError as exc:
                raise _Rejected("invalid_json", f"{exc} - at `$.properties`")
            if properties is None:
                properties = {}
            properties_keys = len(<dict>properties)
        if scalars[_F_ANONYMOUS_ID].kind == _SPAN and scalars[_F_ANONYMOUS_ID].n > 0:
            anonymous_hash = self._span_hash(_F_ANONYMOUS_ID)
            anonymous_hashed = True
        elif type(fields[_F_ANONYMOUS_ID]) is str and fields[_F_ANONYMOUS_ID]:
            anonymous_hash = hash(fields[_F_ANONYMOUS_ID])
            anonymous_hashed = True
        if anonymous_hashed:
            self.per_anonymous_id.prefetch(anonymous_hash)
        # The record's key is the user id (its token, under the default rules, found in the
        # token table) when there is one, else most often the anonymous id as it came: the
        # slots start loading now, a few hundred nanoseconds before they are needed. A wrong
        # guess costs a load.
        if scalars[_F_USER_ID].kind == _SPAN:
            if self.top_tokenized[1]:
                user_id_hash = _token_hash(scalars[_F_USER_ID].data, scalars[_F_USER_ID].n)
                self.tokens.prefetch(user_id_hash)
        elif anonymous_hashed:
            self.per_key.prefetch(anonymous_hash)
        self._check("event", _F_EVENT)
        self._check("event_id", _F_EVENT_ID)
        self._check("user_id", _F_USER_ID)
        self._check("anonymous_id", _F_ANONYMOUS_ID)
        self._check("session_id", _F_SESSION_ID)
        self._check("group_id", _F_GROUP_ID)
        self._check("previous_id", _F_PREVIOUS_ID)
        if not fast:
            self._check_tree("context", context)
            self._check_tree("properties", properties)
            self._check_tree("traits", traits)

        has_client = self._time(_F_TIMESTAMP, &client_ms)
        has_sent = self._time(_F_SENT_AT, &sent_ms)
        if not has_sent and batch_sent is not None:
            has_sent = True
            sent_ms = batch_sent
        if has_sent:
            skew = now - sent_ms
        ts = now
        if has_client:
            ts = client_ms + skew
            if ts > now + self.max_future_ms or ts < _EARLIEST_MS:
                ts = now

        if fast:
            source = source_override or self._cached_source(self.found_library_name)
            ip = self.found_ip
            if client_ip is not None and not self.found_ip_present:
                ip = client_ip
                self._append_added(&self.context_out, self.ip_entry, client_ip)
            user_agent = self.found_user_agent
            if (_is_text(source, "web") and user_agent_header is not None
                    and not self.found_user_agent_present):
                user_agent = user_agent_header
                self._append_added(&self.context_out, self.user_agent_entry, user_agent_header)
            _append(&self.context_out, b"}", 1)
            webdriver = self.found_webdriver
        else:
            source = source_override or _source_of(context)
            if client_ip is not None and "ip" not in context:
                context["ip"] = client_ip
            if (_is_text(source, "web") and user_agent_header is not None
                    and "user_agent" not in context):
                context["user_agent"] = user_agent_header
            ip = context.get("ip")
            user_agent = context.get("user_agent")
            webdriver = context.get("webdriver")
            webdriver = webdriver is True or (type(webdriver) is str and webdriver == "true")
        # An event without an id gets a UUIDv7, written straight into the record when it is
        # the collector's own kind.
        cdef bint new_id = self._absent(_F_EVENT_ID)
        if new_id and not self.default_ids:
            fields[_F_EVENT_ID] = self.new_id()
            scalars[_F_EVENT_ID].kind = _OBJECT
            new_id = False
        self._as_id(_F_USER_ID)
        self._as_id(_F_ANONYMOUS_ID)
        self._as_id(_F_SESSION_ID)
        self._as_id(_F_GROUP_ID)
        self._as_id(_F_PREVIOUS_ID)
        # An anonymous id given as a number is counted by its text.
        if not anonymous_hashed and fields[_F_ANONYMOUS_ID] is not None:
            anonymous_hash = hash(fields[_F_ANONYMOUS_ID])
            anonymous_hashed = True

        # bots (twin: collector.bots.BotDetector.verdict), first when bots are dropped, so
        # that they cost no PII work.
        bot = None
        if self.drop_bots:
            bot = self._verdict(ip, webdriver, user_agent, anonymous_hashed, anonymous_hash,
                                source, now)
            if bot is not None:
                self.bot = bot
                return None
        # pii on the top-level fields (twin: collector.pii.PiiPolicy.apply). Otherwise it
        # comes before the verdict, where the twin has it after: the verdict is given the
        # anonymous id as it was before any rule, and the record's key is known early, so
        # that the key's rate-window slot is on its way into the cache while the verdict runs.
        self._top_field(0, _F_EVENT)
        self._top_field(1, _F_USER_ID, user_id_hash)
        self._top_field(2, _F_ANONYMOUS_ID)
        self._top_field(3, _F_SESSION_ID)
        self._top_field(4, _F_GROUP_ID)
        self._top_field(5, _F_PREVIOUS_ID)
        # The record's key: the first of these present (a span is never empty by now).
        identity = -1
        if scalars[_F_USER_ID].kind == _SPAN or fields[_F_USER_ID]:
            identity = _F_USER_ID
        elif scalars[_F_ANONYMOUS_ID].kind == _SPAN or fields[_F_ANONYMOUS_ID]:
            identity = _F_ANONYMOUS_ID
        elif scalars[_F_SESSION_ID].kind == _SPAN or fields[_F_SESSION_ID]:
            identity = _F_SESSION_ID
        # The key goes into the batch's buffer first, the value right after it.
        cdef Buffer* out = &records.data
        cdef Py_ssize_t key_at = -1, key_n = 0, value_at
        if identity >= 0:
            key_at = out.length
            # The hash the verdict's window took of the anonymous id is the key's, if the id
            # is still that span (_key checks; a rule that changed it made it an object).
            self._key(identity, &identity_hash, out,
                      anonymous_hash if identity == _F_ANONYMOUS_ID and anonymous_hashed else 0)
            key_n = out.length - key_at
            self.per_key.prefetch(identity_hash)
        if not self.drop_bots:
            bot = self._verdict(ip, webdriver, user_agent, anonymous_hashed, anonymous_hash,
                                source, now)

        # pii on the trees (twin: collector.pii.PiiPolicy.apply)
        passed = self.pass_properties and properties_keys > 0
        if not fast:
            self._walk(context, ("context",), self.scrub_context)
            if not passed:
                self._walk(properties, ("properties",), self.scrub_properties)
            self._walk(traits, ("traits",), self.scrub_traits)

        # keying (twin: collector.keying)
        if event_type is not self.last_type:
            # Types alternate within a batch (Segment's page, identify, track): the headers
            # and the JSON of each are made once.
            made = self.type_headers.get(event_type)
            if made is None:
                made = self.type_headers[event_type] = (
                    self.common + (("event_type", event_type.encode()),), _encode(event_type))
            self.last_type = event_type
            self.last_type_headers, self.last_type_json = <tuple>made
        headers = self.last_type_headers
        if source is not self.last_source:
            self.last_source, self.last_source_json = source, _encode(source)
            self.last_topic = self.topics.get(source)
        salt = None
        if key_at >= 0:
            # Counted by the identity's hash, rather than by its bytes as the twin counts:
            # one is the other's UTF-8, so the counts are the same.
            if self.per_key.hit_hash(identity_hash, now) > self.max_per_key:
                key = PyBytes_FromStringAndSize(out.data + key_at, key_n)
                if self.salt_log is not None:
                    self.salt_log.append((key, self.salts.get(key, _NO_SALT)))
                salt = self.salts.get(key, 0)
                self.salts[key] = (salt + 1) % self.salts_n
                if len(self.salts) > _SALT_LIMIT:
                    if self.salt_log is not None:
                        self.salt_log.append((None, dict(self.salts)))
                    self.salts.clear()
                # The key is still the last thing in the buffer.
                _append_bytes(out, b"#" + str(salt).encode())
                key_n = out.length - key_at
                headers = headers + (("salt", str(salt).encode()),)
        if bot is not None:
            headers = headers + (("bot", bot.encode()),)
            topic = self.bots_topic
        else:
            topic = self.last_topic if self.last_topic is not None else self.topics[source]

        # encode (twin: msgspec encoding of collector.envelope.Activity)
        value_at = out.length
        _append(out, b'{"event_id":', 12)
        if new_id:
            _append_uuid7(out, now)
        else:
            self._write(out, _F_EVENT_ID)
        _append(out, b',"kind":"activity","type":', 26)
        _append_bytes(out, self.last_type_json)
        _append(out, b',"event":', 9)
        self._write(out, _F_EVENT)
        _append(out, b',"source":', 10)
        _append_bytes(out, self.last_source_json)
        _append(out, b',"received_at":', 15)
        _append(out, self.received_at, 26)
        _append(out, b',"sent_at":', 11)
        if has_sent:
            _append_ms(out, sent_ms)
        else:
            _append(out, b"null", 4)
        _append(out, b',"client_ts":', 13)
        if has_client:
            _append_ms(out, client_ms)
        else:
            _append(out, b"null", 4)
        _append(out, b',"ts":', 6)
        if ts == now:
            _append(out, self.received_at, 26)
        else:
            _append_ms(out, ts)
        _append(out, b',"skew_ms":', 11)
        if has_sent:
            _append_integer(out, skew)
        else:
            _append(out, b"null", 4)
        _append(out, b',"user_id":', 11)
        self._write(out, _F_USER_ID)
        _append(out, b',"anonymous_id":', 16)
        self._write(out, _F_ANONYMOUS_ID)
        _append(out, b',"session_id":', 14)
        self._write(out, _F_SESSION_ID)
        _append(out, b',"group_id":', 12)
        self._write(out, _F_GROUP_ID)
        _append(out, b',"previous_id":', 15)
        self._write(out, _F_PREVIOUS_ID)
        _append(out, b',"context":', 11)
        if fast:
            self._append_trees(out)
        else:
            _append_bytes(out, _encode(context))
            _append(out, b',"properties":', 14)
            if passed:
                _append_bytes(out, bytes(raw_properties))
            else:
                _append_bytes(out, _encode(properties))
            _append(out, b',"traits":', 10)
            _append_bytes(out, _encode(traits))
            _append(out, b"}", 1)
        # Side results, read by process(): cheaper than a tuple per event.
        self.bot = bot
        self.salted = salt is not None
        records.add(topic, headers, key_at, key_n, value_at)
        return topic

    cdef int _append_trees(self, Buffer* out) except -1:
        """The rest of a plain event's record value, after `"context":`: the three rewritten
        trees (properties already the client's bytes when they pass through), each copied
        once."""
        cdef Py_ssize_t n = (self.context_out.length + 14 + self.properties_out.length + 10
                             + self.traits_out.length + 1)
        _reserve(out, n)
        cdef char* at = out.data + out.length
        memcpy(at, self.context_out.data, self.context_out.length)
        at += self.context_out.length
        memcpy(at, b',"properties":', 14)
        at += 14
        memcpy(at, self.properties_out.data, self.properties_out.length)
        at += self.properties_out.length
        memcpy(at, b',"traits":', 10)
        at += 10
        memcpy(at, self.traits_out.data, self.traits_out.length)
        at += self.traits_out.length
        at[0] = b"}"
        out.length += n
        return 0

    # -- Top-level fields, as spans of the event's bytes or as objects (see _Scalar) --

    cdef inline bint _absent(self, Py_ssize_t field):
        """Whether the field is missing, null or empty (`not value` in the twin)."""
        if self.scalars[field].kind == _SPAN:
            return self.scalars[field].n == 0
        return not self.fields[field]

    cdef str _span_text(self, Py_ssize_t field):
        """The span's text, held as an object from now on."""
        cdef _Scalar* scalar = &self.scalars[field]
        text = PyUnicode_DecodeUTF8(<const char*>scalar.data, scalar.n, NULL)
        self.fields[field] = text
        scalar.kind = _OBJECT
        return text

    cdef Py_hash_t _span_hash(self, Py_ssize_t field) except? -1:
        """hash() of the span's text, for the rate windows (an ASCII str hashes its bytes)."""
        cdef _Scalar* scalar = &self.scalars[field]
        if scalar.ascii:
            return collector_hash_bytes(scalar.data, scalar.n)
        return hash(self._span_text(field))

    cdef inline int _check(self, str name, Py_ssize_t field) except -1:
        if self.scalars[field].kind == _SPAN:
            if self.scalars[field].chars > self.max_string:
                raise _Rejected("string_too_long",
                                f"{name} has {self.scalars[field].chars} characters")
            return 0
        return self._check_string(name, self.fields[field])

    cdef int _time(self, Py_ssize_t field, long long* ms) except -1:
        """1 with the time in ms when the field has one, 0 when it is absent, or _Rejected
        (twin: collector.timestamps.parse)."""
        cdef _Scalar* scalar = &self.scalars[field]
        if scalar.kind == _INTEGER:
            if not (_FIRST_MS <= scalar.integer <= _LATEST_MS):
                _parse_timestamp(scalar.integer)  # refuses it, in the twin's words
            ms[0] = scalar.integer
            return 1
        if scalar.kind == _SPAN:
            if _utc_ms_text(<const char*>scalar.data, scalar.n, ms):
                return 1
            value = self._span_text(field)
        else:
            value = self.fields[field]
            if value is None:
                return 0
        ms[0] = _parse_timestamp(value)
        return 1

    cdef inline int _as_id(self, Py_ssize_t field) except -1:
        # Ids: an empty one is absent, a number is its text.
        if self.scalars[field].kind == _SPAN:
            if self.scalars[field].n == 0:
                self.scalars[field].kind = _OBJECT
                self.fields[field] = None
            return 0
        value = self.fields[field]
        if value is not None and (type(value) is not str or len(<str>value) == 0):
            self.fields[field] = _identity(value)
        return 0

    cdef inline int _top_field(self, Py_ssize_t top, Py_ssize_t field, Py_hash_t h=0) except -1:
        """The PII rules on a top-level field (`top` indexes collector.pii._TOP_LEVEL). A
        span no rule changes stays a span; a span to tokenize is looked up by its bytes (h:
        their _token_hash when the caller has it, else 0)."""
        cdef _Scalar* scalar = &self.scalars[field]
        if scalar.kind == _SPAN:
            if self.top_actions[top] is None:
                if not self.top_scrub[top] or (
                        scalar.ascii and not _needs_scrub_check(scalar.data, scalar.n)):
                    return 0
            elif self.top_tokenized[top]:
                self.fields[field] = self._token_of(scalar.data, scalar.n, None, h)
                scalar.kind = _OBJECT
                return 0
            self._span_text(field)
        elif self.fields[field] is None:
            return 0  # absent: nothing for a rule to act on
        self.fields[field] = self._top(top, self.fields[field])
        return 0

    cdef int _key(self, Py_ssize_t field, Py_hash_t* h, Buffer* out,
                  Py_hash_t span_hash=0) except -1:
        """The field's UTF-8, as the record's key, appended to `out`; in h its text's
        hash() (span_hash, when the caller has it for the field's span, else 0)."""
        cdef _Scalar* scalar = &self.scalars[field]
        if scalar.kind == _SPAN:
            if scalar.ascii:
                h[0] = span_hash if span_hash else collector_hash_bytes(scalar.data, scalar.n)
                return _append(out, <const char*>scalar.data, scalar.n)
            self._span_text(field)
        value = self.fields[field]
        h[0] = hash(value)
        return _append_bytes(out, _utf8(value))

    cdef inline int _write(self, Buffer* buf, Py_ssize_t field) except -1:
        # A span is a plain string: its bytes are what msgspec would write.
        cdef _Scalar* scalar = &self.scalars[field]
        if scalar.kind == _SPAN:
            _reserve(buf, scalar.n + 2)
            buf.data[buf.length] = b'"'
            collector_copy(buf.data + buf.length + 1, <const char*>scalar.data, scalar.n)
            buf.data[buf.length + scalar.n + 1] = b'"'
            buf.length += scalar.n + 2
            return 0
        return _append_optional_str(buf, self.fields[field])

    # int and except -1 rather than void and except *: no PyErr_Occurred() after each call.
    cdef inline int _check_string(self, str field, object value) except -1:
        if type(value) is str and len(<str>value) > self.max_string:
            raise _Rejected("string_too_long", f"{field} has {len(<str>value)} characters")
        return 0

    cdef void _check_tree(self, str field, dict tree) except *:
        if len(tree) > self.max_properties:
            raise _Rejected(
                "too_many_properties",
                f"{field} has {len(tree)} keys; the limit is {self.max_properties}",
            )
        found = tree_violation(tree, field, 1, self.max_depth, self.max_string)
        if found is not None:
            raise _Rejected(*found)

    cdef object _verdict(self, object ip, bint webdriver, object user_agent,
                         bint has_anonymous_id, Py_hash_t anonymous_hash, object source,
                         long long now):
        # ip, webdriver and user_agent: what `context` holds once the collector's own
        # entries are in, before any PII rule; the anonymous id, by its text's hash().
        cdef bint over_ip = (not _is_text(source, "server") and type(ip) is str
                             and self.per_ip.hit(ip, now) > self.max_per_ip)
        cdef bint over_anonymous_id = has_anonymous_id and (
            self.per_anonymous_id.hit_hash(anonymous_hash, now) > self.max_per_anonymous_id
        )
        if webdriver:
            return WEBDRIVER
        if type(user_agent) is str and user_agent:
            verdict = self._user_agent_verdict(user_agent)
            if verdict is not None:
                return verdict
        elif _is_text(source, "web") and self.flag_missing_user_agent:
            return MISSING_USER_AGENT
        if over_ip:
            return RATE_IP
        if over_anonymous_id:
            return RATE_ANONYMOUS_ID
        return None

    cdef _Agent _user_agent(self, const unsigned char* data, Py_ssize_t n):
        """The user agent of these bytes, as one _Agent per user agent seen lately: most
        events come from a few dozen browsers, and what was made of one (its str, its hash,
        its verdict, its scrubbed text) is then made once rather than per event."""
        cdef size_t slot = 0
        cdef _Agent agent
        if n > 0:
            slot = (<size_t>n * 31 + data[n >> 1] * 7 + data[(n * 3) >> 2] + data[n - 1] * 131)
        slot &= _USER_AGENT_SLOTS - 1
        entry = self.user_agents[slot]
        if entry is not None:
            agent = <_Agent>entry
            if (PyBytes_GET_SIZE(agent.utf8) == n
                    and memcmp(PyBytes_AS_STRING(agent.utf8), data, n) == 0):
                return agent
        agent = _Agent.__new__(_Agent)
        agent.utf8 = PyBytes_FromStringAndSize(<const char*>data, n)
        agent.text = PyUnicode_DecodeUTF8(<const char*>data, n, NULL)
        agent.verdict = _UNJUDGED
        agent.entry = _UNJUDGED
        self.user_agents[slot] = agent
        return agent

    cdef str _library_name(self, const unsigned char* data, Py_ssize_t n):
        """The str of a library name's bytes (no escapes: _string_span's), one per name seen
        lately, so that its bytes are compared rather than decoded and hashed again for
        _cached_source: a site's events come from a few libraries."""
        if n == 0 or n > _LIBRARY_NAME_LIMIT:
            return PyUnicode_DecodeUTF8(<const char*>data, n, NULL)
        cdef size_t slot = (<size_t>n * 31 + data[0] * 7 + data[n - 1]) & (_LIBRARY_SLOTS - 1)
        entry = self.library_names[slot]
        if entry is not None:
            utf8 = (<tuple>entry)[0]
            if PyBytes_GET_SIZE(utf8) == n and memcmp(PyBytes_AS_STRING(utf8), data, n) == 0:
                return <str>(<tuple>entry)[1]
        name = PyUnicode_DecodeUTF8(<const char*>data, n, NULL)
        self.library_names[slot] = (PyBytes_FromStringAndSize(<const char*>data, n), name)
        return name

    cdef str _cached_source(self, object name):
        """_source_of_library, remembered by name: a site's events come from a few
        libraries, and the lower-casing and marker searches cost more than a lookup."""
        if type(name) is not str:
            return _source_of_library(name)
        cdef PyObject* cached = PyDict_GetItem(self.library_sources, name)
        if cached is not NULL:
            return <str>cached
        source = _source_of_library(name)
        _remember(self.library_sources, name, source, _LIBRARY_NAME_LIMIT, _CACHE_LIMIT)
        return source

    cdef object _user_agent_verdict(self, str user_agent):
        cdef _Agent agent = self.found_agent
        if agent is not None and agent.text is user_agent:
            if agent.verdict is _UNJUDGED:
                agent.verdict = self._judge_user_agent(user_agent)
            return agent.verdict
        return self._judge_user_agent(user_agent)

    cdef object _judge_user_agent(self, str user_agent):
        cdef PyObject* cached = PyDict_GetItem(self.verdicts, user_agent)
        if cached is not NULL:
            return <object>cached
        if self.automation_search(user_agent) is not None:
            verdict = AUTOMATION
        elif self.crawler_search(user_agent) is not None:
            verdict = CRAWLER
        else:
            verdict = None
        _remember(self.verdicts, user_agent, verdict, _CACHED_TEXT_LENGTH, _CACHE_LIMIT)
        return verdict

    cdef object _top(self, Py_ssize_t field, object value):
        # `field` indexes collector.pii._TOP_LEVEL; rules and scrubbing looked up once, at
        # start-up, in top_actions and top_scrub.
        if value is None:
            return None
        action = self.top_actions[field]
        if action is not None:
            result = self._act(action, value)
            return None if result is _DROP else result
        if self.top_scrub[field]:
            return _scrub(value)
        return value

    cdef void _walk(self, dict tree, tuple path, bint scrub) except *:
        # Iterating the dict itself: replacing a value keeps its keys, which the C API allows;
        # keys a rule drops are removed afterwards, where the twin removes them at once (the
        # resulting dict is the same).
        cdef Py_ssize_t position = 0
        cdef PyObject* k
        cdef PyObject* v
        cdef PyObject* found
        cdef list dropped = None
        cdef tuple here
        cdef object key, value, action, result
        cdef bint candidate
        while PyDict_Next(tree, &position, &k, &v):
            key = <object>k
            value = <object>v
            here = None
            candidate = scrub
            # Only keys some rule or scrub path names need the lookups below.
            if self.has_wildcard or PyDict_GetItem(self.notable, key) is not NULL:
                action = None
                found = PyDict_GetItem(self.by_name, key)
                if found is not NULL:
                    action = <object>found
                elif self.has_wildcard or PyDict_GetItem(self.by_path, key) is not NULL:
                    here = path + (key,)
                    action = self._rule_for(here)
                if action is not None:
                    result = self._act(action, value)
                    if result is _DROP:
                        if dropped is None:
                            dropped = []
                        dropped.append(key)
                    else:
                        PyDict_SetItem(tree, key, result)
                    continue
                if not candidate and PySet_Contains(self.scrub_last, key):
                    here = path + (key,)
                    candidate = PySet_Contains(self.scrub_paths, here)
            if type(value) is str:
                if candidate:
                    result = _scrub(value)
                    if result is not value:
                        PyDict_SetItem(tree, key, result)
            elif type(value) is dict:
                self._walk(value, here if here is not None else path + (key,), candidate)
            elif type(value) is list:
                here = here if here is not None else path + (key,)
                PyDict_SetItem(tree, key, self._descend(value, here, candidate))
        if dropped is not None:
            for key in dropped:
                del tree[key]

    cdef object _descend(self, object value, tuple path, bint scrub):
        if type(value) is str:
            return _scrub(value) if scrub else value
        if type(value) is dict:
            self._walk(value, path, scrub)
        elif type(value) is list:
            return [self._descend(item, path, scrub) for item in <list>value]
        return value


    # -- Trees as bytes (twins: msgspec decoding, tree_violation, _walk, msgspec encoding) --

    cdef int _plain_event(self, const unsigned char* data, Py_ssize_t n) except -1:
        """The event's top-level fields read from its bytes into `fields` and `scalars`, in
        the order astuple(TrackEvent) gives them, its three trees rewritten into the scratch
        buffers (properties as the client's bytes when they pass through); _FALL_BACK when
        the event is not plain."""
        cdef _Cursor c
        cdef int field, seen = 0
        cdef Py_ssize_t key_start, key_chars, start
        cdef bint ascii, integer
        cdef bint segment = self.segment
        cdef _Scalar* scalar
        cdef list fields = self.fields
        # One list for every event, emptied here: _one is done with the last event's. Only
        # the last event's spans and integers need their kind reset.
        collector_clear_list(fields)
        cdef uint32_t spanned = self.spanned
        while spanned:
            self.scalars[__builtin_ctz(spanned)].kind = _OBJECT
            spanned &= spanned - 1
        self.spanned = 0
        fields[_F_TYPE] = self.default_type if segment else "track"
        self._tree_missing(&self.properties_out, False)
        self._tree_missing(&self.traits_out, False)
        self._tree_missing(&self.context_out, True)
        self._forget_context()
        self.properties_keys = 0
        self.context_emitted = 0
        c.data = data
        c.pos = 0
        c.end = n
        c.depth_keys = 0
        _skip_space(&c)
        if c.pos >= c.end or c.data[c.pos] != 0x7B:
            return _FALL_BACK
        c.pos += 1
        _skip_space(&c)
        if c.pos < c.end and c.data[c.pos] == 0x7D:
            c.pos += 1
        else:
            while True:
                _skip_space(&c)
                if c.pos >= c.end or c.data[c.pos] != 0x22:
                    return _FALL_BACK
                if _string_span(&c, &key_start, &key_chars, &ascii) != _PLAIN:
                    return _FALL_BACK
                field = _field_of(c.data + key_start, c.pos - 1 - key_start, segment)
                if _colon(&c) != _PLAIN:
                    return _FALL_BACK
                if field >= 0:
                    # A repeated field: msgspec keeps the last; the decoded path decides.
                    if seen & (1 << field):
                        return _FALL_BACK
                    seen |= 1 << field
                if field == _F_PROPERTIES:
                    start = c.pos
                    if self._tree_at(&c, &self.properties_out, "properties",
                                     self.scrub_properties, False) != _PLAIN:
                        return _FALL_BACK
                    self.properties_keys = self.root_keys
                    if self.pass_properties and self.root_keys > 0:
                        self.properties_out.length = 0
                        _append(&self.properties_out, <const char*>c.data + start,
                                c.pos - start)
                elif field == _F_TRAITS:
                    if self._tree_at(&c, &self.traits_out, "traits", self.scrub_traits,
                                     False) != _PLAIN:
                        return _FALL_BACK
                elif field == _F_CONTEXT:
                    if self._tree_at(&c, &self.context_out, "context", self.scrub_context,
                                     True) != _PLAIN:
                        return _FALL_BACK
                    self.context_emitted = self.root_emitted
                elif field == _F_TYPE:
                    if segment and _literal(&c, b"null", 4):
                        pass  # Segment's type may be null: the route's type, as if absent.
                    else:
                        value = _plain_scalar(&c, field)
                        if value is _NOT_PLAIN:
                            return _FALL_BACK
                        fields[field] = value
                elif field >= 0 and c.data[c.pos] == 0x22:
                    scalar = &self.scalars[field]
                    if _string_span(&c, &start, &scalar.chars, &scalar.ascii) != _PLAIN:
                        return _FALL_BACK
                    scalar.kind = _SPAN
                    scalar.data = c.data + start
                    scalar.n = c.pos - 1 - start
                    self.spanned |= (<uint32_t>1) << field
                elif (field == _F_TIMESTAMP or field == _F_SENT_AT) and (
                        c.data[c.pos] == 0x2D or 0x30 <= c.data[c.pos] <= 0x39):
                    start = c.pos
                    if (_number_span(&c, &integer) != _PLAIN or not integer
                            or c.pos - start - (c.data[start] == 0x2D) > 18):
                        return _FALL_BACK
                    scalar = &self.scalars[field]
                    scalar.kind = _INTEGER
                    scalar.integer = _integer(c.data + start, c.pos - start)
                    self.spanned |= (<uint32_t>1) << field
                elif field >= 0:
                    value = _plain_scalar(&c, _F_EVENT if field == _F_NAME else field)
                    if value is _NOT_PLAIN:
                        return _FALL_BACK
                    if field != _F_NAME:
                        fields[field] = value
                else:
                    # A field TrackEvent does not have: msgspec checks it is JSON and
                    # skips it; so does this.
                    if _skip_json(&c) != _PLAIN:
                        return _FALL_BACK
                if self._next_member(&c) != _PLAIN:
                    return _FALL_BACK
                if c.data[c.pos - 1] == 0x7D:
                    break
        _skip_space(&c)
        if c.pos != c.end:
            return _FALL_BACK
        if self.scalars[_F_EVENT].kind == _OBJECT and fields[_F_EVENT] is None:
            self.scalars[_F_EVENT] = self.scalars[_F_NAME]
            self.spanned |= (<uint32_t>1) << _F_EVENT
        return _PLAIN

    cdef inline void _tree_missing(self, Buffer* out, bint context) noexcept:
        # An absent or null tree is an empty object (left open for context's own entries).
        out.data[0] = b"{"
        out.data[1] = b"}"
        out.length = 1 if context else 2

    cdef inline void _forget_context(self) noexcept:
        # What the last event's context held for the verdict and the source.
        self.found_ip_present = False
        self.found_user_agent_present = False
        self.found_webdriver = False
        self.found_ip = None
        self.found_user_agent = None
        self.found_agent = None
        self.found_user_agent_at = -1
        self.found_library_name = None
        self.deferred_user_agent = None

    cdef int _tree_at(self, _Cursor* c, Buffer* out, str root, bint scrub,
                      bint context) except -1:
        """The tree at the cursor (an object or null) rewritten into `out`; _FALL_BACK if it
        is not plain. `context` leaves the object open for the collector's own entries and
        records what the verdict and the source need."""
        cdef int result
        self._tree_missing(out, context)
        self.root_keys = 0
        self.root_emitted = 0
        if _literal(c, b"null", 4):
            return _PLAIN
        if c.data[c.pos] != 0x7B:
            return _FALL_BACK
        out.length = 0
        # Set anew for each tree, so a value left behind by an exception does no harm.
        self.capturing = context
        result = self._object(c, out, root, scrub, 1)
        self.capturing = False
        return result

    cdef int _object(self, _Cursor* c, Buffer* out, str root, bint scrub,
                     Py_ssize_t depth) except -1:
        cdef Py_ssize_t starts[_MAX_KEYS]
        cdef Py_ssize_t lengths[_MAX_KEYS]
        cdef Py_ssize_t keys = 0, emitted = 0, key_start, key_stop, key_chars, i
        cdef bint ascii, candidate
        cdef bint open_end = self.capturing and depth == 1
        cdef tuple here
        cdef Py_ssize_t notable
        cdef PyObject* policies
        if depth > self.max_depth or c.depth_keys >= _MAX_PATH:
            return _FALL_BACK
        c.pos += 1
        _append(out, b"{", 1)
        _skip_space(c)
        if c.pos < c.end and c.data[c.pos] == 0x7D:
            c.pos += 1
        else:
            while True:
                _skip_space(c)
                if c.pos >= c.end or c.data[c.pos] != 0x22:
                    return _FALL_BACK
                if _string_span(c, &key_start, &key_chars, &ascii) != _PLAIN:
                    return _FALL_BACK
                key_stop = c.pos - 1
                if key_chars > self.max_string or keys == _MAX_KEYS:
                    return _FALL_BACK
                for i in range(keys):
                    if (lengths[i] == key_stop - key_start and memcmp(
                            c.data + starts[i], c.data + key_start, key_stop - key_start) == 0):
                        return _FALL_BACK
                starts[keys] = key_start
                lengths[keys] = key_stop - key_start
                keys += 1
                if depth == 1 and keys > self.max_properties:
                    return _FALL_BACK
                if _colon(c) != _PLAIN:
                    return _FALL_BACK
                if self.capturing and self._capture(c, depth, key_start, key_stop) != _PLAIN:
                    return _FALL_BACK
                if (self.capturing and self.segment and depth == 1 and key_stop - key_start == 9
                        and memcmp(c.data + key_start, b"userAgent", 9) == 0):
                    # Segment's name for user_agent: renamed, and so moved after the client's
                    # other entries, unless the context has a user_agent too (left to the
                    # decoded path).
                    if self._defer_user_agent(c) != _PLAIN or self._next_member(c) != _PLAIN:
                        return _FALL_BACK
                    if c.data[c.pos - 1] == 0x7D:
                        break
                    continue
                candidate = scrub
                notable = self._notable(c.data + key_start, key_stop - key_start)
                if notable >= 0:
                    here = None
                    action = None
                    policies = (PyDict_GetItemWithError(self.root_policies, root)
                                if depth == 1 else NULL)
                    if policies is not NULL:
                        # Straight under the root: the policy worked out at start-up.
                        policy = (<tuple><object>policies)[notable]
                        action = (<tuple>policy)[0]
                        candidate = (<tuple>policy)[1]
                    else:
                        key = _text(c, key_start, key_stop)
                        found = PyDict_GetItem(self.by_name, key)
                        if found is not NULL:
                            action = <object>found
                        elif PyDict_GetItem(self.by_path, key) is not NULL:
                            here = self._path(c, root) + (key,)
                            action = self._rule_for(here)
                    if action is not None:
                        value = self._scalar(c)
                        if value is _NOT_PLAIN:
                            return _FALL_BACK
                        result = self._act(action, value)
                        if result is not _DROP:
                            _append_member(out, c.data, key_start, key_stop, emitted > 0)
                            _append_result(out, result)
                            emitted += 1
                        if self._next_member(c) != _PLAIN:
                            return _FALL_BACK
                        if c.data[c.pos - 1] == 0x7D:
                            break
                        continue
                    if (policies is NULL and not candidate
                            and PySet_Contains(self.scrub_last, key)):
                        if here is None:
                            here = self._path(c, root) + (key,)
                        candidate = PySet_Contains(self.scrub_paths, here)
                _append_member(out, c.data, key_start, key_stop, emitted > 0)
                emitted += 1
                c.key_start[c.depth_keys] = key_start
                c.key_stop[c.depth_keys] = key_stop
                c.depth_keys += 1
                if self._value(c, out, root, candidate, depth) != _PLAIN:
                    return _FALL_BACK
                c.depth_keys -= 1
                if self._next_member(c) != _PLAIN:
                    return _FALL_BACK
                if c.data[c.pos - 1] == 0x7D:
                    break
        if depth == 1:
            self.root_keys = keys
            self.root_emitted = emitted
        if open_end and self.deferred_user_agent is not None:
            self._append_agent_entry(out, self.deferred_user_agent)
        if not open_end:
            _append(out, b"}", 1)
        return _PLAIN

    cdef int _defer_user_agent(self, _Cursor* c) except -1:
        cdef Py_ssize_t start, chars
        cdef bint ascii
        # The limit on key lengths applies to the name it gets: user_agent, 10 characters.
        if self.found_user_agent_present or self.max_string < 10 or c.data[c.pos] != 0x22:
            return _FALL_BACK
        if _string_span(c, &start, &chars, &ascii) != _PLAIN or chars > self.max_string:
            return _FALL_BACK
        # The verdict takes what was made of it before; its entry is _append_agent_entry's.
        self.found_agent = self._user_agent(c.data + start, c.pos - 1 - start)
        self.deferred_user_agent = self.found_agent
        self.found_user_agent_present = True
        self.found_user_agent = self.found_agent.text
        return _PLAIN

    cdef int _next_member(self, _Cursor* c) except -1:
        # After a member: a comma (another member follows) or the closing brace.
        _skip_space(c)
        if c.pos < c.end and (c.data[c.pos] == 0x2C or c.data[c.pos] == 0x7D):
            c.pos += 1
            return _PLAIN
        return _FALL_BACK

    cdef int _array(self, _Cursor* c, Buffer* out, str root, bint scrub,
                    Py_ssize_t depth) except -1:
        if depth > self.max_depth:
            return _FALL_BACK
        c.pos += 1
        _append(out, b"[", 1)
        _skip_space(c)
        if c.pos < c.end and c.data[c.pos] == 0x5D:
            c.pos += 1
            _append(out, b"]", 1)
            return _PLAIN
        while True:
            _skip_space(c)
            if c.pos >= c.end or self._value(c, out, root, scrub, depth) != _PLAIN:
                return _FALL_BACK
            _skip_space(c)
            if c.pos >= c.end:
                return _FALL_BACK
            if c.data[c.pos] == 0x2C:
                _append(out, b",", 1)
            elif c.data[c.pos] == 0x5D:
                c.pos += 1
                _append(out, b"]", 1)
                return _PLAIN
            else:
                return _FALL_BACK
            c.pos += 1

    cdef int _value(self, _Cursor* c, Buffer* out, str root, bint scrub,
                    Py_ssize_t depth) except -1:
        """One value inside a container at `depth`, copied or rewritten into `out`."""
        cdef Py_ssize_t start, chars, at = c.pos
        cdef bint ascii, integer
        cdef _Agent agent
        cdef unsigned char b = c.data[c.pos]
        if b == 0x22 and at + 1 == self.found_user_agent_at:
            # context.user_agent, which _capture has read (and checked) already: its scrub is
            # kept on the _Agent, so it is made once per distinct user agent.
            agent = self.found_agent
            c.pos = self.found_user_agent_end
            if scrub:
                if agent.scrubbed is None:
                    agent.scrubbed = _scrub(agent.text)
                if agent.scrubbed is not agent.text:
                    _append_str(out, agent.scrubbed)
                    return _PLAIN
            _append(out, <const char*>c.data + at, c.pos - at)
            return _PLAIN
        if b == 0x22:
            if _string_span(c, &start, &chars, &ascii) != _PLAIN or chars > self.max_string:
                return _FALL_BACK
            if scrub and (not ascii or _needs_scrub_check(c.data + start, c.pos - 1 - start)):
                text = _text(c, start, c.pos - 1)
                scrubbed = _scrub(text)
                if scrubbed is not text:
                    _append_str(out, scrubbed)
                    return _PLAIN
            _append(out, <const char*>c.data + at, c.pos - at)
            return _PLAIN
        if b == 0x7B:
            return self._object(c, out, root, scrub, depth + 1)
        if b == 0x5B:
            return self._array(c, out, root, scrub, depth + 1)
        if _literal(c, b"true", 4) or _literal(c, b"false", 5) or _literal(c, b"null", 4):
            _append(out, <const char*>c.data + at, c.pos - at)
            return _PLAIN
        if _number_span(c, &integer) != _PLAIN:
            return _FALL_BACK
        if integer:
            # msgspec decodes -0 as the integer 0; past 18 digits leave it to msgspec.
            if c.pos - at - (c.data[at] == 0x2D) > 18:
                return _FALL_BACK
            if c.pos - at == 2 and c.data[at] == 0x2D and c.data[at + 1] == 0x30:
                _append(out, b"0", 1)
            else:
                _append(out, <const char*>c.data + at, c.pos - at)
            return _PLAIN
        number = float(PyBytes_FromStringAndSize(<const char*>c.data + at, c.pos - at))
        if not isfinite(number):
            return _FALL_BACK
        _append_bytes(out, _encode(number))
        return _PLAIN

    cdef object _scalar(self, _Cursor* c):
        """The value at the cursor as msgspec decodes it, for a rule to act on, or
        _NOT_PLAIN (objects, arrays, and what _value would not take either)."""
        cdef Py_ssize_t start, chars, at = c.pos
        cdef bint ascii, integer
        cdef unsigned char b = c.data[c.pos]
        if b == 0x22:
            if _string_span(c, &start, &chars, &ascii) != _PLAIN or chars > self.max_string:
                return _NOT_PLAIN
            return _text(c, start, c.pos - 1)
        if b == 0x7B or b == 0x5B:
            return _NOT_PLAIN
        if _literal(c, b"true", 4):
            return True
        if _literal(c, b"false", 5):
            return False
        if _literal(c, b"null", 4):
            return None
        if _number_span(c, &integer) != _PLAIN:
            return _NOT_PLAIN
        if integer:
            if c.pos - at - (c.data[at] == 0x2D) > 18:
                return _NOT_PLAIN
            return _small_integer(c.data + at, c.pos - at)
        number = float(PyBytes_FromStringAndSize(<const char*>c.data + at, c.pos - at))
        return number if isfinite(number) else _NOT_PLAIN

    cdef int _capture(self, _Cursor* c, Py_ssize_t depth, Py_ssize_t key_start,
                      Py_ssize_t key_stop) except -1:
        """What the verdict and the source read from `context`, before any rule: `ip`,
        `user_agent`, `webdriver` and `library.name`."""
        cdef Py_ssize_t n = key_stop - key_start, start, chars
        cdef const unsigned char* key = c.data + key_start
        cdef _Cursor peek
        cdef bint ascii
        cdef bint string = c.data[c.pos] == 0x22
        if n != 2 and n != 4 and n != 9 and n != 10:
            return _PLAIN
        # A look ahead at the value; the scan itself then goes on from c.
        peek.data = c.data
        peek.pos = c.pos
        peek.end = c.end
        if depth == 1:
            if n == 2 and memcmp(key, b"ip", 2) == 0:
                self.found_ip_present = True
                if string:
                    if _string_span(&peek, &start, &chars, &ascii) != _PLAIN:
                        return _FALL_BACK
                    self.found_ip = _text(&peek, start, peek.pos - 1)
            elif n == 10 and memcmp(key, b"user_agent", 10) == 0:
                if self.deferred_user_agent is not None:
                    return _FALL_BACK
                self.found_user_agent_present = True
                if string:
                    if (_string_span(&peek, &start, &chars, &ascii) != _PLAIN
                            or chars > self.max_string):
                        return _FALL_BACK
                    self.found_agent = self._user_agent(peek.data + start, peek.pos - 1 - start)
                    self.found_user_agent = self.found_agent.text
                    self.found_user_agent_at = start
                    self.found_user_agent_end = peek.pos
            elif n == 9 and memcmp(key, b"webdriver", 9) == 0:
                self.found_webdriver = (
                    _literal(&peek, b"true", 4) or _literal(&peek, b'"true"', 6))
        elif (depth == 2 and string and n == 4 and memcmp(key, b"name", 4) == 0
                and c.depth_keys == 1 and c.key_stop[0] - c.key_start[0] == 7
                and memcmp(c.data + c.key_start[0], b"library", 7) == 0):
            if _string_span(&peek, &start, &chars, &ascii) != _PLAIN:
                return _FALL_BACK
            self.found_library_name = self._library_name(peek.data + start, peek.pos - 1 - start)
        return _PLAIN

    cdef inline Py_ssize_t _notable(self, const unsigned char* key, Py_ssize_t n) noexcept:
        """The key's index in notable_utf8, or -1."""
        cdef Py_ssize_t i
        if not (self.notable_lengths >> min(n, 63)) & 1:
            return -1
        for i in range(self.notable_count):
            # Ends first: keys of one length mostly differ there (path, page, plan).
            if (self.notable_names[i].n == n and (n == 0 or (
                    <unsigned char>self.notable_names[i].data[0] == key[0]
                    and <unsigned char>self.notable_names[i].data[n - 1] == key[n - 1]))
                    and memcmp(self.notable_names[i].data, key, n) == 0):
                return i
        return -1

    cdef tuple _path(self, _Cursor* c, str root):
        cdef int i
        keys = [root]
        for i in range(c.depth_keys):
            keys.append(_text(c, c.key_start[i], c.key_stop[i]))
        return tuple(keys)

    cdef tuple _entry_policy(self, str root, bint scrub, str key):
        """(rule action or None, scrubbed?) for a key straight under a tree's root, as _walk
        would find them: the path is always (root, key), so this is worked out once, at
        start-up, for the entries the collector adds to `context` and for every notable key.
        `scrub`: whether the whole tree is scrubbed."""
        candidate = scrub
        if key in self.notable:
            action = self.by_name.get(key)
            if action is None and key in self.by_path:
                action = self._rule_for((root, key))
            if action is not None:
                return action, False
            if not candidate and key in self.scrub_last:
                candidate = (root, key) in self.scrub_paths
        return None, candidate

    cdef int _append_added(self, Buffer* out, _AddedEntry entry, str value) except -1:
        """An entry the collector adds to `context` (ip, user_agent), through the PII rules
        as _walk takes it. The value is mostly the request's (its address, its User-Agent
        header), the same str for all its events: rendered once, then copied."""
        cdef Py_ssize_t start
        if value is entry.value:
            if entry.rendered is not None:
                if self.root_emitted:
                    _append(out, b",", 1)
                self.root_emitted += 1
                _append_bytes(out, entry.rendered)
            return 0
        # A new value: rendered into `out` and kept.
        action, candidate = entry.policy
        result = self._act(action, value) if action is not None else None
        if action is not None and result is _DROP:
            entry.value, entry.rendered = value, None
            return 0
        if self.root_emitted:
            _append(out, b",", 1)
        self.root_emitted += 1
        start = out.length
        _append_str(out, entry.key)
        _append(out, b":", 1)
        if action is not None:
            _append_result(out, result)
        else:
            _append_str(out, _scrub(value) if candidate else value)
        entry.rendered = PyBytes_FromStringAndSize(out.data + start, out.length - start)
        entry.value = value
        return 0

    cdef int _append_agent_entry(self, Buffer* out, _Agent agent) except -1:
        """_append_added for the user agent an event names itself (Segment's
        context.userAgent, renamed): the events of a batch come from many browsers, so the
        rendering is kept on each one's _Agent rather than for the last value only."""
        if agent.entry is _UNJUDGED:
            self._append_added(out, self.user_agent_entry, agent.text)
            agent.entry = self.user_agent_entry.rendered
        elif agent.entry is not None:
            if self.root_emitted:
                _append(out, b",", 1)
            self.root_emitted += 1
            _append_bytes(out, <bytes>agent.entry)
        return 0

    cdef object _rule_for(self, tuple path):
        cdef Py_ssize_t n = len(path), i
        for candidates in (self.by_path.get(path[n - 1]), self.by_path.get("*")):
            if candidates is None:
                continue
            for pattern, action in candidates:
                if len(pattern) != n:
                    continue
                for i in range(n):
                    if pattern[i] != "*" and pattern[i] != path[i]:
                        break
                else:
                    return action
        return None

    cdef object _act(self, str action, object value):
        if value is None:
            return None
        if action == "drop":
            return _DROP
        if type(value) is list:
            results = [self._act(action, item) for item in <list>value]
            return [item for item in results if item is not _DROP]
        if action == "mask":
            return MASK
        if action == "truncate_ip":
            if type(value) is not str:
                return _DROP
            truncated = self.truncated.get(value, _DROP)
            if truncated is _DROP:
                truncated = _truncate_ip_twin(value)
                _remember(self.truncated, value, truncated, _ADDRESS_LIMIT, _CACHE_LIMIT)
            return _DROP if truncated is None else truncated
        if type(value) is str:
            text = value
        elif type(value) is dict:
            text = msgspec.json.encode(value, order="sorted").decode()
        else:
            text = _encode(value).decode()
        return self._token(text)

    cdef str _token(self, str value):
        if type(value) is str and PyUnicode_IS_ASCII(value):
            # An ASCII str's own bytes are its UTF-8.
            return self._token_of(<const unsigned char*>PyUnicode_DATA(value),
                                  PyUnicode_GET_LENGTH(value), None)
        utf8 = value.encode("utf-8", "surrogatepass")
        return self._token_of(<const unsigned char*>PyBytes_AS_STRING(utf8),
                              PyBytes_GET_SIZE(utf8), utf8)

    cdef str _token_of(self, const unsigned char* data, Py_ssize_t n, bytes utf8,
                       Py_hash_t h=0):
        """The token of the value whose UTF-8 is data[:n] (`utf8`, when the caller has it
        as bytes already; h, its _token_hash, when it has that), from the table or made and
        kept there."""
        if h == 0:
            h = _token_hash(data, n)
        token = self.tokens.get(data, n, h)
        if token is None:
            if utf8 is None:
                utf8 = PyBytes_FromStringAndSize(<const char*>data, n)
            token = _blake2b(utf8, key=self.secret_key, digest_size=16).hexdigest()
            self.tokens.put(utf8, h, token)
        return token

    cdef int _dead_letter(self, Records records, str topic, bytes raw, object rejection,
                          long long now) except -1:
        value = self.redact(raw).encode()[:_DLQ_VALUE_BYTES]
        headers = (
            ("tenant", self.tenant),
            ("original_bytes", str(len(raw)).encode()),
            ("error", rejection.reason.encode()),
            ("error_detail", _scrub(rejection.detail).encode()),
            ("received_at_ms", str(now).encode()),
        )
        cdef Py_ssize_t value_at = records.data.length
        _append_bytes(&records.data, value)
        return records.add(topic, headers, -1, 0, value_at)


cdef inline int _remember(dict cache, str key, object value, Py_ssize_t longest,
                          Py_ssize_t limit) except -1:
    """Keep value for key in one of the caches, unless key is longer than `longest`
    characters; a full cache (`limit` keys) starts over."""
    if len(key) <= longest:
        if len(cache) >= limit:
            cache.clear()
        cache[key] = value
    return 0


cdef inline bint _is_text(object value, str text) except -1:
    """value == text, deciding by identity or length where it can: for two different str
    objects Cython's == calls PyUnicode_Compare, which the per-event checks of a source or
    an event type against a constant need not pay."""
    if value is text:
        return True
    if type(value) is str and PyUnicode_GET_LENGTH(value) != PyUnicode_GET_LENGTH(text):
        return False
    return value == text


cdef inline bytes _utf8(str text):
    """text.encode("utf-8", "surrogatepass"), with no method call when it is ASCII."""
    if type(text) is str and PyUnicode_IS_ASCII(text):
        return PyBytes_FromStringAndSize(PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text))
    return PyUnicode_AsEncodedString(text, "utf-8", "surrogatepass")


cdef inline object _identity(object value):
    if value is None or (type(value) is str and len(<str>value) == 0):
        return None
    return value if type(value) is str else str(value)


cdef str _source_of(dict context):
    """Twin of collector.normalize.source_of."""
    library = context.get("library")
    return _source_of_library(library.get("name") if type(library) is dict else None)


cdef str _source_of_library(object name):
    # `name`: context.library.name, whatever the client put there.
    if type(name) is str:
        name = name.lower()
        for marker in _SERVER_LIBRARIES:
            if marker in name:
                return "server"
        for marker in _MOBILE_LIBRARIES:
            if marker in name:
                return "mobile"
    return "web"


cdef dict _scrubbed = {}


cdef str _scrub(str text):
    """Twin of collector.pii.scrub_text."""
    return _scrub_cached(text) if _may_hold_pii(text) else text


cdef bint _may_hold_pii(str text):
    """Twin of collector.pii.may_hold_pii, on the characters (collector_scrub_candidate is
    the same on ASCII bytes)."""
    cdef Py_UCS4 c
    cdef int digits = 0, dots = 0, colons = 0
    for c in text:
        if c == u"@" or c == u"%":
            return True
        if (u"0" <= c <= u"9") or (c > 127 and c.isdecimal()):
            digits += 1
        elif c == u".":
            dots += 1
        elif c == u":":
            colons += 1
    return colons >= 2 or digits >= 9 or (digits >= 4 and dots >= 3)


def may_hold_pii(object text):
    """The scrub's pre-check as the hot path makes it, on a str or on ASCII bytes (the
    byte scanners'): for tests, which compare it with collector.pii.may_hold_pii."""
    if type(text) is bytes:
        return collector_scrub_candidate(<const unsigned char*>PyBytes_AS_STRING(text),
                                         PyBytes_GET_SIZE(text))
    return _may_hold_pii(<str?>text)


cdef str _scrub_cached(str text):
    # The same strings come back all the time (user agents, page URLs, titles), and the
    # regex with its Python callback costs about a microsecond a string. Long strings are
    # not kept, so the cache stays within about 30 MB.
    cdef PyObject* cached = PyDict_GetItem(_scrubbed, text)
    if cached is not NULL:
        return <str>cached
    result = _FREE_TEXT.sub(_replacement, text)
    _remember(_scrubbed, text, result, _SCRUB_CACHE_LENGTH, _SCRUB_CACHE_LIMIT)
    return result
