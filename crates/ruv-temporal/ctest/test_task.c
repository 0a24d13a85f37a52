/*
 * Host test of the ESP-IDF component's temporal_task.c against a FreeRTOS/ESP-IDF shim and the
 * host static library, under ASan + UBSan. Usage: test_task FIXTURE_DIR.
 *
 * Checks: the golden 0xC5110007 packet (spec §3.9), argmax/margin/CRC of real logits, task
 * parameters (stack 16384, priority 4, core 1 or 0 on a unicore build, queue depth 32),
 * queue-full drops counted, frames of the wrong length refused for a model that names its
 * feature set and padded/truncated for one that does not, input_dim at the Kconfig maximum
 * (256) without overflow, the emitted packet equals one built independently from the library's
 * logits (feature frames, and raw CSI through temporal_task_push_csi incl. first_word_invalid),
 * EMBED_FILES path.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ruv_temporal.h"
#include "esp_heap_caps.h"
#include "shim_state.h"
#include "temporal_task.h"

#ifndef EXPECT_CORE
#define EXPECT_CORE 1
#endif
/* Queue item header of temporal_task.c (ts_us, kind, flags). */
#define ITEM_HEADER 16

static int g_checks;
static int g_failures;

#define CHECK(cond, ...)                                                                      \
    do {                                                                                      \
        g_checks++;                                                                           \
        if (!(cond)) {                                                                        \
            g_failures++;                                                                     \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                              \
            fprintf(stderr, __VA_ARGS__);                                                     \
            fputc('\n', stderr);                                                              \
        }                                                                                     \
    } while (0)

#define CHECK_CODE(expr, want)                                                                \
    do {                                                                                      \
        esp_err_t got_ = (expr);                                                              \
        CHECK(got_ == (want), "%s returned 0x%x, expected 0x%x", #expr, (unsigned)got_,       \
              (unsigned)(want));                                                              \
    } while (0)

static uint8_t *read_file(const char *dir, const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n);
    if (b == NULL || fread(b, 1, (size_t)n, f) != (size_t)n) {
        exit(2);
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Independent CRC (bytewise table-free, different loop shape from the component's). */
static uint32_t ref_crc32(const uint8_t *p, size_t n)
{
    uint32_t c = ~0u;
    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
        }
    }
    return ~c;
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static float rdf(const uint8_t *p)
{
    uint32_t b = rd32(p);
    float f;
    memcpy(&f, &b, 4);
    return f;
}

/* The firmware's argmax/top-2 rule (spec §3.9), written independently of the component. */
static void ref_top2(const float *v, int n, int *arg, float *top1, float *top2)
{
    *arg = 0;
    *top1 = v[0];
    *top2 = -1e30f;
    for (int i = 1; i < n; i++) {
        if (v[i] > *top1) {
            *top2 = *top1;
            *top1 = v[i];
            *arg = i;
        } else if (v[i] > *top2) {
            *top2 = v[i];
        }
    }
}

#define MAX_PKTS 64
static uint8_t g_pkts[MAX_PKTS][RV_TEMPORAL_PKT_LEN];
static int g_npkts;

static void capture(const uint8_t *pkt, size_t len, void *user)
{
    (void)user;
    CHECK(len == RV_TEMPORAL_PKT_LEN, "emitted %zu bytes", len);
    if (g_npkts < MAX_PKTS && len == RV_TEMPORAL_PKT_LEN) {
        memcpy(g_pkts[g_npkts++], pkt, len);
    }
}

static void check_packets(void)
{
    /* Spec §3.9 golden: node 1, ts 1,000,000, seq 1, 4 zero logits. */
    static const uint8_t golden[40] = {
        0x07, 0x00, 0x11, 0xc5, 0x01, 0x00, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00, 0x40, 0x42,
        0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa3, 0xc7, 0xb7, 0xce};
    float zeros[4] = {0};
    uint8_t pkt[RV_TEMPORAL_PKT_LEN];
    memset(pkt, 0x5A, sizeof pkt);
    CHECK_CODE(temporal_pkt_build(pkt, 1, 1000000, 1, zeros, 4), ESP_OK);
    CHECK(memcmp(pkt, golden, 40) == 0, "golden 0xC5110007 packet differs");
    CHECK(rd32(pkt + 36) == 0xCEB7C7A3u, "golden CRC %08x", rd32(pkt + 36));

    /* First maximum wins; margin to the runner-up (a tie gives 0). */
    float logits[5] = {0.5f, 2.0f, -1.0f, 2.0f, 1.5f};
    CHECK_CODE(temporal_pkt_build(pkt, 7, 123456789012ull, 42, logits, 5), ESP_OK);
    CHECK(pkt[24] == 1 && rdf(pkt + 28) == 2.0f && rdf(pkt + 32) == 0.0f, "tie: argmax %u",
          pkt[24]);
    float l2[3] = {-3.0f, -1.0f, -2.5f};
    CHECK_CODE(temporal_pkt_build(pkt, 7, 5, 43, l2, 3), ESP_OK);
    CHECK(pkt[24] == 1 && rdf(pkt + 28) == -1.0f && rdf(pkt + 32) == 1.5f, "argmax/margin");
    CHECK(rd32(pkt + 36) == ref_crc32(pkt, 36), "CRC over bytes 0..36");
    CHECK(temporal_crc32((const uint8_t *)"123456789", 9) == 0xCBF43926u, "CRC-32 check value");
    CHECK_CODE(temporal_pkt_build(pkt, 1, 0, 1, logits, 0), ESP_ERR_INVALID_SIZE);
    CHECK_CODE(temporal_pkt_build(pkt, 1, 0, 1, logits, TEMPORAL_MAX_LOGITS + 1),
               ESP_ERR_INVALID_SIZE);
    CHECK_CODE(temporal_pkt_build(NULL, 1, 0, 1, logits, 4), ESP_ERR_INVALID_ARG);
    CHECK_CODE(temporal_pkt_build(pkt, 1, 0, 1, NULL, 4), ESP_ERR_INVALID_ARG);
}

/* Drains the queue and advances time past one period, so exactly one packet is emitted. */
static void service_until_packet(void)
{
    int before = g_npkts;
    for (int i = 0; i < 200 && g_npkts == before; i++) {
        temporal_task_service(100); /* empty queue: the shim lets 100 ms pass */
    }
}

/* Feature frames [from, to) of `frames` (`dim` floats each) through the task, 32 at a time
 * (the queue depth), each batch received without time passing. */
static void push_frames_serviced(const float *frames, uint32_t dim, int from, int to)
{
    for (int t = from; t < to;) {
        int end = t + 32 < to ? t + 32 : to;
        for (int u = t; u < end; u++) {
            CHECK_CODE(temporal_task_push_frame(frames + (size_t)u * dim, dim), ESP_OK);
        }
        for (int u = t; u < end; u++) {
            temporal_task_service(0);
        }
        t = end;
    }
}

/* `count` copies of one frame through the task (see push_frames_serviced). */
static void push_same_serviced(const float *frame, uint32_t dim, int count)
{
    for (int t = 0; t < count;) {
        int end = t + 32 < count ? t + 32 : count;
        for (int u = t; u < end; u++) {
            CHECK_CODE(temporal_task_push_frame(frame, dim), ESP_OK);
        }
        for (int u = t; u < end; u++) {
            temporal_task_service(0);
        }
        t = end;
    }
}

static void check_task(const char *dir)
{
    size_t mlen;
    uint8_t *model = read_file(dir, "model_v2_f32.rvne", &mlen);
    size_t flen;
    uint8_t *fb = read_file(dir, "frames.f32", &flen);
    const float *frames = (const float *)(const void *)fb;

    /* Before start. */
    float f16[16] = {0};
    CHECK_CODE(temporal_task_push_frame(f16, 16), ESP_ERR_NOT_FOUND);
    CHECK_CODE(temporal_task_start_with_model(model, mlen, 0, 64, 4), ESP_ERR_INVALID_ARG);
    CHECK_CODE(temporal_task_start_with_model(NULL, mlen, 16, 64, 4), ESP_ERR_INVALID_ARG);
    CHECK_CODE(temporal_task_start_with_model(model, mlen, TEMPORAL_MAX_INPUT_DIM + 1, 64, 4),
               ESP_ERR_INVALID_SIZE);
    CHECK_CODE(temporal_task_start_with_model(model, mlen, 16, 64, TEMPORAL_MAX_LOGITS + 1),
               ESP_ERR_INVALID_SIZE);
    int tasks = shim_tasks_created, on_task = shim_lib_calls_on_task;
    int off_task = shim_lib_calls - shim_lib_calls_on_task;
    CHECK_CODE(temporal_task_start_with_model(model, mlen, 16, 64, 5), ESP_ERR_INVALID_ARG);
    /* Another window than the file's trained one (64) would give other numbers than the host. */
    CHECK_CODE(temporal_task_start_with_model(model, mlen, 16, 128, 4), ESP_ERR_INVALID_ARG);
    /* The file's checks ran on two tasks, which answered and ended: no queue, no task left,
     * and no library call on the caller. */
    CHECK(shim_tasks_created == tasks + 2 && shim_lib_calls_on_task == on_task + 2 &&
              shim_lib_calls - shim_lib_calls_on_task == off_task,
          "refused starts: %d tasks, %d library calls on them, %d on the caller",
          shim_tasks_created - tasks, shim_lib_calls_on_task - on_task,
          shim_lib_calls - shim_lib_calls_on_task - off_task);
    CHECK(shim_queues_created == 0 && !shim_last_task_alive(),
          "a refused start left a queue (%d) or a task", shim_queues_created);
    shim_fail_task_create = 1;
    CHECK_CODE(temporal_task_start_with_model(model, mlen, 16, 64, 4), ESP_ERR_NO_MEM);
    shim_fail_task_create = 0;
    CHECK_CODE(temporal_task_push_frame(f16, 16), ESP_ERR_NOT_FOUND);

    temporal_task_set_emitter(capture, NULL, 3);
    shim_time_us = 5000000;
    on_task = shim_lib_calls_on_task;
    off_task = shim_lib_calls - shim_lib_calls_on_task;
    CHECK_CODE(temporal_task_start_with_model(model, mlen, 16, 64, 4), ESP_OK);
    /* The file check, init and the self-test ran on the task's own stack and none on the
     * caller's (app_main's default 3.5 KB could not hold the model load). */
    CHECK(shim_lib_calls_on_task == on_task + 3 &&
              shim_lib_calls - shim_lib_calls_on_task == off_task,
          "start: %d library calls on the task, %d on the caller", shim_lib_calls_on_task - on_task,
          shim_lib_calls - shim_lib_calls_on_task - off_task);
    CHECK(shim_last_task_alive() && shim_last_task.stack_bytes == 16384 &&
              shim_last_task.priority == 4 && shim_last_task.core == EXPECT_CORE,
          "task stack %u prio %u core %d", shim_last_task.stack_bytes,
          (unsigned)shim_last_task.priority, (int)shim_last_task.core);
    /* Feature set 1 takes raw CSI too: the item holds 128 I/Q bytes, more than 16 floats. */
    CHECK(shim_last_queue_depth == 32 &&
              shim_last_queue_item_size == ITEM_HEADER + TEMPORAL_CSI_BYTES,
          "queue %u x %u", (unsigned)shim_last_queue_depth, (unsigned)shim_last_queue_item_size);
    CHECK_CODE(temporal_task_start_with_model(model, mlen, 16, 64, 4), ESP_OK); /* idempotent */
    CHECK_CODE(temporal_task_push_frame(NULL, 16), ESP_ERR_INVALID_ARG);
    CHECK_CODE(temporal_task_push_frame(f16, 0), ESP_ERR_INVALID_ARG);

    /* 40 pushes into a queue of 32: 8 dropped and counted. */
    int ok = 0, timeouts = 0;
    for (int t = 0; t < 40; t++) {
        esp_err_t err = temporal_task_push_frame(frames + t * 16, 16);
        ok += err == ESP_OK;
        timeouts += err == ESP_ERR_TIMEOUT;
    }
    CHECK(ok == 32 && timeouts == 8, "pushes ok %d timeouts %d", ok, timeouts);
    CHECK(temporal_task_drop_count() == 8, "drop count %u", temporal_task_drop_count());

    /* The 32 queued frames are received; a classify time passes over that part window and
     * gives no decision (training never cuts one). */
    for (int t = 0; t < 32; t++) {
        temporal_task_service(0);
    }
    temporal_task_service(1000); /* empty queue: a classify period passes */
    CHECK(g_npkts == 0 && temporal_task_packet_count() == 0, "a part window gave %d packets",
          g_npkts);
    push_frames_serviced(frames, 16, 32, 64);

    /* The library, driven directly with the same 64 frames, gives the reference logits. */
    ruv_temporal_ctx_t *ref = NULL;
    CHECK_CODE(ruv_temporal_init(model, mlen, 16, 64, 4, &ref), ESP_OK);
    for (int t = 0; t < 64; t++) {
        ruv_temporal_push(ref, frames + t * 16);
    }
    float want[4];
    CHECK_CODE(ruv_temporal_classify(ref, want, 4), ESP_OK);

    shim_time_us = 7000000;
    service_until_packet();
    CHECK(g_npkts == 1, "packets %d", g_npkts);
    if (g_npkts >= 1) {
        const uint8_t *p = g_pkts[0];
        int arg = 0;
        float top1 = 0.0f, top2 = 0.0f;
        ref_top2(want, 4, &arg, &top1, &top2);
        uint8_t expect[40] = {0x07, 0x00, 0x11, 0xc5, 0x01, 0x00, 0x04, 0x00, 0x03};
        uint64_t ts = 7000000;
        memcpy(expect + 12, &ts, 8); /* host is little-endian, like the wire */
        uint32_t seq = 1;
        memcpy(expect + 20, &seq, 4);
        expect[24] = (uint8_t)arg;
        memcpy(expect + 28, &top1, 4);
        float margin = top1 - top2;
        memcpy(expect + 32, &margin, 4);
        uint32_t crc = ref_crc32(expect, 36);
        memcpy(expect + 36, &crc, 4);
        CHECK(memcmp(p, expect, 40) == 0, "emitted packet differs from the independent build");
    }
    CHECK(temporal_task_packet_count() == 1, "packet count");
    /* Second period: seq 2. */
    service_until_packet();
    CHECK(g_npkts == 2 && rd32(g_pkts[1] + 20) == 2, "second packet seq");

    /* The model names feature set 1: 9 floats of the 0xC5110006 state, or 300, are refused
     * and counted, not padded into a frame the model was never trained on. */
    float longf[300];
    for (int i = 0; i < 300; i++) {
        longf[i] = (float)i * 0.01f;
    }
    CHECK_CODE(temporal_task_push_frame(longf, 9), ESP_ERR_INVALID_SIZE);
    CHECK_CODE(temporal_task_push_frame(longf, 300), ESP_ERR_INVALID_SIZE);
    CHECK(temporal_task_rejected_count() == 2, "rejected %u", temporal_task_rejected_count());
    CHECK(temporal_task_drop_count() == 8, "refusals are not drops: %u",
          temporal_task_drop_count());
    temporal_task_stop();
    CHECK(!shim_last_task_alive(), "task deleted by stop");
    CHECK_CODE(temporal_task_push_frame(f16, 16), ESP_ERR_NOT_FOUND);
    ruv_temporal_destroy(ref);
    free(model);
    free(fb);
}

/* Pushes CSI buffers [from, to) through the task (32 at a time: the queue depth) and the same
 * buffers straight into the reference context. */
static void push_csi_both(ruv_temporal_ctx_t *ref, const uint8_t *iq, const uint8_t *ts_b,
                          int from, int to, bool first_word_invalid)
{
    CHECK_CODE(ruv_temporal_set_first_word_invalid(ref, first_word_invalid ? 1u : 0u), ESP_OK);
    for (int t = from; t < to;) {
        int batch_end = t + 32 < to ? t + 32 : to;
        for (int u = t; u < batch_end; u++) {
            uint64_t ts;
            memcpy(&ts, ts_b + (size_t)u * 8, 8);
            const int8_t *buf = (const int8_t *)(iq + (size_t)u * TEMPORAL_CSI_BYTES);
            CHECK_CODE(temporal_task_push_csi(buf, TEMPORAL_CSI_BYTES, ts, first_word_invalid),
                       ESP_OK);
            CHECK_CODE(ruv_temporal_push_csi(ref, buf, TEMPORAL_CSI_BYTES, ts), ESP_OK);
        }
        for (int u = t; u < batch_end; u++) {
            temporal_task_service(0); /* a queued item is received without time passing */
        }
        t = batch_end;
    }
}

/* The packet's argmax, top logit and margin against the reference context's logits. */
static void check_packet_matches(const uint8_t *p, ruv_temporal_ctx_t *ref, const char *what)
{
    float want[4];
    CHECK_CODE(ruv_temporal_classify(ref, want, 4), ESP_OK);
    int arg = 0;
    float top1 = 0.0f, top2 = 0.0f;
    ref_top2(want, 4, &arg, &top1, &top2);
    CHECK(p[24] == arg && rdf(p + 28) == top1 && rdf(p + 32) == top1 - top2,
          "%s: packet argmax %u top %.9g margin %.9g, library %d %.9g %.9g", what, p[24],
          rdf(p + 28), rdf(p + 32), arg, top1, top1 - top2);
}

/* A head on CSI feature set 3 (what aether train writes) or 4 fed raw CSI: the packets equal
 * the library's own result over the same buffers, with first_word_invalid passed through. */
static void check_csi(const char *dir, const char *model_file, uint32_t input_dim)
{
    size_t mlen, iq_len, ts_len;
    uint8_t *model = read_file(dir, model_file, &mlen);
    uint8_t *iq = read_file(dir, "csi.iq", &iq_len);
    uint8_t *ts_b = read_file(dir, "csi.ts", &ts_len);
    if (iq_len != 200 * TEMPORAL_CSI_BYTES || ts_len != 200 * 8) {
        fprintf(stderr, "csi fixture sizes\n");
        exit(2);
    }
    g_npkts = 0;
    CHECK_CODE(temporal_task_start_with_model(model, mlen, input_dim, 64, 4), ESP_OK);
    CHECK(shim_last_queue_item_size == ITEM_HEADER + TEMPORAL_CSI_BYTES, "%s: csi item size %u",
          model_file, (unsigned)shim_last_queue_item_size);
    ruv_temporal_ctx_t *ref = NULL;
    CHECK_CODE(ruv_temporal_init(model, mlen, input_dim, 64, 4, &ref), ESP_OK);

    /* Argument checks first: none of these reaches the queue. */
    const int8_t *buf0 = (const int8_t *)iq;
    CHECK_CODE(temporal_task_push_csi(NULL, TEMPORAL_CSI_BYTES, 0, false), ESP_ERR_INVALID_ARG);
    CHECK_CODE(temporal_task_push_csi(buf0, TEMPORAL_CSI_BYTES - 1, 0, false),
               ESP_ERR_INVALID_SIZE);
    float state9[9] = {0};
    CHECK_CODE(temporal_task_push_frame(state9, 9), ESP_ERR_INVALID_SIZE);
    CHECK(temporal_task_rejected_count() == 1, "rejected %u", temporal_task_rejected_count());

    /* 50 settling buffers, then a full window of 64 frames. */
    push_csi_both(ref, iq, ts_b, 0, 114, false);
    shim_time_us += 1000000;
    service_until_packet();
    CHECK(g_npkts == 1, "packet from raw CSI");
    if (g_npkts == 1) {
        check_packet_matches(g_pkts[0], ref, "raw CSI");
    }
    /* The classic ESP32's invalid first word: the flag reaches the extractor. */
    push_csi_both(ref, iq, ts_b, 114, 128, true);
    service_until_packet();
    CHECK(g_npkts == 2, "second packet from raw CSI");
    if (g_npkts == 2) {
        check_packet_matches(g_pkts[1], ref, "raw CSI, first word invalid");
    }
    CHECK(temporal_task_drop_count() == 0, "csi drops %u", temporal_task_drop_count());
    temporal_task_stop();
    CHECK_CODE(temporal_task_push_csi(buf0, TEMPORAL_CSI_BYTES, 0, false), ESP_ERR_NOT_FOUND);
    ruv_temporal_destroy(ref);
    free(model);
    free(iq);
    free(ts_b);
}

/* A head on the 0xC5110006 state (set 2, 9 floats) takes push_frame(feat, 9) and no CSI. */
static void check_state9(const char *dir)
{
    size_t mlen;
    uint8_t *model = read_file(dir, "model_state9.rvne", &mlen);
    g_npkts = 0;
    CHECK_CODE(temporal_task_start_with_model(model, mlen, 9, 64, 4), ESP_OK);
    CHECK(shim_last_queue_item_size == ITEM_HEADER + 9 * sizeof(float), "state9 item size %u",
          (unsigned)shim_last_queue_item_size);
    float feat[9] = {0.5f, 0.25f, 0.16f, 0.9f, 1.2f, 0.8f, 0.1f, 0.0f, 0.7f};
    push_same_serviced(feat, 9, 64);
    int8_t iq[TEMPORAL_CSI_BYTES] = {0};
    CHECK_CODE(temporal_task_push_csi(iq, sizeof iq, 0, false), ESP_ERR_NOT_SUPPORTED);
    shim_time_us += 1000000;
    service_until_packet();
    CHECK(g_npkts == 1, "packet from the state-9 head");
    temporal_task_stop();
    free(model);
}

/* input_dim at the Kconfig maximum: frames of 256 floats, shorter and longer ones, under ASan
 * (the file names no feature set, so the seed's pad/truncate rule holds). */
static void check_max_dim(const char *dir)
{
    size_t mlen;
    uint8_t *model = read_file(dir, "model_dim256.rvne", &mlen);
    g_npkts = 0;
    CHECK_CODE(temporal_task_start_with_model(model, mlen, TEMPORAL_MAX_INPUT_DIM, 32, 4), ESP_OK);
    CHECK(shim_last_queue_item_size == ITEM_HEADER + TEMPORAL_MAX_INPUT_DIM * sizeof(float),
          "item size %u",
          (unsigned)shim_last_queue_item_size);
    /* Exactly-sized heap buffers so ASan catches a read past any of them. */
    float *exact = malloc(TEMPORAL_MAX_INPUT_DIM * sizeof(float));
    float *shorter = malloc(5 * sizeof(float));
    float *longer = malloc(400 * sizeof(float));
    for (int i = 0; i < 400; i++) {
        if (i < TEMPORAL_MAX_INPUT_DIM) {
            exact[i] = (float)(i % 7) * 0.1f;
        }
        if (i < 5) {
            shorter[i] = 1.0f;
        }
        longer[i] = -0.5f;
    }
    for (int t = 0; t < 10; t++) { /* 30 frames, then 2: the window's 32, the queue's depth */
        CHECK_CODE(temporal_task_push_frame(exact, TEMPORAL_MAX_INPUT_DIM), ESP_OK);
        CHECK_CODE(temporal_task_push_frame(shorter, 5), ESP_OK);
        CHECK_CODE(temporal_task_push_frame(longer, 400), ESP_OK);
    }
    CHECK_CODE(temporal_task_push_frame(exact, TEMPORAL_MAX_INPUT_DIM), ESP_OK);
    CHECK_CODE(temporal_task_push_frame(shorter, 5), ESP_OK);
    shim_time_us += 1000000;
    service_until_packet();
    CHECK(g_npkts == 1, "packet at input_dim 256");
    /* The reference: the library fed the frames as the rule says the task stores them, the
     * short one zero-padded and the long one cut to 256. */
    ruv_temporal_ctx_t *ref = NULL;
    CHECK_CODE(ruv_temporal_init(model, mlen, TEMPORAL_MAX_INPUT_DIM, 32, 4, &ref), ESP_OK);
    float padded[TEMPORAL_MAX_INPUT_DIM] = {0};
    memcpy(padded, shorter, 5 * sizeof(float));
    for (int t = 0; t < 10; t++) {
        CHECK_CODE(ruv_temporal_push(ref, exact), ESP_OK);
        CHECK_CODE(ruv_temporal_push(ref, padded), ESP_OK);
        CHECK_CODE(ruv_temporal_push(ref, longer), ESP_OK);
    }
    CHECK_CODE(ruv_temporal_push(ref, exact), ESP_OK);
    CHECK_CODE(ruv_temporal_push(ref, padded), ESP_OK);
    if (g_npkts == 1) {
        CHECK(rd32(g_pkts[0]) == RV_TEMPORAL_PKT_MAGIC && g_pkts[0][6] == 4 &&
                  rd32(g_pkts[0] + 36) == ref_crc32(g_pkts[0], 36),
              "packet fields at input_dim 256");
        check_packet_matches(g_pkts[0], ref, "pad/truncate at input_dim 256");
    }
    ruv_temporal_destroy(ref);
    temporal_task_stop();
    free(exact);
    free(shorter);
    free(longer);
    free(model);
}

/* temporal_task_start loads the model EMBED_FILES put in the image (embed_model.S here). */
static void check_embedded(void)
{
    g_npkts = 0;
    CHECK_CODE(temporal_task_start(16, 64, 4), ESP_OK);
    float f[16] = {0.25f};
    push_same_serviced(f, 16, 64);
    shim_time_us += 1000000;
    service_until_packet();
    CHECK(g_npkts == 1, "packet from the embedded model");
    temporal_task_stop();
}

/* The kernel self-test fails in the task, before it serves: start reports it, pushes find no
 * queue, and a later start refuses without making a task. Runs last: the failure latches for
 * the process. */
static void check_self_test_failure(const char *dir)
{
    size_t mlen;
    uint8_t *model = read_file(dir, "model_v2_f32.rvne", &mlen);
    shim_fail_self_test = 1;
    int queues = shim_queues_created, tests = shim_self_tests;
    CHECK_CODE(temporal_task_start_with_model(model, mlen, 16, 64, 4), ESP_ERR_INVALID_STATE);
    CHECK(shim_self_tests == tests + 1 && shim_queues_created == queues && !shim_last_task_alive(),
          "self-test ran %d times; no queue, the task deleted itself",
          shim_self_tests - tests);
    float f[16] = {0};
    CHECK_CODE(temporal_task_push_frame(f, 16), ESP_ERR_NOT_FOUND);
    int8_t iq[TEMPORAL_CSI_BYTES] = {0};
    CHECK_CODE(temporal_task_push_csi(iq, sizeof iq, 0, false), ESP_ERR_NOT_FOUND);
    temporal_task_service(0); /* no context: nothing to do, no crash */
    shim_fail_self_test = 0;
    CHECK_CODE(temporal_task_start_with_model(model, mlen, 16, 64, 4), ESP_ERR_INVALID_STATE);
    CHECK(shim_queues_created == queues && shim_self_tests == tests + 1,
          "a refused start allocated a queue or ran the test again");
    free(model);
}

#ifdef SHIM_VARIANT_PARTITION_REGION
/* The other weights source and allocator (CONFIG_TEMPORAL_WEIGHTS_PARTITION,
 * CONFIG_TEMPORAL_ALLOC_REGION): the model read from a data partition larger than the file, and
 * one heap region set aside at the first start, never for a configuration the file refuses,
 * reused by a restart that fits it. */
static void check_partition_region(const char *dir)
{
    size_t mlen, dlen;
    uint8_t *model = read_file(dir, "model_v2_f32.rvne", &mlen);
    uint8_t *wide = read_file(dir, "model_dim256.rvne", &dlen);
    CHECK_CODE(temporal_task_start(16, 64, 4), ESP_ERR_NOT_FOUND); /* no partition */
    /* Erased flash after the file: the file's own length says where it ends. */
    size_t plen = (mlen > dlen ? mlen : dlen) + 8192;
    uint8_t *part = malloc(plen);
    memset(part, 0xFF, plen);
    memcpy(part, model, mlen);
    shim_partition_data = part;
    shim_partition_size = plen;
    /* A configuration the file contradicts sets nothing aside. */
    CHECK_CODE(temporal_task_start(19, 64, 4), ESP_ERR_INVALID_ARG);
    CHECK_CODE(temporal_task_start(16, 64, 5), ESP_ERR_INVALID_ARG);
    CHECK_CODE(temporal_task_start(16, 128, 4), ESP_ERR_INVALID_ARG);
    CHECK(shim_heap_caps_mallocs == 0, "a refused configuration set aside %d region(s)",
          shim_heap_caps_mallocs);
    /* Nor does a file the library would not run as trained (dense attention). */
    size_t xlen;
    uint8_t *dense = read_file(dir, "model_dense.rvne", &xlen);
    memset(part, 0xFF, plen);
    memcpy(part, dense, xlen);
    CHECK_CODE(temporal_task_start(16, 64, 4), ESP_ERR_NOT_SUPPORTED);
    CHECK(shim_heap_caps_mallocs == 0 && shim_heap_inits == 0,
          "a dense-trained model set aside %d region(s)", shim_heap_caps_mallocs);
    free(dense);
    memset(part, 0xFF, plen);
    memcpy(part, model, mlen);
    size_t need = 0;
    CHECK_CODE(ruv_temporal_required_heap(model, mlen, 64, &need), ESP_OK);
    size_t reserve = (size_t)CONFIG_TEMPORAL_INTERNAL_RESERVE_KB * 1024u;
#ifdef CONFIG_TEMPORAL_HEAP_SPIRAM
    /* On a board without PSRAM: internal RAM instead, under the same reserve. */
    shim_heap_caps_fail_caps = MALLOC_CAP_SPIRAM;
    const int psram_tries = 1;
#else
    const int psram_tries = 0; /* internal RAM by choice */
#endif
    /* The region and the frame queue (a few KB, allocated after it) must leave
     * CONFIG_TEMPORAL_INTERNAL_RESERVE_KB of internal RAM free: one byte short of the reserve
     * for the region alone, the queue not counted, and less than the region itself. */
    const size_t too_little[] = {need + reserve - 1, need + reserve + 64, need / 2};
    for (int i = 0; i < 3; i++) {
        shim_heap_caps_internal_free = too_little[i];
        CHECK_CODE(temporal_task_start(16, 64, 4), ESP_ERR_NO_MEM);
        CHECK(shim_heap_caps_mallocs == 0 && shim_heap_inits == 0 &&
                  shim_heap_caps_refused == psram_tries * (i + 1),
              "%zu bytes free: %d allocation(s), %d hand-over(s), PSRAM refused %d time(s)",
              too_little[i], shim_heap_caps_mallocs, shim_heap_inits, shim_heap_caps_refused);
    }
    shim_heap_caps_refused = 0;
    shim_heap_caps_internal_free = need + reserve + 8192; /* the queue: 32 x 144 bytes here */
    CHECK_CODE(temporal_task_start(16, 64, 4), ESP_OK);
    shim_heap_caps_fail_caps = 0;
    shim_heap_caps_internal_free = 1u << 20;
    CHECK(shim_heap_caps_refused == psram_tries && (shim_heap_caps_last_caps & MALLOC_CAP_INTERNAL),
          "PSRAM refused %d time(s), then caps 0x%x", shim_heap_caps_refused,
          (unsigned)shim_heap_caps_last_caps);
    CHECK(shim_heap_caps_mallocs == 1 && shim_heap_caps_last_size == need &&
              shim_heap_inits == 1,
          "region: %d allocation(s) of %zu bytes (required %zu), %d hand-over(s)",
          shim_heap_caps_mallocs, shim_heap_caps_last_size, need, shim_heap_inits);
    float frame[16] = {0.25f};
    CHECK_CODE(temporal_task_push_frame(frame, 16), ESP_OK);
    temporal_task_stop();
    /* The library keeps the region until reboot: a restart reuses it... */
    CHECK_CODE(temporal_task_start(16, 64, 4), ESP_OK);
    CHECK(shim_heap_caps_mallocs == 1 && shim_heap_inits == 1, "restart allocated again");
    temporal_task_stop();
    /* ...and one that needs more than it is refused, with nothing new set aside. */
    memcpy(part, wide, dlen);
    size_t need_wide = 0;
    CHECK_CODE(ruv_temporal_required_heap(wide, dlen, 1024, &need_wide), ESP_OK);
    CHECK(need_wide > need, "the wide model needs %zu, the region has %zu", need_wide, need);
    CHECK_CODE(temporal_task_start(TEMPORAL_MAX_INPUT_DIM, 1024, 4), ESP_ERR_NO_MEM);
    CHECK(shim_heap_caps_mallocs == 1, "a refused restart allocated");
    /* A file that says it is longer than the mapped partition is refused by that length, not
     * read past (FILE_LEN at 0x08, little-endian). */
    memcpy(part, model, mlen);
    uint32_t too_long = (uint32_t)plen + 1;
    memcpy(part + 8, &too_long, 4);
    CHECK_CODE(temporal_task_start(16, 64, 4), ESP_ERR_INVALID_SIZE);
    CHECK(shim_heap_caps_mallocs == 1, "a refused file allocated");
    free(part);
    free(wide);
    free(model);
}
#endif

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
        return 2;
    }
#ifdef SHIM_VARIANT_PARTITION_REGION
    check_partition_region(argv[1]);
    printf("%d passed, %d failed\n", g_checks - g_failures, g_failures);
    return g_failures == 0 ? 0 : 1;
#endif
    check_packets();
    check_task(argv[1]);
    check_csi(argv[1], "model_csi19.rvne", 19);
    check_csi(argv[1], "model_csi22.rvne", 22);
    check_state9(argv[1]);
    check_max_dim(argv[1]);
    check_embedded();
    check_self_test_failure(argv[1]);
    printf("%d passed, %d failed\n", g_checks - g_failures, g_failures);
    return g_failures == 0 ? 0 : 1;
}
