#include "runs/run_support.h"

#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <unistd.h>

#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/plugins.h"

namespace aw::runs {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::string clip(const std::string& text, std::size_t size) {
    return text.size() <= size ? text : text.substr(0, size) + "...";
}

std::string tail(const std::string& text, std::size_t size) {
    return text.size() <= size ? text : "..." + text.substr(text.size() - size);
}

// Registered before main() so gtest owns it and tears it down after the last test.
[[maybe_unused]] SharedPostgres& registeredPostgres = SharedPostgres::instance();

}  // namespace

const char* toString(Db db) { return db == Db::Sqlite ? "Sqlite" : "Postgres"; }

// ---- SharedPostgres ------------------------------------------------------------------------

SharedPostgres& SharedPostgres::instance() {
    static SharedPostgres* shared =
        static_cast<SharedPostgres*>(::testing::AddGlobalTestEnvironment(new SharedPostgres));
    return *shared;
}

std::string SharedPostgres::newDatabaseUrl() {
    if (!cluster_) {
        if (const auto reason = test::PostgresCluster::unavailableReason(); !reason.empty()) {
            throw std::runtime_error("PostgreSQL is needed for these tests: " + reason);
        }
        cluster_ = std::make_unique<test::PostgresCluster>();
    }
    const std::string name = "runs_" + std::to_string(::getpid()) + "_" + std::to_string(++databases_);
    cluster_->createDatabase(name);
    return cluster_->url(name);
}

void SharedPostgres::TearDown() { cluster_.reset(); }

// ---- RunHarness ----------------------------------------------------------------------------

RunHarness::RunHarness(HarnessOptions options) : options_(std::move(options)) {
    model_ = std::make_unique<live::ModelServer>();
    const auto plugins = data_ / "plugins";
    std::filesystem::create_directories(plugins);
    test::dropPlugin(test::shippedPlugin("claude-code"), plugins, "claude-code.so");
    test::dropPlugin(test::shippedPlugin("codex-cli"), plugins, "codex-cli.so");

    Json providers = {
        {"claude-code",
         {{"binary", live::cliBinary(Cli::ClaudeCode).string()},
          {"env",
           {{"ANTHROPIC_BASE_URL", model_->url()},
            {"ANTHROPIC_API_KEY", "sk-ant-aw-runs-test"},
            {"DISABLE_AUTOUPDATER", "1"},
            {"DISABLE_TELEMETRY", "1"},
            {"DISABLE_ERROR_REPORTING", "1"},
            {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"}}}}}};
    if (!options_.codexBinary.empty()) {
        providers["codex-cli"] = {{"binary", options_.codexBinary}};
    }

    auto launch = test::defaultLaunch(data_.path().string());
    launch.env["AW_PROVIDERS"] = providers.dump();
    for (const auto& [name, value] : options_.hostEnv) launch.env[name] = value;
    if (options_.db == Db::Postgres) {
        test::setFlag(launch, "--db", SharedPostgres::instance().newDatabaseUrl());
    }
    host_ = std::make_unique<test::AgentHostProcess>(launch);

    // The plugins hand-shake after the host listens; until then their names are unknown and
    // a message is refused with 404 unknown_provider.
    if (!options_.waitForProviders) return;
    Json last;
    const bool healthy = eventually(
        [&] {
            last = test::httpGet(port(), "/admin/providers").json();
            int ready = 0;
            for (const auto& row : last.value("providers", Json::array())) {
                ready += row.value("status", "") == "healthy" ? 1 : 0;
            }
            return ready == 2;
        },
        30s);
    if (!healthy) {
        throw std::runtime_error("the providers did not become healthy: " + last.dump() + "\n" +
                                 tail(host_->log(), 4000));
    }
}

RunHarness::~RunHarness() {
    // The host first: its executors (and their CLIs) end with it, before the model server.
    if (host_) host_->stop();
    host_.reset();
    model_.reset();
}

std::filesystem::path RunHarness::workerDir(const std::string& sessionId) const {
    return data_ / "workers" / sessionId;
}

std::filesystem::path RunHarness::workspace(const std::string& sessionId) const {
    return workerDir(sessionId) / "workspace";
}

test::HttpResult RunHarness::postMessage(const std::string& sessionId, const Json& body,
                                         std::map<std::string, std::string> headers) {
    return test::httpRequest(port(), test::HttpCall{"POST", "/v1/sessions/" + sessionId + "/messages",
                                                    body.dump(), std::move(headers)});
}

std::string RunHarness::startRun(const std::string& sessionId, const std::string& prompt,
                                 const Json& extra) {
    Json body = {{"provider", "claude-code"}, {"prompt", prompt}};
    for (const auto& [key, value] : extra.items()) body[key] = value;
    const auto answer = postMessage(sessionId, body);
    EXPECT_EQ(answer.status, 202) << answer.body;
    if (answer.status != 202) return "";
    const Json json = answer.json();
    EXPECT_EQ(json.value("created", false), true) << answer.body;
    return json.value("run_id", "");
}

Json RunHarness::run(const std::string& runId) {
    return test::httpGet(port(), "/v1/runs/" + runId).json();
}

Json RunHarness::session(const std::string& sessionId) {
    return test::httpGet(port(), "/v1/sessions/" + sessionId).json();
}

Json RunHarness::todos(const std::string& sessionId) {
    return test::httpGet(port(), "/v1/sessions/" + sessionId + "/todos").json();
}

std::vector<Json> RunHarness::events(const std::string& runId, std::int64_t pageSize) {
    std::vector<Json> all;
    std::int64_t after = 0;
    for (int page = 0; page < 10000; ++page) {
        const auto answer = test::httpGet(port(), "/v1/runs/" + runId + "/events?after=" +
                                                      std::to_string(after) +
                                                      "&limit=" + std::to_string(pageSize));
        EXPECT_EQ(answer.status, 200) << answer.body;
        const Json json = answer.json();
        if (answer.status != 200 || !json.contains("events") || json["events"].empty()) break;
        for (const auto& event : json["events"]) all.push_back(event);
        const std::int64_t next = json.value("next_after", std::int64_t{-1});
        EXPECT_EQ(next, all.back().value("seq", std::int64_t{-2})) << answer.body;
        if (next <= after) break;
        after = next;
    }
    return all;
}

test::HttpResult RunHarness::stop(const std::string& runId) {
    return test::httpRequest(port(), test::HttpCall{"POST", "/v1/runs/" + runId + "/stop", "{}"});
}

test::HttpResult RunHarness::humanReply(const std::string& runId, const Json& body) {
    return test::httpRequest(port(),
                             test::HttpCall{"POST", "/v1/runs/" + runId + "/human-reply", body.dump()});
}

Json RunHarness::waitForRun(const std::string& runId, const std::function<bool(const Json&)>& done,
                            std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    Json last = run(runId);
    while (!done(last) && Clock::now() < deadline) {
        std::this_thread::sleep_for(100ms);
        last = run(runId);
    }
    return last;
}

Json RunHarness::waitForEnd(const std::string& runId, std::chrono::milliseconds timeout) {
    return waitForRun(
        runId, [](const Json& run) { return isTerminalStatus(run.value("status", "")); }, timeout);
}

Json RunHarness::waitForStatus(const std::string& runId, const std::string& status,
                               std::chrono::milliseconds timeout) {
    return waitForRun(
        runId, [&](const Json& run) { return run.value("status", "") == status; }, timeout);
}

std::string RunHarness::describe(const std::string& runId) {
    std::ostringstream out;
    out << "run: " << run(runId).dump() << "\nevents:\n";
    for (const auto& event : events(runId)) {
        out << "  " << event.value("seq", 0) << " " << event.value("type", "") << " "
            << clip(event.value("data", Json::object()).dump(), 300) << "\n";
    }
    out << "agent-host log (end):\n" << tail(host_->log(), 6000) << "\n";
    return out.str();
}

// ---- helpers -------------------------------------------------------------------------------

bool isTerminalStatus(const std::string& status) {
    return status == "completed" || status == "failed" || status == "stopped";
}

std::vector<Json> dataOf(const std::vector<Json>& events, const std::string& type) {
    std::vector<Json> found;
    for (const auto& event : events) {
        if (event.value("type", "") == type) found.push_back(event.value("data", Json::object()));
    }
    return found;
}

std::vector<std::string> typesOf(const std::vector<Json>& events) {
    std::vector<std::string> types;
    for (const auto& event : events) types.push_back(event.value("type", ""));
    return types;
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    bool holds = condition();
    while (!holds && Clock::now() < deadline) {
        std::this_thread::sleep_for(50ms);
        holds = condition();
    }
    return holds;
}

// ---- SSE -----------------------------------------------------------------------------------

Json SseFrame::json() const {
    auto parsed = Json::parse(data, nullptr, false);
    return parsed.is_discarded() ? Json() : parsed;
}

SseClient::SseClient(unsigned short port, const std::string& runId, const std::string& lastEventId,
                     std::chrono::milliseconds readTimeout) {
    session_ = std::make_unique<Poco::Net::HTTPClientSession>("127.0.0.1", port);
    session_->setTimeout(
        Poco::Timespan(static_cast<Poco::Timespan::TimeDiff>(readTimeout.count()) * 1000));
    Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_GET, "/v1/runs/" + runId + "/events",
                                   Poco::Net::HTTPMessage::HTTP_1_1);
    request.set("Accept", "text/event-stream");
    if (!lastEventId.empty()) request.set("Last-Event-ID", lastEventId);
    session_->sendRequest(request);
    Poco::Net::HTTPResponse response;
    in_ = &session_->receiveResponse(response);
    status_ = static_cast<int>(response.getStatus());
    contentType_ = response.getContentType();
    if (status_ != 200) {
        Poco::StreamCopier::copyToString(*in_, body_);
        ended_ = true;
    }
}

SseClient::~SseClient() { close(); }

void SseClient::close() {
    if (session_) session_->reset();
    in_ = nullptr;
    ended_ = true;
}

std::optional<SseFrame> SseClient::next() {
    if (ended_ || !in_) return std::nullopt;
    SseFrame frame;
    bool any = false;
    std::string line;
    for (;;) {
        if (!std::getline(*in_, line)) {
            // A read timeout surfaces as a failed stream (Poco throws inside the streambuf).
            timedOut_ = in_->bad();
            ended_ = true;
            return any ? std::optional<SseFrame>(frame) : std::nullopt;
        }
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) {
            if (any) return frame;
            continue;
        }
        any = true;
        if (line.front() == ':') {
            frame.comments.push_back(line.substr(1));
            if (line.find("keep-alive") != std::string::npos) ++keepAlives_;
            continue;
        }
        const auto colon = line.find(':');
        const std::string field = line.substr(0, colon);
        std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
        if (!value.empty() && value.front() == ' ') value.erase(0, 1);
        if (field == "id") {
            frame.id = value;
        } else if (field == "event") {
            frame.event = value;
        } else if (field == "data") {
            frame.data += (frame.data.empty() ? "" : "\n") + value;
        } else if (field == "retry") {
            frame.retry = value;
        }
    }
}

std::optional<SseFrame> SseClient::nextEvent() {
    while (auto frame = next()) {
        if (frame->isEvent()) return frame;
    }
    return std::nullopt;
}

std::vector<SseFrame> SseClient::readToEnd() {
    std::vector<SseFrame> frames;
    while (auto frame = nextEvent()) frames.push_back(std::move(*frame));
    return frames;
}

}  // namespace aw::runs
