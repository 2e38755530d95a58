/* crash-on-load: dies with SIGSEGV while being loaded (in a static constructor, before
 * the host can even look up the entry point). The host must list it as failed and keep
 * every other provider running. */
#include "test_plugin.h"

#include <signal.h>

__attribute__((constructor)) static void crash_while_loading(void) {
    raise(SIGSEGV); /* deterministic, unlike a null write the optimiser may drop */
}

static const aw_provider table = TP_TABLE("crash-on-load", "1.0.0", tp_feed);
TP_ENTRY(table)
