/* Host shim: ESP_LOGx print to stderr. */
#pragma once
#include <stdio.h>
#define ESP_LOG_(lvl, tag, fmt, ...) fprintf(stderr, lvl " (%s) " fmt "\n", tag, ##__VA_ARGS__)
#define ESP_LOGE(tag, fmt, ...) ESP_LOG_("E", tag, fmt, ##__VA_ARGS__)
#define ESP_LOGW(tag, fmt, ...) ESP_LOG_("W", tag, fmt, ##__VA_ARGS__)
#define ESP_LOGI(tag, fmt, ...) ESP_LOG_("I", tag, fmt, ##__VA_ARGS__)
