/* flood-events: every line becomes one output of 200000 message.delta events (about
 * 16 MB of JSON). The host must survive it, and other providers must not be delayed. */
#include "test_plugin.h"

#define FLOOD_EVENTS 200000

static aw_status flood_feed(aw_run* run, const char* line, size_t line_size, aw_buffer* output,
                            aw_error* error) {
    (void)line, (void)line_size;
    tp_text t = {0, 0, 0, 0};
    run->lines++;
    tp_append_str(&t, "{\"events\":[");
    for (unsigned long i = 0; i < FLOOD_EVENTS; i++)
        tp_appendf(&t, "%s{\"type\":\"message.delta\",\"data\":{\"text\":\"flood event %06lu\","
                       "\"line\":%lu,\"i\":%lu}}",
                   i == 0 ? "" : ",", i, run->lines, i);
    tp_append_str(&t, "]}");
    return tp_finish(&t, output, error);
}

static const aw_provider table = TP_TABLE("flood-events", "1.0.0", flood_feed);
TP_ENTRY(table)
