/*
 * FreeRTOS wiring of the on-device temporal head (see temporal_task.h).
 *
 * Memory: the queue holds TEMPORAL_QUEUE_DEPTH items of a 16-byte header plus input_dim floats,
 * or TEMPORAL_CSI_BYTES bytes if that is more and the model takes CSI (4.5 KiB for a model on
 * CSI feature set 1, 3 or 4, 1.6 KiB for the 9-float state set, 32.5 KiB at input_dim 256). Each kind of producer stages
 * its item in its own static buffer, never on the caller's stack (frames come from the
 * timer-service task, CSI from the Wi-Fi task; both have small stacks).
 */
#include "temporal_task.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "esp_log.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/queue.h"
#include "freertos/semphr.h"
#include "freertos/task.h"
#include "sdkconfig.h"

#ifdef CONFIG_CSI_TEMPORAL_HEAD_ENABLED
#include "esp_heap_caps.h"
#include "ruv_temporal.h"
#ifdef CONFIG_TEMPORAL_WEIGHTS_PARTITION
#include "esp_partition.h"
#endif
#endif

_Static_assert(TEMPORAL_MAX_LOGITS <= 255, "argmax is a u8");

uint32_t temporal_crc32(const uint8_t *data, size_t len)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) {
        crc ^= data[i];
        for (int b = 0; b < 8; b++) {
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
        }
    }
    return crc ^ 0xFFFFFFFFu;
}

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void put_f32(uint8_t *p, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    put_u32(p, bits);
}

esp_err_t temporal_pkt_build(uint8_t out[RV_TEMPORAL_PKT_LEN], uint8_t node_id, uint64_t ts_us,
                             uint32_t seq, const float *logits, uint32_t n_classes)
{
    if (out == NULL || logits == NULL) {
        return ESP_ERR_INVALID_ARG;
    }
    if (n_classes == 0 || n_classes > TEMPORAL_MAX_LOGITS) {
        return ESP_ERR_INVALID_SIZE;
    }
    /* One pass, first maximum wins (strict >), as the seed's emitter. */
    uint32_t argmax = 0;
    float top1 = logits[0];
    float top2 = -1e30f;
    for (uint32_t i = 1; i < n_classes; i++) {
        float v = logits[i];
        if (v > top1) {
            top2 = top1;
            top1 = v;
            argmax = i;
        } else if (v > top2) {
            top2 = v;
        }
    }
    memset(out, 0, RV_TEMPORAL_PKT_LEN);
    put_u32(out + 0, RV_TEMPORAL_PKT_MAGIC);
    put_u16(out + 4, RV_TEMPORAL_PKT_VERSION);
    put_u16(out + 6, (uint16_t)n_classes);
    out[8] = node_id;
    put_u64(out + 12, ts_us);
    put_u32(out + 20, seq);
    out[24] = (uint8_t)argmax;
    put_f32(out + 28, top1);
    put_f32(out + 32, top1 - top2);
    put_u32(out + 36, temporal_crc32(out, 36));
    return ESP_OK;
}

static temporal_emit_fn s_emit;
static void *s_emit_user;
static uint8_t s_node_id;

void temporal_task_set_emitter(temporal_emit_fn emit, void *user, uint8_t node_id)
{
    s_emit = emit;
    s_emit_user = user;
    s_node_id = node_id;
}

#ifdef CONFIG_CSI_TEMPORAL_HEAD_ENABLED

_Static_assert(CONFIG_TEMPORAL_INPUT_DIM <= TEMPORAL_MAX_INPUT_DIM,
               "Kconfig TEMPORAL_INPUT_DIM range exceeds the frame buffers");
_Static_assert(CONFIG_TEMPORAL_N_CLASSES <= TEMPORAL_MAX_LOGITS,
               "Kconfig TEMPORAL_N_CLASSES range exceeds the logits array");

static const char *TAG = "temporal";

#ifndef CONFIG_TEMPORAL_CLASSIFY_PERIOD_MS
#define CONFIG_TEMPORAL_CLASSIFY_PERIOD_MS 1000
#endif

enum { ITEM_FRAME = 0, ITEM_CSI = 1 };

/* One queue item; the queue copies the header and as much of the payload as the model needs. */
typedef struct {
    uint64_t ts_us;   /* ITEM_CSI: receive time */
    uint32_t kind;    /* ITEM_FRAME or ITEM_CSI */
    uint32_t flags;   /* ITEM_CSI: 1 = the buffer's first word is invalid */
    union {
        float frame[TEMPORAL_MAX_INPUT_DIM];
        int8_t iq[TEMPORAL_CSI_BYTES];
    } u;
} temporal_item_t;

static ruv_temporal_ctx_t *s_ctx;
/* What producers see (atomic; start publishes it last) and what the task reads (the task sets
 * it, with the other statics below, before it answers start). */
static QueueHandle_t s_queue;
static QueueHandle_t s_task_queue;
/* Set by the task when the kernel self-test fails (atomic); start refuses from then on. */
static bool s_self_test_failed;
static SemaphoreHandle_t s_frame_lock;
static SemaphoreHandle_t s_csi_lock;
static TaskHandle_t s_task;
static uint32_t s_input_dim;
static uint32_t s_n_classes;
static uint32_t s_feature_set;
/* The model file names no feature set: frames are padded/truncated as in the seed. */
static bool s_pad_frames;
static bool s_takes_csi;
static bool s_first_word_invalid;
static uint32_t s_seq;
static uint32_t s_drop_count;     /* atomic: producers run on any task */
static uint32_t s_rejected_count; /* atomic */
static uint32_t s_last_rejected_len; /* atomic; for the log line */
static uint32_t s_drops_logged;
static uint32_t s_rejects_logged;
static TickType_t s_next_classify;
static TickType_t s_last_drop_log;
static TickType_t s_last_reject_log;
/* Producer staging items (each guarded by its lock) and the task's receive item. */
static temporal_item_t s_frame_item;
static temporal_item_t s_csi_item;
static temporal_item_t s_rx;
#ifdef CONFIG_TEMPORAL_ALLOC_REGION
/* Memory region handed to the library once per boot (region allocator). */
static void *s_heap_region;
static size_t s_heap_region_len;
#endif

#ifdef CONFIG_TEMPORAL_WEIGHTS_EMBED
extern const uint8_t temporal_model_start[] __asm__("_binary_temporal_head_rvne_start");
extern const uint8_t temporal_model_end[] __asm__("_binary_temporal_head_rvne_end");
#endif

static esp_err_t load_model(const uint8_t **model, size_t *len)
{
#if defined(CONFIG_TEMPORAL_WEIGHTS_EMBED)
    *model = temporal_model_start;
    *len = (size_t)(temporal_model_end - temporal_model_start);
    return *len > 0 ? ESP_OK : ESP_ERR_NOT_FOUND;
#elif defined(CONFIG_TEMPORAL_WEIGHTS_PARTITION)
    static esp_partition_mmap_handle_t s_map;
    static const void *s_mapped;
    static size_t s_mapped_len;
    if (s_mapped == NULL) {
        const esp_partition_t *part = esp_partition_find_first(
            ESP_PARTITION_TYPE_DATA, ESP_PARTITION_SUBTYPE_ANY,
            CONFIG_TEMPORAL_WEIGHTS_PARTITION_LABEL);
        if (part == NULL) {
            return ESP_ERR_NOT_FOUND;
        }
        size_t map_len = part->size;
        size_t max_len = (size_t)CONFIG_TEMPORAL_WEIGHTS_PARTITION_MAX_KB * 1024u;
        if (map_len > max_len) {
            map_len = max_len;
        }
        esp_err_t err = esp_partition_mmap(part, 0, map_len, ESP_PARTITION_MMAP_DATA, &s_mapped,
                                           &s_map);
        if (err != ESP_OK) {
            return err;
        }
        s_mapped_len = map_len;
    }
    /* The partition is larger than the file: the file's own length field says where it ends
     * (ruv_temporal_model_len reads it after checking the magic and version). */
    size_t file_len = 0;
    esp_err_t err = ruv_temporal_model_len((const uint8_t *)s_mapped, s_mapped_len, &file_len);
    if (err != ESP_OK) {
        return err == ESP_ERR_INVALID_SIZE ? ESP_ERR_INVALID_SIZE : ESP_ERR_NOT_FOUND;
    }
    *model = (const uint8_t *)s_mapped;
    *len = file_len;
    return ESP_OK;
#else
    (void)model;
    (void)len;
    return ESP_ERR_NOT_FOUND;
#endif
}

#ifdef CONFIG_TEMPORAL_ALLOC_REGION
/* Whether a region of `need` bytes in internal RAM, plus the `queue` bytes start allocates
 * there after it, leaves CONFIG_TEMPORAL_INTERNAL_RESERVE_KB free (logs the refusal). */
static bool internal_reserve_kept(size_t need, size_t queue)
{
    size_t reserve = (size_t)CONFIG_TEMPORAL_INTERNAL_RESERVE_KB * 1024u;
    size_t free_now = heap_caps_get_free_size(MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT);
    size_t taken = need + queue; /* both well below SIZE_MAX: the library caps the window */
    if (reserve == 0 || (free_now >= taken && free_now - taken >= reserve)) {
        return true;
    }
    ESP_LOGE(TAG,
             "a %u-byte region and the %u-byte queue in internal RAM would leave %u of its %u "
             "free bytes, below CONFIG_TEMPORAL_INTERNAL_RESERVE_KB (%u KB) that Wi-Fi needs: "
             "use PSRAM or a shorter window",
             (unsigned)need, (unsigned)queue, (unsigned)(free_now > taken ? free_now - taken : 0),
             (unsigned)free_now, (unsigned)CONFIG_TEMPORAL_INTERNAL_RESERVE_KB);
    return false;
}
#endif

/* `queue` = bytes start allocates from internal RAM afterwards (the frame queue), counted
 * against the internal reserve. */
static esp_err_t prepare_heap(const uint8_t *model, size_t model_len, uint32_t window_len,
                              size_t queue)
{
#ifdef CONFIG_TEMPORAL_ALLOC_REGION
    size_t need = 0;
    esp_err_t err = ruv_temporal_required_heap(model, model_len, window_len, &need);
    if (err != ESP_OK) {
        return err;
    }
    if (s_heap_region != NULL) {
        /* The library owns the region until reboot; a restart must fit in it. */
        return need <= s_heap_region_len ? ESP_OK : ESP_ERR_NO_MEM;
    }
#ifdef CONFIG_TEMPORAL_HEAP_SPIRAM
    uint32_t caps = MALLOC_CAP_SPIRAM | MALLOC_CAP_8BIT;
    void *region = heap_caps_malloc(need, caps);
    if (region == NULL) {
        /* No PSRAM after all (CONFIG_SPIRAM_IGNORE_NOTFOUND on a board without it) or no block
         * that large there: a short window may still fit in internal RAM. */
        ESP_LOGW(TAG, "no %u-byte block in PSRAM (largest %u); trying internal RAM",
                 (unsigned)need, (unsigned)heap_caps_get_largest_free_block(caps));
        caps = MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT;
        if (!internal_reserve_kept(need, queue)) {
            return ESP_ERR_NO_MEM;
        }
        region = heap_caps_malloc(need, caps);
    }
#else
    uint32_t caps = MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT;
    if (!internal_reserve_kept(need, queue)) {
        return ESP_ERR_NO_MEM;
    }
    void *region = heap_caps_malloc(need, caps);
#endif
    if (region == NULL) {
        /* One contiguous block: with Wi-Fi up the internal RAM's largest is often far less
         * than its total free. */
        ESP_LOGE(TAG, "heap region of %u bytes not available (largest free block %u, %u free)",
                 (unsigned)need, (unsigned)heap_caps_get_largest_free_block(caps),
                 (unsigned)heap_caps_get_free_size(caps));
        return ESP_ERR_NO_MEM;
    }
    err = ruv_temporal_heap_init(region, need);
    if (err != ESP_OK) {
        heap_caps_free(region);
        return err;
    }
    s_heap_region = region;
    s_heap_region_len = need;
    ESP_LOGI(TAG, "library heap: %u bytes", (unsigned)need);
    return ESP_OK;
#else
    (void)model;
    (void)model_len;
    (void)window_len;
    (void)queue;
    return ESP_OK;
#endif
}

static void classify_and_emit(void)
{
    /* A decision over a full window only, as training cuts them and `aether run` decides:
     * over fewer frames (after boot, a reset, or a gap in the CSI) the mean over the window
     * is an input the model never saw. */
    ruv_temporal_info_t info;
    if (ruv_temporal_info(s_ctx, &info) != ESP_OK || info.frames_in_window < info.window_len) {
        return;
    }
    float logits[TEMPORAL_MAX_LOGITS];
    esp_err_t err = ruv_temporal_classify(s_ctx, logits, s_n_classes);
    if (err == ESP_ERR_INVALID_STATE) {
        return; /* no frame yet */
    }
    if (err != ESP_OK) {
        char detail[RUV_TEMPORAL_ERROR_TEXT_CAP + 1];
        ruv_temporal_last_error(s_ctx, detail, sizeof detail);
        ESP_LOGW(TAG, "classify failed: 0x%x (%s)", (unsigned)err, detail);
        return;
    }
    uint8_t pkt[RV_TEMPORAL_PKT_LEN];
    s_seq++;
    if (temporal_pkt_build(pkt, s_node_id, (uint64_t)esp_timer_get_time(), s_seq, logits,
                           s_n_classes) == ESP_OK &&
        s_emit != NULL) {
        s_emit(pkt, sizeof pkt, s_emit_user);
    }
}

void temporal_task_service(uint32_t wait_ms)
{
    if (s_task_queue == NULL || s_ctx == NULL) {
        return;
    }
    if (xQueueReceive(s_task_queue, &s_rx, pdMS_TO_TICKS(wait_ms)) == pdTRUE) {
        esp_err_t err;
        if (s_rx.kind == ITEM_CSI) {
            bool invalid = (s_rx.flags & 1u) != 0;
            if (invalid != s_first_word_invalid) {
                ruv_temporal_set_first_word_invalid(s_ctx, invalid ? 1u : 0u);
                s_first_word_invalid = invalid;
            }
            err = ruv_temporal_push_csi(s_ctx, s_rx.u.iq, TEMPORAL_CSI_BYTES, s_rx.ts_us);
        } else {
            err = ruv_temporal_push(s_ctx, s_rx.u.frame);
        }
        if (err != ESP_OK) {
            char detail[RUV_TEMPORAL_ERROR_TEXT_CAP + 1];
            ruv_temporal_last_error(s_ctx, detail, sizeof detail);
            ESP_LOGW(TAG, "push failed: 0x%x (%s)", (unsigned)err, detail);
        }
    }
    TickType_t now = xTaskGetTickCount();
    const TickType_t period = pdMS_TO_TICKS(CONFIG_TEMPORAL_CLASSIFY_PERIOD_MS);
    if ((int32_t)(now - s_next_classify) >= 0) {
        classify_and_emit();
        /* Fixed cadence; after a long stall restart from now instead of bursting. */
        s_next_classify += period;
        if ((int32_t)(now - s_next_classify) >= 0) {
            s_next_classify = now + period;
        }
    }
    uint32_t drops = __atomic_load_n(&s_drop_count, __ATOMIC_RELAXED);
    if (drops != s_drops_logged && (now - s_last_drop_log) > pdMS_TO_TICKS(1000)) {
        ESP_LOGW(TAG, "queue full or staging busy: %u items dropped so far", (unsigned)drops);
        s_drops_logged = drops;
        s_last_drop_log = now;
    }
    uint32_t rejects = __atomic_load_n(&s_rejected_count, __ATOMIC_RELAXED);
    /* A wrong frame length is a wiring mistake, not load: the first refusal is logged at
     * once, later ones every 10 s. */
    if (rejects != s_rejects_logged &&
        (s_rejects_logged == 0 || (now - s_last_reject_log) > pdMS_TO_TICKS(10000))) {
        ESP_LOGE(TAG,
                 "%u frames refused: the model takes exactly %u floats (feature set %u), the "
                 "last one had %u",
                 (unsigned)rejects, (unsigned)s_input_dim, (unsigned)s_feature_set,
                 (unsigned)__atomic_load_n(&s_last_rejected_len, __ATOMIC_RELAXED));
        s_rejects_logged = rejects;
        s_last_reject_log = now;
    }
}

/* Bytes of one queue item: the header and input_dim floats, or the raw CSI if that is more
 * and the model takes CSI. */
static size_t queue_item_bytes(uint32_t input_dim, bool takes_csi)
{
    size_t payload = input_dim * sizeof(float);
    if (takes_csi && payload < TEMPORAL_CSI_BYTES) {
        payload = TEMPORAL_CSI_BYTES;
    }
    return offsetof(temporal_item_t, u) + payload;
}

static void delete_handles(QueueHandle_t queue, SemaphoreHandle_t a, SemaphoreHandle_t b)
{
    if (queue != NULL) {
        vQueueDelete(queue);
    }
    if (a != NULL) {
        vSemaphoreDelete(a);
    }
    if (b != NULL) {
        vSemaphoreDelete(b);
    }
}

/* What start asks of the task, and the task's answer (start waits for it, so this lives on the
 * starter's stack). */
typedef struct {
    const uint8_t *model;
    size_t model_len;
    uint32_t input_dim;
    uint32_t window_len;
    uint32_t n_classes;
    esp_err_t result;
} start_request_t;

/* Given by the task once its start has an answer; static, so no give can touch freed memory. */
static StaticSemaphore_t s_started_buf;
static SemaphoreHandle_t s_started;

/* The start, on the task's own stack (TEMPORAL_TASK_STACK): loading the model and its warm-up
 * pass took 5.3 KB on RISC-V (QEMU), more than ESP-IDF's default app_main stack (3.5 KB) has
 * free. Sets the statics the loop and the producers read; on failure frees what it made but
 * a heap region (the library keeps it until reboot; a later start reuses it). */
static esp_err_t begin_in_task(const start_request_t *req)
{
    uint32_t input_dim = req->input_dim, window_len = req->window_len;
    uint32_t n_classes = req->n_classes;
    /* The configuration against the file before any heap is set aside: a mismatch (the
     * likeliest misconfiguration) must not strand a region of internal RAM until reboot. */
    uint32_t model_in = 0, model_out = 0, model_window = 0;
    esp_err_t err = ruv_temporal_model_dims(req->model, req->model_len, &model_in, &model_out,
                                            &model_window);
    if (err != ESP_OK) {
        char detail[RUV_TEMPORAL_ERROR_TEXT_CAP + 1];
        ruv_temporal_last_error(NULL, detail, sizeof detail);
        ESP_LOGE(TAG, "model file: 0x%x (%s)", (unsigned)err, detail);
        return err;
    }
    if (model_in != input_dim || model_out != n_classes) {
        ESP_LOGE(TAG, "configured input_dim=%u n_classes=%u, the model has %u and %u",
                 (unsigned)input_dim, (unsigned)n_classes, (unsigned)model_in,
                 (unsigned)model_out);
        return ESP_ERR_INVALID_ARG;
    }
    /* The window mode pools over window_len frames: another length than training's gives other
     * numbers than the host (`aether run`) for the same frames. 0: the file names none (v1). */
    if (model_window != 0 && model_window != window_len) {
        ESP_LOGE(TAG, "configured window_len=%u, the model was trained on %u frames "
                 "(set CONFIG_TEMPORAL_WINDOW_LEN=%u)",
                 (unsigned)window_len, (unsigned)model_window, (unsigned)model_window);
        return ESP_ERR_INVALID_ARG;
    }
    /* The queue as if the model took CSI (the larger item; known only after init), counted
     * against the internal reserve. */
    err = prepare_heap(req->model, req->model_len, window_len,
                       TEMPORAL_QUEUE_DEPTH * queue_item_bytes(input_dim, true));
    if (err != ESP_OK) {
        return err;
    }
    ruv_temporal_ctx_t *ctx = NULL;
    err = ruv_temporal_init(req->model, req->model_len, input_dim, window_len, n_classes, &ctx);
    if (err != ESP_OK) {
        char detail[RUV_TEMPORAL_ERROR_TEXT_CAP + 1];
        ruv_temporal_last_error(NULL, detail, sizeof detail);
        ESP_LOGE(TAG, "ruv_temporal_init: 0x%x (%s)", (unsigned)err, detail);
        return err;
    }
    if (ruv_temporal_kernel_self_test() != ESP_OK) {
        char detail[RUV_TEMPORAL_ERROR_TEXT_CAP + 1];
        ruv_temporal_last_error(NULL, detail, sizeof detail);
        ESP_LOGE(TAG, "kernel self-test failed (%s); temporal head disabled", detail);
        /* Nothing it computes on this chip can be trusted: later starts refuse at once. */
        __atomic_store_n(&s_self_test_failed, true, __ATOMIC_SEQ_CST);
        ruv_temporal_destroy(ctx);
        return ESP_ERR_INVALID_STATE;
    }
    ruv_temporal_info_t info;
    err = ruv_temporal_info(ctx, &info);
    if (err != ESP_OK) {
        ruv_temporal_destroy(ctx);
        return err;
    }
    bool takes_csi = info.takes_csi != 0;
    QueueHandle_t queue =
        xQueueCreate(TEMPORAL_QUEUE_DEPTH, queue_item_bytes(input_dim, takes_csi));
    SemaphoreHandle_t frame_lock = xSemaphoreCreateMutex();
    SemaphoreHandle_t csi_lock = xSemaphoreCreateMutex();
    if (queue == NULL || frame_lock == NULL || csi_lock == NULL) {
        delete_handles(queue, frame_lock, csi_lock);
        ruv_temporal_destroy(ctx);
        return ESP_ERR_NO_MEM;
    }
    s_ctx = ctx;
    s_input_dim = input_dim;
    s_n_classes = n_classes;
    s_feature_set = info.feature_set;
    s_pad_frames = info.feature_set == 0;
    s_takes_csi = takes_csi;
    s_first_word_invalid = false;
    s_seq = 0;
    __atomic_store_n(&s_drop_count, 0u, __ATOMIC_RELAXED);
    __atomic_store_n(&s_rejected_count, 0u, __ATOMIC_RELAXED);
    s_drops_logged = 0;
    s_rejects_logged = 0;
    s_last_drop_log = xTaskGetTickCount();
    s_last_reject_log = s_last_drop_log;
    s_next_classify = s_last_drop_log + pdMS_TO_TICKS(CONFIG_TEMPORAL_CLASSIFY_PERIOD_MS);
    s_frame_lock = frame_lock;
    s_csi_lock = csi_lock;
    s_task_queue = queue;
    return ESP_OK;
}

static void temporal_task_loop(void *arg)
{
    start_request_t *req = arg;
    esp_err_t err = begin_in_task(req);
    req->result = err;
    /* The starter returns once given: `req` is not touched after this. */
    xSemaphoreGive(s_started);
    if (err != ESP_OK) {
        vTaskDelete(NULL);
        return;
    }
    for (;;) {
        temporal_task_service(100);
    }
}

esp_err_t temporal_task_start_with_model(const uint8_t *model, size_t model_len,
                                         uint32_t input_dim, uint32_t window_len,
                                         uint32_t n_classes)
{
    if (s_task != NULL) {
        return ESP_OK;
    }
    if (__atomic_load_n(&s_self_test_failed, __ATOMIC_SEQ_CST)) {
        /* The kernel failed its self-test on this chip: nothing it computes can be trusted. */
        return ESP_ERR_INVALID_STATE;
    }
    if (model == NULL || input_dim == 0 || window_len == 0 || n_classes == 0) {
        return ESP_ERR_INVALID_ARG;
    }
    if (input_dim > TEMPORAL_MAX_INPUT_DIM || n_classes > TEMPORAL_MAX_LOGITS) {
        return ESP_ERR_INVALID_SIZE;
    }
    if (s_started == NULL) {
        s_started = xSemaphoreCreateBinaryStatic(&s_started_buf);
    }
    /* Everything else runs on the task, which answers before it serves: the caller's stack
     * only has to hold this frame (meant to fit app_main's default 3.5 KB). */
    start_request_t req = {model, model_len, input_dim, window_len, n_classes, ESP_FAIL};
    TaskHandle_t task = NULL;
    if (xTaskCreatePinnedToCore(temporal_task_loop, "ruv_temporal", TEMPORAL_TASK_STACK, &req,
                                TEMPORAL_TASK_PRIORITY, &task, TEMPORAL_TASK_CORE) != pdPASS) {
        return ESP_ERR_NO_MEM;
    }
    xSemaphoreTake(s_started, portMAX_DELAY);
    if (req.result != ESP_OK) {
        return req.result; /* the task freed what it made and deleted itself */
    }
    s_task = task;
    /* Published last, sequentially consistent: a producer that sees the queue (acquire, in the
     * push functions) also sees everything the task set (the semaphore ordered it before). */
    __atomic_store_n(&s_queue, s_task_queue, __ATOMIC_SEQ_CST);
    ESP_LOGI(TAG, "started: input_dim=%u window_len=%u n_classes=%u feature_set=%u%s",
             (unsigned)input_dim, (unsigned)window_len, (unsigned)n_classes,
             (unsigned)s_feature_set, s_takes_csi ? " (takes raw CSI)" : "");
    return ESP_OK;
}

esp_err_t temporal_task_start(uint32_t input_dim, uint32_t window_len, uint32_t n_classes)
{
    if (s_task != NULL) {
        return ESP_OK;
    }
    const uint8_t *model = NULL;
    size_t model_len = 0;
    esp_err_t err = load_model(&model, &model_len);
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "model file not found (0x%x)", (unsigned)err);
        return err;
    }
    return temporal_task_start_with_model(model, model_len, input_dim, window_len, n_classes);
}

/* Sends a staged item and releases its lock; a full queue drops and counts. */
static esp_err_t send_staged(QueueHandle_t queue, const temporal_item_t *item,
                             SemaphoreHandle_t lock)
{
    BaseType_t sent = xQueueSend(queue, item, 0);
    xSemaphoreGive(lock);
    if (sent != pdTRUE) {
        __atomic_fetch_add(&s_drop_count, 1u, __ATOMIC_RELAXED);
        return ESP_ERR_TIMEOUT;
    }
    return ESP_OK;
}

esp_err_t temporal_task_push_frame(const float *frame, uint32_t frame_len)
{
    if (frame == NULL || frame_len == 0) {
        return ESP_ERR_INVALID_ARG;
    }
    QueueHandle_t queue = __atomic_load_n(&s_queue, __ATOMIC_ACQUIRE);
    if (queue == NULL) {
        return ESP_ERR_NOT_FOUND;
    }
    if (frame_len != s_input_dim && !s_pad_frames) {
        __atomic_store_n(&s_last_rejected_len, frame_len, __ATOMIC_RELAXED);
        __atomic_fetch_add(&s_rejected_count, 1u, __ATOMIC_RELAXED);
        return ESP_ERR_INVALID_SIZE;
    }
    if (xSemaphoreTake(s_frame_lock, 0) != pdTRUE) {
        __atomic_fetch_add(&s_drop_count, 1u, __ATOMIC_RELAXED);
        return ESP_ERR_TIMEOUT;
    }
    uint32_t n = frame_len < s_input_dim ? frame_len : s_input_dim;
    s_frame_item.ts_us = 0;
    s_frame_item.kind = ITEM_FRAME;
    s_frame_item.flags = 0;
    memcpy(s_frame_item.u.frame, frame, n * sizeof(float));
    memset(s_frame_item.u.frame + n, 0, (s_input_dim - n) * sizeof(float));
    return send_staged(queue, &s_frame_item, s_frame_lock);
}

esp_err_t temporal_task_push_csi(const int8_t *buf, uint32_t len, uint64_t ts_us,
                                 bool first_word_invalid)
{
    if (buf == NULL) {
        return ESP_ERR_INVALID_ARG;
    }
    QueueHandle_t queue = __atomic_load_n(&s_queue, __ATOMIC_ACQUIRE);
    if (queue == NULL) {
        return ESP_ERR_NOT_FOUND;
    }
    if (!s_takes_csi) {
        return ESP_ERR_NOT_SUPPORTED;
    }
    if (len < TEMPORAL_CSI_BYTES) {
        return ESP_ERR_INVALID_SIZE;
    }
    if (xSemaphoreTake(s_csi_lock, 0) != pdTRUE) {
        __atomic_fetch_add(&s_drop_count, 1u, __ATOMIC_RELAXED);
        return ESP_ERR_TIMEOUT;
    }
    s_csi_item.ts_us = ts_us;
    s_csi_item.kind = ITEM_CSI;
    s_csi_item.flags = first_word_invalid ? 1u : 0u;
    memcpy(s_csi_item.u.iq, buf, TEMPORAL_CSI_BYTES);
    return send_staged(queue, &s_csi_item, s_csi_lock);
}

uint32_t temporal_task_drop_count(void)
{
    return __atomic_load_n(&s_drop_count, __ATOMIC_RELAXED);
}

uint32_t temporal_task_rejected_count(void)
{
    return __atomic_load_n(&s_rejected_count, __ATOMIC_RELAXED);
}

uint32_t temporal_task_packet_count(void)
{
    return s_seq;
}

void temporal_task_stop(void)
{
    if (s_task != NULL) {
        vTaskDelete(s_task);
        s_task = NULL;
    }
    __atomic_store_n(&s_queue, NULL, __ATOMIC_SEQ_CST);
    delete_handles(s_task_queue, s_frame_lock, s_csi_lock);
    s_task_queue = NULL;
    s_frame_lock = NULL;
    s_csi_lock = NULL;
    ruv_temporal_destroy(s_ctx);
    s_ctx = NULL;
}

#else /* !CONFIG_CSI_TEMPORAL_HEAD_ENABLED */

esp_err_t temporal_task_start(uint32_t input_dim, uint32_t window_len, uint32_t n_classes)
{
    (void)input_dim;
    (void)window_len;
    (void)n_classes;
    return ESP_ERR_NOT_SUPPORTED;
}

esp_err_t temporal_task_start_with_model(const uint8_t *model, size_t model_len,
                                         uint32_t input_dim, uint32_t window_len,
                                         uint32_t n_classes)
{
    (void)model;
    (void)model_len;
    return temporal_task_start(input_dim, window_len, n_classes);
}

esp_err_t temporal_task_push_frame(const float *frame, uint32_t frame_len)
{
    (void)frame;
    (void)frame_len;
    return ESP_ERR_NOT_SUPPORTED;
}

esp_err_t temporal_task_push_csi(const int8_t *buf, uint32_t len, uint64_t ts_us,
                                 bool first_word_invalid)
{
    (void)buf;
    (void)len;
    (void)ts_us;
    (void)first_word_invalid;
    return ESP_ERR_NOT_SUPPORTED;
}

uint32_t temporal_task_drop_count(void)
{
    return 0;
}

uint32_t temporal_task_rejected_count(void)
{
    return 0;
}

uint32_t temporal_task_packet_count(void)
{
    return 0;
}

void temporal_task_service(uint32_t wait_ms)
{
    (void)wait_ms;
}

void temporal_task_stop(void)
{
}

#endif
