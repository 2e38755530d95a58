/* crash-in-entry: loads fine, then dies with SIGSEGV inside aw_provider_entry. */
#include <agent_worker/provider_abi.h>

#include <signal.h>
#include <stddef.h>

AW_PROVIDER_EXPORT const aw_provider* aw_provider_entry(uint16_t host_abi_major,
                                                        uint16_t host_abi_minor) {
    (void)host_abi_major, (void)host_abi_minor;
    raise(SIGSEGV);
    return NULL;
}
