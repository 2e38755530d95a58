/* abort-on-poison: echoes lines like the example, but calls abort() on any line that
 * contains "poison". For the quarantine path: after a crash the host replays the run's raw
 * lines into a fresh process; a line that keeps crashing it must be skipped, not retried
 * forever, while the lines around it still translate. */
#include "test_plugin.h"

static aw_status poison_feed(aw_run* run, const char* line, size_t line_size,
                             aw_buffer* output, aw_error* error) {
    for (size_t i = 0; i + 6 <= line_size; i++)
        if (memcmp(line + i, "poison", 6) == 0) abort();
    return tp_echo(run, line, line_size, "", output, error);
}

static const aw_provider table = TP_TABLE("abort-on-poison", "1.0.0", poison_feed);
TP_ENTRY(table)
