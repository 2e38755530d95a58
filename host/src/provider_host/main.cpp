// agent-provider-host: runs ONE provider plugin in its own process, so that its crash,
// hang or flood stays its own.
//   served:  agent-provider-host --plugin FILE.so            (used by agent-host)
//   replay:  agent-provider-host --plugin FILE.so --replay CAPTURE.jsonl [--exit-code N]
//            [--signal N] [--stop-requested] [--request JSON|@FILE] [--with-stdin]
//   run:     agent-provider-host --plugin FILE.so --run --request JSON|@FILE [--replies FILE]
//            [--interrupt-after-event TYPE | --interrupt-after-ms N] [--timeout-s N]
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <string>
#include <thread>

#include "provider/provider_protocol.h"
#include "provider/provider_replay.h"
#include "provider_host/provider_host_service.h"
#include "provider_host/run_mode.h"

namespace {

const char* kUsage =
    "usage: agent-provider-host --plugin FILE.so [--replay CAPTURE.jsonl [--exit-code N]\n"
    "           [--signal N] [--stop-requested] [--request JSON|@FILE] [--with-stdin]]\n"
    "       agent-provider-host --plugin FILE.so --run --request JSON|@FILE [--replies FILE]\n"
    "           [--interrupt-after-event TYPE | --interrupt-after-ms N] [--timeout-s N]\n"
    "\n"
    "Without --replay: prints a handshake line, then serves requests in binary frames on\n"
    "stdin (the protocol agent-host speaks, host/src/provider/provider_protocol.h). With\n"
    "--replay: feeds each line of CAPTURE (a recorded CLI stdout) through the plugin, then\n"
    "the exit, and prints the unified events a run would store as JSON lines. --request is\n"
    "the run request JSON handed to open (default: a minimal request), or @FILE holding it;\n"
    "--with-stdin also prints what the plugin would write to the CLI's stdin. A line the\n"
    "plugin fails or whose output is rejected (docs/events.md) is named on stderr (line N:\n"
    "reason) and stands as a provider.line_error event; the replay then exits 1 (3: the\n"
    "plugin was refused).\n"
    "With --run: opens the run, starts the CLI the plugin describes (inheriting this\n"
    "environment plus the invocation's env), feeds it every stdout line and prints the\n"
    "unified events as JSON lines; the CLI's stderr goes to stderr. human.request events\n"
    "are answered with the next line of --replies ({\"decision\":\"allow\"|\"deny\",\n"
    "\"message\"?,\"answers\"?}). The run is interrupted (the plugin's interrupt, then\n"
    "SIGTERM/SIGKILL after a grace) after the first event of TYPE, N ms after the start,\n"
    "on SIGINT/SIGTERM, or when --timeout-s runs out; exits 0 once the run ended.\n";

struct Arguments {
    std::string plugin;
    std::string replay;
    int exitCode = 0;
    int signal = 0;
    bool stopRequested = false;
    bool withStdin = false;
    std::string request;
    bool run = false;
    aw::RunModeOptions runOptions;
};

[[noreturn]] void usageError(const std::string& message) {
    std::cerr << "agent-provider-host: " << message << "\n" << kUsage;
    std::exit(2);
}

Arguments parseArguments(int argc, char** argv) {
    Arguments args;
    auto value = [&](int& i) -> std::string {
        if (i + 1 >= argc) usageError(std::string(argv[i]) + " needs a value");
        return argv[++i];
    };
    auto number = [&](int& i) {
        const std::string text = value(i);
        try {
            return std::stoi(text);
        } catch (const std::exception&) {
            usageError(std::string(argv[i - 1]) + " needs a number, got '" + text + "'");
        }
    };
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::cout << kUsage;
            std::exit(0);
        } else if (arg == "--plugin") {
            args.plugin = value(i);
        } else if (arg == "--replay") {
            args.replay = value(i);
        } else if (arg == "--exit-code") {
            args.exitCode = number(i);
        } else if (arg == "--signal") {
            args.signal = number(i);
        } else if (arg == "--stop-requested") {
            args.stopRequested = true;
        } else if (arg == "--with-stdin") {
            args.withStdin = true;
        } else if (arg == "--request") {
            args.request = value(i);
            // @FILE: a request with a long prompt does not fit in one argument.
            if (!args.request.empty() && args.request.front() == '@') {
                std::ifstream file(args.request.substr(1), std::ios::binary);
                if (!file)
                    usageError("cannot read --request file '" + args.request.substr(1) + "'");
                args.request.assign(std::istreambuf_iterator<char>(file), {});
            }
        } else if (arg == "--run") {
            args.run = true;
        } else if (arg == "--replies") {
            args.runOptions.repliesFile = value(i);
        } else if (arg == "--interrupt-after-event") {
            args.runOptions.interruptAfterEvent = value(i);
        } else if (arg == "--interrupt-after-ms") {
            args.runOptions.interruptAfterMs = number(i);
        } else if (arg == "--timeout-s") {
            args.runOptions.timeoutSeconds = number(i);
        } else {
            usageError("unknown argument '" + arg + "'");
        }
    }
    if (args.plugin.empty()) usageError("--plugin is required");
    if (args.run) {
        if (!args.replay.empty()) usageError("--run and --replay exclude each other");
        if (args.request.empty()) usageError("--run needs --request");
        args.runOptions.plugin = args.plugin;
        args.runOptions.request = args.request;
    }
    return args;
}

//! Keeps a private copy of stdout for our own output and points fd 1 at stderr, so
//! whatever a plugin prints lands in the log instead of corrupting what we write.
std::FILE* divertPluginStdout() {
    std::fflush(stdout);
    const int privateFd = ::dup(STDOUT_FILENO);
    ::dup2(STDERR_FILENO, STDOUT_FILENO);
    return ::fdopen(privateFd, "w");
}

//! Writes all of `bytes` to `fd`; agent-host gone ends this process.
void writeAll(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        const auto n = ::write(fd, bytes.data(), bytes.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) std::exit(0);
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
}

//! Input that is not frames of the protocol: agent-host never sends it, and the stream
//! cannot be trusted after it, so say what came and stop.
[[noreturn]] void badInput(const std::string& why) {
    std::cerr << "agent-provider-host: " << why << "; exiting\n";
    std::exit(aw::kProviderBadInputExitCode);
}

int serve(const std::string& plugin) {
    std::FILE* protocolFile = divertPluginStdout();
    const int protocol = ::fileno(protocolFile);

    std::unique_ptr<aw::LoadedProvider> provider;
    try {
        provider = aw::LoadedProvider::load(plugin);
    } catch (const aw::ProblemError& e) {
        std::cerr << "agent-provider-host: " << e.problem().message << "\n";
        writeAll(protocol, aw::formatRefusal(e.problem()) + "\n");
        return aw::kProviderRefusedExitCode;
    }
    writeAll(protocol, aw::formatHandshake(provider->info()) + "\n");

    aw::ProviderHostService service(*provider);
    aw::FrameReader frames(aw::kMaxRequestFrameBytes);
    std::vector<char> chunk(256 * 1024);
    for (;;) {
        const auto n = ::read(STDIN_FILENO, chunk.data(), chunk.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (frames.pending() > 0) badInput("input ended inside a frame");
            return 0;
        }
        frames.append(chunk.data(), static_cast<std::size_t>(n));
        try {
            while (auto frame = frames.next()) {
                if (frame->kind == aw::FrameKind::Feed) {
                    writeAll(protocol, service.answerFeed(aw::decodeFeedRequest(frame->payload)));
                    continue;
                }
                if (frame->kind != aw::FrameKind::Json) {
                    badInput("got a frame agent-host does not send");
                }
                const auto request = nlohmann::json::parse(frame->payload, nullptr, false);
                const auto response = request.is_discarded()
                                          ? nlohmann::json{{"id", nullptr},
                                                           {"ok", false},
                                                           {"error",
                                                            {{"code", "bad_request"},
                                                             {"message", "request is not JSON"},
                                                             {"hint", ""}}}}
                                          : service.handle(request);
                writeAll(protocol,
                         aw::encodeFrame(aw::FrameKind::Json,
                                         response.dump(-1, ' ', false,
                                                       nlohmann::json::error_handler_t::replace)));
            }
        } catch (const aw::FrameError& e) {
            badInput(e.what());
        }
    }
}

//! The capture line being fed, for the note a crashing plugin leaves (0: none).
volatile std::sig_atomic_t gFeedingLine = 0;

//! A plugin that crashes in --replay takes the process with it: say on which line first,
//! with nothing but write(2) (a signal handler may not allocate), then die of that signal.
extern "C" void onReplayCrash(int signal) {
    const long line = gFeedingLine;
    if (line > 0) {
        char digits[24];
        int length = 0;
        for (long rest = line; rest > 0 && length < 20; rest /= 10)
            digits[length++] = static_cast<char>('0' + rest % 10);
        char note[96] = "agent-provider-host: the plugin crashed on line ";
        std::size_t size = std::strlen(note);
        while (length > 0) note[size++] = digits[--length];
        note[size++] = '\n';
        [[maybe_unused]] const auto written = ::write(STDERR_FILENO, note, size);
    }
    std::signal(signal, SIG_DFL);
    std::raise(signal);
}

//! Prints the replay as it goes: events (and stdin with --with-stdin) on our stdout, one JSON
//! object per line; the invocation and every line error on stderr.
class ReplayPrinter : public aw::ReplayObserver {
public:
    ReplayPrinter(std::FILE* events, bool withStdin) : events_(events), withStdin_(withStdin) {}

    void opened(const nlohmann::json& invocation) override {
        std::cerr << "agent-provider-host: invocation " << invocation.dump() << "\n";
    }
    void feeding(std::size_t first, std::size_t) override {
        gFeedingLine = static_cast<std::sig_atomic_t>(first);
    }
    void record(const nlohmann::json& record) override {
        if (record.contains("stdin") && !withStdin_) return;
        const std::string line =
            record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        std::fwrite(line.data(), 1, line.size(), events_);
        std::fputc('\n', events_);
    }
    void lineError(const aw::ReplayLineError& error) override {
        std::cerr << "agent-provider-host: " << error.describe() << "\n";
    }

private:
    std::FILE* events_;
    bool withStdin_;
};

int replay(const Arguments& args) {
    std::FILE* events = divertPluginStdout();
    std::unique_ptr<aw::LoadedProvider> provider;
    try {
        provider = aw::LoadedProvider::load(args.plugin);
    } catch (const aw::ProblemError& e) {
        std::cerr << "agent-provider-host: " << e.problem().message << " (" << e.problem().hint
                  << ")\n";
        return aw::kProviderRefusedExitCode;
    }
    std::ifstream capture(args.replay, std::ios::binary);
    if (!capture) usageError("cannot read " + args.replay);
    aw::ReplayInput input;
    input.provider = provider->info().name;
    input.request = {{"run_id", "replay"},
                     {"session_id", "replay"},
                     {"prompt", "replay"},
                     {"approval_mode", "auto"},
                     {"workspace", "."}};
    if (!args.request.empty()) {
        input.request = nlohmann::json::parse(args.request, nullptr, false);
        if (!input.request.is_object()) usageError("--request is not a JSON object");
    }
    for (std::string line; std::getline(capture, line);) input.lines.push_back(std::move(line));
    input.exitCode = args.exitCode;
    input.signal = args.signal;
    input.stopRequested = args.stopRequested;
    // In process, batches save nothing; one line at a time names the line a crash happened on.
    input.batchLines = 1;

    for (const int signal : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT})
        std::signal(signal, onReplayCrash);

    // The same service the served mode answers agent-host with, called in process.
    aw::ProviderHostService service(*provider);
    int id = 0;
    std::string lastOp;
    const auto call = [&](const std::string& op, nlohmann::json params) {
        lastOp = op;
        params["op"] = op;
        params["id"] = ++id;
        params["run"] = "replay";
        const nlohmann::json response = service.handle(params);
        if (!response.value("ok", false)) {
            const auto& error = response["error"];
            throw aw::ProviderCallError({error.value("code", std::string("plugin_error")),
                                         error.value("message", std::string("?")),
                                         error.value("hint", std::string())});
        }
        return response["result"];
    };
    ReplayPrinter printer(events, args.withStdin);
    try {
        const auto result = aw::replayCapture(call, input, &printer);
        gFeedingLine = 0;
        std::fflush(events);
        if (!result.lineErrors.empty()) {
            std::cerr << "agent-provider-host: " << result.lineErrors.size()
                      << " line error(s), named above: a run would not store their events\n";
            return 1;
        }
        return 0;
    } catch (const aw::ProviderCallError& e) {
        std::fflush(events);
        std::cerr << "agent-provider-host: " << lastOp << " failed: " << e.problem().message
                  << "\n";
        return 1;
    }
}

}  // namespace

int main(int argc, char** argv) {
    // Whatever this process or its plugin writes is for this user alone (agent-host starts
    // us with this mask already; a provider-host started by hand gets it too).
    ::umask(077);
    const Arguments args = parseArguments(argc, argv);
    if (args.run) return aw::runMode(args.runOptions);
    if (args.replay.empty()) {
        // Die with agent-host, even while a plugin call hangs: a provider-host must never
        // outlive the process that owns it. (PR_SET_PDEATHSIG would fire when the host's
        // spawning *thread* ends, which is not the host ending.)
        const pid_t owner = ::getppid();
        std::thread([owner] {
            for (;;) {
                std::this_thread::sleep_for(std::chrono::milliseconds(500));
                if (::getppid() != owner) std::_Exit(0);
            }
        }).detach();
        std::signal(SIGPIPE, SIG_IGN);
        return serve(args.plugin);
    }
    return replay(args);
}
