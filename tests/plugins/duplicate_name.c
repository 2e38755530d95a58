/* duplicate-name: a valid provider that claims the name "example", like the SDK example.
 * Two files claiming one name: the host must keep one and report the other. Its version
 * and the "duplicate" field in its events tell the two apart. */
#include "test_plugin.h"

static aw_status duplicate_feed(aw_run* run, const char* line, size_t line_size,
                                aw_buffer* output, aw_error* error) {
    return tp_echo(run, line, line_size, "\"duplicate\":true", output, error);
}

static const aw_provider table = TP_TABLE("example", "0.0.1-duplicate", duplicate_feed);
TP_ENTRY(table)
