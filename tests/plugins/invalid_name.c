/* invalid-name: a valid table whose name breaks the [a-z0-9-]+ rule; the host refuses it. */
#include "test_plugin.h"

static const aw_provider table = TP_TABLE("Bad Name!", "1.0.0", tp_feed);
TP_ENTRY(table)
