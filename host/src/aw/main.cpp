// aw: the command-line client of agent-host's public HTTP API (docs/aw.md, aw --help).
#include <iostream>

#include "aw/commands.h"

int main(int argc, char** argv) {
    using namespace aw::cli;
    try {
        const Invocation invocation = parseCommandLine(argc, argv);
        if (invocation.help || invocation.command.empty()) {
            (invocation.help ? std::cout : std::cerr) << usageText();
            return invocation.help ? kCompleted : kUsage;
        }
        const int code = runCommand(invocation, std::cout);
        std::cout << std::flush;
        return code;
    } catch (const AwError& e) {
        std::cout << std::flush;
        std::cerr << "aw: " << e.what() << "\n";
        if (!e.hint().empty()) std::cerr << "  hint: " << e.hint() << "\n";
        return e.exitCode();
    } catch (const std::exception& e) {
        std::cerr << "aw: " << e.what() << "\n";
        return kUnreachable;
    }
}
