// agent-provider-host --run: runs a real CLI locally through a plugin, for plugin authors
// and the live CLI tests. Goes through ProviderHostService like the served and replay modes:
//   open -> spawn the invocation -> feed every stdout line -> (reply / interrupt) -> exit
// and prints each unified event as a JSON line on stdout; the CLI's stderr goes to stderr.
#pragma once

#include <string>

namespace aw {

struct RunModeOptions {
    std::string plugin;
    std::string request;              //!< the run request JSON handed to open (required)
    std::string repliesFile;          //!< JSON lines, one reply per human.request, in order
    std::string interruptAfterEvent;  //!< interrupt after the first event of this type
    int interruptAfterMs = -1;        //!< interrupt this long after the CLI started
    int timeoutSeconds = 0;           //!< stop the run (as a host run timeout) after this
    int graceMs = 10000;  //!< after an interrupt: SIGTERM after this, SIGKILL as long again
};

//! Returns 0 when the run was carried out, whatever its outcome; 1 when it could not be
//! (open refused, the CLI could not be started); kProviderRefusedExitCode when the plugin
//! does not load. SIGINT/SIGTERM to agent-provider-host interrupt the run (a second one
//! kills the CLI).
int runMode(const RunModeOptions& options);

}  // namespace aw
