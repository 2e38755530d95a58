#include "agent_host/agent_host_app.h"

#include <Poco/Environment.h>
#include <Poco/Path.h>
#include <Poco/Util/HelpFormatter.h>
#include <sys/resource.h>

#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include "agent_worker/core/executor_protocol.h"
#include "api/routes.h"
#include "api/run_event_streams.h"
#include "db/database.h"
#include "db/database_url.h"
#include "db/migrator.h"
#include "db/pg_event_listener.h"
#include "db/replica_presence.h"
#include "db/soci_callback_tokens.h"
#include "db/soci_executor_directory.h"
#include "db/soci_run_store.h"
#include "db/soci_session_worker_repository.h"
#include "db/store_counts.h"
#include "http/http_server.h"
#include "http/loopback_peer.h"
#include "http/router.h"
#include "logging/json_formatter.h"
#include "metrics/host_metrics.h"
#include "provider/provider_supervisor.h"
#include "provider/supervised_provider_registry.h"
#include "runs/event_hub.h"
#include "runs/maintenance.h"
#include "runs/run_engine.h"
#include "runs/worker_gateway.h"
#include "runtime/cluster_secret.h"
#include "runtime/docker_worker_runtime.h"
#include "runtime/local_worker_runtime.h"
#include "runtime/swarm_worker_runtime.h"
#include "storage/s3_object_store.h"

namespace aw {
namespace {

// sysexits.h codes, so supervisors can tell a bad configuration from an outage.
constexpr int kExitConfig = 78;       // EX_CONFIG
constexpr int kExitUnavailable = 69;  // EX_UNAVAILABLE
constexpr int kExitSoftware = 70;     // EX_SOFTWARE
constexpr int kExitDataErr = 65;      // EX_DATAERR: the database file is damaged

//! How long requests in flight at shutdown may take to finish before they are cut.
constexpr auto kRequestDrain = std::chrono::seconds(5);

Poco::Logger& hostLogger() { return Poco::Logger::get("agent-host"); }

//! The deployment's manifest, or the default: the workspace itself (the providers' state
//! paths join per run, from their plugin facts).
RuntimeManifest loadRuntimeManifest(const std::string& file) {
    if (file.empty()) {
        return runtimeManifestFromJson(
            {{"version", 1},
             {"entries", {{{"name", "workspace"}, {"level", "workspace"}, {"target", "."}}}}});
    }
    std::ifstream in(file);
    if (!in) {
        throw ProblemError({"config_unreadable", "cannot read the runtime manifest '" + file + "'",
                            "check restore.manifest_file (AW_RESTORE_MANIFEST_FILE)"});
    }
    std::ostringstream text;
    text << in.rdbuf();
    return parseRuntimeManifest(text.str());
}

//! Says why the host will not start, to a person (plain line) and to log collectors (JSON).
int refuse(int exitCode, const Problem& problem, bool loggingReady) {
    std::cerr << "agent-host: cannot start: " << problem.message;
    if (!problem.hint.empty()) std::cerr << " (" << problem.hint << ")";
    std::cerr << std::endl;
    if (loggingReady) {
        logFields(hostLogger(), Poco::Message::PRIO_FATAL, "refusing to start",
                  {{"code", problem.code}, {"error", problem.message}, {"hint", problem.hint}});
    }
    return exitCode;
}

struct FlagSpec {
    const char* flag;
    const char* key;
    const char* argument;
};

constexpr FlagSpec kFlags[] = {
    {"listen", "listen", "HOST:PORT"},     {"data-dir", "data_dir", "DIR"},     {"db", "db", "URL"},
    {"plugins-dir", "plugins_dir", "DIR"}, {"log-level", "log_level", "LEVEL"},
};

//! Stops serving in the order that keeps shutdown prompt: requests first, then work; the
//! caller's runtime (the workers' executors) goes after this returns.
void shutDown(HttpServer& server, Router& router, Maintenance& maintenance, RunEngine& engine,
              RunEventStreams& streams) {
    // 1. No new requests. The listener stops accepting and its socket closes: left open, it
    //    let the kernel complete connections nobody would accept, and clients hung for the
    //    whole shutdown instead of being refused. Connections already open get 503.
    server.stopAccepting();
    router.refuseNewRequests();
    logFields(hostLogger(), Poco::Message::PRIO_INFORMATION, "listener closed",
              nlohmann::json::object());
    // 2. No new work: reapers and dispatchers stop; runs in flight end `host_stopping`.
    maintenance.stop();
    engine.stop();
    logFields(hostLogger(), Poco::Message::PRIO_INFORMATION, "runs stopped",
              nlohmann::json::object());
    // 3. Requests in flight get a bound to finish (event streams end now), then are cut.
    streams.close();
    const auto deadline = std::chrono::steady_clock::now() + kRequestDrain;
    while (server.requestsInProgress() > 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    logFields(hostLogger(), Poco::Message::PRIO_INFORMATION, "requests drained",
              {{"cut", server.requestsInProgress()}});
    server.stop();
}

//! Each connection is a file descriptor: the soft limit (often 1024) would cap the host far
//! below http.max_connections, so it is raised to the hard one.
void raiseOpenFileLimit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
    }
}

//! The executor options, telling `metrics` of each workspace sync.
HttpExecutorClientOptions withSyncMetrics(HttpExecutorClientOptions options, HostMetrics& metrics) {
    options.onSyncEnded = [&metrics](const std::string& reason,
                                     std::chrono::steady_clock::duration took,
                                     const nlohmann::json* answer) {
        std::optional<std::int64_t> uploaded;
        if (answer) {
            try {
                uploaded = SyncAnswer::fromJson(*answer).total.uploadedBytes;
            } catch (const std::exception&) {
                uploaded = 0;  // answered, so synced; the answer's counts are the executor's
            }
        }
        metrics.syncEnded(reason, took, uploaded);
    };
    return options;
}

}  // namespace

void AgentHostApp::defineOptions(Poco::Util::OptionSet& options) {
    ServerApplication::defineOptions(options);
    options.addOption(Poco::Util::Option("help", "h", "print this help and exit"));
    options.addOption(Poco::Util::Option("config", "", "JSON configuration file")
                          .argument("FILE")
                          .repeatable(false));
    for (const auto& spec : kFlags) {
        options.addOption(
            Poco::Util::Option(spec.flag, "",
                               std::string("overrides configuration key '") + spec.key + "'")
                .argument(spec.argument)
                .repeatable(false));
    }
}

void AgentHostApp::handleOption(const std::string& name, const std::string& value) {
    ServerApplication::handleOption(name, value);
    if (name == "help") {
        helpRequested_ = true;
        stopOptionsProcessing();
    } else if (name == "config") {
        configFile_ = value;
    } else {
        for (const auto& spec : kFlags) {
            if (name == spec.flag) flags_[spec.key] = value;
        }
    }
}

void AgentHostApp::printHelp() const {
    Poco::Util::HelpFormatter help(options());
    help.setCommand(commandName());
    help.setWidth(100);
    help.setUsage(
        "[--config FILE] [--listen HOST:PORT] [--data-dir DIR] [--db URL] "
        "[--plugins-dir DIR] [--log-level LEVEL]");
    help.setHeader("Agent Worker control plane: runs coding agents for chat sessions.");
    std::string footer =
        "Configuration layers: built-in defaults < --config FILE < AW_* environment < flags.\n"
        "Keys (environment variable, default):\n";
    for (const auto& key : hostConfigKeys()) {
        footer += std::string("  ") + key.key + " (" + envName(key.key) + ", " +
                  (key.defaultValue.empty() ? std::string("-") : key.defaultValue) +
                  "): " + key.description + "\n";
    }
    footer += "See docs/configuration.md.";
    help.setFooter(footer);
    help.format(std::cout);
}

int AgentHostApp::main(const std::vector<std::string>&) {
    if (helpRequested_) {
        printHelp();
        return EXIT_OK;
    }
    HostConfig hostConfig;
    try {
        const std::string binaryDir = Poco::Path(config().getString("application.dir")).toString();
        hostConfig = loadHostConfig({configFile_, awEnvironment(), flags_, binaryDir});
    } catch (const ProblemError& e) {
        return refuse(kExitConfig, e.problem(), false);
    }
    configureJsonLogging(hostConfig.logLevel);
    const int code = serve(hostConfig);
    // Everything serve() built is gone by now, the workers' executors and providers included.
    if (code == EXIT_OK) {
        logFields(hostLogger(), Poco::Message::PRIO_INFORMATION, "stopped",
                  nlohmann::json::object());
    }
    return code;
}

int AgentHostApp::serve(const HostConfig& config) {
    TokenAuth auth(config.clientTokens, config.adminTokens);
    if (auth.isOpen() && !config.listen.isLoopback()) {
        return refuse(kExitConfig,
                      {"auth_required",
                       "listening on " + config.listen.url() +
                           " (not a loopback address) needs API tokens, and none are configured",
                       "set auth.client_tokens and auth.admin_tokens (AW_AUTH_CLIENT_TOKENS, "
                       "AW_AUTH_ADMIN_TOKENS), or listen on 127.0.0.1"},
                      true);
    }
    std::unique_ptr<Database> database;
    try {
        database =
            std::make_unique<Database>(parseDatabaseUrl(config.databaseUrl), config.dbPoolSize,
                                       std::chrono::seconds(config.dbConnectTimeoutSeconds));
    } catch (const StoreCorruptError& e) {
        return refuse(kExitDataErr, e.problem(), true);
    } catch (const ProblemError& e) {
        const bool badUrl = e.problem().code == "unsupported_database";
        return refuse(badUrl ? kExitConfig : kExitUnavailable, e.problem(), true);
    }
    try {
        const auto report = applyMigrations(*database, config.sqlDir);
        nlohmann::json applied = nlohmann::json::array();
        for (const auto& migration : report.applied) applied.push_back(migration.name);
        logFields(hostLogger(), Poco::Message::PRIO_INFORMATION, "database ready",
                  {{"db", database->url().redacted},
                   {"migrations_applied", applied},
                   {"migrations_already_applied", report.alreadyApplied}});
    } catch (const StoreCorruptError& e) {
        return refuse(kExitDataErr, e.problem(), true);
    } catch (const ProblemError& e) {
        return refuse(kExitSoftware, e.problem(), true);
    } catch (const std::exception& e) {
        return refuse(
            kExitUnavailable,
            {"database_unavailable", std::string("cannot migrate: ") + e.what(),
             database->dialect() == Dialect::Sqlite ? "check the database file and its directory"
                                                    : "check the database server"},
            true);
    }

    RuntimeManifest manifest;
    try {
        manifest = loadRuntimeManifest(config.restoreManifestFile);
    } catch (const ProblemError& e) {
        return refuse(kExitConfig, e.problem(), true);
    }

    raiseOpenFileLimit();
    int listening = -1;
    try {
        listening = listenTcp(config.listen.host, config.listen.port);
    } catch (const std::system_error& e) {
        return refuse(
            kExitUnavailable,
            {"listen_failed", "cannot listen on " + config.listen.url() + ": " + e.what(),
             "is another agent-host (or anything else) using that port? pick another "
             "with --listen or AW_LISTEN"},
            true);
    }
    // With `listen` on port 0 the system picks the port: from here on only `bound` says
    // where the host really listens, in the log as on stdout.
    const ListenAddress bound{config.listen.host, boundPort(listening)};
    if (auth.isOpen()) {
        logFields(hostLogger(), Poco::Message::PRIO_WARNING,
                  "no API tokens configured: serving unauthenticated on loopback only",
                  {{"listen", bound.url()}});
    }

    ProviderSupervisor providers(config.providers);
    providers.start();

    // Executors call back through `public_url` (several replicas: their load balancer), or
    // on loopback whatever address the API listens on.
    const bool v6 = bound.host.find(':') != std::string::npos;
    const std::string ownUrl =
        std::string(v6 ? "http://[::1]:" : "http://127.0.0.1:") + std::to_string(bound.port);
    const std::string callbackBase = config.publicUrl.empty() ? ownUrl : config.publicUrl;
    LocalRuntimeOptions runtimeOptions;
    runtimeOptions.workersDir = config.dataDir + "/workers";
    runtimeOptions.objectsDir = config.objectsDir;
    runtimeOptions.executorBinary = config.executorBinary;
    runtimeOptions.callbackUrl = callbackBase + "/v1/callbacks/executor";
    runtimeOptions.callbackMaxBodyBytes = config.maxBodyBytes;  // callbacks over it would get 413
    runtimeOptions.sandbox = config.localSandbox;
    // The s3 store: the executors get its settings (credentials on stdin); /ready checks the
    // bucket with a store of its own that tries once and gives up quickly (probes repeat).
    std::unique_ptr<S3ObjectStore> probedStore;
    std::vector<ReadinessCheck> readiness;
    if (config.objectStoreKind == "s3") {
        runtimeOptions.s3 = config.s3;
        S3Settings probe = config.s3;
        probe.retry.maxAttempts = 1;
        probe.connectTimeout = std::chrono::seconds(2);
        probe.stallTimeout = std::chrono::seconds(5);
        try {
            probedStore = std::make_unique<S3ObjectStore>(probe);
        } catch (const ProblemError& e) {
            return refuse(kExitConfig, e.problem(), true);
        }
        auto bucketProblem = [store = probedStore.get()]() -> std::optional<Problem> {
            try {
                store->checkBucket();
                return std::nullopt;
            } catch (const ProblemError& e) {
                return e.problem();
            }
        };
        // Not a reason to refuse to start: the store may come up later, /ready says so.
        if (const auto problem = bucketProblem()) {
            logFields(
                hostLogger(), Poco::Message::PRIO_WARNING, "object store not ready",
                {{"code", problem->code}, {"error", problem->message}, {"hint", problem->hint}});
        }
        readiness.push_back(
            {"object_store",
             bucketProblem,
             {{"kind", "s3"}, {"endpoint", probe.endpoint}, {"bucket", probe.bucket}}});
    }
    for (const auto& [provider, settings] : config.runs.providerSettings.items()) {
        if (settings.contains("binary") && settings["binary"].is_string()) {
            runtimeOptions.sandbox.programs.push_back(settings["binary"].get<std::string>());
        }
    }
    // No sandbox shows the host's own data: the database, every worker, tokens, objects.
    runtimeOptions.sandbox.hiddenPaths = {config.dataDir, config.objectsDir};
    if (!configFile_.empty()) runtimeOptions.sandbox.hiddenPaths.push_back(configFile_);
    if (const auto url = parseDatabaseUrl(config.databaseUrl); url.dialect == Dialect::Sqlite) {
        for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
            runtimeOptions.sandbox.hiddenPaths.push_back(url.target + suffix);
        }
    }
    RunEngineOptions runOptions = config.runs;
    runOptions.manifest = manifest;
    if (runOptions.queue.hostId.empty()) {
        runOptions.queue.hostId = Poco::Environment::nodeName() + ":" + std::to_string(bound.port);
    }
    // The worker runtime (`runtime`): local processes, containers of the Docker engine, or
    // services of a Docker Swarm. Containers and services are named after their owner:
    // this host, or the cluster of replicas that share them.
    const std::string workerOwner =
        config.clusterId.empty() ? runOptions.queue.hostId : config.clusterId;
    std::unique_ptr<ExecutorRuntime> workerRuntime;
    SociExecutorDirectory executorDirectory(*database);  // the swarm runtime's
    BootstrapExchange bootstrapExchange;  // the swarm's executors get their secrets from it
    try {
        if (config.runs.submission.placement.runtime == "docker") {
            DockerRuntimeOptions docker = config.docker;
            docker.hostId = workerOwner;
            docker.workersDir = config.dataDir + "/workers";
            docker.objectsDir = config.objectsDir;
            docker.callbackUrl = runtimeOptions.callbackUrl;
            docker.callbackMaxBodyBytes = runtimeOptions.callbackMaxBodyBytes;
            docker.s3 = runtimeOptions.s3;
            auto dockerRuntime = std::make_unique<DockerWorkerRuntime>(docker);
            // Workers cannot be made while the engine is gone or lacks the image: /ready says
            // so (the host started with both; either can go later).
            readiness.push_back(
                {"docker",
                 [runtime = dockerRuntime.get()] { return runtime->unavailableReason(); },
                 {{"socket", docker.socketPath}, {"image", docker.image}}});
            workerRuntime = std::move(dockerRuntime);
        } else if (config.runs.submission.placement.runtime == "swarm") {
            SwarmRuntimeOptions swarm = config.swarm;
            // Callbacks and the bootstrap exchange go where every replica's do: any replica
            // finds the worker's pending bootstrap and tokens in the database.
            const std::string hostUrl = swarm.hostUrl.empty() ? ownUrl : swarm.hostUrl;
            const std::string workersReach = config.publicUrl.empty() ? hostUrl : config.publicUrl;
            swarm.hostId = workerOwner;
            swarm.directory = &executorDirectory;
            swarm.clusterSecret = clusterSecret(config.clusterSecret, config.dataDir);
            swarm.callbackUrl = workersReach + "/v1/callbacks/executor";
            swarm.bootstrapUrl = workersReach + "/v1/executors/bootstrap";
            swarm.callbackMaxBodyBytes = runtimeOptions.callbackMaxBodyBytes;
            swarm.s3 = runtimeOptions.s3;
            auto swarmRuntime = std::make_unique<SwarmWorkerRuntime>(swarm);
            readiness.push_back(
                {"swarm",
                 [runtime = swarmRuntime.get()] { return runtime->unavailableReason(); },
                 {{"socket", swarm.socketPath}, {"image", swarm.image}}});
            bootstrapExchange = [runtime = swarmRuntime.get()](
                                    const std::string& token,
                                    const std::string& address) -> std::optional<nlohmann::json> {
                const auto grant = runtime->redeemBootstrap(token, address);
                if (!grant) return std::nullopt;
                return grant->toJson();
            };
            workerRuntime = std::move(swarmRuntime);
        } else {
            workerRuntime = std::make_unique<LocalWorkerRuntime>(runtimeOptions);
        }
    } catch (const ProblemError& e) {
        return refuse(kExitConfig, e.problem(), true);
    }
    ExecutorRuntime& runtime = *workerRuntime;
    // Each worker calls back with its own token (the runtime issues and revokes them); the
    // configured executor tokens are the operator's, bound to no worker, never handed out.
    // The tokens' digests are kept in the database, where every replica finds them.
    SociCallbackTokenRegistry callbackTokenRegistry(*database);
    CallbackTokens& workerTokens = runtime.callbackTokens();
    try {
        workerTokens.share(callbackTokenRegistry);
    } catch (const std::exception& e) {
        return refuse(
            kExitUnavailable,
            {"store_unavailable", std::string("cannot record the workers' tokens: ") + e.what(),
             "check the database (--db)"},
            true);
    }
    MetricsRegistry metricsRegistry;
    HostMetrics metrics(metricsRegistry, AW_PROJECT_VERSION);
    RuntimeWorkerGateway gateway(runtime, withSyncMetrics(config.executor, metrics));
    ExecutorWorkspaceSyncer syncer(gateway);

    SociSessionWorkerRepository workers(*database);
    SociRunStore runStore(*database, config.queueDoneRetention, runOptions.queue.hostId);
    StoreRunActivity activity(runStore);
    SystemClock clock;
    LifecycleManager lifecycle(workers, runtime, syncer, activity, clock, config.lifecycle);
    EventHub hub;
    SupervisedProviderRegistry providerRegistry(providers, runOptions.providerCallTimeout);
    RunEngine engine(runOptions, runStore, runStore, workers, lifecycle, gateway, providerRegistry,
                     hub);
    ClusterLock maintenanceLock(database->url(), "aw.maintenance");
    Maintenance maintenance(lifecycle, maintenanceLock, config.reaperInterval);
    // Another replica's death, seen through PostgreSQL: its runs are taken over at once.
    ReplicaPresence presence(*database, runOptions.queue.hostId, runStore,
                             [](const std::string& replica, std::size_t leases) {
                                 logFields(hostLogger(), Poco::Message::PRIO_NOTICE,
                                           "a replica is gone; its leases ended",
                                           {{"replica", replica}, {"leases", leases}});
                             });

    TokenAuth routerAuth(config.clientTokens, config.adminTokens, config.executorTokens,
                         [&workerTokens](const std::string& token) {
                             return workerTokens.identify(token).has_value();
                         });
    routerAuth.setMetricsTokens(config.metricsTokens);
    Router router(std::move(routerAuth), config.maxBodyBytes);
    router.setAccessLogSample(config.accessLogSample);
    router.setMetrics(metrics.http());
    // Without tokens the API trusts the machine's own users, but agents share its loopback:
    // an agent in a sandbox is told apart by its connection's uid, a worker's.
    router.setOpenAccessCheck([&runtime](const IncomingRequest& request) -> std::optional<Problem> {
        const auto uid = loopbackPeerUid(request.clientPort, request.serverPort);
        if (!uid || !runtime.isWorkerUid(*uid)) return std::nullopt;
        return Problem{"forbidden", "a session worker's agent may not call the API",
                       "agents never get API access; a chat backend calls from outside the workers"};
    });
    addHealthRoutes(router, *database, providers, std::move(readiness));
    addSessionRoutes(router, workers);
    RunEventStreamOptions streamOptions{config.sseMaxStreams, config.sseKeepAlive};
    streamOptions.latency = &metrics.events();
    RunEventStreams streams(runStore, hub, streamOptions);
    // Replicas on one PostgreSQL: events another host stored reach this one's streams, and
    // replies another host received reach the runs this one drives.
    std::optional<PgEventListener> otherHostsEvents;
    if (database->dialect() == Dialect::Postgresql) {
        otherHostsEvents.emplace(
            database->url(), runOptions.queue.hostId,
            PgEventListener::Handlers{
                [&hub](const std::string& runId) { hub.publish(runId); },
                [&engine](const std::string& runId) { engine.replyForwarded(runId); },
                [&engine](const std::string& runId) { engine.outputStored(runId); },
                [&streams] { streams.wakeAll(); }});
    }
    addRunRoutes(router, engine, runStore, runStore, maintenance, streams);
    addCallbackRoutes(
        router, engine,
        [&workerTokens](const std::string& token) { return workerTokens.identify(token); },
        &metrics);
    if (bootstrapExchange) addExecutorBootstrapRoutes(router, bootstrapExchange);
    addProviderRoutes(router, providers);
    addAdminRoutes(router, config);
    StoreCounts storeCounts(*database);
    addStateMetrics(metricsRegistry, storeCounts, providers);
    addMetricsRoutes(router, metricsRegistry);
    addConsoleRoutes(router);
    addOpenApiRoutes(router);

    HttpServer server(router, listening, config.http);
    server.start();
    engine.start();
    presence.start();
    maintenance.start();
    // Scripts and tests wait for this line; with port 0 it carries the port chosen.
    std::cout << "agent-host listening on " << bound.url() << std::endl;
    // The configuration as it is in effect: the bound address and the host id derived
    // from it, not the `:0` and empty id that were asked for.
    nlohmann::json effective = nlohmann::json::parse(config.redactedJson());
    effective["listen"] = bound.url();
    effective["host_id"] = runOptions.queue.hostId;
    logFields(hostLogger(), Poco::Message::PRIO_INFORMATION, "listening",
              {{"url", bound.url()}, {"host_id", runOptions.queue.hostId}, {"config", effective}});

    waitForTerminationRequest();
    logFields(hostLogger(), Poco::Message::PRIO_INFORMATION, "shutting down", nlohmann::json::object());
    shutDown(server, router, maintenance, engine, streams);
    // Only now, as the objects above go in reverse order, the workers' executors stop
    // (LocalWorkerRuntime's destructor), then the providers and the database.
    logFields(hostLogger(), Poco::Message::PRIO_INFORMATION, "stopping workers",
              nlohmann::json::object());
    return EXIT_OK;
}

}  // namespace aw
