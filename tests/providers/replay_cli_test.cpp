// Every recorded CLI stream of tests/fixtures/providers through the real program, as plugin
// authors run it:
//   agent-provider-host --plugin build/plugins/<name>.so --replay <fixture>.jsonl --exit-code N
//                       [--signal S] [--stop-requested]
// with the exit code, signal and stop from the fixture's .meta.json.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>
#include <sstream>

#include "process/subprocess.h"
#include "support/plugins.h"
#include "support/temp_dir.h"

namespace aw::test {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

fs::path fixtureDir() {
    return fs::path(AW_SOURCE_DIR) / "tests" / "fixtures" / "providers";
}

std::vector<std::string> fixtureNames() {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(fixtureDir())) {
        const std::string file = entry.path().filename().string();
        if (file.ends_with(".jsonl") && !file.ends_with(".stdin.jsonl") &&
            !file.ends_with(".http.jsonl")) {
            names.push_back(file.substr(0, file.size() - 6));
        }
    }
    std::sort(names.begin(), names.end());
    return names;
}

std::string pluginFor(const std::string& fixture) {
    if (fixture.rfind("claude-", 0) == 0) return "claude-code";
    if (fixture.rfind("codex-", 0) == 0) return "codex-cli";
    if (fixture.rfind("opencode-", 0) == 0) return "opencode";
    return "";
}

Json metaOf(const std::string& fixture) {
    return Json::parse(readText(fixtureDir() / (fixture + ".meta.json")), nullptr, false);
}

struct Replayed {
    std::vector<std::string> argv;
    ExitStatus status;
    std::vector<Json> events;
    std::string stderrText;

    std::vector<Json> ofType(const std::string& type) const {
        std::vector<Json> found;
        for (const auto& event : events) {
            if (event.value("type", "") == type) found.push_back(event.value("data", Json()));
        }
        return found;
    }
    std::string describe() const {
        std::ostringstream out;
        for (const auto& arg : argv) out << arg << ' ';
        out << "\n-> " << status.describe() << ", " << events.size() << " events\n";
        for (const auto& event : events) out << "  " << event.dump().substr(0, 300) << "\n";
        out << "stderr: " << stderrText;
        return out.str();
    }
};

bool isTerminal(const std::string& type) {
    return type == "run.completed" || type == "run.failed" || type == "run.stopped";
}

//! `request`: passed with --request when not null (the replay's run request).
Replayed replay(const std::string& fixture, const Json& request = Json()) {
    const Json meta = metaOf(fixture);
    const Json signal = meta.value("exit_signal", Json());
    const Json code = meta.value("exit_code", Json());
    const bool killed = signal.is_number() && signal.get<int>() != 0;
    TempDir dir("aw-replay-cli");
    Replayed out;
    out.argv = {providerHostBinary(),
                "--plugin",
                shippedPlugin(pluginFor(fixture)).string(),
                "--replay",
                (fixtureDir() / (fixture + ".jsonl")).string(),
                "--exit-code",
                std::to_string(killed || !code.is_number() ? -1 : code.get<int>())};
    if (killed) {
        out.argv.push_back("--signal");
        out.argv.push_back(std::to_string(signal.get<int>()));
    }
    if (!meta.value("signals", Json::array()).empty()) out.argv.push_back("--stop-requested");
    if (!request.is_null()) {
        out.argv.push_back("--request");
        out.argv.push_back(request.dump());
    }
    SubprocessOptions options;
    options.argv = out.argv;
    options.pipeStdout = false;
    options.stdoutFile = (dir / "events.jsonl").string();
    options.stderrFile = (dir / "stderr.txt").string();
    Subprocess process(options);
    const auto status = process.waitFor(std::chrono::seconds(30));
    out.status = status ? *status : process.terminate();
    out.stderrText = readText(dir / "stderr.txt");
    std::istringstream lines(readText(dir / "events.jsonl"));
    for (std::string line; std::getline(lines, line);) {
        Json event = Json::parse(line, nullptr, false);
        out.events.push_back(event.is_discarded() ? Json{{"type", "<not JSON>"}, {"line", line}}
                                                  : event);
    }
    return out;
}

//! The run request a host would send for the recorded run: stdio-protocol recordings of
//! Claude Code ran with approval_mode "ask".
Json requestFor(const std::string& fixture) {
    const bool protocol = fixture.rfind("claude-stdio-", 0) == 0;
    return {{"run_id", "replay"},
            {"session_id", "replay"},
            {"prompt", metaOf(fixture).value("prompt", std::string("make hello.txt"))},
            {"approval_mode", protocol ? "ask" : "auto"},
            {"workspace", metaOf(fixture).value("cwd", std::string("/sandbox/ws"))}};
}

//! What the recording must end in: stopped when the recorder signalled the CLI, failed for
//! a non-zero exit and for app-server recordings (a mode codex-cli does not drive).
std::string expectedTerminal(const std::string& fixture) {
    const Json meta = metaOf(fixture);
    if (!meta.value("signals", Json::array()).empty()) return "run.stopped";
    if (fixture.find("-appserver-") != std::string::npos) return "run.failed";
    const Json code = meta.value("exit_code", Json());
    return code.is_number() && code.get<int>() == 0 ? "run.completed" : "run.failed";
}

const std::set<std::string>& knownTypes() {
    static const std::set<std::string> types = {
        "provider.session", "provider.notice", "message.start", "message.delta",
        "message.stop",     "tool.start",      "tool.result",   "todo.update",
        "human.request",    "human.response",  "usage",         "run.completed",
        "run.failed",       "run.stopped"};
    return types;
}

class ReplayCli : public ::testing::TestWithParam<std::string> {};

TEST_P(ReplayCli, ExitsZeroWithExactlyOneTerminalEvent) {
    const std::string fixture = GetParam();
    ASSERT_FALSE(pluginFor(fixture).empty()) << "which plugin replays " << fixture << "?";
    const Replayed run = replay(fixture, requestFor(fixture));
    EXPECT_TRUE(run.status.exitedNormally() && run.status.code == 0) << run.describe();
    ASSERT_FALSE(run.events.empty()) << run.describe();
    int terminals = 0;
    for (const auto& event : run.events) {
        const std::string type = event.value("type", "");
        EXPECT_TRUE(knownTypes().count(type)) << "unexpected event " << event.dump();
        EXPECT_TRUE(event.value("data", Json()).is_object()) << event.dump();
        terminals += isTerminal(type) ? 1 : 0;
    }
    EXPECT_EQ(terminals, 1) << run.describe();
    // The host's check accepts every line of every recording: none becomes a line error.
    EXPECT_TRUE(run.ofType("provider.line_error").empty()) << run.describe();
    EXPECT_EQ(run.events.back()["data"].value("line_errors", -1), 0) << run.describe();
    EXPECT_EQ(run.events.back().value("type", ""), expectedTerminal(fixture)) << run.describe();
    // Every tool.start has its tool.result, every message.start its message.stop.
    for (const auto& start : run.ofType("tool.start")) {
        const auto results = run.ofType("tool.result");
        EXPECT_TRUE(std::any_of(results.begin(), results.end(), [&](const Json& result) {
            return result.value("tool_call_id", "") == start.value("tool_call_id", "-");
        })) << start.dump();
    }
    EXPECT_EQ(run.ofType("message.start").size(), run.ofType("message.stop").size());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ReplayCli, ::testing::ValuesIn(fixtureNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                             std::string name = info.param;
                             std::replace(name.begin(), name.end(), '-', '_');
                             return name;
                         });

// The command exactly as plugin authors are told to type it, without --request: the
// replay's default run request must be one the shipped plugins accept.
class ReplayCliDefaultRequest : public ::testing::TestWithParam<std::string> {};

TEST_P(ReplayCliDefaultRequest, BasicFixtureReplaysWithoutARequest) {
    const Replayed run = replay(GetParam());
    EXPECT_TRUE(run.status.exitedNormally() && run.status.code == 0) << run.describe();
    ASSERT_FALSE(run.events.empty()) << run.describe();
    EXPECT_EQ(run.events.back().value("type", ""), "run.completed") << run.describe();
}

INSTANTIATE_TEST_SUITE_P(Plugins, ReplayCliDefaultRequest,
                         ::testing::Values("claude-basic", "codex-basic", "opencode-basic"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                             std::string name = info.param;
                             std::replace(name.begin(), name.end(), '-', '_');
                             return name;
                         });

// A few contents, read against the recordings themselves.

Json firstLine(const std::string& fixture) {
    std::istringstream lines(readText(fixtureDir() / (fixture + ".jsonl")));
    std::string line;
    std::getline(lines, line);
    return Json::parse(line, nullptr, false);
}

TEST(ReplayCliContent, ClaudeBasicKeepsCallIdsTextsAndUsage) {
    const Replayed run = replay("claude-basic", requestFor("claude-basic"));
    std::vector<std::string> ids;
    for (const auto& start : run.ofType("tool.start")) ids.push_back(start["tool_call_id"]);
    EXPECT_EQ(ids, (std::vector<std::string>{"toolu_fake_736006_0", "toolu_fake_736138_0"}));
    const auto stops = run.ofType("message.stop");
    ASSERT_FALSE(stops.empty()) << run.describe();
    EXPECT_EQ(stops.back().value("text", ""), "Done: hello.txt and notes.txt were created.");
    const auto sessions = run.ofType("provider.session");
    ASSERT_EQ(sessions.size(), 1u);
    EXPECT_EQ(sessions[0]["provider_session_id"], firstLine("claude-basic")["session_id"]);
    const Json terminal = run.events.back()["data"];
    EXPECT_EQ(terminal["usage"].value("input_tokens", 0), 3003) << terminal.dump();
    EXPECT_EQ(terminal["usage"].value("output_tokens", 0), 63) << terminal.dump();
}

TEST(ReplayCliContent, ClaudeStdioAsksTheHuman) {
    const Replayed run = replay("claude-stdio-hitl", requestFor("claude-stdio-hitl"));
    const auto requests = run.ofType("human.request");
    ASSERT_EQ(requests.size(), 2u) << run.describe();
    for (const auto& request : requests) {
        EXPECT_FALSE(request.value("request_id", "").empty()) << request.dump();
        EXPECT_FALSE(request.value("tool_call_id", "").empty()) << request.dump();
    }
}

TEST(ReplayCliContent, CodexBasicReportsTheThreadAndTheTodoList) {
    const Replayed run = replay("codex-basic", requestFor("codex-basic"));
    const auto sessions = run.ofType("provider.session");
    ASSERT_EQ(sessions.size(), 1u) << run.describe();
    EXPECT_EQ(sessions[0]["provider_session_id"], firstLine("codex-basic")["thread_id"]);
    const auto todos = run.ofType("todo.update");
    ASSERT_FALSE(todos.empty()) << run.describe();
    EXPECT_EQ(todos.back().value("source", ""), "todo_list");
    EXPECT_FALSE(todos.back()["todos"].empty());
    for (const auto& start : run.ofType("tool.start")) {
        EXPECT_EQ(start.value("tool_call_id", "").rfind("item_", 0), 0u) << start.dump();
    }
}

TEST(ReplayCliContent, OpencodeBasicSumsItsStepsAndKeepsTheTodoList) {
    const Replayed run = replay("opencode-basic", requestFor("opencode-basic"));
    const auto todos = run.ofType("todo.update");
    ASSERT_FALSE(todos.empty()) << run.describe();
    EXPECT_EQ(todos.back().value("source", ""), "todowrite");
    const auto usages = run.ofType("usage");
    ASSERT_FALSE(usages.empty());
    EXPECT_EQ(usages.back().value("model_calls", 0), static_cast<int>(usages.size()));
    EXPECT_EQ(run.events.back()["data"]["usage"], usages.back());
}

TEST(ReplayCliContent, Http500RecordingsFailWithTheCliMessage) {
    for (const char* fixture :
         {"claude-http500-maxretries2", "codex-http500", "opencode-http500"}) {
        const Replayed run = replay(fixture, requestFor(fixture));
        ASSERT_FALSE(run.events.empty()) << run.describe();
        const Json error = run.events.back()["data"].value("error", Json::object());
        EXPECT_FALSE(error.value("message", "").empty()) << fixture << ": " << run.describe();
        EXPECT_EQ(error.value("class", ""), "api_error") << fixture << ": " << error.dump();
    }
}

TEST(ReplayCliContent, RetriedApiErrorsAreNoticesBeforeTheFailure) {
    for (const auto& [fixture, count] : std::vector<std::pair<std::string, std::size_t>>{
             {"claude-http500-maxretries2", 2}, {"codex-http500", 5}}) {
        const Replayed run = replay(fixture, requestFor(fixture));
        const auto notices = run.ofType("provider.notice");
        ASSERT_EQ(notices.size(), count) << run.describe();
        EXPECT_EQ(notices.back().value("attempt", 0), static_cast<int>(count));
        EXPECT_EQ(notices.back().value("max_attempts", 0), static_cast<int>(count));
        EXPECT_EQ(run.events.back().value("type", ""), "run.failed") << run.describe();
    }
}

TEST(ReplayCliContent, OpencodeKilledBySigintIsStoppedWithTheSignal) {
    const Replayed run =
        replay("opencode-interrupt-sigint", requestFor("opencode-interrupt-sigint"));
    ASSERT_FALSE(run.events.empty()) << run.describe();
    EXPECT_EQ(run.events.back().value("type", ""), "run.stopped");
    EXPECT_EQ(run.events.back()["data"].value("signal", 0), 2) << run.describe();
}

}  // namespace
}  // namespace aw::test
