/*
 * FreeRTOS wiring of the on-device temporal head (see temporal_task.h).
 *
 * Memory: the queue holds TEMPORAL_QUEUE_DEPTH frames of exactly input_dim floats (2 KiB at
 * input_dim 16, 32 KiB at the maximum 256). Frames that need padding are built in a static
 * buffer of TEMPORAL_MAX_INPUT_DIM floats, never on the caller's stack (pushes come from the
 * timer-service task, whose stack is small).
 */
#include "temporal_task.h"

#include <stdbool.h>
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

static ruv_temporal_ctx_t *s_ctx;
static QueueHandle_t s_queue;
/* Set by the task when the kernel self-test fails; start refuses from then on. */
static bool s_self_test_failed;
static SemaphoreHandle_t s_pad_lock;
static TaskHandle_t s_task;
static uint32_t s_input_dim;
static uint32_t s_n_classes;
static uint32_t s_seq;
static uint32_t s_drop_count; /* atomic: producers run on any task */
static uint32_t s_drops_logged;
static TickType_t s_next_classify;
static TickType_t s_last_drop_log;
/* Producer-side padding buffer (guarded by s_pad_lock) and the task's receive buffer. */
static float s_pad[TEMPORAL_MAX_INPUT_DIM];
static float s_rx[TEMPORAL_MAX_INPUT_DIM];
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

static esp_err_t prepare_heap(const uint8_t *model, size_t model_len, uint32_t window_len)
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
    const uint32_t caps = MALLOC_CAP_SPIRAM | MALLOC_CAP_8BIT;
#else
    const uint32_t caps = MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT;
#endif
    void *region = heap_caps_malloc(need, caps);
    if (region == NULL) {
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
    return ESP_OK;
#endif
}

static void classify_and_emit(void)
{
    float logits[TEMPORAL_MAX_LOGITS];
    esp_err_t err = ruv_temporal_classify(s_ctx, logits, s_n_classes);
    if (err == ESP_ERR_INVALID_STATE) {
        return; /* no frame yet */
    }
    if (err != ESP_OK) {
        char detail[96];
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
    if (s_queue == NULL || s_ctx == NULL) {
        return;
    }
    if (xQueueReceive(s_queue, s_rx, pdMS_TO_TICKS(wait_ms)) == pdTRUE) {
        esp_err_t err = ruv_temporal_push(s_ctx, s_rx);
        if (err != ESP_OK) {
            ESP_LOGW(TAG, "push failed: 0x%x", (unsigned)err);
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
        ESP_LOGW(TAG, "queue full: %u feature frames dropped so far", (unsigned)drops);
        s_drops_logged = drops;
        s_last_drop_log = now;
    }
}

static void temporal_task_loop(void *arg)
{
    (void)arg;
    if (ruv_temporal_kernel_self_test() != ESP_OK) {
        char detail[96];
        ruv_temporal_last_error(NULL, detail, sizeof detail);
        ESP_LOGE(TAG, "kernel self-test failed (%s); temporal head disabled", detail);
        /* Stop accepting frames: pushes return ESP_ERR_NOT_FOUND from now on. The queue is
         * left allocated (a producer may be inside xQueueSend right now); s_self_test_failed
         * keeps a later start from allocating another, so this path runs at most once per
         * boot. */
        s_self_test_failed = true;
        __atomic_store_n(&s_queue, NULL, __ATOMIC_RELEASE);
        ruv_temporal_destroy(s_ctx);
        s_ctx = NULL;
        s_task = NULL;
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
    if (s_self_test_failed) {
        /* The kernel failed its self-test on this chip: nothing it computes can be trusted. */
        return ESP_ERR_INVALID_STATE;
    }
    if (input_dim == 0 || window_len == 0 || n_classes == 0) {
        return ESP_ERR_INVALID_ARG;
    }
    if (input_dim > TEMPORAL_MAX_INPUT_DIM || n_classes > TEMPORAL_MAX_LOGITS) {
        return ESP_ERR_INVALID_SIZE;
    }
    esp_err_t err = prepare_heap(model, model_len, window_len);
    if (err != ESP_OK) {
        return err;
    }
    ruv_temporal_ctx_t *ctx = NULL;
    err = ruv_temporal_init(model, model_len, input_dim, window_len, n_classes, &ctx);
    if (err != ESP_OK) {
        char detail[96];
        ruv_temporal_last_error(NULL, detail, sizeof detail);
        ESP_LOGE(TAG, "ruv_temporal_init: 0x%x (%s)", (unsigned)err, detail);
        return err;
    }
    QueueHandle_t queue = xQueueCreate(TEMPORAL_QUEUE_DEPTH, input_dim * sizeof(float));
    SemaphoreHandle_t lock = xSemaphoreCreateMutex();
    if (queue == NULL || lock == NULL) {
        if (queue != NULL) {
            vQueueDelete(queue);
        }
        if (lock != NULL) {
            vSemaphoreDelete(lock);
        }
        ruv_temporal_destroy(ctx);
        return ESP_ERR_NO_MEM;
    }
    s_ctx = ctx;
    s_input_dim = input_dim;
    s_n_classes = n_classes;
    s_seq = 0;
    __atomic_store_n(&s_drop_count, 0u, __ATOMIC_RELAXED);
    s_drops_logged = 0;
    s_last_drop_log = xTaskGetTickCount();
    s_next_classify = s_last_drop_log + pdMS_TO_TICKS(CONFIG_TEMPORAL_CLASSIFY_PERIOD_MS);
    s_pad_lock = lock;
    /* Published last, with release order: a producer that sees the queue (acquire, in
     * temporal_task_push_frame) also sees input_dim and the lock set above, on either core. */
    __atomic_store_n(&s_queue, queue, __ATOMIC_RELEASE);
    if (xTaskCreatePinnedToCore(temporal_task_loop, "ruv_temporal", TEMPORAL_TASK_STACK, NULL,
                                TEMPORAL_TASK_PRIORITY, &s_task,
                                TEMPORAL_TASK_CORE) != pdPASS) {
        s_task = NULL;
        s_queue = NULL;
        s_ctx = NULL;
        s_pad_lock = NULL;
        vQueueDelete(queue);
        vSemaphoreDelete(lock);
        ruv_temporal_destroy(ctx);
        return ESP_ERR_NO_MEM;
    }
    ESP_LOGI(TAG, "started: input_dim=%u window_len=%u n_classes=%u", (unsigned)input_dim,
             (unsigned)window_len, (unsigned)n_classes);
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

esp_err_t temporal_task_push_frame(const float *frame, uint32_t frame_len)
{
    if (frame == NULL || frame_len == 0) {
        return ESP_ERR_INVALID_ARG;
    }
    QueueHandle_t queue = __atomic_load_n(&s_queue, __ATOMIC_ACQUIRE);
    if (queue == NULL) {
        return ESP_ERR_NOT_FOUND;
    }
    if (frame_len >= s_input_dim) {
        /* The queue copies exactly input_dim floats from the caller's frame. */
        if (xQueueSend(queue, frame, 0) != pdTRUE) {
            __atomic_fetch_add(&s_drop_count, 1u, __ATOMIC_RELAXED);
            return ESP_ERR_TIMEOUT;
        }
        return ESP_OK;
    }
    if (xSemaphoreTake(s_pad_lock, 0) != pdTRUE) {
        __atomic_fetch_add(&s_drop_count, 1u, __ATOMIC_RELAXED);
        return ESP_ERR_TIMEOUT;
    }
    memcpy(s_pad, frame, frame_len * sizeof(float));
    memset(s_pad + frame_len, 0, (s_input_dim - frame_len) * sizeof(float));
    BaseType_t sent = xQueueSend(queue, s_pad, 0);
    xSemaphoreGive(s_pad_lock);
    if (sent != pdTRUE) {
        __atomic_fetch_add(&s_drop_count, 1u, __ATOMIC_RELAXED);
        return ESP_ERR_TIMEOUT;
    }
    return ESP_OK;
}

uint32_t temporal_task_drop_count(void)
{
    return __atomic_load_n(&s_drop_count, __ATOMIC_RELAXED);
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
    if (s_queue != NULL) {
        vQueueDelete(s_queue);
        s_queue = NULL;
    }
    if (s_pad_lock != NULL) {
        vSemaphoreDelete(s_pad_lock);
        s_pad_lock = NULL;
    }
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

uint32_t temporal_task_drop_count(void)
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
