/* abort-in-feed: a valid provider whose feed calls abort() on every line. Opening a run
 * works; the first line of CLI output kills the provider process (SIGABRT). */
#include "test_plugin.h"

static aw_status abort_feed(aw_run* run, const char* line, size_t line_size, aw_buffer* output,
                            aw_error* error) {
    (void)run, (void)line, (void)line_size, (void)output, (void)error;
    abort();
}

static const aw_provider table = TP_TABLE("abort-in-feed", "1.0.0", abort_feed);
TP_ENTRY(table)
