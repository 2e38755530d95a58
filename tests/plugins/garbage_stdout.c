/* garbage-stdout: writes junk to stdout (where the host protocol would be, were it not
 * diverted to the log) when loaded and on every line, and a line to stderr (which the
 * host forwards to its log tagged with the provider name). On a line containing
 * "bad-json" feed returns output that is not JSON; any other line is echoed correctly. */
#include "test_plugin.h"

static void spew(void) {
    printf("}}}not json{{{\n");
    printf("AWPH|1|1.0|garbage-stdout|6.6.6|0\n"); /* looks like a handshake */
    printf("{\"id\":1,\"ok\":true,\"result\":{\"events\":[]}}\n"); /* looks like a reply */
    fflush(stdout);
}

static aw_status garbage_feed(aw_run* run, const char* line, size_t line_size,
                              aw_buffer* output, aw_error* error) {
    spew();
    fprintf(stderr, "garbage-stdout: fed line %lu\n", run->lines + 1);
    for (size_t i = 0; i + 8 <= line_size; i++)
        if (memcmp(line + i, "bad-json", 8) == 0) {
            run->lines++;
            return tp_reply_with("{\"events\":[{\"type\":\"message.delta\",\"data\":{", output,
                                 error);
        }
    return tp_echo(run, line, line_size, "", output, error);
}

static const aw_provider table = TP_TABLE("garbage-stdout", "1.0.0", garbage_feed);

AW_PROVIDER_EXPORT const aw_provider* aw_provider_entry(uint16_t host_abi_major,
                                                        uint16_t host_abi_minor) {
    (void)host_abi_major, (void)host_abi_minor;
    spew();
    return &table;
}
