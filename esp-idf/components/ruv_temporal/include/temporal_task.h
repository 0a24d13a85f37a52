/*
 * FreeRTOS wiring of the on-device temporal head: a queue of feature frames (or, for a model on
 * CSI features, raw CSI buffers), one task that feeds them to ruv_temporal and sends a
 * 0xC5110007 classification packet every period whose window is full (window_len frames;
 * after boot, a reset or a CSI gap it waits for the window to fill again).
 *
 * Threading: temporal_task_push_frame and temporal_task_push_csi may be called from any task
 * (not from an ISR; the Wi-Fi CSI callback is fine); start, stop and the setters from one task
 * (normally app_main). The task owns the ruv_temporal context; no other code may call into it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "esp_err.h"
#include "sdkconfig.h"

#ifdef __cplusplus
extern "C" {
#endif

/* With the feature off, Kconfig defines none of the head's values (they depend on the enable
 * flag), so a caller's temporal_task_start(CONFIG_TEMPORAL_INPUT_DIM, ...) would not compile;
 * these keep it compiling, and the call returns ESP_ERR_NOT_SUPPORTED. */
#ifndef CONFIG_CSI_TEMPORAL_HEAD_ENABLED
#ifndef CONFIG_TEMPORAL_INPUT_DIM
#define CONFIG_TEMPORAL_INPUT_DIM 0
#endif
#ifndef CONFIG_TEMPORAL_WINDOW_LEN
#define CONFIG_TEMPORAL_WINDOW_LEN 0
#endif
#ifndef CONFIG_TEMPORAL_N_CLASSES
#define CONFIG_TEMPORAL_N_CLASSES 0
#endif
#endif

/** Frames waiting for the task; a push onto a full queue is dropped and counted. */
#define TEMPORAL_QUEUE_DEPTH 32
/** Task stack in bytes: start loads the model on it (5.3 KB on RISC-V, QEMU), then classify. */
#define TEMPORAL_TASK_STACK 16384
/** Core 1 (Wi-Fi runs on core 0); core 0 when FreeRTOS runs on one core (a core id above
 *  the last one makes task creation fail). */
#ifdef CONFIG_FREERTOS_UNICORE
#define TEMPORAL_TASK_CORE 0
#else
#define TEMPORAL_TASK_CORE 1
#endif
/** Below the edge DSP task. */
#define TEMPORAL_TASK_PRIORITY 4
/** Largest n_classes (the logits array size); Kconfig's TEMPORAL_N_CLASSES range ends here. */
#define TEMPORAL_MAX_LOGITS 16
/** Largest input_dim; Kconfig's TEMPORAL_INPUT_DIM range ends here, buffers are this big. */
#define TEMPORAL_MAX_INPUT_DIM 256
/** CSI bytes a queued buffer keeps: the feature extractor reads the first 64 subcarriers
 *  (2 bytes each), the L-LTF block in ESP-IDF's HT20 layout (lltf_en on, no secondary
 *  channel), ordered 0..31, -32..-1. HT40 or HT-LTF-only buffers order them otherwise: their
 *  features stay finite but the band and slope features lose their meaning. */
#define TEMPORAL_CSI_BYTES 128

/** Magic, version and size of the classification packet (RuView PR #516 §3.9). */
#define RV_TEMPORAL_PKT_MAGIC 0xC5110007u
#define RV_TEMPORAL_PKT_VERSION 1
#define RV_TEMPORAL_PKT_LEN 40

/** Sends one finished packet (e.g. a wrapper around RuView's stream_sender_send). */
typedef void (*temporal_emit_fn)(const uint8_t *pkt, size_t len, void *user);

/**
 * Writes the 40-byte 0xC5110007 packet for `logits[0..n_classes)` into `out`:
 * argmax = first maximum, margin = top1 - top2 (top2 starts at -1e30), IEEE CRC-32 over
 * bytes 0..36. n_classes must be 1..TEMPORAL_MAX_LOGITS (else ESP_ERR_INVALID_SIZE).
 */
esp_err_t temporal_pkt_build(uint8_t out[RV_TEMPORAL_PKT_LEN], uint8_t node_id, uint64_t ts_us,
                             uint32_t seq, const float *logits, uint32_t n_classes);

/** IEEE 802.3 CRC-32 (zlib) of `len` bytes. */
uint32_t temporal_crc32(const uint8_t *data, size_t len);

/** Where packets go and which node id they carry. Call before temporal_task_start. */
void temporal_task_set_emitter(temporal_emit_fn emit, void *user, uint8_t node_id);

/**
 * Finds the model file (EMBED_FILES or the data partition, per Kconfig) and creates the task,
 * which checks the file against the arguments, sets the heap aside, creates the ruv_temporal
 * context and the queue and runs the kernel self-test on its own stack (TEMPORAL_TASK_STACK),
 * then answers; start waits for that answer (the init's warm-up pass runs over a whole
 * window at TEMPORAL_TASK_PRIORITY), so the caller's stack holds only start's frame (meant to
 * fit ESP-IDF's default app_main stack). Idempotent while running (ESP_OK).
 * Returns ESP_ERR_INVALID_ARG for a zero argument or an input_dim/n_classes/window_len the
 * model file does not have (checked before any heap region is set aside), ESP_ERR_INVALID_SIZE for
 * input_dim > TEMPORAL_MAX_INPUT_DIM or n_classes > TEMPORAL_MAX_LOGITS, ESP_ERR_NOT_FOUND if
 * the model file is missing, ESP_ERR_NO_MEM when memory runs out or a heap region in internal
 * RAM would leave less than CONFIG_TEMPORAL_INTERNAL_RESERVE_KB free, ESP_ERR_NOT_SUPPORTED when
 * the feature is disabled or the model would not run as trained (dense-trained, or trained on
 * node-referenced frames without a node reference: run `aether calibrate`; no heap set aside),
 * ESP_ERR_INVALID_STATE when the kernel failed its self-test on this chip (the head stays off;
 * later starts refuse at once), otherwise what ruv_temporal_init returns. A failed start
 * leaves no task or queue behind (a heap region it set aside stays the library's until reboot,
 * and a later start reuses it). Never call it from two tasks at once.
 */
esp_err_t temporal_task_start(uint32_t input_dim, uint32_t window_len, uint32_t n_classes);

/**
 * Same, with the model file given by the caller (NULL: ESP_ERR_INVALID_ARG; ruv_temporal
 * copies what it needs at init, so the buffer may be freed once this returns).
 */
esp_err_t temporal_task_start_with_model(const uint8_t *model, size_t model_len,
                                         uint32_t input_dim, uint32_t window_len,
                                         uint32_t n_classes);

/**
 * Queues one feature frame without blocking.
 *
 * A model file that names its feature set (every file `aether train` writes) takes frames of
 * exactly input_dim floats: any other frame_len returns ESP_ERR_INVALID_SIZE and is counted
 * (temporal_task_rejected_count; the task logs the mismatch), so 9 floats of the 0xC5110006
 * state never reach a head trained on 19 CSI features. A file without a feature set (the seed's
 * v1 format) keeps the seed's rule: min(frame_len, input_dim) floats, zero-padded.
 *
 * Returns ESP_OK; ESP_ERR_INVALID_ARG (NULL or frame_len 0), ESP_ERR_INVALID_SIZE (above),
 * ESP_ERR_NOT_FOUND (not started), ESP_ERR_TIMEOUT when the queue is full or another producer
 * holds the staging buffer (the frame is dropped and counted), ESP_ERR_NOT_SUPPORTED when the
 * feature is disabled.
 */
esp_err_t temporal_task_push_frame(const float *frame, uint32_t frame_len);

/**
 * Queues one antenna's raw CSI for a model on CSI features (set 1, 3 or 4): `buf`/`len` are
 * `wifi_csi_info_t.buf`/`.len`, `ts_us` the receive time on a 64-bit clock
 * (`esp_timer_get_time()` in the callback; not `rx_ctrl.timestamp`, whose 32 bits wrap every
 * 71.6 min, which the extractor would take for time going backwards and restart its state),
 * `first_word_invalid` the info's flag. One transmitter per stream: filter by `info->mac`
 * first, as the extractor's frame-to-frame state assumes one link. Copies TEMPORAL_CSI_BYTES bytes; the task runs the
 * feature extractor (ruv_temporal_push_csi). Safe to call from the Wi-Fi CSI callback: it never
 * blocks and puts nothing on the caller's stack.
 *
 * Returns ESP_OK; ESP_ERR_INVALID_ARG (NULL), ESP_ERR_INVALID_SIZE (len < TEMPORAL_CSI_BYTES),
 * ESP_ERR_NOT_FOUND (not started), ESP_ERR_NOT_SUPPORTED when the model does not take CSI
 * features or the feature is disabled, ESP_ERR_TIMEOUT as for push_frame.
 */
esp_err_t temporal_task_push_csi(const int8_t *buf, uint32_t len, uint64_t ts_us,
                                 bool first_word_invalid);

/** Frames dropped since start (queue full or staging buffer busy). */
uint32_t temporal_task_drop_count(void);

/** Frames refused since start because their length does not match the model. */
uint32_t temporal_task_rejected_count(void);

/** Packets sent since start (equals the last packet's seq). */
uint32_t temporal_task_packet_count(void);

/**
 * One iteration of the task loop: waits up to `wait_ms` for a frame, pushes it, and classifies
 * and emits when the period has elapsed. The task calls this forever; host tests call it
 * directly.
 */
void temporal_task_service(uint32_t wait_ms);

/** Deletes the task, the queue and the context. Tests only (firmware never stops it): the
 *  caller must make sure no producer can be inside a push, and on SMP that the task is not
 *  running on the other core. */
void temporal_task_stop(void);

#ifdef __cplusplus
}
#endif
