// agent-executor: runs inside a session worker. Serves the host over HTTP on a unix socket
// (and optionally loopback TCP) with a per-worker bearer token: health and the agent
// processes (start, stdin, signal, status), whose output it delivers to the host's callback
// URL through a durable spool.
//   agent-executor --socket PATH [--listen 127.0.0.1:PORT] --spool-dir DIR
//                  --callback-url URL --executor-id ID --session-id ID [--exit-with-parent]
//                  [--callback-max-body-bytes N] [--workspace DIR --home DIR --bucket B
//                   --key-prefix P --state-dir DIR (--objects-dir DIR | --object-store s3
//                   --s3-endpoint URL [--s3-region R] [--s3-path-style true|false])]
//   It is a child subreaper: what its runs leave behind ends up below it, to be killed
//   when the run ends. --exit-with-parent: shut down (as on SIGTERM) when the process that
//   started it goes away (the local runtime's agent-host).
//   Tokens come on stdin, one a line: first the executor token (to call this executor),
//   then the callback token (to call the host back); with --object-store s3 then the S3
//   access key id, secret access key and session token (an empty line when there is none).
//   Never on the command line or in the environment (both readable by anyone who can read
//   /proc/<pid>), never logged.
//   --bootstrap-url URL (a Swarm task, which has no stdin): instead of stdin, the single-use
//   token in AW_BOOTSTRAP_TOKEN is exchanged there for the same secrets, reporting the
//   --listen address (its port when 0 was asked); before anything is served or run.
#include <Poco/Net/IPAddress.h>
#include <Poco/Util/ServerApplication.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <thread>

#include "agent_executor/bootstrap_client.h"
#include "agent_executor/callback_deliverer.h"
#include "agent_executor/run_manager.h"
#include "agent_executor/workspace_service.h"
#include "agent_worker/core/executor_protocol.h"
#include "executor/http_executor_client.h"
#include "http/http_server.h"
#include "http/router.h"
#include "logging/json_formatter.h"
#include "storage/file_object_store.h"
#include "storage/s3_object_store.h"

namespace {

struct Arguments {
    std::string socket, listen, spoolDir, callbackUrl, executorId, sessionId;
    std::string bootstrapUrl;          //!< the host's bootstrap exchange (instead of stdin)
    std::string callbackMaxBodyBytes;  //!< the host's body limit (`http.max_body_bytes`)
    // The workspace: all or none (without them the executor only runs processes).
    std::string workspace, home, objectsDir, bucket, keyPrefix, stateDir;
    // The object store: `file` (--objects-dir) or `s3` (its credentials come on stdin).
    std::string objectStore = "file", s3Endpoint, s3Region = "us-east-1", s3PathStyle = "true";
    std::string s3Transfers = "8";  //!< S3 requests at once in a restore or a sync
    bool exitWithParent = false;
};

[[noreturn]] void usage(const std::string& message) {
    std::cerr
        << "agent-executor: " << message
        << "\nusage: agent-executor --socket PATH [--listen 127.0.0.1:PORT] [--bootstrap-url URL]"
           " --spool-dir DIR"
           " --callback-url URL --executor-id ID --session-id ID [--exit-with-parent]\n"
           "         [--callback-max-body-bytes N] [--workspace DIR --home DIR --bucket B"
           " --key-prefix P --state-dir DIR\n"
           "          (--objects-dir DIR | --object-store s3 --s3-endpoint URL [--s3-region R]"
           " [--s3-path-style true|false]\n"
           "           [--s3-transfers N])]\n"
           "stdin: the executor token, then the callback token, one a line; with "
           "--object-store s3 then\n"
           "       the access key id, the secret access key and the session token (may be "
           "empty)\n"
           "       (with --bootstrap-url none: AW_BOOTSTRAP_TOKEN is exchanged for them)\n"
           "environment: AW_LOG_LEVEL, AW_BOOTSTRAP_TOKEN\n";
    std::exit(2);
}

Arguments parse(int argc, char** argv) {
    Arguments args;
    const std::map<std::string, std::string Arguments::*> flags{
        {"--socket", &Arguments::socket},
        {"--listen", &Arguments::listen},
        {"--bootstrap-url", &Arguments::bootstrapUrl},
        {"--spool-dir", &Arguments::spoolDir},
        {"--callback-url", &Arguments::callbackUrl},
        {"--executor-id", &Arguments::executorId},
        {"--session-id", &Arguments::sessionId},
        {"--workspace", &Arguments::workspace},
        {"--home", &Arguments::home},
        {"--objects-dir", &Arguments::objectsDir},
        {"--bucket", &Arguments::bucket},
        {"--key-prefix", &Arguments::keyPrefix},
        {"--state-dir", &Arguments::stateDir},
        {"--callback-max-body-bytes", &Arguments::callbackMaxBodyBytes},
        {"--object-store", &Arguments::objectStore},
        {"--s3-endpoint", &Arguments::s3Endpoint},
        {"--s3-region", &Arguments::s3Region},
        {"--s3-path-style", &Arguments::s3PathStyle},
        {"--s3-transfers", &Arguments::s3Transfers}};
    for (int i = 1; i < argc; ++i) {
        if (std::string(argv[i]) == "--exit-with-parent") {
            args.exitWithParent = true;
            continue;
        }
        const auto it = flags.find(argv[i]);
        if (it == flags.end() || i + 1 >= argc)
            usage(std::string("unexpected argument ") + argv[i]);
        args.*(it->second) = argv[++i];
    }
    if (args.socket.empty() && args.listen.empty()) usage("--socket or --listen is required");
    if (args.spoolDir.empty() || args.callbackUrl.empty() || args.executorId.empty()) {
        usage("--spool-dir, --callback-url and --executor-id are required");
    }
    // Callbacks go to the host's TCP port (a unix socket is not supported).
    if (args.callbackUrl.rfind("http://", 0) != 0) usage("--callback-url must be an http:// URL");
    if (!args.bootstrapUrl.empty() &&
        (args.listen.empty() || args.bootstrapUrl.rfind("http://", 0) != 0)) {
        usage("--bootstrap-url takes an http:// URL and needs --listen (the address it reports)");
    }
    if (args.objectStore != "file" && args.objectStore != "s3")
        usage("--object-store is file or s3");
    if (args.s3PathStyle != "true" && args.s3PathStyle != "false") {
        usage("--s3-path-style is true or false");
    }
    if (args.s3Transfers.empty() || args.s3Transfers.size() > 2 ||
        args.s3Transfers.find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(args.s3Transfers) < 1 || std::stoul(args.s3Transfers) > 64) {
        usage("--s3-transfers takes 1 to 64");
    }
    const bool s3 = args.objectStore == "s3";
    if (s3 && (args.s3Endpoint.empty() || !args.objectsDir.empty())) {
        usage("--object-store s3 takes --s3-endpoint (and no --objects-dir)");
    }
    if (!s3 && !args.s3Endpoint.empty()) usage("--s3-endpoint needs --object-store s3");
    const bool anyWorkspace = !(args.workspace + args.home + args.objectsDir + args.bucket +
                                args.keyPrefix + args.stateDir)
                                   .empty();
    const bool allWorkspace = !args.workspace.empty() && !args.home.empty() &&
                              (s3 || !args.objectsDir.empty()) && !args.bucket.empty() &&
                              !args.keyPrefix.empty() && !args.stateDir.empty();
    if (!args.callbackMaxBodyBytes.empty() &&
        (args.callbackMaxBodyBytes.find_first_not_of("0123456789") != std::string::npos ||
         args.callbackMaxBodyBytes.size() > 12 || std::stoull(args.callbackMaxBodyBytes) == 0)) {
        usage("--callback-max-body-bytes takes a number of bytes");
    }
    if (anyWorkspace && !allWorkspace) {
        usage(
            "--workspace, --home, --bucket, --key-prefix, --state-dir and the object store "
            "(--objects-dir or --object-store s3) go together");
    }
    return args;
}

struct Tokens {
    std::string executor, callback;
    aw::S3Credentials s3;
};

//! The two tokens (and the S3 credentials) from stdin; stdin is then /dev/null, so the runs
//! inherit nothing of it.
Tokens readTokens(bool withS3Credentials) {
    Tokens tokens;
    std::getline(std::cin, tokens.executor);
    std::getline(std::cin, tokens.callback);
    if (tokens.executor.empty() || tokens.callback.empty()) {
        usage("stdin must give two lines: the executor token, then the callback token");
    }
    if (withS3Credentials) {
        std::getline(std::cin, tokens.s3.accessKeyId);
        std::getline(std::cin, tokens.s3.secretAccessKey);
        std::getline(std::cin, tokens.s3.sessionToken);
        if (tokens.s3.accessKeyId.empty() || tokens.s3.secretAccessKey.empty()) {
            usage(
                "with --object-store s3, stdin must go on with the access key id and the secret "
                "access key (then the session token, or an empty line)");
        }
    }
    const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null >= 0) {
        ::dup2(null, STDIN_FILENO);
        ::close(null);
    }
    return tokens;
}

//! The secrets for AW_BOOTSTRAP_TOKEN, reporting where we listen. The token leaves our
//! environment (the runs inherit nothing of it; used, it is worthless anyway). A refusal ends
//! the executor: the host starts the worker again with a new token.
Tokens bootstrapTokens(const Arguments& args, const std::string& listenHost, unsigned short port) {
    char* variable = std::getenv("AW_BOOTSTRAP_TOKEN");
    const std::string bootstrap = variable ? variable : "";
    // Overwritten where it lies, not only unset: /proc/<pid>/environ shows the original block.
    if (variable) std::fill(variable, variable + bootstrap.size(), 'x');
    ::unsetenv("AW_BOOTSTRAP_TOKEN");
    if (bootstrap.empty()) usage("--bootstrap-url needs the token in AW_BOOTSTRAP_TOKEN");
    try {
        auto answer = aw::exchangeBootstrapToken(args.bootstrapUrl, bootstrap, listenHost, port,
                                                 std::chrono::seconds(30));
        if (args.objectStore == "s3" && answer.s3.accessKeyId.empty()) {
            usage("the bootstrap answer has no S3 credentials for --object-store s3");
        }
        return {answer.executorToken, answer.callbackToken, answer.s3};
    } catch (const aw::ProblemError& e) {
        std::cerr << "agent-executor: " << e.problem().message << " (" << e.problem().hint << ")"
                  << std::endl;
        std::exit(77);
    }
}

//! The request body as an executor protocol document; a malformed one is answered 400.
template <typename Document>
Document bodyAs(const aw::HttpRequest& request) {
    const nlohmann::json& body = request.json();  // throws ApiError 400 itself
    try {
        return Document::fromJson(body);
    } catch (const aw::ProblemError& e) {
        throw aw::ApiError(400, e.problem());
    }
}

aw::HttpResponse answer(int status, const auto& document) {
    return aw::HttpResponse::json(status, document.toJson());
}

//! Runs a workspace operation; a failure of the object store (missing bucket, refused
//! credentials, a service still down after the store's own retries, a damaged object) is
//! answered 424 with its problem: final for the host, which must not retry what the store
//! already retried, and whose sync error then says what was wrong.
template <typename Operation>
aw::HttpResponse withStoreErrors(Operation operation) {
    try {
        return operation();
    } catch (const aw::ApiError&) {
        throw;
    } catch (const aw::ProblemError& e) {
        throw aw::ApiError(424, e.problem());
    }
}

//! The store the workspace is restored from and synced to. The s3 store's bucket is the
//! session's; its settings come from the host (credentials from stdin).
std::unique_ptr<aw::ObjectStore> makeObjectStore(const Arguments& args,
                                                 const aw::S3Credentials& credentials) {
    if (args.objectStore == "file") return std::make_unique<aw::FileObjectStore>(args.objectsDir);
    aw::S3Settings settings;
    settings.endpoint = args.s3Endpoint;
    settings.region = args.s3Region;
    settings.bucket = args.bucket;
    settings.pathStyle = args.s3PathStyle == "true";
    settings.transfers = std::stoul(args.s3Transfers);
    settings.credentials = credentials;
    return std::make_unique<aw::S3ObjectStore>(std::move(settings));
}

}  // namespace

int main(int argc, char** argv) {
    // A sandboxed executor is started with SIGTERM ignored, so that bubblewrap outside
    // leaves it to us (exec keeps an ignored signal ignored): we take it back here.
    std::signal(SIGTERM, SIG_DFL);
    std::signal(SIGINT, SIG_DFL);
    sigset_t termination;
    sigemptyset(&termination);
    sigaddset(&termination, SIGINT);
    sigaddset(&termination, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &termination, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    const pid_t parent = ::getppid();
    const Arguments args = parse(argc, argv);
    // Orphans of the runs (children in sessions of their own whose parent exited) are
    // re-parented to us rather than to init, so that RunManager can kill and reap them.
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        std::cerr
            << "agent-executor: cannot become a child subreaper; orphans of runs may survive them"
            << std::endl;
    }
    // The agent runs as our uid (in a sandbox, the worker's uid): not dumpable, so it cannot
    // read the tokens out of our memory (/proc/<pid>/mem, ptrace) or our /proc entries.
    ::prctl(PR_SET_DUMPABLE, 0);
    // The TCP port is bound before the tokens are known: a bootstrap reports it.
    int tcpListening = -1;
    std::string tcpHost, tcpAddress;
    if (!args.listen.empty()) {
        const auto colon = args.listen.rfind(':');
        std::string host = args.listen.substr(0, colon);
        if (host.size() > 2 && host.front() == '[' && host.back() == ']')
            host = host.substr(1, host.size() - 2);
        Poco::Net::IPAddress address;
        // Loopback, unless a bootstrap reports the address (a Swarm task on an overlay
        // network is reached on its own address there); the token guards it either way.
        if (colon == std::string::npos || !Poco::Net::IPAddress::tryParse(host, address) ||
            (!address.isLoopback() && args.bootstrapUrl.empty()))
            usage("--listen must be loopback (any address only with --bootstrap-url)");
        tcpHost = host;
        try {
            tcpListening = aw::listenTcp(
                host, static_cast<unsigned short>(std::stoi(args.listen.substr(colon + 1))), 64);
        } catch (const std::system_error& e) {
            std::cerr << "agent-executor: cannot listen: " << e.what() << std::endl;
            return 69;
        }
        tcpAddress = (host.find(':') == std::string::npos ? host : "[" + host + "]") + ":" +
                     std::to_string(aw::boundPort(tcpListening));
    }
    const auto [token, callbackToken, s3Credentials] =
        args.bootstrapUrl.empty() ? readTokens(args.objectStore == "s3")
                                  : bootstrapTokens(args, tcpHost, aw::boundPort(tcpListening));
    const char* level = std::getenv("AW_LOG_LEVEL");
    aw::configureJsonLogging(level && *level ? level : "information");

    aw::OutputSpool spool(args.spoolDir);
    // The host refuses larger callbacks (413): lines are cut and batches sized to fit.
    std::atomic<std::size_t> callbackBodyBytes{
        args.callbackMaxBodyBytes.empty()
            ? aw::CallbackBodyLimit::kDefaultBytes
            // Never below the floor: a smaller limit only makes the host refuse more.
            : std::max<std::size_t>(aw::CallbackBodyLimit::kMinimumBytes,
                                    std::stoull(args.callbackMaxBodyBytes))};
    aw::RunManager runs(spool, callbackBodyBytes);
    aw::CallbackDeliverer deliverer(
        spool, {args.callbackUrl, callbackToken, args.executorId, args.sessionId},
        callbackBodyBytes);

    aw::Router router(aw::TokenAuth({token}, {}), 16 * 1024 * 1024);
    router.add({"GET", "/health", aw::Scope::Client, [&](const aw::HttpRequest&) {
                    return answer(200, aw::ExecutorHealth{"ok", args.executorId});
                }});
    router.add({"POST", "/runs", aw::Scope::Client, [&](const aw::HttpRequest& request) {
                    // The host's trace for this run: every callback of the run carries it.
                    const auto trace = aw::readTraceId(request.header("X-Trace-Id"),
                                                       request.header("traceparent"));
                    return answer(
                        201, runs.start(bodyAs<aw::ExecutorRunSpec>(request), trace.value_or("")));
                }});
    router.add({"GET", "/runs/{id}", aw::Scope::Client, [&](const aw::HttpRequest& request) {
                    return answer(200, runs.status(request.param("id")));
                }});
    router.add({"POST", "/runs/{id}/stdin", aw::Scope::Client, [&](const aw::HttpRequest& request) {
                    return answer(
                        200, runs.writeStdin(request.param("id"), bodyAs<aw::StdinWrite>(request)));
                }});
    router.add(
        {"POST", "/runs/{id}/signal", aw::Scope::Client, [&](const aw::HttpRequest& request) {
             return answer(
                 200, runs.signal(request.param("id"), bodyAs<aw::SignalRequest>(request).signal));
         }});

    std::unique_ptr<aw::ObjectStore> objects;
    std::unique_ptr<aw::WorkspaceService> workspace;
    if (!args.workspace.empty()) {
        try {
            objects = makeObjectStore(args, s3Credentials);
        } catch (const aw::ProblemError& e) {
            usage(e.problem().message + " (" + e.problem().hint + ")");
        }
        workspace = std::make_unique<aw::WorkspaceService>(
            aw::WorkspaceLayout{
                {std::filesystem::absolute(args.workspace).lexically_normal().string(),
                 std::filesystem::absolute(args.home).lexically_normal().string()},
                args.bucket,
                args.keyPrefix,
                std::filesystem::absolute(args.stateDir).lexically_normal()},
            *objects);
        router.add({"POST", "/workspace/restore", aw::Scope::Client, [&](const aw::HttpRequest& r) {
                        return withStoreErrors(
                            [&] { return answer(200, workspace->restore(r.json())); });
                    }});
        router.add({"POST", "/workspace/link", aw::Scope::Client, [&](const aw::HttpRequest& r) {
                        return withStoreErrors(
                            [&] { return answer(200, workspace->link(r.json())); });
                    }});
        router.add(
            {"POST", "/workspace/validate", aw::Scope::Client,
             [&](const aw::HttpRequest& r) { return answer(200, workspace->validate(r.json())); }});
        router.add({"POST", "/workspace/sync", aw::Scope::Client, [&](const aw::HttpRequest& r) {
                        return withStoreErrors([&] {
                            return answer(200, workspace->sync(bodyAs<aw::SyncRequest>(r)));
                        });
                    }});
    }

    // The host is the one client: a few handler threads serve it.
    aw::HttpServerOptions serving;
    serving.threads = 8;
    std::vector<std::unique_ptr<aw::HttpServer>> servers;
    auto serve = [&](int listening) {
        servers.push_back(std::make_unique<aw::HttpServer>(router, listening, serving));
        servers.back()->start();
    };
    try {
        if (!args.socket.empty()) {
            serve(aw::listenUnix(args.socket, 64));
            std::cout << "agent-executor listening on unix://" << args.socket << std::endl;
        }
        if (tcpListening >= 0) {
            serve(tcpListening);
            std::cout << "agent-executor listening on http://" << tcpAddress << std::endl;
        }
    } catch (const std::system_error& e) {
        std::cerr << "agent-executor: cannot listen: " << e.what() << std::endl;
        return 69;
    }

    // --exit-with-parent: a parent that dies re-parents us (to init or a subreaper). Not
    // PR_SET_PDEATHSIG: that fires when the *thread* that forked us exits, not the process.
    std::atomic<bool> stopping{false};
    std::thread watchdog;
    if (args.exitWithParent) {
        watchdog = std::thread([&] {
            while (!stopping) {
                if (::getppid() != parent) {
                    std::cerr << "agent-executor: the parent process is gone; shutting down"
                              << std::endl;
                    ::kill(::getpid(), SIGTERM);  // process-directed: sigwait below takes it
                    return;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
            }
        });
    }

    int received = 0;
    sigwait(&termination, &received);
    stopping = true;
    if (watchdog.joinable()) watchdog.join();
    for (auto& server : servers) server->stop();
    // Leaving main ends the runs (RunManager's destructor kills them and what they left
    // behind); the spool keeps what was not delivered for the next executor.
    return 0;
}
