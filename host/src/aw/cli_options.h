// aw's command line: a command, its positional arguments and flags, and where agent-host is
// (flags first, then AW_URL / AW_TOKEN / AW_ADMIN_TOKEN).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "aw/api_client.h"

namespace aw::cli {

struct Invocation {
    std::string command;  //!< empty with --help alone
    std::vector<std::string> args;
    std::map<std::string, std::string> flags;  //!< value flags, by name without "--"
    std::vector<std::string> answers;          //!< --answer, repeatable
    bool json = false;
    bool ask = false;  //!< --ask: approval_mode "ask"
    bool help = false;
    Endpoint endpoint;

    std::string flag(const std::string& name) const {
        const auto it = flags.find(name);
        return it == flags.end() ? std::string() : it->second;
    }
};

//! Throws AwError(kUsage) saying what is wrong with the command line.
Invocation parseCommandLine(int argc, char** argv);

//! `aw --help`: the commands, flags, environment and exit codes.
const char* usageText();

}  // namespace aw::cli
