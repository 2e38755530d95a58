/* wrong-abi-major: a table built for the next major ABI. The host must refuse it with a
 * clear error (status failed) instead of calling into a table it does not understand. */
#include "test_plugin.h"

static const aw_provider table = {
    .struct_size = sizeof(aw_provider),
    .abi_major = AW_PROVIDER_ABI_MAJOR + 1,
    .abi_minor = 0,
    .name = "wrong-abi-major",
    .version = "1.0.0",
    .capabilities = TP_CAPABILITIES,
    .facts_json = TP_FACTS,
    .open_run = tp_open_run,
    .feed = tp_feed,
    .exit_run = tp_exit_run,
    .reply = tp_reply,
    .interrupt = tp_interrupt,
    .close_run = tp_close_run,
    .free_buffer = tp_free_buffer,
};
TP_ENTRY(table)
