/* Host build configuration of the component (the Kconfig maxima where they matter). */
#pragma once
#ifndef SHIM_VARIANT_DISABLED
#define CONFIG_CSI_TEMPORAL_HEAD_ENABLED 1
#endif
/* Kconfig defines the head's values only with the feature on (they depend on it). */
#ifndef SHIM_VARIANT_DISABLED
#define CONFIG_TEMPORAL_INPUT_DIM 256
#define CONFIG_TEMPORAL_WINDOW_LEN 256
#define CONFIG_TEMPORAL_N_CLASSES 16
#define CONFIG_TEMPORAL_CLASSIFY_PERIOD_MS 1000
#endif
#ifdef SHIM_VARIANT_UNICORE
#define CONFIG_FREERTOS_UNICORE 1
#endif
#ifdef SHIM_VARIANT_PARTITION_REGION
/* Compile-only variant (scripts/c-tests.sh): the other weights source and allocator branches. */
#define CONFIG_TEMPORAL_WEIGHTS_PARTITION 1
#define CONFIG_TEMPORAL_WEIGHTS_PARTITION_LABEL "temporal"
#define CONFIG_TEMPORAL_WEIGHTS_PARTITION_MAX_KB 256
#define CONFIG_TEMPORAL_ALLOC_REGION 1
#ifndef SHIM_REGION_INTERNAL_ONLY
#define CONFIG_TEMPORAL_HEAP_SPIRAM 1
#endif
#define CONFIG_TEMPORAL_INTERNAL_RESERVE_KB 64
#else
#define CONFIG_TEMPORAL_WEIGHTS_EMBED 1
#define CONFIG_TEMPORAL_WEIGHTS_FILE "model/temporal_head.rvne"
/* The host library has no region allocator (system malloc); heap_caps mode skips the region. */
#define CONFIG_TEMPORAL_ALLOC_HEAP_CAPS 1
#endif
