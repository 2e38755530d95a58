// agent-host as a real child process: started from build/bin, waited on until it prints
// the URL it listens on, stopped with SIGTERM.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "process/subprocess.h"
#include "support/temp_dir.h"

namespace aw::test {

std::string agentHostBinary();  //!< <build>/bin/agent-host

struct HostLaunch {
    std::vector<std::string> args;          //!< after the program name
    std::map<std::string, std::string> env;  //!< AW_* and friends
};

class AgentHostProcess {
public:
    //! Starts the host; throws with its stderr when it exits or stays silent instead.
    explicit AgentHostProcess(HostLaunch launch);
    ~AgentHostProcess();

    unsigned short port() const { return port_; }
    //! SIGTERM and wait; returns the exit status.
    ExitStatus stop();
    //! Everything the host wrote to stderr so far (its JSON log).
    std::string log() const;

private:
    TempDir logDir_{"aw-host-log"};
    std::unique_ptr<Subprocess> process_;
    unsigned short port_ = 0;
};

struct RefusedStart {
    ExitStatus status;
    std::string stderrText;
    std::string stdoutText;
};

//! Runs a host expected to refuse to start; returns how it ended and what it said.
RefusedStart runHostExpectingExit(HostLaunch launch);

//! Sets `--flag value`, replacing the flag's value when it is already there.
void setFlag(HostLaunch& launch, const std::string& flag, const std::string& value);

//! Arguments for a host on a free loopback port with its data in `dataDir`.
HostLaunch defaultLaunch(const std::string& dataDir);

}  // namespace aw::test
