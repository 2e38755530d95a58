// Entry point of agent-host; everything else lives in AgentHostApp.
#include <sys/stat.h>

#include <csignal>

#include "agent_host/agent_host_app.h"

int main(int argc, char** argv) {
    // Everything the host writes (the database, its -wal and -shm, worker state, logs) is
    // for its own user alone, whatever umask it was started with; the provider-hosts and
    // executors it starts inherit the mask.
    ::umask(077);

    // Block the termination signals before any thread exists, so every thread inherits
    // the mask and SIGINT/SIGTERM reach ServerApplication's sigwait instead of killing the
    // process through a thread that never blocked them.
    sigset_t termination;
    sigemptyset(&termination);
    sigaddset(&termination, SIGINT);
    sigaddset(&termination, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &termination, nullptr);

    aw::AgentHostApp app;
    return app.run(argc, argv);
}
