/*
 * C tests of the ruv_temporal ABI against the host static library, run under ASan + UBSan by
 * scripts/c-tests.sh. Usage: test_abi FIXTURE_DIR (written by the ctest_fixtures example).
 *
 * Checks: logits from C equal the host model's (|diff| <= 1e-5) for v2 f32, v2 int8 and v1
 * models at several window fills; the raw-CSI path equals host features + host model; every
 * error path returns its documented code.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ruv_temporal.h"

#define INPUT_DIM 16
#define N_CLASSES 4
#define WINDOW 64
#define FRAMES 100
#define CSI_FRAMES 200
#define IQ_LEN 128
#define TOL 1e-5f

static const int CHECKPOINTS[] = {1, 10, 64, 100};
#define N_CHECKPOINTS 4
/* Raw CSI (ctest_fixtures.rs): settling, the first stored frame, a part window, a full one,
 * settling again after the 1 s gap before buffer 130, then after it. */
static const int CSI_CHECKPOINTS[] = {30, 51, 100, 130, 170, 185, 200};
#define N_CSI_CHECKPOINTS 7

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

typedef struct {
    uint8_t *data;
    size_t len;
} blob_t;

static blob_t read_file(const char *dir, const char *name)
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
    blob_t b = {malloc((size_t)n + 1), (size_t)n};
    if (b.data == NULL || fread(b.data, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    fclose(f);
    return b;
}

static const float *floats(const blob_t *b, size_t expect_count, const char *what)
{
    if (b->len != expect_count * sizeof(float)) {
        fprintf(stderr, "%s: %zu bytes, expected %zu floats\n", what, b->len, expect_count);
        exit(2);
    }
    return (const float *)(const void *)b->data;
}

static void free_blob(blob_t *b)
{
    free(b->data);
    b->data = NULL;
}

/* Pushes FRAMES frames and compares the outputs at each checkpoint with the host model's. */
static void check_parity(const char *dir, const char *model_name, const char *expect_name,
                         uint32_t n_out, int embed)
{
    blob_t model = read_file(dir, model_name);
    blob_t frames_b = read_file(dir, "frames.f32");
    blob_t expect_b = read_file(dir, expect_name);
    const float *frames = floats(&frames_b, (size_t)FRAMES * INPUT_DIM, "frames.f32");
    const float *expect = floats(&expect_b, (size_t)N_CHECKPOINTS * n_out, expect_name);

    ruv_temporal_ctx_t *ctx = NULL;
    esp_err_t err = ruv_temporal_init(model.data, model.len, INPUT_DIM, WINDOW, n_out, &ctx);
    CHECK(err == ESP_OK && ctx != NULL, "%s: init 0x%x", model_name, (unsigned)err);
    /* The file is copied at init: wipe it to prove nothing points into it. */
    memset(model.data, 0xA5, model.len);
    free_blob(&model);
    if (ctx == NULL) {
        free_blob(&frames_b);
        free_blob(&expect_b);
        return;
    }
    float out[64];
    CHECK_CODE(embed ? ruv_temporal_embed(ctx, out, n_out) : ruv_temporal_classify(ctx, out, n_out),
               ESP_ERR_INVALID_STATE);
    int pushed = 0;
    double worst = 0.0;
    for (int c = 0; c < N_CHECKPOINTS; c++) {
        while (pushed < CHECKPOINTS[c]) {
            CHECK_CODE(ruv_temporal_push(ctx, frames + (size_t)pushed * INPUT_DIM), ESP_OK);
            pushed++;
        }
        for (uint32_t i = 0; i < n_out; i++) {
            out[i] = NAN;
        }
        err = embed ? ruv_temporal_embed(ctx, out, n_out) : ruv_temporal_classify(ctx, out, n_out);
        CHECK(err == ESP_OK, "%s: output after %d frames: 0x%x", model_name, pushed, (unsigned)err);
        for (uint32_t i = 0; i < n_out; i++) {
            double d = fabs((double)out[i] - (double)expect[c * n_out + i]);
            if (!(d <= worst)) {
                worst = d;
            }
            CHECK(d <= TOL, "%s: after %d frames output %u = %.9g, host %.9g", model_name,
                  pushed, i, out[i], expect[c * n_out + i]);
        }
    }
    ruv_temporal_info_t info;
    CHECK_CODE(ruv_temporal_info(ctx, &info), ESP_OK);
    CHECK(info.frames_in_window == WINDOW && info.frames_pushed == FRAMES &&
              info.input_dim == INPUT_DIM && info.n_out == n_out && info.window_len == WINDOW,
          "%s: info %u/%u", model_name, info.frames_in_window, info.frames_pushed);
    /* 16 inputs on set 1, or on no named set (the v1 file): raw CSI computes them. */
    CHECK(info.takes_csi == 1, "%s: info.takes_csi %u (feature set %u)", model_name,
          (unsigned)info.takes_csi, (unsigned)info.feature_set);
    printf("parity %-18s max |C - host| = %.3g over %d checkpoints\n", model_name, worst,
           N_CHECKPOINTS);
    ruv_temporal_destroy(ctx);
    free_blob(&frames_b);
    free_blob(&expect_b);
}

/* Streaming mode: while no frame has left the window (<= WINDOW pushes, mean pooling) the
 * outputs equal the host model over all frames pushed (aether-model Session docs). */
static void check_streaming(const char *dir, const char *model_name, const char *expect_name)
{
    blob_t model = read_file(dir, model_name);
    blob_t frames_b = read_file(dir, "frames.f32");
    blob_t expect_b = read_file(dir, expect_name);
    const float *frames = floats(&frames_b, (size_t)FRAMES * INPUT_DIM, "frames.f32");
    const float *expect = floats(&expect_b, (size_t)N_CHECKPOINTS * N_CLASSES, expect_name);
    ruv_temporal_ctx_t *ctx = NULL;
    CHECK_CODE(ruv_temporal_init_streaming(model.data, model.len, INPUT_DIM, WINDOW, N_CLASSES,
                                           &ctx),
               ESP_OK);
    size_t need_stream = 0;
    CHECK_CODE(ruv_temporal_required_heap_streaming(model.data, model.len, WINDOW, &need_stream),
               ESP_OK);
    CHECK_CODE(ruv_temporal_required_heap_streaming(NULL, model.len, WINDOW, &need_stream),
               ESP_ERR_INVALID_ARG);
    free_blob(&model);
    if (ctx == NULL) {
        return;
    }
    ruv_temporal_info_t info;
    CHECK_CODE(ruv_temporal_info(ctx, &info), ESP_OK);
    CHECK(info.streaming == 1, "streaming flag");
    float out[N_CLASSES];
    CHECK_CODE(ruv_temporal_classify(ctx, out, N_CLASSES), ESP_ERR_INVALID_STATE);
    int pushed = 0;
    double worst = 0.0;
    for (int c = 0; c < N_CHECKPOINTS && CHECKPOINTS[c] <= WINDOW; c++) {
        while (pushed < CHECKPOINTS[c]) {
            CHECK_CODE(ruv_temporal_push(ctx, frames + (size_t)pushed * INPUT_DIM), ESP_OK);
            pushed++;
        }
        CHECK_CODE(ruv_temporal_classify(ctx, out, N_CLASSES), ESP_OK);
        for (int i = 0; i < N_CLASSES; i++) {
            double d = fabs((double)out[i] - (double)expect[c * N_CLASSES + i]);
            worst = d > worst ? d : worst;
            CHECK(d <= TOL, "%s streaming: after %d frames logit %d = %.9g, host %.9g",
                  model_name, pushed, i, out[i], expect[c * N_CLASSES + i]);
        }
    }
    /* Past the window it keeps running (sliding), outputs finite. */
    while (pushed < FRAMES) {
        CHECK_CODE(ruv_temporal_push(ctx, frames + (size_t)pushed * INPUT_DIM), ESP_OK);
        pushed++;
    }
    CHECK_CODE(ruv_temporal_classify(ctx, out, N_CLASSES), ESP_OK);
    CHECK(isfinite(out[0]) && isfinite(out[3]), "finite after sliding");
    float nan_frame[INPUT_DIM] = {NAN};
    CHECK_CODE(ruv_temporal_push(ctx, nan_frame), ESP_ERR_INVALID_ARG);
    printf("parity %-18s max |C streaming - host| = %.3g (up to %d frames)\n", model_name, worst,
           WINDOW);
    ruv_temporal_destroy(ctx);
    free_blob(&frames_b);
    free_blob(&expect_b);
}

/* Raw CSI through the library's feature extractor into a model of feature set 1 (16 inputs),
 * set 3 (19 inputs) or set 4 (22 inputs), against the host's logits over the same buffers; with `first_word_invalid`
 * set through the ABI, against the host's logits with that option. */
static void check_csi_parity(const char *dir, const char *model_file, const char *expect_file,
                             uint32_t input_dim, uint32_t first_word_invalid)
{
    blob_t model = read_file(dir, model_file);
    blob_t iq = read_file(dir, "csi.iq");
    blob_t ts_b = read_file(dir, "csi.ts");
    blob_t expect_b = read_file(dir, expect_file);
    const float *expect = floats(&expect_b, (size_t)N_CSI_CHECKPOINTS * N_CLASSES, expect_file);
    if (iq.len != (size_t)CSI_FRAMES * IQ_LEN || ts_b.len != (size_t)CSI_FRAMES * 8) {
        fprintf(stderr, "csi fixture sizes\n");
        exit(2);
    }
    ruv_temporal_ctx_t *ctx = NULL;
    CHECK_CODE(ruv_temporal_init(model.data, model.len, input_dim, WINDOW, N_CLASSES, &ctx),
               ESP_OK);
    if (ctx == NULL) {
        return;
    }
    ruv_temporal_info_t csi_info;
    CHECK_CODE(ruv_temporal_info(ctx, &csi_info), ESP_OK);
    CHECK(csi_info.takes_csi == 1, "%s: info.takes_csi %u", model_file,
          (unsigned)csi_info.takes_csi);
    CHECK_CODE(ruv_temporal_set_first_word_invalid(ctx, first_word_invalid), ESP_OK);
    int pushed = 0;
    double worst = 0.0;
    int scored = 0;
    for (int c = 0; c < N_CSI_CHECKPOINTS; c++) {
        while (pushed < CSI_CHECKPOINTS[c]) {
            uint64_t ts;
            memcpy(&ts, ts_b.data + (size_t)pushed * 8, 8);
            CHECK_CODE(ruv_temporal_push_csi(ctx, (const int8_t *)(iq.data + (size_t)pushed * IQ_LEN),
                                             IQ_LEN, ts),
                       ESP_OK);
            pushed++;
        }
        float out[N_CLASSES];
        if (isnan(expect[c * N_CLASSES])) {
            /* Settling (at the start, after the gap): nothing stored, no decision. */
            ruv_temporal_info_t info;
            CHECK_CODE(ruv_temporal_info(ctx, &info), ESP_OK);
            CHECK(info.frames_in_window == 0 && info.frames_pushed == 0,
                  "%s: settling after %d buffers, yet %u frames in the window", expect_file,
                  pushed, (unsigned)info.frames_in_window);
            CHECK_CODE(ruv_temporal_classify(ctx, out, N_CLASSES), ESP_ERR_INVALID_STATE);
            continue;
        }
        scored++;
        CHECK_CODE(ruv_temporal_classify(ctx, out, N_CLASSES), ESP_OK);
        for (int i = 0; i < N_CLASSES; i++) {
            double d = fabs((double)out[i] - (double)expect[c * N_CLASSES + i]);
            worst = d > worst ? d : worst;
            CHECK(d <= TOL, "%s: after %d frames logit %d = %.9g, host %.9g", expect_file, pushed,
                  i, out[i], expect[c * N_CLASSES + i]);
        }
    }
    CHECK(scored == 5, "%s: %d checkpoints scored", expect_file, scored);
    printf("parity %-18s max |C - host| = %.3g (raw CSI -> %u features -> model, %s; settling "
           "and a gap as in training)\n",
           model_file, worst, (unsigned)input_dim,
           first_word_invalid ? "first word invalid" : "all words valid");
    /* Too few subcarriers. */
    CHECK_CODE(ruv_temporal_push_csi(ctx, (const int8_t *)iq.data, 127, 0), ESP_ERR_INVALID_SIZE);
    CHECK_CODE(ruv_temporal_push_csi(ctx, NULL, IQ_LEN, 0), ESP_ERR_INVALID_ARG);
    CHECK_CODE(ruv_temporal_push_csi(NULL, (const int8_t *)iq.data, IQ_LEN, 0), ESP_ERR_INVALID_ARG);
    CHECK_CODE(ruv_temporal_set_first_word_invalid(NULL, 1), ESP_ERR_INVALID_ARG);
    ruv_temporal_destroy(ctx);
    free_blob(&model);
    free_blob(&iq);
    free_blob(&ts_b);
    free_blob(&expect_b);
}

static void check_csi(const char *dir, const char *model_file, const char *stem,
                      uint32_t input_dim)
{
    char name[64];
    snprintf(name, sizeof name, "%s.f32", stem);
    check_csi_parity(dir, model_file, name, input_dim, 0);
    snprintf(name, sizeof name, "%s_fwi.f32", stem);
    check_csi_parity(dir, model_file, name, input_dim, 1);
}

static esp_err_t init_code(const uint8_t *data, size_t len, uint32_t in, uint32_t win, uint32_t n)
{
    ruv_temporal_ctx_t *ctx = (ruv_temporal_ctx_t *)(uintptr_t)1; /* must be reset to NULL */
    esp_err_t err = ruv_temporal_init(data, len, in, win, n, &ctx);
    if (err == ESP_OK) {
        ruv_temporal_destroy(ctx);
    } else if (ctx != NULL) {
        g_failures++;
        fprintf(stderr, "FAIL: init failed (0x%x) but left *out_ctx non-NULL\n", (unsigned)err);
    }
    return err;
}

static uint32_t crc32_ieee(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int b = 0; b < 8; b++) {
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
        }
    }
    return ~c;
}

/* The code a single flipped bit at `pos` must produce, by the parse order of docs/rvne.md. */
static esp_err_t v2_flip_code(size_t pos, int bit)
{
    (void)bit;
    if (pos < 4) {
        return ESP_ERR_INVALID_ARG; /* magic */
    }
    if (pos < 6) {
        return ESP_ERR_INVALID_VERSION; /* version */
    }
    if (pos >= 8 && pos < 12) {
        return ESP_ERR_INVALID_ARG; /* file_len */
    }
    return ESP_ERR_INVALID_CRC; /* everything else, the CRC itself included */
}

static esp_err_t v1_flip_code(size_t pos, int bit)
{
    (void)bit;
    if (pos < 4) {
        return ESP_ERR_INVALID_ARG;
    }
    if (pos < 6) {
        return ESP_ERR_INVALID_VERSION;
    }
    if (pos >= 0x14 && pos < 0x18) {
        return ESP_ERR_INVALID_ARG; /* weights_len: length mismatch */
    }
    return ESP_ERR_INVALID_CRC;
}

static void check_corruption(const char *dir, const char *name, uint32_t in, uint32_t n,
                             esp_err_t (*flip_code)(size_t, int), size_t stride)
{
    blob_t m = read_file(dir, name);
    CHECK_CODE(init_code(m.data, m.len, in, 8, n), ESP_OK);
    /* Every truncation (a copy of exactly that many bytes, so ASan sees any over-read). */
    int bad = 0;
    for (size_t len = 0; len < m.len; len++) {
        uint8_t *cut = malloc(len ? len : 1);
        memcpy(cut, m.data, len);
        esp_err_t err = init_code(len ? cut : NULL, len, in, 8, n);
        if (err != ESP_ERR_INVALID_ARG) {
            bad++;
            if (bad < 5) {
                fprintf(stderr, "FAIL: %s truncated to %zu bytes: 0x%x\n", name, len, (unsigned)err);
            }
        }
        free(cut);
    }
    g_checks++;
    if (bad) {
        g_failures++;
    }
    /* Bit flips: every bit of every `stride`-th byte (stride 1 = all). */
    size_t flips = 0;
    bad = 0;
    for (size_t pos = 0; pos < m.len; pos += stride) {
        for (int bit = 0; bit < 8; bit++) {
            m.data[pos] ^= (uint8_t)(1u << bit);
            esp_err_t err = init_code(m.data, m.len, in, 8, n);
            esp_err_t want = flip_code(pos, bit);
            if (err != want) {
                bad++;
                if (bad < 5) {
                    fprintf(stderr, "FAIL: %s bit %d of byte %zu: 0x%x, expected 0x%x\n", name,
                            bit, pos, (unsigned)err, (unsigned)want);
                }
            }
            m.data[pos] ^= (uint8_t)(1u << bit);
            flips++;
        }
    }
    g_checks++;
    if (bad) {
        g_failures++;
    }
    printf("corruption %-12s %zu truncations -> INVALID_ARG, %zu bit flips -> documented codes%s\n",
           name, m.len, flips, bad ? " (FAILURES)" : "");
    free_blob(&m);
}

/* Semantic corruption with a valid CRC: set the v1 header's n_classes to 1. */
static void check_semantic_v1(const char *dir)
{
    blob_t m = read_file(dir, "model_v1.rvne");
    /* A v1 file names no trained window. */
    uint32_t in_dim = 0, out_n = 0, trained = 99;
    CHECK_CODE(ruv_temporal_model_dims(m.data, m.len, &in_dim, &out_n, &trained), ESP_OK);
    CHECK(trained == 0 && out_n == N_CLASSES, "v1 model_dims window %u, n_out %u", trained, out_n);
    m.data[0x12] = 1;
    m.data[0x13] = 0;
    uint32_t crc = crc32_ieee(m.data, m.len - 4);
    memcpy(m.data + m.len - 4, &crc, 4);
    CHECK_CODE(init_code(m.data, m.len, INPUT_DIM, 8, 1), ESP_ERR_INVALID_SIZE);
    /* head_dim 0 */
    blob_t z = read_file(dir, "model_v1.rvne");
    z.data[0x0E] = 0;
    z.data[0x0F] = 0;
    crc = crc32_ieee(z.data, z.len - 4);
    memcpy(z.data + z.len - 4, &crc, 4);
    CHECK_CODE(init_code(z.data, z.len, INPUT_DIM, 8, N_CLASSES), ESP_ERR_INVALID_SIZE);
    /* version 3 */
    z.data[4] = 3;
    CHECK_CODE(init_code(z.data, z.len, INPUT_DIM, 8, N_CLASSES), ESP_ERR_INVALID_VERSION);
    free_blob(&m);
    free_blob(&z);
}

static void check_errors(const char *dir)
{
    blob_t m = read_file(dir, "model_v2_f32.rvne");
    ruv_temporal_ctx_t *ctx = NULL;
    char text[RUV_TEMPORAL_ERROR_TEXT_CAP + 1];

    /* init arguments */
    CHECK_CODE(ruv_temporal_init(m.data, m.len, INPUT_DIM, WINDOW, N_CLASSES, NULL),
               ESP_ERR_INVALID_ARG);
    CHECK(ruv_temporal_last_error(NULL, text, sizeof text) > 0 && strstr(text, "out_ctx"),
          "last_error after NULL out_ctx: '%s'", text);
    CHECK_CODE(init_code(NULL, m.len, INPUT_DIM, WINDOW, N_CLASSES), ESP_ERR_INVALID_ARG);
    CHECK_CODE(init_code(m.data, 0, INPUT_DIM, WINDOW, N_CLASSES), ESP_ERR_INVALID_ARG);
    CHECK_CODE(init_code(m.data, m.len, 0, WINDOW, N_CLASSES), ESP_ERR_INVALID_ARG);
    CHECK_CODE(init_code(m.data, m.len, INPUT_DIM, 0, N_CLASSES), ESP_ERR_INVALID_ARG);
    CHECK_CODE(init_code(m.data, m.len, INPUT_DIM, WINDOW, 0), ESP_ERR_INVALID_ARG);
    CHECK_CODE(init_code(m.data, m.len, INPUT_DIM + 1, WINDOW, N_CLASSES), ESP_ERR_INVALID_ARG);
    ruv_temporal_last_error(NULL, text, sizeof text);
    CHECK(strstr(text, "input_dim") != NULL, "text for wrong input_dim: '%s'", text);
    CHECK_CODE(init_code(m.data, m.len, INPUT_DIM, WINDOW, N_CLASSES + 1), ESP_ERR_INVALID_ARG);
    ruv_temporal_last_error(NULL, text, sizeof text);
    CHECK(strstr(text, "n_classes") != NULL, "text for wrong n_classes: '%s'", text);
    CHECK_CODE(init_code(m.data, m.len, INPUT_DIM, RUV_TEMPORAL_MAX_WINDOW_LEN + 1, N_CLASSES),
               ESP_ERR_INVALID_SIZE);
    CHECK_CODE(init_code(m.data, m.len, INPUT_DIM, WINDOW, N_CLASSES), ESP_OK);

    /* required_heap and model_len */
    size_t need = 0;
    CHECK_CODE(ruv_temporal_required_heap(m.data, m.len, WINDOW, &need), ESP_OK);
    CHECK(need > m.len / 2 && need < 4u * 1024 * 1024, "required_heap %zu", need);
    size_t need_long = 0;
    CHECK_CODE(ruv_temporal_required_heap(m.data, m.len, 1024, &need_long), ESP_OK);
    CHECK(need_long > need, "required_heap grows with window_len (%zu vs %zu)", need_long, need);
    CHECK_CODE(ruv_temporal_required_heap(NULL, m.len, WINDOW, &need), ESP_ERR_INVALID_ARG);
    CHECK_CODE(ruv_temporal_required_heap(m.data, m.len, WINDOW, NULL), ESP_ERR_INVALID_ARG);
    CHECK_CODE(ruv_temporal_required_heap(m.data, m.len, 0, &need), ESP_ERR_INVALID_ARG);
    CHECK_CODE(ruv_temporal_required_heap(m.data, m.len - 1, WINDOW, &need), ESP_ERR_INVALID_ARG);
    /* The file's dimensions, read without a heap (what temporal_task.c checks first). */
    uint32_t in_dim = 0, out_n = 0, trained = 0;
    CHECK_CODE(ruv_temporal_model_dims(m.data, m.len, &in_dim, &out_n, &trained), ESP_OK);
    /* The fixture names the window the tests init with. */
    CHECK(in_dim == INPUT_DIM && out_n == N_CLASSES && trained == WINDOW, "model_dims %u %u %u",
          in_dim, out_n, trained);
    in_dim = out_n = 0;
    CHECK_CODE(ruv_temporal_model_dims(m.data, m.len, &in_dim, &out_n, NULL), ESP_OK);
    CHECK(in_dim == INPUT_DIM && out_n == N_CLASSES, "model_dims (no window) %u %u", in_dim,
          out_n);
    CHECK_CODE(ruv_temporal_model_dims(NULL, m.len, &in_dim, &out_n, NULL), ESP_ERR_INVALID_ARG);
    CHECK_CODE(ruv_temporal_model_dims(m.data, m.len, NULL, &out_n, NULL), ESP_ERR_INVALID_ARG);
    CHECK_CODE(ruv_temporal_model_dims(m.data, m.len - 1, &in_dim, &out_n, NULL),
               ESP_ERR_INVALID_ARG);
    uint8_t *padded = calloc(1, m.len + 4096);
    memcpy(padded, m.data, m.len);
    size_t flen = 0;
    CHECK_CODE(ruv_temporal_model_len(padded, m.len + 4096, &flen), ESP_OK);
    CHECK(flen == m.len, "model_len %zu, file %zu", flen, m.len);
    CHECK_CODE(ruv_temporal_model_len(padded, m.len - 1, &flen), ESP_ERR_INVALID_SIZE);
    CHECK_CODE(ruv_temporal_model_len(padded, 4, &flen), ESP_ERR_INVALID_SIZE);
    CHECK_CODE(ruv_temporal_model_len(NULL, 100, &flen), ESP_ERR_INVALID_ARG);
    CHECK_CODE(ruv_temporal_model_len(padded, m.len, NULL), ESP_ERR_INVALID_ARG);
    padded[4] = 9;
    CHECK_CODE(ruv_temporal_model_len(padded, m.len, &flen), ESP_ERR_INVALID_VERSION);
    padded[0] = 0;
    CHECK_CODE(ruv_temporal_model_len(padded, m.len, &flen), ESP_ERR_INVALID_ARG);
    free(padded);

    /* calls on a context */
    CHECK_CODE(ruv_temporal_init(m.data, m.len, INPUT_DIM, WINDOW, N_CLASSES, &ctx), ESP_OK);
    float frame[INPUT_DIM] = {0};
    float logits[N_CLASSES + 1];
    CHECK_CODE(ruv_temporal_classify(ctx, logits, N_CLASSES), ESP_ERR_INVALID_STATE);
    CHECK(ruv_temporal_last_error(ctx, text, sizeof text) > 0, "ctx text after INVALID_STATE");
    CHECK_CODE(ruv_temporal_push(NULL, frame), ESP_ERR_INVALID_ARG);
    CHECK_CODE(ruv_temporal_push(ctx, NULL), ESP_ERR_INVALID_ARG);
    frame[3] = NAN;
    CHECK_CODE(ruv_temporal_push(ctx, frame), ESP_ERR_INVALID_ARG);
    frame[3] = INFINITY;
    CHECK_CODE(ruv_temporal_push(ctx, frame), ESP_ERR_INVALID_ARG);
    ruv_temporal_info_t info;
    CHECK_CODE(ruv_temporal_info(ctx, &info), ESP_OK);
    CHECK(info.frames_in_window == 0, "rejected frames were stored (%u)", info.frames_in_window);
    frame[3] = 0.5f;
    CHECK_CODE(ruv_temporal_push(ctx, frame), ESP_OK);
    CHECK(ruv_temporal_last_error(ctx, text, sizeof text) == 0, "text cleared by success");
    CHECK_CODE(ruv_temporal_classify(ctx, NULL, N_CLASSES), ESP_ERR_INVALID_ARG);
    CHECK_CODE(ruv_temporal_classify(NULL, logits, N_CLASSES), ESP_ERR_INVALID_ARG);
    CHECK_CODE(ruv_temporal_classify(ctx, logits, N_CLASSES + 1), ESP_ERR_INVALID_ARG);
    CHECK_CODE(ruv_temporal_classify(ctx, logits, N_CLASSES - 1), ESP_ERR_INVALID_ARG);
    CHECK_CODE(ruv_temporal_classify(ctx, logits, N_CLASSES), ESP_OK);
    CHECK_CODE(ruv_temporal_embed(ctx, logits, N_CLASSES), ESP_ERR_NOT_SUPPORTED);
    CHECK_CODE(ruv_temporal_embed(ctx, NULL, N_CLASSES), ESP_ERR_INVALID_ARG);
    CHECK_CODE(ruv_temporal_info(NULL, &info), ESP_ERR_INVALID_ARG);
    /* info reads ctx and leaves it alone: its failure text is the global one */
    size_t before = ruv_temporal_last_error(ctx, NULL, 0);
    CHECK_CODE(ruv_temporal_info(ctx, NULL), ESP_ERR_INVALID_ARG);
    CHECK(ruv_temporal_last_error(NULL, text, sizeof text) > 0 && strstr(text, "out"),
          "global text after info(ctx, NULL): '%s'", text);
    CHECK(ruv_temporal_last_error(ctx, NULL, 0) == before, "info changed the ctx text");
    CHECK_CODE(ruv_temporal_reset(ctx), ESP_OK);
    CHECK_CODE(ruv_temporal_classify(ctx, logits, N_CLASSES), ESP_ERR_INVALID_STATE);
    CHECK_CODE(ruv_temporal_reset(NULL), ESP_ERR_INVALID_ARG);

    /* last_error: length without a buffer, truncation keeps a NUL */
    size_t full = ruv_temporal_last_error(ctx, NULL, 0);
    CHECK(full > 8, "full text length %zu", full);
    char small[8];
    memset(small, 'x', sizeof small);
    CHECK(ruv_temporal_last_error(ctx, small, sizeof small) == full && small[7] == '\0' &&
              strlen(small) == 7,
          "truncated text");
    ruv_temporal_destroy(ctx);
    ruv_temporal_destroy(NULL);

    /* models that do not fit an input path */
    blob_t e = read_file(dir, "model_embed.rvne");
    CHECK_CODE(ruv_temporal_init(e.data, e.len, INPUT_DIM, WINDOW, 8, &ctx), ESP_OK);
    if (ctx) {
        CHECK_CODE(ruv_temporal_push(ctx, frame), ESP_OK);
        CHECK_CODE(ruv_temporal_classify(ctx, logits, 8), ESP_ERR_NOT_SUPPORTED);
        ruv_temporal_destroy(ctx);
    }
    blob_t s9 = read_file(dir, "model_state9.rvne");
    CHECK_CODE(ruv_temporal_init(s9.data, s9.len, 9, WINDOW, N_CLASSES, &ctx), ESP_OK);
    if (ctx) {
        int8_t iq[IQ_LEN] = {0};
        ruv_temporal_info_t s9_info;
        CHECK_CODE(ruv_temporal_info(ctx, &s9_info), ESP_OK);
        CHECK(s9_info.takes_csi == 0, "state9: info.takes_csi %u", (unsigned)s9_info.takes_csi);
        CHECK_CODE(ruv_temporal_push_csi(ctx, iq, IQ_LEN, 0), ESP_ERR_NOT_SUPPORTED);
        CHECK_CODE(ruv_temporal_push(ctx, frame), ESP_OK);
        CHECK_CODE(ruv_temporal_classify(ctx, logits, N_CLASSES), ESP_OK);
        ruv_temporal_destroy(ctx);
    }

    /* self-test and the host's heap_init */
    CHECK_CODE(ruv_temporal_kernel_self_test(), ESP_OK);
    uint8_t region[256];
    CHECK_CODE(ruv_temporal_heap_init(region, sizeof region), ESP_ERR_NOT_SUPPORTED);
    CHECK(ruv_temporal_heap_used() == 0, "host heap_used");
    free_blob(&m);
    free_blob(&e);
    free_blob(&s9);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    check_parity(dir, "model_v2_f32.rvne", "expect_v2_f32.f32", N_CLASSES, 0);
    check_parity(dir, "model_v2_int8.rvne", "expect_v2_int8.f32", N_CLASSES, 0);
    check_parity(dir, "model_v1.rvne", "expect_v1.f32", N_CLASSES, 0);
    check_parity(dir, "model_embed.rvne", "expect_embed.f32", 8, 1);
    check_streaming(dir, "model_v2_f32.rvne", "expect_v2_f32.f32");
    check_streaming(dir, "model_v2_int8.rvne", "expect_v2_int8.f32");
    check_streaming(dir, "model_v1.rvne", "expect_v1.f32");
    check_csi(dir, "model_v2_f32.rvne", "expect_csi", INPUT_DIM);
    check_csi(dir, "model_csi19.rvne", "expect_csi19", 19);
    check_csi(dir, "model_csi22.rvne", "expect_csi22", 22);
    check_errors(dir);
    check_semantic_v1(dir);
    check_corruption(dir, "model_small.rvne", INPUT_DIM, N_CLASSES, v2_flip_code, 1);
    check_corruption(dir, "model_v1.rvne", INPUT_DIM, N_CLASSES, v1_flip_code, 61);
    check_corruption(dir, "model_v2_int8.rvne", INPUT_DIM, N_CLASSES, v2_flip_code, 53);
    printf("%d passed, %d failed\n", g_checks - g_failures, g_failures);
    return g_failures == 0 ? 0 : 1;
}
