/* table-too-small: claims a struct_size that stops before free_buffer, i.e. smaller than
 * AW_PROVIDER_MIN_STRUCT_SIZE (every field of ABI 1.0). The host refuses it. */
#include "test_plugin.h"

static const aw_provider table = {
    .struct_size = (uint32_t)(AW_PROVIDER_MIN_STRUCT_SIZE - sizeof(void (*)(void))),
    .abi_major = AW_PROVIDER_ABI_MAJOR,
    .abi_minor = AW_PROVIDER_ABI_MINOR,
    .name = "table-too-small",
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
