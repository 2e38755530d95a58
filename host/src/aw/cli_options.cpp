#include "aw/cli_options.h"

#include <cstdlib>
#include <set>

namespace aw::cli {
namespace {

const std::set<std::string> kValueFlags = {"url",     "token",   "admin-token",  "provider",
                                           "model",   "session", "limit",        "message",
                                           "request", "answer",  "approval-mode"};

std::string fromEnvironment(const char* name) {
    const char* value = std::getenv(name);
    return value ? value : "";
}

}  // namespace

const char* usageText() {
    return R"(aw: the command-line client of agent-host's HTTP API

usage:
  aw send SESSION --provider P [--model M] [--ask] PROMPT...
                              post a message (PROMPT "-": read it from stdin) and show the
                              run live; Ctrl-C stops the run, a second Ctrl-C quits at once
  aw watch RUN                show a run's events from its start until it ends
  aw reply RUN allow|deny [--message WHY] [--answer LABEL]... [--request ID]
                              answer the run's pending human request (the oldest, or ID);
                              a question takes allow and one --answer per question
  aw runs [--session S] [--limit N]    the newest runs
  aw sessions [--limit N]              the most recently active sessions
  aw providers                         the provider plugins (admin token)

flags:
  --url URL            agent-host's address (AW_URL; default http://127.0.0.1:8080)
  --token T            client bearer token for /v1/... (AW_TOKEN)
  --admin-token T      admin bearer token for /admin/... (AW_ADMIN_TOKEN; default: --token)
  --json               raw JSON: a command's answer, or a run's events one JSON per line
  --ask                send: the run asks before each tool (approval_mode "ask")

exit codes:
  0  the run completed (other commands: done)
  1  the run failed
  2  the command line is wrong
  3  the run was stopped (Ctrl-C, or a stop from elsewhere)
  4  agent-host refused the request (its error code, message and hint are printed)
  5  agent-host could not be reached, or did not answer as the API does
  130  a second Ctrl-C: aw quit without waiting for the run to end
)";
}

Invocation parseCommandLine(int argc, char** argv) {
    Invocation invocation;
    invocation.endpoint.url = fromEnvironment("AW_URL");
    if (invocation.endpoint.url.empty()) invocation.endpoint.url = "http://127.0.0.1:8080";
    invocation.endpoint.token = fromEnvironment("AW_TOKEN");
    invocation.endpoint.adminToken = fromEnvironment("AW_ADMIN_TOKEN");

    bool flagsEnded = false;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (flagsEnded || arg.size() < 2 || arg[0] != '-' || arg == "-") {
            if (invocation.command.empty()) {
                invocation.command = arg;
            } else {
                invocation.args.push_back(arg);
            }
            continue;
        }
        if (arg == "--") {
            flagsEnded = true;
        } else if (arg == "--help" || arg == "-h") {
            invocation.help = true;
        } else if (arg == "--json") {
            invocation.json = true;
        } else if (arg == "--ask") {
            invocation.ask = true;
        } else if (arg.rfind("--", 0) == 0) {
            std::string name = arg.substr(2);
            std::string value;
            const auto equals = name.find('=');
            if (equals != std::string::npos) {
                value = name.substr(equals + 1);
                name.resize(equals);
            } else if (kValueFlags.count(name)) {
                if (i + 1 >= argc)
                    throw AwError(kUsage, "--" + name + " needs a value", "see aw --help");
                value = argv[++i];
            }
            if (!kValueFlags.count(name))
                throw AwError(kUsage, "unknown flag --" + name, "see aw --help");
            if (name == "answer") {
                invocation.answers.push_back(value);
            } else {
                invocation.flags[name] = value;
            }
        } else {
            throw AwError(kUsage, "unknown flag " + arg, "see aw --help");
        }
    }
    if (invocation.flags.count("url")) invocation.endpoint.url = invocation.flags["url"];
    if (invocation.flags.count("token")) invocation.endpoint.token = invocation.flags["token"];
    if (invocation.flags.count("admin-token")) {
        invocation.endpoint.adminToken = invocation.flags["admin-token"];
    }
    return invocation;
}

}  // namespace aw::cli
