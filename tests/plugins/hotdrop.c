/* hotdrop: one source built twice, as hotdrop-v1.so (version 1.0.0) and hotdrop-v2.so
 * (2.0.0), both named "hotdrop". A test drops v1, then replaces it with v2, and reads
 * data.version in the events to see which process answered. */
#include "test_plugin.h"

#ifndef HOTDROP_VERSION
#error "build with -DHOTDROP_VERSION=\"x.y.z\""
#endif

static aw_status hotdrop_feed(aw_run* run, const char* line, size_t line_size,
                              aw_buffer* output, aw_error* error) {
    return tp_echo(run, line, line_size, "\"version\":\"" HOTDROP_VERSION "\"", output, error);
}

static const aw_provider table = TP_TABLE("hotdrop", HOTDROP_VERSION, hotdrop_feed);
TP_ENTRY(table)
