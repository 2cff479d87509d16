/* What zstd costs per record as librdkafka calls it, by the number of records in a set.
 *
 * librdkafka (2.x, linked against the system libzstd) compresses each message set with a
 * zstd stream it creates for that set and frees after it, without telling zstd the set's
 * size. This times that way against one stream kept and re-initialised per set (the same
 * calls but the creation and the freeing, the size still untold), at the given level, on
 * sets of the given numbers of records read from the file bench/zstd_sets.py writes (each
 * record: a 4-byte little-endian length, then its key, value and header bytes). Prints, as
 * JSON, CPU microseconds per record (the process's, from getrusage, read once per pass over
 * all sets) and the compression ratio for each set size.
 *
 *   cc -O2 -o zstd_sets zstd_sets.c -l:libzstd.so.1 && ./zstd_sets records.bin 1 2.0 1 6 137
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* zstd's stable streaming API, declared here: the machine has libzstd but not its headers
   (libzstd-dev), and these declarations have not changed since zstd 1.0. */
typedef struct ZSTD_CCtx_s ZSTD_CStream;
typedef struct { void *dst; size_t size; size_t pos; } ZSTD_outBuffer;
typedef struct { const void *src; size_t size; size_t pos; } ZSTD_inBuffer;
ZSTD_CStream *ZSTD_createCStream(void);
size_t ZSTD_freeCStream(ZSTD_CStream *stream);
size_t ZSTD_initCStream(ZSTD_CStream *stream, int level);
size_t ZSTD_compressStream(ZSTD_CStream *stream, ZSTD_outBuffer *out, ZSTD_inBuffer *in);
size_t ZSTD_endStream(ZSTD_CStream *stream, ZSTD_outBuffer *out);
size_t ZSTD_compressBound(size_t size);
unsigned ZSTD_isError(size_t code);

static double cpu_seconds(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec +
           u.ru_stime.tv_usec / 1e6;
}

static void fail(const char *what) {
    fprintf(stderr, "zstd_sets: %s\n", what);
    exit(1);
}

/* One set through `stream` (a new one when NULL, freed after); its compressed size. */
static size_t compress_set(ZSTD_CStream *stream, int level, const char *set, size_t n,
                           char *out, size_t capacity) {
    ZSTD_CStream *own = stream ? NULL : ZSTD_createCStream();
    ZSTD_CStream *used = stream ? stream : own;
    ZSTD_inBuffer in = {set, n, 0};
    ZSTD_outBuffer result = {out, capacity, 0};
    if (used == NULL) fail("no stream");
    if (ZSTD_isError(ZSTD_initCStream(used, level))) fail("init");
    if (ZSTD_isError(ZSTD_compressStream(used, &result, &in)) || in.pos != n) fail("compress");
    if (ZSTD_endStream(used, &result) != 0) fail("end");
    if (own) ZSTD_freeCStream(own);
    return result.pos;
}

/* CPU µs per record over all sets, cycled for at least `seconds`. */
static double time_sets(ZSTD_CStream *stream, int level, char **sets, size_t *lengths,
                        int count, int size, char *out, size_t capacity, double seconds) {
    double started = cpu_seconds(), elapsed;
    long records = 0;
    do {
        for (int i = 0; i < count; i++)
            compress_set(stream, level, sets[i], lengths[i], out, capacity);
        records += (long)count * size;
        elapsed = cpu_seconds() - started;
    } while (elapsed < seconds);
    return elapsed / records * 1e6;
}

int main(int argc, char **argv) {
    if (argc < 5) fail("usage: zstd_sets records.bin level seconds size...");
    FILE *file = fopen(argv[1], "rb");
    if (!file) fail("cannot open the records");
    fseek(file, 0, SEEK_END);
    long total = ftell(file);
    fseek(file, 0, SEEK_SET);
    char *data = malloc((size_t)total);
    if (!data || fread(data, 1, (size_t)total, file) != (size_t)total) fail("cannot read");
    fclose(file);
    int level = atoi(argv[2]);
    double seconds = atof(argv[3]);

    int n = 0;
    for (long at = 0; at + 4 <= total; n++) {
        uint32_t length;
        memcpy(&length, data + at, 4);
        at += 4 + length;
    }
    const char **records = malloc(n * sizeof *records);
    size_t *record_lengths = malloc(n * sizeof *record_lengths);
    long at = 0;
    for (int i = 0; i < n; i++) {
        uint32_t length;
        memcpy(&length, data + at, 4);
        records[i] = data + at + 4;
        record_lengths[i] = length;
        at += 4 + length;
    }

    ZSTD_CStream *kept = ZSTD_createCStream();
    if (!kept) fail("no stream");
    printf("{\"level\": %d, \"records\": %d", level, n);
    for (int a = 4; a < argc; a++) {
        int size = atoi(argv[a]);
        /* As many sets as there are records, each the next `size` records, cycling. */
        int count = (n + size - 1) / size;
        char **sets = malloc(count * sizeof *sets);
        size_t *lengths = malloc(count * sizeof *lengths), longest = 0, plain = 0, packed = 0;
        for (int s = 0; s < count; s++) {
            size_t length = 0;
            for (int k = 0; k < size; k++) length += record_lengths[(s * size + k) % n];
            sets[s] = malloc(length);
            lengths[s] = 0;
            for (int k = 0; k < size; k++) {
                int r = (s * size + k) % n;
                memcpy(sets[s] + lengths[s], records[r], record_lengths[r]);
                lengths[s] += record_lengths[r];
            }
            if (length > longest) longest = length;
        }
        size_t capacity = ZSTD_compressBound(longest);
        char *out = malloc(capacity);
        for (int s = 0; s < count; s++) {
            plain += lengths[s];
            packed += compress_set(kept, level, sets[s], lengths[s], out, capacity);
        }
        double fresh = time_sets(NULL, level, sets, lengths, count, size, out, capacity, seconds);
        double reused = time_sets(kept, level, sets, lengths, count, size, out, capacity, seconds);
        printf(", \"set_%d\": {\"stream_per_set_us_per_record\": %.3f, "
               "\"kept_stream_us_per_record\": %.3f, \"ratio\": %.1f}",
               size, fresh, reused, (double)plain / packed);
        for (int s = 0; s < count; s++) free(sets[s]);
        free(sets);
        free(lengths);
        free(out);
    }
    printf("}\n");
    ZSTD_freeCStream(kept);
    return 0;
}
