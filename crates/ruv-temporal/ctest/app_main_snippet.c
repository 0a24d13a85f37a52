/* The component README's app_main call, compiled with the feature on and off (c-tests.sh):
 * with it off Kconfig defines none of CONFIG_TEMPORAL_*, and the call must still compile. */
#include "temporal_task.h"

esp_err_t snippet_start(void);
esp_err_t snippet_start(void)
{
    return temporal_task_start(CONFIG_TEMPORAL_INPUT_DIM, CONFIG_TEMPORAL_WINDOW_LEN,
                               CONFIG_TEMPORAL_N_CLASSES);
}
