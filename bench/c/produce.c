/* Cost per record of librdkafka's C API, for comparison with confluent-kafka's produce().
 *
 * Reads the records bench/produce.py wrote (topic-less: key, value, headers), produces them
 * with rd_kafka_producev (key, value and headers, per-record delivery reports counted in C),
 * and prints CPU microseconds per record for the hand-over alone and for everything until
 * the last delivery report (all threads of the process), as JSON.
 *
 *   cc -O2 -o produce produce.c -lrdkafka && ./produce records.bin bootstrap topic level
 */
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static long delivered, failed;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk; (void)opaque;
    delivered++;
    if (m->err) failed++;
}

static double cpu_seconds(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
}

static uint32_t read_u32(const unsigned char **p) {
    uint32_t v = (uint32_t)(*p)[0] << 24 | (uint32_t)(*p)[1] << 16 | (uint32_t)(*p)[2] << 8 | (*p)[3];
    *p += 4;
    return v;
}

static void set(rd_kafka_conf_t *conf, const char *name, const char *value) {
    char error[512];
    if (rd_kafka_conf_set(conf, name, value, error, sizeof error) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "%s: %s\n", name, error);
        exit(2);
    }
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: produce records.bin bootstrap topic level\n"); return 2; }
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 2; }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = malloc(size);
    if (fread(data, 1, size, f) != (size_t)size) { perror("read"); return 2; }
    fclose(f);

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", argv[2]);
    set(conf, "acks", "all");
    set(conf, "enable.idempotence", "true");
    set(conf, "compression.type", "zstd");
    set(conf, "compression.level", argv[4]);
    set(conf, "linger.ms", "5");
    set(conf, "batch.size", "1000000");
    set(conf, "batch.num.messages", "10000");
    set(conf, "queue.buffering.max.messages", "1000000");
    set(conf, "queue.buffering.max.kbytes", "1048576");
    set(conf, "partitioner", "murmur2_random");
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    char error[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
    if (!rk) { fprintf(stderr, "%s\n", error); return 2; }

    /* Format: u32 count, then per record: u32 key length (0xFFFFFFFF: none), key,
       u32 value length, value, u32 header count, per header: u32 name length, name,
       u32 value length, value. */
    const unsigned char *p = data;
    uint32_t count = read_u32(&p);
    double started = cpu_seconds();
    for (uint32_t i = 0; i < count; i++) {
        uint32_t klen = read_u32(&p);
        const void *key = klen == 0xFFFFFFFFu ? NULL : p;
        if (key) p += klen; else klen = 0;
        uint32_t vlen = read_u32(&p);
        const void *value = p;
        p += vlen;
        uint32_t hcount = read_u32(&p);
        rd_kafka_headers_t *headers = rd_kafka_headers_new(hcount);
        for (uint32_t h = 0; h < hcount; h++) {
            uint32_t nlen = read_u32(&p);
            const char *name = (const char *)p;
            p += nlen;
            uint32_t hlen = read_u32(&p);
            rd_kafka_header_add(headers, name, nlen, p, hlen);
            p += hlen;
        }
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(argv[3]), RD_KAFKA_V_KEY(key, klen),
                                        RD_KAFKA_V_VALUE((void *)value, vlen),
                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                        RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_END))
               == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 5);
        if (err) { fprintf(stderr, "produce: %s\n", rd_kafka_err2str(err)); return 1; }
        rd_kafka_poll(rk, 0);
    }
    double handed = cpu_seconds() - started;
    while (delivered < (long)count) rd_kafka_poll(rk, 10);
    double total = cpu_seconds() - started;
    printf("{\"method\": \"C rd_kafka_producev\", \"zstd_level\": %s, \"records\": %u, "
           "\"delivered\": %ld, \"failed\": %ld, \"handover_cpu_us_per_record\": %.3f, "
           "\"total_cpu_us_per_record\": %.3f}\n",
           argv[4], count, delivered, failed, handed * 1e6 / count, total * 1e6 / count);
    rd_kafka_destroy(rk);
    free(data);
    return 0;
}
