/* slow-feed: a line that is a number (e.g. "1500") makes feed sleep that many
 * milliseconds before echoing it; any other line is echoed at once. For requests still in
 * flight on an old process when the file is replaced or the provider restarted. */
#define _POSIX_C_SOURCE 200809L
#include "test_plugin.h"

#include <errno.h>
#include <time.h>

static aw_status slow_feed(aw_run* run, const char* line, size_t line_size, aw_buffer* output,
                           aw_error* error) {
    unsigned long ms = 0;
    size_t i = 0;
    while (i < line_size && i < 9 && line[i] >= '0' && line[i] <= '9')
        ms = ms * 10 + (unsigned long)(line[i++] - '0');
    if (i == 0 || i != line_size) ms = 0; /* not (only) a number */

    struct timespec left = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
    char extra[48];
    snprintf(extra, sizeof extra, "\"slept_ms\":%lu", ms);
    return tp_echo(run, line, line_size, extra, output, error);
}

static const aw_provider table = TP_TABLE("slow-feed", "1.0.0", slow_feed);
TP_ENTRY(table)
