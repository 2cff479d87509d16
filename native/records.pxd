# native/records.h for Cython: the layout of a batch of records in one buffer, shared by the
# native pipeline (hotpath.pyx, which makes it) and the native producer (producer.pyx).
from cpython.object cimport PyObject


cdef extern from "records.h":
    const char* COLLECTOR_RECORDS_CAPSULE
    ctypedef struct collector_record_span:
        PyObject* topic
        PyObject* headers
        Py_ssize_t key_at
        Py_ssize_t key_n
        Py_ssize_t value_at
        Py_ssize_t value_n
    ctypedef struct collector_records_view:
        const char* data
        const collector_record_span* spans
        Py_ssize_t count
