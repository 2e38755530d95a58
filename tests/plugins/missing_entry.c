/* missing-entry: a valid shared library that exports something, but not
 * aw_provider_entry. The host must report the missing symbol by name. */
#include <agent_worker/provider_abi.h>

AW_PROVIDER_EXPORT int aw_provider_entry_is_missing(void) { return 1; }
