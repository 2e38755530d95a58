// End-to-end robustness of runs: agent-host as a child process with its real provider-hosts
// and executors, driven through its HTTP API while things go wrong around it — duplicate and
// reordered executor callbacks, a provider process killed mid-run, a line that crashes the
// plugin, agent-host itself killed mid-run, workers stopped and removed between runs, a file
// store that refuses a sync, and a queue drained by hand.
//
// Fake agent CLIs are shell scripts printing recorded Claude Code streams
// (tests/fixtures/providers); the real Claude Code CLI runs against the scripted model server
// where its behaviour matters (a tool that takes long, resume across a removed worker).
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <thread>

#include "support/agent_clis.h"
#include "support/agent_host_harness.h"
#include "support/fake_cli.h"
#include "support/plugins.h"
#include "support/postgres_cluster.h"
#include "support/run_events.h"

namespace aw::rr {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
using test::AgentHost;
using test::comparable;
using test::countType;
using test::denseAndUnique;
using test::descendsFrom;
using test::describeEvents;
using test::eventually;
using test::fixtureLines;
using test::fixturePath;
using test::HostSpec;
using test::isTerminalType;
using test::kExecutorToken;
using test::processAlive;
using test::processesUnder;
using test::shellQuote;
using test::typesOf;
using test::writeScript;

namespace fs = std::filesystem;

std::string realCat() {
    for (const char* candidate : {"/usr/bin/cat", "/bin/cat"}) {
        if (::access(candidate, X_OK) == 0) return candidate;
    }
    return "cat";
}

class RunRobustnessBase : public ::testing::Test {
protected:
    fs::path dataDir() const { return root_ / "data"; }
    fs::path pluginsDir() const { return root_ / "plugins"; }
    fs::path binDir() const { return root_ / "bin"; }
    fs::path releaseDir() const { return root_ / "release"; }
    fs::path workerDir(const std::string& sid) const { return dataDir() / "workers" / sid; }
    fs::path storeDir(const std::string& sid) const {
        return dataDir() / "objects" / "agent-worker" / "sessions" / "default" / sid;
    }

    void SetUp() override {
        for (const auto& dir : {dataDir(), pluginsDir(), binDir(), releaseDir()})
            fs::create_directories(dir);
    }

    //! The database URL of this test ("" for SQLite in the data dir).
    virtual std::string databaseUrl() { return ""; }

    HostSpec spec(std::map<std::string, std::string> extra = {}) {
        HostSpec spec{dataDir(), pluginsDir(), databaseUrl(), test::quickHostEnv()};
        // The fake CLIs' release files and line files, shown in the workers' sandboxes.
        spec.env["AW_RUNTIME_LOCAL_READ_ONLY_PATHS"] =
            releaseDir().string() + "," + (root_ / "lines").string();
        for (auto& [name, value] : extra) spec.env[name] = value;
        return spec;
    }

    void dropClaudeCode() {
        test::dropPlugin(test::shippedPlugin("claude-code"), pluginsDir(), "claude-code.so");
    }

    //! A fake `claude`: prints the first `head` lines of `fixture`, waits (at most 90 s) until
    //! release/<session id> exists, prints the rest, exits 0. With head = 0 and an empty
    //! fixture it prints nothing at all. Its working directory is the worker's workspace,
    //! whose parent directory is named after the session.
    fs::path fakeClaude(const std::string& name, const std::string& fixture, std::size_t head) {
        std::string body =
            "session=$(basename \"$(dirname \"$PWD\")\")\n"
            "release=" +
            shellQuote(releaseDir().string()) + "/$session\n";
        if (!fixture.empty()) {
            body += "head -n " + std::to_string(head) + " " +
                    shellQuote(fixturePath(fixture).string()) + "\n";
        }
        body +=
            "i=0\n"
            "while [ ! -e \"$release\" ] && [ $i -lt 900 ]; do sleep 0.1; i=$((i+1)); done\n";
        if (!fixture.empty()) {
            body += "tail -n +" + std::to_string(head + 1) + " " +
                    shellQuote(fixturePath(fixture).string()) + "\n";
        }
        body += "exit 0\n";
        return writeScript(binDir() / name, body);
    }

    void release(const std::string& sid) { std::ofstream(releaseDir() / sid) << "go\n"; }

    //! A host serving abort-on-poison, which runs `cat` (from PATH) and aborts on any line
    //! containing "poison". The `cat` first on the host's PATH prints lines/<session>.txt
    //! (writeLines) when the provider's env names the folder (its working directory is the
    //! workspace, whose parent is named after the session), and behaves as cat otherwise.
    HostSpec poisonHostSpec() {
        test::dropPlugin(test::testPlugin("abort-on-poison"), pluginsDir(), "abort-on-poison.so");
        writeScript(binDir() / "cat",
                    "if [ -n \"$AWRR_LINES_DIR\" ]; then\n"
                    "  exec " +
                        realCat() +
                        " \"$AWRR_LINES_DIR/$(basename \"$(dirname \"$PWD\")\").txt\"\n"
                        "fi\n"
                        "exec " +
                        realCat() + " \"$@\"\n");
        const char* path = std::getenv("PATH");
        return spec(
            {{"PATH", binDir().string() + ":" + (path ? path : "/usr/bin:/bin")},
             {"AW_PROVIDERS",
              Json{{"abort-on-poison", {{"env", {{"AWRR_LINES_DIR", (root_ / "lines").string()}}}}}}
                  .dump()}});
    }
    void writeLines(const std::string& sid, const std::vector<std::string>& lines) {
        fs::create_directories(root_ / "lines");
        std::ofstream file(root_ / "lines" / (sid + ".txt"));
        for (const auto& line : lines) file << line << "\n";
    }

    static std::string providersJson(const std::string& binary, const Json& env = Json::object()) {
        Json settings{{"binary", binary}};
        if (!env.empty()) settings["env"] = env;
        return Json{{"claude-code", settings}}.dump();
    }

    // ---- scenarios shared by SQLite and PostgreSQL ---------------------------------------

    void duplicateAndReorderedCallbacksChangeNothing();
    void idleStopRemoveThenResume();

    test::TempDir root_{"aw-rr"};
};

class RunRobustness : public RunRobustnessBase {};

class RunRobustnessPostgres : public RunRobustnessBase {
protected:
    void SetUp() override {
        if (const auto reason = test::PostgresCluster::unavailableReason(); !reason.empty()) {
            GTEST_FAIL() << "PostgreSQL is needed for these tests: " << reason;
        }
        RunRobustnessBase::SetUp();
        // One PostgreSQL cluster for the whole binary; a database of its own per test.
        url_ = test::SharedPostgres::instance().newDatabaseUrl("rr");
    }
    std::string databaseUrl() override { return url_; }

    std::string url_;
};

//! The real Claude Code CLI, pointed at a scripted model server of its own.
struct RealClaude {
    live::ModelServer server;
    std::string binary = live::cliBinary(live::Cli::ClaudeCode).string();
    Json env() const {
        return {{"ANTHROPIC_BASE_URL", server.url()},
                {"ANTHROPIC_API_KEY", "sk-test"},
                {"DISABLE_AUTOUPDATER", "1"},
                {"DISABLE_TELEMETRY", "1"},
                {"DISABLE_ERROR_REPORTING", "1"},
                {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"}};
    }
};

// ---- 1. duplicate and reordered callbacks -----------------------------------------------

Json stdoutRecord(const std::string& runId, int seq, const std::string& line) {
    return {{"event_id", runId + "/stdout/" + std::to_string(seq)},
            {"run_id", runId},
            {"stream", "stdout"},
            {"seq", seq},
            {"line", line}};
}

Json exitRecord(const std::string& runId, std::size_t lines) {
    return Json::array({{{"event_id", runId + "/exit/1"},
                         {"run_id", runId},
                         {"stream", "exit"},
                         {"seq", 1},
                         {"exit_code", 0},
                         {"signal", nullptr},
                         {"stdout_lines", lines}}});
}

//! Lines [from, to] (1-based) of `lines` as the executor's stdout records.
Json batch(const std::string& runId, const std::vector<std::string>& lines, int from, int to) {
    Json records = Json::array();
    for (int seq = from; seq <= to; ++seq)
        records.push_back(stdoutRecord(runId, seq, lines[static_cast<std::size_t>(seq - 1)]));
    return records;
}

//! The events that came from the plugin (not the host's own), in order.
Json translatedOnly(const Json& comparableEvents) {
    Json out = Json::array();
    for (const auto& event : comparableEvents) {
        if (event.value("event_id", "").find(":host:") == std::string::npos) out.push_back(event);
    }
    return out;
}

Json sortedById(Json comparableEvents) {
    std::sort(comparableEvents.begin(), comparableEvents.end(), [](const Json& a, const Json& b) {
        return a.value("event_id", "") < b.value("event_id", "");
    });
    return comparableEvents;
}

//! Empty when every message.stop is covered by exactly one later, successful workspace.sync
//! (one sync covers the messages that ended in one batch of lines).
std::string syncsCoverEveryMessage(const std::vector<Json>& events) {
    std::set<std::string> stops;
    std::map<std::string, int> covered;
    std::string problems;
    for (const auto& event : events) {
        const std::string type = event.value("type", "");
        if (type == "message.stop") stops.insert(event.value("event_id", ""));
        if (type != "workspace.sync") continue;
        const Json data = event.value("data", Json::object());
        if (data.value("status", "") != "succeeded")
            problems += "sync " + data.dump() + " failed; ";
        for (const auto& id : data.value("message_event_ids", Json::array())) {
            if (!stops.count(id.get<std::string>()))
                problems += "sync before " + id.get<std::string>() + "; ";
            ++covered[id.get<std::string>()];
        }
    }
    for (const auto& stop : stops) {
        if (covered[stop] != 1)
            problems += stop + " synced " + std::to_string(covered[stop]) + " times; ";
    }
    return problems;
}

void expectCallback(const AgentHost& host, const std::string& sid, const std::string& rid,
                    const Json& records, std::size_t fresh, const std::string& what) {
    const auto answer = host.callback(sid, rid, records);
    ASSERT_EQ(answer.status, 200) << what << ": " << answer.body;
    EXPECT_EQ(answer.json().value("accepted", -1), static_cast<int>(records.size()))
        << what << ": " << answer.body;
    EXPECT_EQ(answer.json().value("new", -1), static_cast<int>(fresh))
        << what << ": " << answer.body;
}

void RunRobustnessBase::duplicateAndReorderedCallbacksChangeNothing() {
    dropClaudeCode();
    // The real CLI prints nothing and waits: the test is the executor, posting the output.
    const auto silent = fakeClaude("silent-claude", "", 0);
    AgentHost host(spec({{"AW_PROVIDERS", providersJson(silent.string())}}));
    host.waitProviderHealthy("claude-code");
    const auto lines = fixtureLines("claude-todowrite.jsonl");
    const int n = static_cast<int>(lines.size());
    ASSERT_GE(n, 9);

    // Reference: the stream posted once, in order.
    const std::string refSession = "rr-once";
    const auto ref = host.sendMessage(refSession, "claude-code", "make two files");
    host.waitRunStatus(ref, {"running"}, 60s);
    expectCallback(host, refSession, ref, batch(ref, lines, 1, n), static_cast<std::size_t>(n),
                   "reference lines");
    expectCallback(host, refSession, ref, exitRecord(ref, lines.size()), 1, "reference exit");
    const Json refRun = host.waitRunFinished(ref, 60s);
    release(refSession);

    // The same stream in three batches posted 3, 1, 2, then 1 again, then the exit record.
    const std::string sid = "rr-chaos";
    const auto rid = host.sendMessage(sid, "claude-code", "make two files");
    host.waitRunStatus(rid, {"running"}, 60s);
    const int a = n / 3, b = 2 * n / 3;
    expectCallback(host, sid, rid, batch(rid, lines, b + 1, n), static_cast<std::size_t>(n - b),
                   "batch 3");
    expectCallback(host, sid, rid, batch(rid, lines, 1, a), static_cast<std::size_t>(a), "batch 1");
    expectCallback(host, sid, rid, batch(rid, lines, a + 1, b), static_cast<std::size_t>(b - a),
                   "batch 2");
    expectCallback(host, sid, rid, batch(rid, lines, 1, a), 0, "batch 1 again");
    expectCallback(host, sid, rid, exitRecord(rid, lines.size()), 1, "exit");
    const Json run = host.waitRunFinished(rid, 60s);
    const auto events = host.events(rid);
    // Late duplicates of a finished run are acknowledged and change nothing.
    expectCallback(host, sid, rid, batch(rid, lines, a + 1, b), 0, "batch 2 after the end");
    expectCallback(host, sid, rid, exitRecord(rid, lines.size()), 0, "exit again");
    release(sid);

    ASSERT_EQ(refRun.value("status", ""), "completed") << refRun.dump() << "\n"
                                                       << describeEvents(host.events(ref));
    ASSERT_EQ(run.value("status", ""), "completed") << run.dump() << "\n" << describeEvents(events);
    const auto refEvents = host.events(ref);
    EXPECT_EQ(denseAndUnique(refEvents), "");
    EXPECT_EQ(denseAndUnique(events), "");
    EXPECT_EQ(host.events(rid).size(), events.size()) << "late duplicates added events";
    for (const char* type : {"provider.session", "message.stop", "tool.start", "tool.result",
                             "todo.update", "usage", "run.completed"}) {
        EXPECT_GE(countType(events, type), 1) << type << " missing:\n" << describeEvents(events);
    }
    int terminals = 0;
    for (const auto& type : typesOf(events)) terminals += isTerminalType(type) ? 1 : 0;
    EXPECT_EQ(terminals, 1) << describeEvents(events);
    EXPECT_EQ(countType(events, "tool.start"), countType(events, "tool.result"));
    // The translated events are the same, in the same order, with the same ids; the host's
    // own events too, though a workspace.sync may come later when the lines arrived in other
    // batches (it follows the feed of the chunk holding its message.stop).
    EXPECT_EQ(translatedOnly(comparable(events, rid)), translatedOnly(comparable(refEvents, ref)))
        << "reordered:\n"
        << describeEvents(events) << "in order:\n"
        << describeEvents(refEvents);
    EXPECT_EQ(sortedById(comparable(events, rid)), sortedById(comparable(refEvents, ref)))
        << "reordered:\n"
        << describeEvents(events) << "in order:\n"
        << describeEvents(refEvents);
    EXPECT_EQ(syncsCoverEveryMessage(events), "") << describeEvents(events);
    EXPECT_EQ(run.value("usage", Json()), refRun.value("usage", Json()));
    EXPECT_EQ(run.value("provider_session_id", Json()),
              refRun.value("provider_session_id", Json()));
    const Json todos =
        host.get("/v1/sessions/" + sid + "/todos").json().value("todos", Json::array());
    const Json refTodos =
        host.get("/v1/sessions/" + refSession + "/todos").json().value("todos", Json::array());
    EXPECT_FALSE(todos.empty());
    auto withoutRun = [](Json list) {
        for (auto& item : list) item.erase("run_id");
        return list;
    };
    EXPECT_EQ(withoutRun(todos), withoutRun(refTodos));
}

TEST_F(RunRobustness, DuplicateAndReorderedCallbacksChangeNothing) {
    duplicateAndReorderedCallbacksChangeNothing();
}
TEST_F(RunRobustnessPostgres, DuplicateAndReorderedCallbacksChangeNothing) {
    duplicateAndReorderedCallbacksChangeNothing();
}

// ---- 2. the provider's process killed mid-run -------------------------------------------

// A provider process killed while it is idle between two feeds: the run's next feed finds it
// gone, and the run is replayed into the restarted provider instead of failing.
TEST_F(RunRobustness, ProviderHostKilledMidRunLosesNothing) {
    dropClaudeCode();
    // Six lines (text, two tool calls and their results), a pause, the rest of the turn.
    const auto slow = fakeClaude("slow-claude", "claude-todowrite.jsonl", 6);
    AgentHost host(spec({{"AW_PROVIDERS", providersJson(slow.string())}}));
    host.waitProviderHealthy("claude-code");

    // Without trouble.
    release("rr-calm");
    const auto calm = host.sendMessage("rr-calm", "claude-code", "make two files");
    const Json calmRun = host.waitRunFinished(calm, 60s);
    const auto calmEvents = host.events(calm);
    ASSERT_EQ(calmRun.value("status", ""), "completed") << describeEvents(calmEvents);

    // Killed once the first lines are translated, while the CLI is still going.
    const auto rid = host.sendMessage("rr-kill", "claude-code", "make two files");
    ASSERT_TRUE(eventually([&] { return countType(host.events(rid), "tool.result") >= 2; }, 60s))
        << describeEvents(host.events(rid)) << host.logTail();
    const Json before = host.provider("claude-code");
    const pid_t pid = before.value("pid", 0);
    ASSERT_GT(pid, 0) << before.dump();
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    release("rr-kill");
    const Json run = host.waitRunFinished(rid, 90s);
    const auto events = host.events(rid);

    EXPECT_EQ(run.value("status", ""), "completed") << run.dump() << "\n"
                                                    << describeEvents(events) << host.logTail();
    EXPECT_EQ(denseAndUnique(events), "");
    int terminals = 0;
    for (const auto& type : typesOf(events)) terminals += isTerminalType(type) ? 1 : 0;
    EXPECT_EQ(terminals, 1) << describeEvents(events);
    // Nothing lost, nothing doubled: the same translated events in the same order, the same
    // host events (a workspace.sync may sit elsewhere: it follows its chunk's feed).
    EXPECT_EQ(translatedOnly(comparable(events, rid)), translatedOnly(comparable(calmEvents, calm)))
        << "killed:\n"
        << describeEvents(events) << "calm:\n"
        << describeEvents(calmEvents);
    EXPECT_EQ(sortedById(comparable(events, rid)), sortedById(comparable(calmEvents, calm)))
        << "killed:\n"
        << describeEvents(events) << "calm:\n"
        << describeEvents(calmEvents);
    EXPECT_EQ(syncsCoverEveryMessage(events), "") << describeEvents(events);
    EXPECT_EQ(countType(events, "provider.quarantine"), 0);
    EXPECT_EQ(run.value("usage", Json()), calmRun.value("usage", Json()));
    // The provider came back as a new process.
    const Json after = host.waitProviderHealthy("claude-code");
    EXPECT_NE(after.value("pid", 0), pid);
    EXPECT_GE(after.value("restarts", 0), 1) << after.dump();
}

// ---- 3. a line that crashes the plugin --------------------------------------------------

TEST_F(RunRobustness, PoisonLineIsQuarantinedAndTheRestTranslated) {
    const std::vector<std::string> good = {
        R"({"n":1,"text":"good one"})",   R"({"n":2,"text":"good two"})",
        R"({"n":3,"text":"good three"})", R"({"n":4,"text":"good four"})",
        R"({"n":5,"text":"good five"})",  R"({"n":6,"text":"good six"})"};
    const std::string poison = R"({"n":"x","text":"a poison pill"})";
    std::vector<std::string> poisoned = good;
    poisoned.insert(poisoned.begin() + 3, poison);
    writeLines("rr-poison", poisoned);
    writeLines("rr-clean", good);
    AgentHost host(poisonHostSpec());
    host.waitProviderHealthy("abort-on-poison");

    const auto rid = host.sendMessage("rr-poison", "abort-on-poison", "anything");
    const Json run = host.waitRunFinished(rid, 90s);
    const auto events = host.events(rid);

    EXPECT_EQ(run.value("status", ""), "completed") << run.dump() << "\n"
                                                    << describeEvents(events) << host.logTail();
    EXPECT_EQ(denseAndUnique(events), "");
    ASSERT_EQ(countType(events, "provider.quarantine"), 1)
        << describeEvents(events) << host.logTail();
    std::vector<std::string> texts;
    std::vector<int> numbers;
    for (const auto& event : events) {
        const Json data = event.value("data", Json::object());
        if (event["type"] == "provider.quarantine") {
            EXPECT_EQ(data.value("line_preview", ""), poison) << data.dump();
            EXPECT_EQ(data.value("raw_event_ids", Json()), Json::array({rid + "/stdout/4"}))
                << data.dump();
            EXPECT_GE(data.value("crashes", 0), 2)
                << "quarantined before it crashed the plugin again: " << data.dump();
        }
        if (event["type"] == "message.delta") {
            texts.push_back(data.value("text", ""));
            numbers.push_back(data.value("line", 0));
        }
    }
    EXPECT_EQ(texts, good) << describeEvents(events);
    // The plugin's own line counter continues across its restarts: the host replayed the
    // translated lines into each fresh plugin session.
    EXPECT_EQ(numbers, (std::vector<int>{1, 2, 3, 4, 5, 6})) << describeEvents(events);
    int terminals = 0;
    for (const auto& type : typesOf(events)) terminals += isTerminalType(type) ? 1 : 0;
    EXPECT_EQ(terminals, 1) << describeEvents(events);
    EXPECT_TRUE(isTerminalType(events.back().value("type", ""))) << describeEvents(events);

    // The crashes were counted, and the provider is serving again, not degraded.
    const Json row = host.waitProviderHealthy("abort-on-poison", 30s);
    EXPECT_GE(row.value("restarts", 0), 2) << row.dump();
    const auto clean = host.sendMessage("rr-clean", "abort-on-poison", "anything");
    const Json cleanRun = host.waitRunFinished(clean, 60s);
    const auto cleanEvents = host.events(clean);
    EXPECT_EQ(cleanRun.value("status", ""), "completed")
        << describeEvents(cleanEvents) << host.logTail();
    EXPECT_EQ(countType(cleanEvents, "message.delta"), static_cast<int>(good.size()))
        << describeEvents(cleanEvents);
    EXPECT_EQ(countType(cleanEvents, "provider.quarantine"), 0) << describeEvents(cleanEvents);
    EXPECT_EQ(host.provider("abort-on-poison").value("restarts", -1), row.value("restarts", 0))
        << "the clean run crashed the provider";
}

TEST_F(RunRobustness, APoisonLineAmidChunksInFlightLosesAndDoublesNothing) {
    // Enough lines that a feed holds several chunks of 64, sent before the ones ahead of
    // them are stored: the crash takes chunks in flight with it, and they are sent again.
    std::vector<std::string> lines, good;
    for (int n = 1; n <= 400; ++n) {
        const std::string line =
            R"({"n":)" + std::to_string(n) + R"(,"text":"line )" + std::to_string(n) + R"("})";
        lines.push_back(line);
        good.push_back(line);
        if (n == 250) lines.push_back(R"({"n":"x","text":"a poison pill"})");
    }
    writeLines("rr-long", lines);
    AgentHost host(poisonHostSpec());
    host.waitProviderHealthy("abort-on-poison");

    const auto rid = host.sendMessage("rr-long", "abort-on-poison", "anything");
    const Json run = host.waitRunFinished(rid, 90s);
    const auto events = host.events(rid);
    EXPECT_EQ(run.value("status", ""), "completed") << run.dump() << "\n" << host.logTail();
    EXPECT_EQ(denseAndUnique(events), "");
    ASSERT_EQ(countType(events, "provider.quarantine"), 1) << host.logTail();
    std::vector<std::string> texts;
    std::vector<int> numbers;
    for (const auto& event : events) {
        const Json data = event.value("data", Json::object());
        if (event["type"] == "provider.quarantine") {
            EXPECT_EQ(data.value("raw_event_ids", Json()), Json::array({rid + "/stdout/251"}));
        }
        if (event["type"] == "message.delta") {
            texts.push_back(data.value("text", ""));
            numbers.push_back(data.value("line", 0));
        }
    }
    // Every good line once, in order; the plugin's own counter, rebuilt by the replays,
    // saw each once too.
    EXPECT_EQ(texts, good);
    std::vector<int> expected(good.size());
    for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = static_cast<int>(i + 1);
    EXPECT_EQ(numbers, expected);
}

// ---- 3b. a plugin whose output breaks the event table ----------------------------------------

TEST_F(RunRobustness, LinesWhoseEventsBreakTheTableAreLineErrorsInALiveRun) {
    // lying-events runs `cat` and lies on lines naming a lie (tests/plugins/lying_events.c):
    // an event of an unknown type, a host-only type, a tool.start without its name.
    test::dropPlugin(test::testPlugin("lying-events"), pluginsDir(), "lying-events.so");
    writeScript(binDir() / "cat",
                "if [ -n \"$AWRR_LINES_DIR\" ]; then\n"
                "  exec " +
                    realCat() +
                    " \"$AWRR_LINES_DIR/$(basename \"$(dirname \"$PWD\")\").txt\"\n"
                    "fi\n"
                    "exec " +
                    realCat() + " \"$@\"\n");
    fs::create_directories(root_ / "lines");
    {
        std::ofstream lines(root_ / "lines" / "rr-lying.txt");
        lines << "first\nan unknown type\na host-only type\na missing name\nlast\n";
    }
    const char* path = std::getenv("PATH");
    AgentHost host(
        spec({{"PATH", binDir().string() + ":" + (path ? path : "/usr/bin:/bin")},
              {"AW_PROVIDERS",
               Json{{"lying-events", {{"env", {{"AWRR_LINES_DIR", (root_ / "lines").string()}}}}}}
                   .dump()}}));
    host.waitProviderHealthy("lying-events");

    const auto rid = host.sendMessage("rr-lying", "lying-events", "anything");
    const Json run = host.waitRunFinished(rid, 60s);
    const auto events = host.events(rid);
    EXPECT_EQ(run.value("status", ""), "completed") << run.dump() << "\n"
                                                    << describeEvents(events) << host.logTail();
    EXPECT_EQ(denseAndUnique(events), "");

    // Nothing is stored under a type the table does not allow a plugin.
    EXPECT_EQ(countType(events, "message.shout"), 0) << describeEvents(events);
    EXPECT_EQ(countType(events, "run.queued"), 1)
        << "only the host's own: " << describeEvents(events);
    EXPECT_EQ(countType(events, "tool.start"), 0) << describeEvents(events);
    // The two good lines, and none of the rejected lines' events (the unknown line's first
    // event was fine, but a line is rejected as a whole).
    std::vector<std::string> texts;
    for (const auto& event : events) {
        if (event["type"] == "message.delta") texts.push_back(event["data"].value("text", ""));
    }
    EXPECT_EQ(texts, (std::vector<std::string>{"first", "last"})) << describeEvents(events);

    // Each rejected line is a provider.line_error naming its raw line and the reason.
    std::vector<std::string> rawIds;
    for (const auto& event : events) {
        if (event["type"] != "provider.line_error") continue;
        const Json& data = event["data"];
        rawIds.push_back(data.value("raw_event_id", ""));
        EXPECT_EQ(data.value("provider", ""), "lying-events") << data.dump();
        EXPECT_FALSE(data.value("reason", "").empty()) << data.dump();
    }
    EXPECT_EQ(rawIds,
              (std::vector<std::string>{rid + "/stdout/2", rid + "/stdout/3", rid + "/stdout/4"}))
        << describeEvents(events);
    const Json terminal = events.back();
    ASSERT_TRUE(isTerminalType(terminal.value("type", ""))) << describeEvents(events);
    EXPECT_EQ(terminal["data"].value("line_errors", -1), 3) << terminal.dump();
    // The host logged each rejection with the provider's name.
    EXPECT_NE(host.logTail(200000).find("a plugin output was rejected"), std::string::npos)
        << host.logTail();
}

// ---- 4. agent-host killed mid-run --------------------------------------------------------

TEST_F(RunRobustness, AgentHostKilledMidRunEndsTheRunAndLeavesNoProcess) {
    if (const auto missing = live::missingCli(live::Cli::ClaudeCode); !missing.empty())
        GTEST_FAIL() << missing;
    RealClaude claude;
    dropClaudeCode();
    const auto hostSpec = spec({{"AW_HOST_ID", "rr-host-1"},
                                {"AW_PROVIDERS", providersJson(claude.binary, claude.env())}});
    auto first = std::make_unique<AgentHost>(hostSpec);
    first->waitProviderHealthy("claude-code");
    const std::string sid = "rr-slow";
    const auto rid = first->sendMessage(sid, "claude-code", "SLOWTOOL please");
    // The slow tool touches slow.started, then sleeps 30 s.
    ASSERT_TRUE(
        eventually([&] { return fs::exists(workerDir(sid) / "workspace" / "slow.started"); }, 90s))
        << describeEvents(first->events(rid)) << first->logTail() << claude.server.log();
    ASSERT_EQ(first->run(rid).value("status", ""), "running");

    auto oldProcesses = processesUnder(dataDir() / "workers");
    const pid_t providerPid = first->provider("claude-code").value("pid", 0);
    std::string seen;
    for (const auto& [pid, command] : oldProcesses)
        seen += "  " + std::to_string(pid) + " " + command + "\n";
    ASSERT_GE(oldProcesses.size(), 2u) << "expected the executor and the CLI:\n" << seen;
    std::cout << "killing agent-host " << first->pid() << " with these worker processes:\n" << seen;
    first->killHard();
    for (auto& [pid, command] : processesUnder(dataDir() / "workers"))
        oldProcesses.emplace(pid, command);
    const std::string firstLog = first->logTail();

    AgentHost second(hostSpec);
    const Json run = second.waitRunFinished(rid, 60s);
    const auto events = second.events(rid);
    std::cout << "after the restart: " << run.dump() << "\n";
    if (run.value("status", "") == "failed") {
        EXPECT_EQ(run.value("error", Json::object()).value("code", ""), "host_lost") << run.dump();
    } else {
        EXPECT_EQ(run.value("status", ""), "completed") << run.dump();
    }
    EXPECT_EQ(denseAndUnique(events), "");
    int terminals = 0;
    for (const auto& type : typesOf(events)) terminals += isTerminalType(type) ? 1 : 0;
    EXPECT_EQ(terminals, 1) << describeEvents(events);

    // Nothing of the old host is left: its executor, the CLI and the tool's sleep, its
    // provider process.
    const bool gone = eventually(
        [&] {
            for (const auto& [pid, command] : oldProcesses) {
                if (processAlive(pid)) return false;
            }
            return providerPid <= 0 || !processAlive(providerPid);
        },
        30s);
    std::string survivors;
    for (const auto& [pid, command] : oldProcesses) {
        if (processAlive(pid)) survivors += "  " + std::to_string(pid) + " " + command + "\n";
    }
    if (providerPid > 0 && processAlive(providerPid))
        survivors += "  provider-host " + std::to_string(providerPid) + "\n";
    EXPECT_TRUE(gone) << "processes of the killed host still run:\n"
                      << survivors << "old host log:\n"
                      << firstLog;
    // Nor anything they started after the snapshot: whatever runs in the workers now belongs
    // to the new host.
    std::string orphans;
    for (const auto& [pid, command] : processesUnder(dataDir() / "workers")) {
        if (processAlive(pid) && !descendsFrom(pid, second.pid()))
            orphans += "  " + std::to_string(pid) + " " + command + "\n";
    }
    EXPECT_EQ(orphans, "") << "processes in the workers that the new host did not start";
}

// ---- 5. idle stop, removal, restore and resume --------------------------------------------

void RunRobustnessBase::idleStopRemoveThenResume() {
    if (const auto missing = live::missingCli(live::Cli::ClaudeCode); !missing.empty())
        GTEST_FAIL() << missing;
    RealClaude claude;
    dropClaudeCode();
    AgentHost host(spec({{"AW_LIFECYCLE_IDLE_TIMEOUT_S", "0"},
                         {"AW_LIFECYCLE_REMOVE_AFTER_S", "0"},
                         {"AW_PROVIDERS", providersJson(claude.binary, claude.env())}}));
    host.waitProviderHealthy("claude-code");
    const std::string sid = "rr-life";

    const auto first = host.sendMessage(sid, "claude-code", "TOOLS_AND_TODOS please");
    const Json firstRun = host.waitRunFinished(first, 120s);
    ASSERT_EQ(firstRun.value("status", ""), "completed")
        << firstRun.dump() << "\n"
        << describeEvents(host.events(first)) << host.logTail();
    ASSERT_TRUE(fs::exists(workerDir(sid) / "workspace" / "hello.txt"));
    const std::string providerSession = firstRun.value("provider_session_id", Json("")).is_string()
                                            ? firstRun["provider_session_id"].get<std::string>()
                                            : "";
    ASSERT_FALSE(providerSession.empty()) << firstRun.dump();

    // Idle stop: synced first, then stopped.
    const auto idle = host.post("/v1/maintenance/idle-stop");
    ASSERT_EQ(idle.status, 200) << idle.body;
    EXPECT_EQ(idle.json().value("stopped", -1), 1) << idle.body;
    EXPECT_EQ(idle.json().value("failed", -1), 0) << idle.body;
    Json worker = host.session(sid);
    EXPECT_EQ(worker.value("status", ""), "stopped") << worker.dump();
    EXPECT_EQ(worker.value("last_sync_status", ""), "succeeded") << worker.dump();

    // Removal: the worker's directory goes, its files stay in the store.
    const auto removed = host.post("/v1/maintenance/remove-stopped");
    ASSERT_EQ(removed.status, 200) << removed.body;
    EXPECT_EQ(removed.json().value("removed", -1), 1) << removed.body;
    EXPECT_EQ(removed.json().value("failed", -1), 0) << removed.body;
    worker = host.session(sid);
    EXPECT_EQ(worker.value("status", ""), "removed") << worker.dump();
    EXPECT_FALSE(fs::exists(workerDir(sid))) << "the removed worker's directory is still there";
    EXPECT_TRUE(fs::is_regular_file(storeDir(sid) / "workspace" / "hello.txt"));
    bool transcriptStored = false;
    std::string stateFiles;
    std::error_code error;
    for (const auto& entry : fs::recursive_directory_iterator(storeDir(sid), error)) {
        if (!entry.is_regular_file()) continue;
        const auto relative = fs::relative(entry.path(), storeDir(sid)).string();
        stateFiles += "  " + relative + "\n";
        if (relative.rfind("agent-state/claude-code/", 0) == 0 &&
            relative.find(providerSession) != std::string::npos) {
            transcriptStored = true;
        }
    }
    EXPECT_TRUE(transcriptStored) << "no transcript of " << providerSession << " in the store:\n"
                                  << stateFiles;

    // A new message restores the worker and resumes the CLI's session.
    const auto second = host.sendMessage(sid, "claude-code", "RECALL what I asked");
    const Json secondRun = host.waitRunFinished(second, 120s);
    const auto events = host.events(second);
    ASSERT_EQ(secondRun.value("status", ""), "completed")
        << secondRun.dump() << "\n"
        << describeEvents(events) << host.logTail();
    EXPECT_TRUE(fs::is_regular_file(workerDir(sid) / "workspace" / "hello.txt"));
    EXPECT_EQ(secondRun.value("provider_session_id", Json()), providerSession) << secondRun.dump();
    EXPECT_EQ(denseAndUnique(events), "");
    bool restored = false, recalled = false;
    for (const auto& event : events) {
        const Json data = event.value("data", Json::object());
        if (event["type"] == "workspace.restore")
            restored = data.value("status", "") == "succeeded";
        if (event["type"] == "message.stop" &&
            data.value("text", "").find("TOOLS_AND_TODOS") != std::string::npos) {
            recalled = true;
        }
    }
    EXPECT_TRUE(restored) << describeEvents(events);
    EXPECT_TRUE(recalled) << "the resumed CLI did not see the first prompt:\n"
                          << describeEvents(events);
    worker = host.session(sid);
    EXPECT_EQ(worker.value("status", ""), "running") << worker.dump();
}

TEST_F(RunRobustness, IdleStopRemoveThenNewMessageRestoresAndResumes) {
    idleStopRemoveThenResume();
}
TEST_F(RunRobustnessPostgres, IdleStopRemoveThenNewMessageRestoresAndResumes) {
    idleStopRemoveThenResume();
}

// ---- 6. a sync that fails keeps the worker ----------------------------------------------

TEST_F(RunRobustness, SyncFailureKeepsTheWorkerRunning) {
    dropClaudeCode();
    const auto basic = fakeClaude("basic-claude", "claude-basic.jsonl", 1000);
    AgentHost host(spec({{"AW_LIFECYCLE_IDLE_TIMEOUT_S", "0"},
                         {"AW_LIFECYCLE_REMOVE_AFTER_S", "0"},
                         {"AW_PROVIDERS", providersJson(basic.string())}}));
    host.waitProviderHealthy("claude-code");
    const std::string sid = "rr-sync";
    release(sid);
    const auto rid = host.sendMessage(sid, "claude-code", "hello");
    const Json run = host.waitRunFinished(rid, 60s);
    ASSERT_EQ(run.value("status", ""), "completed")
        << describeEvents(host.events(rid)) << host.logTail();

    // The store cannot take the session's workspace: a file sits where its folder belongs.
    const auto blocked = storeDir(sid) / "workspace";
    fs::remove_all(blocked);
    fs::create_directories(blocked.parent_path());
    std::ofstream(blocked) << "not a folder\n";
    std::ofstream(workerDir(sid) / "workspace" / "changed.txt") << "changed after the run\n";

    const auto idle = host.post("/v1/maintenance/idle-stop");
    ASSERT_EQ(idle.status, 200) << idle.body;
    EXPECT_EQ(idle.json().value("failed", -1), 1) << idle.body;
    EXPECT_EQ(idle.json().value("stopped", -1), 0) << idle.body;
    const Json details = idle.json().value("workers", Json::array());
    ASSERT_EQ(details.size(), 1u) << idle.body;
    EXPECT_EQ(details[0].value("session_id", ""), sid);
    EXPECT_EQ(details[0].value("outcome", ""), "failed") << idle.body;
    EXPECT_FALSE(details[0].value("reason", "").empty()) << idle.body;
    Json worker = host.session(sid);
    EXPECT_EQ(worker.value("status", ""), "running") << worker.dump();
    EXPECT_EQ(worker.value("last_sync_status", ""), "failed") << worker.dump();
    EXPECT_TRUE(worker.value("last_sync_error", Json()).is_string() &&
                !worker["last_sync_error"].get<std::string>().empty())
        << worker.dump();
    EXPECT_TRUE(fs::exists(workerDir(sid) / "workspace" / "changed.txt"));
    // A worker whose sync failed is never removed either.
    const auto removed = host.post("/v1/maintenance/remove-stopped");
    EXPECT_EQ(removed.json().value("removed", -1), 0) << removed.body;
    EXPECT_TRUE(fs::exists(workerDir(sid)));

    // Once the store takes writes again, the next pass syncs and stops it.
    fs::remove(blocked);
    const auto again = host.post("/v1/maintenance/idle-stop");
    ASSERT_EQ(again.status, 200) << again.body;
    EXPECT_EQ(again.json().value("stopped", -1), 1) << again.body;
    worker = host.session(sid);
    EXPECT_EQ(worker.value("status", ""), "stopped") << worker.dump();
    EXPECT_EQ(worker.value("last_sync_status", ""), "succeeded") << worker.dump();
    EXPECT_TRUE(fs::is_regular_file(storeDir(sid) / "workspace" / "changed.txt"));
}

TEST_F(RunRobustness, AWorkerSlowerToStartThanTheLeaseKeepsItsRunFromItsClaimOn) {
    // The worker's executor takes 7 s to answer, the lease is 5 s: the lease must be renewed
    // while the worker is made, or a second dispatcher claims the run again meanwhile.
    dropClaudeCode();
    const auto claude = fakeClaude("quick-claude", "claude-basic.jsonl", 1000);
    const std::string realExecutorDir = std::string(AW_BUILD_DIR) + "/bin";
    const auto executor = writeScript(
        binDir() / "slow-executor",
        "sleep 7\nexec " + shellQuote(realExecutorDir + "/agent-executor") + " \"$@\"\n");
    // The sandbox the executor runs in shows its own binary; the wrapper needs the real one.
    const std::string shown =
        spec().env.at("AW_RUNTIME_LOCAL_READ_ONLY_PATHS") + "," + realExecutorDir;
    AgentHost host(spec({{"AW_EXECUTOR_BINARY", executor.string()},
                         {"AW_RUNTIME_LOCAL_READ_ONLY_PATHS", shown},
                         {"AW_QUEUE_LEASE_S", "5"},
                         {"AW_DISPATCHER_CONCURRENCY", "2"},
                         {"AW_PROVIDERS", providersJson(claude.string())}}));
    host.waitProviderHealthy("claude-code");
    const std::string sid = "rr-slow-worker";
    release(sid);  // the fake CLI prints its turn and ends at once
    const std::string rid = host.sendMessage(sid, "claude-code", "hello");
    const Json run = host.waitRunFinished(rid, 60s);
    EXPECT_EQ(run.value("status", ""), "completed") << host.describeRun(rid);
    EXPECT_EQ(run.value("attempts", 0), 1) << host.describeRun(rid);
    const auto events = host.events(rid);
    EXPECT_EQ(countType(events, "run.started"), 1) << describeEvents(events);
    EXPECT_EQ(countType(events, "run.queued"), 1) << "retried: " << describeEvents(events);
    // Claimed once: had the lease lapsed, the second dispatcher would have claimed it again
    // (and left it to the attempt under way, which this host still drives).
    EXPECT_EQ(host.log().find("claimed a run this host still works on"), std::string::npos)
        << "the lease lapsed while the worker was made";
}

// ---- 7. the queue drained by hand ---------------------------------------------------------

//! With dispatcher.concurrency 0 nothing runs until POST /v1/run-queue/drain; the fake CLI
//! prints a recorded turn, then waits for release/<session> before it ends.
class RunRobustnessQueue : public RunRobustnessBase {
protected:
    void start(int concurrency = 0) {
        dropClaudeCode();
        const auto claude = fakeClaude("held-claude", "claude-basic.jsonl", 1000);
        host_ = std::make_unique<AgentHost>(
            spec({{"AW_DISPATCHER_CONCURRENCY", std::to_string(concurrency)},
                  {"AW_PROVIDERS", providersJson(claude.string())}}));
        host_->waitProviderHealthy("claude-code");
        a1_ = host_->sendMessage("rr-qa", "claude-code", "first of a");
        a2_ = host_->sendMessage("rr-qa", "claude-code", "second of a");
        b1_ = host_->sendMessage("rr-qb", "claude-code", "only of b");
    }

    std::set<std::string> queued() const {
        std::set<std::string> ids;
        for (const auto& entry :
             host_->get("/v1/run-queue?status=queued").json().value("entries", Json::array())) {
            ids.insert(entry.value("run_id", ""));
        }
        return ids;
    }

    std::vector<std::string> drain() const {
        const auto answer = host_->post("/v1/run-queue/drain");
        if (answer.status != 200) throw std::runtime_error("drain answered " + answer.body);
        std::vector<std::string> ids;
        for (const auto& id : answer.json().value("claimed", Json::array()))
            ids.push_back(id.get<std::string>());
        return ids;
    }

    std::unique_ptr<AgentHost> host_;
    std::string a1_, a2_, b1_;
};

// Holds whether a drain claims one entry or one per session: a session's second run is never
// claimed while its first is in flight, and nothing is claimed twice.
TEST_F(RunRobustnessQueue, DrainNeverClaimsTwoRunsOfOneSession) {
    start();
    EXPECT_EQ(queued(), (std::set<std::string>{a1_, a2_, b1_}));
    for (const auto& id : {a1_, a2_, b1_}) EXPECT_EQ(host_->run(id).value("status", ""), "queued");

    // Drain until both sessions have a run in flight (their CLIs wait for a release).
    std::vector<std::vector<std::string>> drains;
    std::set<std::string> claimed;
    for (int i = 0; i < 4 && claimed.size() < 2; ++i) {
        drains.push_back(drain());
        for (const auto& id : drains.back()) {
            EXPECT_TRUE(claimed.insert(id).second) << id << " claimed twice";
        }
    }
    EXPECT_EQ(claimed, (std::set<std::string>{a1_, b1_}))
        << "the oldest entry of each session first";
    EXPECT_EQ(drain(), std::vector<std::string>{})
        << "rr-qa's second run was claimed while its first runs";
    EXPECT_EQ(queued(), (std::set<std::string>{a2_}));
    EXPECT_EQ(host_->run(a2_).value("status", ""), "queued");

    // Once rr-qa's first run is over, its second one can go.
    release("rr-qa");
    EXPECT_EQ(host_->waitRunFinished(a1_, 60s).value("status", ""), "completed")
        << describeEvents(host_->events(a1_));
    EXPECT_EQ(drain(), std::vector<std::string>{a2_});
    EXPECT_EQ(host_->waitRunFinished(a2_, 60s).value("status", ""), "completed")
        << describeEvents(host_->events(a2_));
    release("rr-qb");
    EXPECT_EQ(host_->waitRunFinished(b1_, 60s).value("status", ""), "completed")
        << describeEvents(host_->events(b1_));
    EXPECT_EQ(drain(), std::vector<std::string>{});
    EXPECT_EQ(queued(), std::set<std::string>{});
    for (const auto& id : {a1_, a2_, b1_}) EXPECT_EQ(denseAndUnique(host_->events(id)), "");
}

// One drain is one pass over the queue: the oldest unfinished entry of every session.
TEST_F(RunRobustnessQueue, OneDrainClaimsTheOldestEntryOfEachSession) {
    start();
    EXPECT_EQ(queued(), (std::set<std::string>{a1_, a2_, b1_}));
    const auto first = drain();
    EXPECT_EQ(std::set<std::string>(first.begin(), first.end()), (std::set<std::string>{a1_, b1_}));
    release("rr-qa");
    release("rr-qb");
    for (const auto& id : first)
        EXPECT_EQ(host_->waitRunFinished(id, 60s).value("status", ""), "completed");
    EXPECT_EQ(drain(), std::vector<std::string>{a2_});
    EXPECT_EQ(host_->waitRunFinished(a2_, 60s).value("status", ""), "completed");
}

// dispatcher.concurrency bounds the runs in flight, a drain's included: with the one slot
// taken by the dispatcher's run, a drain claims nothing; once it ends, one run goes at a time.
TEST_F(RunRobustnessQueue, DrainClaimsNoMoreThanTheFreeSlotsOfTheConcurrency) {
    start(1);
    // The one dispatcher takes the oldest run, whose CLI waits for its release.
    EXPECT_EQ(host_->waitRunStatus(a1_, {"running"}, 60s).value("status", ""), "running");
    EXPECT_EQ(drain(), std::vector<std::string>{}) << "a drain went past dispatcher.concurrency 1";
    EXPECT_EQ(queued(), (std::set<std::string>{a2_, b1_}));
    EXPECT_EQ(host_->run(a1_).value("status", ""), "running");

    // From here drains race the dispatcher for the one slot; whoever wins, no two runs
    // overlap in time (a run's slot is given back only after its terminal event).
    release("rr-qa");
    release("rr-qb");
    const auto deadline = std::chrono::steady_clock::now() + 90s;
    while (!queued().empty() && std::chrono::steady_clock::now() < deadline) {
        EXPECT_LE(drain().size(), 1u);
        std::this_thread::sleep_for(20ms);
    }
    std::vector<std::pair<std::string, std::string>> spans;  // started_at, finished_at
    for (const auto& id : {a1_, a2_, b1_}) {
        const auto run = host_->waitRunFinished(id, 60s);
        ASSERT_EQ(run.value("status", ""), "completed") << describeEvents(host_->events(id));
        spans.emplace_back(run.value("started_at", ""), run.value("finished_at", ""));
    }
    std::sort(spans.begin(), spans.end());
    for (std::size_t i = 1; i < spans.size(); ++i) {
        EXPECT_GE(spans[i].first, spans[i - 1].second)
            << "two runs overlapped with dispatcher.concurrency 1";
    }
}

}  // namespace
}  // namespace aw::rr
