# A Kafka producer owned by this module, on librdkafka's C API: records handed over without a
# Python call per record, delivery reports counted in C, one report per request.
#
# Its Python twin, with the same interface and the same contract, is
# collector/sinks/producer.py (confluent-kafka's Producer underneath); the sink in
# collector/sinks/kafka.py drives either, and tests/integration/test_producer.py runs the same
# tests against both. What makes this one cheaper, measured by bench/produce.py:
# - no Python call per record, neither to produce nor for its delivery report;
# - values are not copied: librdkafka points at the records' bytes, which this module keeps
#   alive until the last report of their request;
# - the native pipeline's batches (collector._hotpath.Records) are read from their one
#   buffer (native/records.h), with no Python object per record;
# - a request's reports are counted in a C struct; only a finished request costs Python work.

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.object cimport PyObject
from cpython.pycapsule cimport PyCapsule_GetPointer
from cpython.ref cimport Py_DECREF, Py_INCREF
from cpython.tuple cimport PyTuple_Check, PyTuple_GET_SIZE
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.stdlib cimport free, malloc, realloc
from posix.unistd cimport close

from records cimport (
    COLLECTOR_RECORDS_CAPSULE, collector_record_span, collector_records_view,
)

import os

from collector.sinks.producer import Refused

try:
    from collector._hotpath import Records as _Records
except ImportError:  # the native pipeline not built: records come as tuples only
    _Records = None


cdef extern from "librdkafka/rdkafka.h" nogil:
    ctypedef struct rd_kafka_t
    ctypedef struct rd_kafka_conf_t
    ctypedef struct rd_kafka_topic_t
    ctypedef struct rd_kafka_headers_t
    ctypedef struct rd_kafka_queue_t
    ctypedef enum rd_kafka_resp_err_t:
        RD_KAFKA_RESP_ERR_NO_ERROR
        RD_KAFKA_RESP_ERR__QUEUE_FULL
    ctypedef enum rd_kafka_type_t:
        RD_KAFKA_PRODUCER
    ctypedef enum rd_kafka_conf_res_t:
        RD_KAFKA_CONF_OK
    ctypedef struct rd_kafka_message_t:
        rd_kafka_resp_err_t err
        void* _private
    ctypedef struct rd_kafka_metadata_t:
        int broker_cnt

    const char* rd_kafka_err2str(rd_kafka_resp_err_t err)
    rd_kafka_conf_t* rd_kafka_conf_new()
    void rd_kafka_conf_destroy(rd_kafka_conf_t* conf)
    rd_kafka_conf_res_t rd_kafka_conf_set(
        rd_kafka_conf_t* conf, const char* name, const char* value, char* errstr, size_t size
    )
    void rd_kafka_conf_set_opaque(rd_kafka_conf_t* conf, void* opaque)
    void rd_kafka_conf_set_dr_msg_cb(
        rd_kafka_conf_t* conf,
        void (*cb)(rd_kafka_t* rk, const rd_kafka_message_t* message, void* opaque) noexcept nogil,
    )
    rd_kafka_t* rd_kafka_new(
        rd_kafka_type_t type, rd_kafka_conf_t* conf, char* errstr, size_t size
    )
    void rd_kafka_destroy(rd_kafka_t* rk)
    rd_kafka_topic_t* rd_kafka_topic_new(rd_kafka_t* rk, const char* topic, void* conf)
    void rd_kafka_topic_destroy(rd_kafka_topic_t* rkt)
    rd_kafka_resp_err_t rd_kafka_last_error()
    rd_kafka_headers_t* rd_kafka_headers_new(size_t initial_count)
    void rd_kafka_headers_destroy(rd_kafka_headers_t* headers)
    rd_kafka_resp_err_t rd_kafka_header_add(
        rd_kafka_headers_t* headers, const char* name, Py_ssize_t name_size,
        const void* value, Py_ssize_t value_size
    )
    int rd_kafka_poll(rd_kafka_t* rk, int timeout_ms)
    rd_kafka_resp_err_t rd_kafka_flush(rd_kafka_t* rk, int timeout_ms)
    int rd_kafka_outq_len(rd_kafka_t* rk)
    rd_kafka_resp_err_t rd_kafka_metadata(
        rd_kafka_t* rk, int all_topics, rd_kafka_topic_t* only_topic,
        const rd_kafka_metadata_t** metadata, int timeout_ms
    )
    void rd_kafka_metadata_destroy(const rd_kafka_metadata_t* metadata)
    rd_kafka_queue_t* rd_kafka_queue_get_main(rd_kafka_t* rk)
    void rd_kafka_queue_destroy(rd_kafka_queue_t* rkqu)
    void rd_kafka_queue_io_event_enable(
        rd_kafka_queue_t* rkqu, int fd, const void* payload, size_t size
    )


cdef extern from *:
    """
    /* RD_KAFKA_V_* are variadic macros, which Cython cannot call. The value is not copied
       (no RD_KAFKA_MSG_F_COPY): the caller keeps it alive until the delivery report. */
    static rd_kafka_resp_err_t collector_produce(
            rd_kafka_t *rk, rd_kafka_topic_t *rkt, const void *key, size_t key_size,
            void *value, size_t value_size, rd_kafka_headers_t *headers, void *opaque) {
        return rd_kafka_producev(
            rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_KEY(key, key_size),
            RD_KAFKA_V_VALUE(value, value_size), RD_KAFKA_V_MSGFLAGS(0),
            RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    }
    /* `send` and whichever thread serves reports (the event loop, or flush's) both count a
       request down. */
    static long collector_count_down(long *counter, long n) {
        return __atomic_sub_fetch(counter, n, __ATOMIC_ACQ_REL);
    }
    """
    rd_kafka_resp_err_t collector_produce(
        rd_kafka_t* rk, rd_kafka_topic_t* rkt, const void* key, size_t key_size,
        void* value, size_t value_size, rd_kafka_headers_t* headers, void* opaque
    ) nogil
    long collector_count_down(long* counter, long n) nogil


cdef struct Request:
    # Reports still due, plus one held by `send` until every record is handed over: whoever
    # counts it to zero finishes the request, so it finishes exactly once.
    long pending
    # Written only by the thread serving reports, read once `pending` is zero.
    long failed
    rd_kafka_resp_err_t error
    PyObject* token
    # The records, whose value bytes librdkafka reads until their reports.
    PyObject* records


cdef struct Finished:
    # Requests whose last report came in during one poll; only the polling thread touches it.
    Request** items
    size_t count
    size_t capacity
    bint out_of_memory


cdef void _on_delivery(rd_kafka_t* rk, const rd_kafka_message_t* message, void* opaque) noexcept nogil:
    cdef Request* request = <Request*>message._private
    cdef Finished* finished = <Finished*>opaque
    cdef Request** grown
    if message.err:
        if not request.failed:
            request.error = message.err
        request.failed += 1
    if collector_count_down(&request.pending, 1) != 0:
        return
    if finished.count == finished.capacity:
        grown = <Request**>realloc(finished.items, (finished.capacity * 2 + 64) * sizeof(Request*))
        if grown == NULL:
            # Cannot happen in practice; the request is then never answered by a report and
            # its sender times out (503), which keeps the contract.
            finished.out_of_memory = True
            return
        finished.items = grown
        finished.capacity = finished.capacity * 2 + 64
    finished.items[finished.count] = request
    finished.count += 1


cdef object _report(Request* request):
    """(token, failed, error text or None) of a finished request, which is then freed."""
    token = <object>request.token
    error = rd_kafka_err2str(request.error).decode() if request.failed else None
    result = (token, request.failed, error)
    Py_DECREF(token)
    Py_DECREF(<object>request.records)
    free(request)
    return result


cdef rd_kafka_headers_t* _headers(object record_headers) except NULL:
    """A record's headers as librdkafka's list (which the produce call then owns)."""
    cdef const char* name
    cdef Py_ssize_t name_size
    # A list of (name, value) pairs too, as the twin takes; the pipeline's are a tuple.
    if type(record_headers) is not tuple:
        record_headers = tuple(record_headers)
    cdef rd_kafka_headers_t* headers = rd_kafka_headers_new(len(record_headers))
    try:
        for header_name, header_value in <tuple>record_headers:
            name = PyUnicode_AsUTF8AndSize(header_name, &name_size)
            rd_kafka_header_add(
                headers, name, name_size, PyBytes_AS_STRING(<bytes?>header_value),
                PyBytes_GET_SIZE(header_value),
            )
    except BaseException:
        rd_kafka_headers_destroy(headers)
        raise
    return headers


# Its fields hold no references that could make a cycle, and __dealloc__ needs `topics` to
# destroy the topic handles before the producer: the collector must not clear it first.
@cython.no_gc_clear
cdef class Producer:
    """A Kafka producer: `send` a request's records, `poll` for finished requests.

    Interface and behaviour are those of collector.sinks.producer.Producer, its twin.
    """

    cdef rd_kafka_t* rk
    cdef Finished finished
    cdef dict topics
    cdef object last_topic
    cdef rd_kafka_topic_t* last_handle
    # The queue librdkafka puts reports on, and the pipe it signals: see reports_fd.
    cdef rd_kafka_queue_t* reports
    cdef int reports_read
    cdef int reports_write

    def __cinit__(self, dict config):
        cdef char error[512]
        self.reports_read = self.reports_write = -1
        cdef rd_kafka_conf_t* conf = rd_kafka_conf_new()
        self.topics = {}
        # Not None, which _topic would then take for the last topic, with no handle yet.
        self.last_topic = object()
        for name, value in config.items():
            if rd_kafka_conf_set(conf, name.encode(), str(value).encode(), error, sizeof(error)) != RD_KAFKA_CONF_OK:
                rd_kafka_conf_destroy(conf)
                raise ValueError(f"Kafka producer setting {name}: {error.decode()}")
        rd_kafka_conf_set_opaque(conf, &self.finished)
        rd_kafka_conf_set_dr_msg_cb(conf, _on_delivery)
        self.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof(error))
        if self.rk == NULL:
            rd_kafka_conf_destroy(conf)
            raise ValueError(f"Kafka producer: {error.decode()}")

    def __dealloc__(self):
        # Only at exit: requests still in flight then are not reported, and their memory goes
        # with the process.
        if self.rk != NULL:
            if self.reports != NULL:
                rd_kafka_queue_io_event_enable(self.reports, -1, NULL, 0)
                rd_kafka_queue_destroy(self.reports)
            for handle in self.topics.values():
                rd_kafka_topic_destroy(<rd_kafka_topic_t*><size_t>handle)
            rd_kafka_destroy(self.rk)
        free(self.finished.items)
        # librdkafka writes to the pipe under its queue's lock, so none of its threads can
        # after the signal was turned off above; closing only after it is gone costs nothing.
        if self.reports_read >= 0:
            close(self.reports_read)
            close(self.reports_write)

    def reports_fd(self):
        """A file descriptor that turns readable when delivery reports are waiting: read it
        empty, then `poll(0)`.

        librdkafka writes to it when its queue of reports stops being empty, so an event
        loop can serve the reports on its own thread, with no thread to wake in between.
        Made on the first call; until then reports wait for `poll` alone.
        """
        if self.reports == NULL:
            # The reader drains it without blocking; a full pipe already signals all it
            # can, so librdkafka's write may fail rather than stall its broker thread.
            self.reports_read, self.reports_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            self.reports = rd_kafka_queue_get_main(self.rk)
            rd_kafka_queue_io_event_enable(self.reports, self.reports_write, b"1", 1)
            # librdkafka signals only once its queue has been served since the last signal
            # (and 2.0's first signal can wait for a first serve): the reader's first serve
            # is asked for here, which also takes whatever was queued before.
            os.write(self.reports_write, b"1")
        return self.reports_read

    cdef rd_kafka_topic_t* _topic(self, str topic) except NULL:
        if topic is self.last_topic:
            return self.last_handle
        handle = self.topics.get(topic)
        cdef rd_kafka_topic_t* rkt
        if handle is None:
            rkt = rd_kafka_topic_new(self.rk, topic.encode(), NULL)
            if rkt == NULL:
                raise Refused(f"topic {topic!r}: {rd_kafka_err2str(rd_kafka_last_error()).decode()}")
            self.topics[topic] = <size_t>rkt
        else:
            rkt = <rd_kafka_topic_t*><size_t>handle
        self.last_topic = topic
        self.last_handle = rkt
        return rkt

    def send(self, records, object token):
        """Hand every record to librdkafka; their reports come back from `poll` with `token`.

        `records` is a sequence of (topic, key, value, headers) tuples, or the native
        pipeline's Records, read straight from its buffer. Returns None while reports are
        due, or the report tuple itself when they all came back already. Raises BufferError
        when librdkafka's queue is full and Refused when it refuses a record; records handed
        over before that may still be delivered, and their reports are then dropped.
        """
        cdef const collector_records_view* batch = NULL
        if _Records is not None and type(records) is _Records:
            items = records
            batch = <const collector_records_view*>PyCapsule_GetPointer(
                records._view(), COLLECTOR_RECORDS_CAPSULE)
        else:
            items = records if type(records) is list else list(records)
        cdef Py_ssize_t count = len(items), index = 0
        cdef const collector_record_span* span
        cdef tuple record
        cdef Request* request = <Request*>malloc(sizeof(Request))
        cdef rd_kafka_headers_t* headers
        cdef rd_kafka_topic_t* rkt
        cdef rd_kafka_resp_err_t err
        cdef const char* key_data
        cdef const char* value_data
        cdef Py_ssize_t key_size, value_size
        if request == NULL:
            raise MemoryError()
        request.pending = count + 1
        request.failed = 0
        request.error = RD_KAFKA_RESP_ERR_NO_ERROR
        request.token = <PyObject*>token
        request.records = <PyObject*>items
        Py_INCREF(token)
        Py_INCREF(items)
        try:
            while index < count:
                if batch is not NULL:
                    span = &batch.spans[index]
                    topic = <object>span.topic
                    record_headers = <object>span.headers
                    if span.key_at < 0:
                        key_data, key_size = NULL, 0
                    else:
                        key_data, key_size = batch.data + span.key_at, span.key_n
                    value_data = batch.data + span.value_at
                    value_size = span.value_n
                else:
                    # Indexed rather than unpacked: unpacking a tuple subtype (Record) goes
                    # through the iterator protocol.
                    item = (<list>items)[index]
                    if not PyTuple_Check(item) or PyTuple_GET_SIZE(item) != 4:
                        raise TypeError("a record is a (topic, key, value, headers) tuple")
                    record = <tuple>item
                    topic, key, value, record_headers = record[0], record[1], record[2], record[3]
                    if key is None:
                        key_data, key_size = NULL, 0
                    else:
                        key_data, key_size = PyBytes_AS_STRING(<bytes?>key), PyBytes_GET_SIZE(key)
                    value_data = PyBytes_AS_STRING(<bytes?>value)
                    value_size = PyBytes_GET_SIZE(value)
                # The topic first: a headers list made before it raised would leak.
                rkt = self._topic(topic)
                headers = _headers(record_headers)
                err = collector_produce(
                    self.rk, rkt, key_data, key_size, <void*>value_data, value_size, headers,
                    request,
                )
                if err:
                    rd_kafka_headers_destroy(headers)
                    if err == RD_KAFKA_RESP_ERR__QUEUE_FULL:
                        raise BufferError("librdkafka's queue is full")
                    raise Refused(rd_kafka_err2str(err).decode())
                index += 1
        except BaseException:
            # The records not handed over will never be reported, nor will this request.
            if collector_count_down(&request.pending, count - index + 1) == 0:
                _report(request)
            raise
        if collector_count_down(&request.pending, 1) == 0:
            return _report(request)
        return None

    def poll(self, double timeout_s):
        """Serve delivery reports for up to `timeout_s`; the requests they finished."""
        with nogil:
            rd_kafka_poll(self.rk, <int>(timeout_s * 1000))
        return self._take_finished()

    cdef list _take_finished(self):
        # One at a time, and counted off before it is freed: an exception halfway (out of
        # memory) must not leave a freed request in the list.
        reports = []
        cdef Request* request
        while self.finished.count:
            self.finished.count -= 1
            request = self.finished.items[self.finished.count]
            reports.append(_report(request))
        reports.reverse()
        if self.finished.out_of_memory:
            self.finished.out_of_memory = False
            raise MemoryError("delivery reports lost: out of memory")
        return reports

    def flush(self, double timeout_s):
        """Wait up to `timeout_s` for every record to be delivered; how many remain.

        Reports served meanwhile are dropped: this is for shutdown, when no one waits.
        """
        with nogil:
            rd_kafka_flush(self.rk, <int>(timeout_s * 1000))
        self._take_finished()
        return rd_kafka_outq_len(self.rk)

    def has_brokers(self, double timeout_s):
        """Whether broker metadata comes back within `timeout_s` (blocking)."""
        cdef const rd_kafka_metadata_t* metadata
        cdef rd_kafka_resp_err_t err
        cdef int brokers
        with nogil:
            err = rd_kafka_metadata(self.rk, 0, NULL, &metadata, <int>(timeout_s * 1000))
        if err:
            return False
        brokers = metadata.broker_cnt
        rd_kafka_metadata_destroy(metadata)
        return brokers > 0

    def __len__(self):
        """Records handed over and not yet reported."""
        return rd_kafka_outq_len(self.rk)
