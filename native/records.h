/* A batch of Kafka records laid out in one buffer: what the native pipeline
   (collector._hotpath.Records) makes and the native producer (collector._producer) hands to
   librdkafka as it is, with no Python object per record. The producer finds the layout
   through a capsule named COLLECTOR_RECORDS_CAPSULE (Records._view()). */
#ifndef COLLECTOR_RECORDS_H
#define COLLECTOR_RECORDS_H

#include <Python.h>

#define COLLECTOR_RECORDS_CAPSULE "collector._hotpath.Records"

typedef struct {
    PyObject *topic;      /* a str; the batch holds a reference */
    PyObject *headers;    /* a tuple of (str, bytes) pairs; a reference too */
    Py_ssize_t key_at;    /* where the key starts in the batch's bytes; -1: no key */
    Py_ssize_t key_n;
    Py_ssize_t value_at;
    Py_ssize_t value_n;
} collector_record_span;

typedef struct {
    const char *data;
    const collector_record_span *spans;
    Py_ssize_t count;
} collector_records_view;

#endif
