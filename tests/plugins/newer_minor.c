/* newer-minor: built "for" ABI 1.(minor+5), whose table has grown fields this host does
 * not know. It must load and work: the host reads only the 1.0 fields it knows, which a
 * newer minor keeps at the same offsets. */
#include "test_plugin.h"

typedef struct newer_provider {
    aw_provider v1_0;               /* the fields of this ABI, unchanged, first */
    uint64_t future_flags;          /* appended by a later minor */
    const char* future_description; /* appended by a later minor */
    void (*future_hook)(aw_run* run);
} newer_provider;

static const newer_provider table = {
    .v1_0 =
        {
            .struct_size = sizeof(newer_provider),
            .abi_major = AW_PROVIDER_ABI_MAJOR,
            .abi_minor = AW_PROVIDER_ABI_MINOR + 5,
            .name = "newer-minor",
            .version = "1.5.0",
            .capabilities = TP_CAPABILITIES,
            .facts_json = TP_FACTS,
            .open_run = tp_open_run,
            .feed = tp_feed,
            .exit_run = tp_exit_run,
            .reply = tp_reply,
            .interrupt = tp_interrupt,
            .close_run = tp_close_run,
            .free_buffer = tp_free_buffer,
        },
    .future_flags = UINT64_C(0xffffffffffffffff),
    .future_description = "fields an older host must ignore",
    .future_hook = NULL,
};
TP_ENTRY(table.v1_0)
