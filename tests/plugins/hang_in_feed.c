/* hang-in-feed: a valid provider whose feed never returns. The host's request timeout
 * and heartbeat must notice, kill the process (SIGTERM, then SIGKILL) and restart it.
 * A line containing "ignore-sigterm" makes it ignore SIGTERM first, so only SIGKILL
 * ends it. */
#define _POSIX_C_SOURCE 200809L
#include "test_plugin.h"

#include <signal.h>
#include <unistd.h>

static aw_status hang_feed(aw_run* run, const char* line, size_t line_size, aw_buffer* output,
                           aw_error* error) {
    (void)run, (void)output, (void)error;
    for (size_t i = 0; i + 14 <= line_size; i++)
        if (memcmp(line + i, "ignore-sigterm", 14) == 0) signal(SIGTERM, SIG_IGN);
    for (;;) pause(); /* sleeps until a signal; none that we catch ever arrives */
    return AW_ERR_INTERNAL; /* unreachable; keeps -Wreturn-type quiet */
}

static const aw_provider table = TP_TABLE("hang-in-feed", "1.0.0", hang_feed);
TP_ENTRY(table)
