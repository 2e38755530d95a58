// Entry point of agent-host; everything else lives in AgentHostApp.
#include "agent_host/agent_host_app.h"

int main(int argc, char** argv) {
    aw::AgentHostApp app;
    return app.run(argc, argv);
}
