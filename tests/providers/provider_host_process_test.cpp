// agent-provider-host as a real process: replay mode for plugin authors, and the served
// protocol agent-host speaks (handshake, requests multiplexed by id, batching, bad input).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "process/subprocess.h"
#include "provider/provider_protocol.h"
#include "support/plugins.h"
#include "support/temp_dir.h"

namespace aw::test {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;

struct Replay {
    ExitStatus status;
    std::vector<Json> records;  //!< every stdout line, parsed
    std::string stderrText;
};

Replay runReplay(const std::string& plugin, const std::vector<std::string>& lines,
                 const std::vector<std::string>& extra = {}) {
    TempDir dir("aw-replay");
    std::string capture;
    for (const auto& line : lines) capture += line + "\n";
    SubprocessOptions options;
    options.argv = {providerHostBinary(), "--plugin", testPlugin(plugin).string(), "--replay",
                    dir.write("capture.jsonl", capture).string()};
    options.argv.insert(options.argv.end(), extra.begin(), extra.end());
    options.stderrFile = (dir / "stderr.txt").string();
    Subprocess process(options);
    Replay replay;
    while (auto line = process.readLine(10s)) {
        replay.records.push_back(Json::parse(*line, nullptr, false));
    }
    replay.status = *process.waitFor(10s);
    replay.stderrText = readText(dir / "stderr.txt");
    return replay;
}

TEST(ProviderHostReplay, PrintsTheUnifiedEventsOfARecordedStream) {
    const auto replay = runReplay("example", {"first", "second", "third"});
    EXPECT_EQ(replay.status.code, 0) << replay.stderrText;
    ASSERT_EQ(replay.records.size(), 4u);
    EXPECT_EQ(replay.records[0]["type"], "message.delta");
    EXPECT_EQ(replay.records[2]["data"]["text"], "third");
    EXPECT_EQ(replay.records[3]["type"], "run.completed");
    EXPECT_NE(replay.stderrText.find("invocation"), std::string::npos);
}

TEST(ProviderHostReplay, ExitCodeSignalAndStopChooseTheTerminalEvent) {
    EXPECT_EQ(runReplay("example", {"x"}, {"--exit-code", "3"}).records.back()["type"], "run.failed");
    EXPECT_EQ(runReplay("example", {"x"}, {"--exit-code", "-1", "--signal", "2", "--stop-requested"})
                  .records.back()["type"],
              "run.stopped");
}

TEST(ProviderHostReplay, WhatThePluginPrintsNeverMixesWithTheEvents) {
    const auto replay = runReplay("garbage-stdout", {"one", "bad-json", "two"});
    EXPECT_EQ(replay.status.code, 1) << "a line the plugin failed fails the replay";
    ASSERT_EQ(replay.records.size(), 4u) << "two echoes, the line error, the terminal event";
    for (const auto& record : replay.records) EXPECT_TRUE(record.contains("type")) << record.dump();
    EXPECT_EQ(replay.records[1]["type"], "provider.line_error");
    EXPECT_NE(replay.stderrText.find("line 2: "), std::string::npos) << replay.stderrText;
    EXPECT_NE(replay.stderrText.find("not JSON"), std::string::npos) << replay.stderrText;
}

TEST(ProviderHostReplay, ACleanReplayCountsNoLineErrorsOnTheTerminalEvent) {
    const auto replay = runReplay("example", {"one"});
    EXPECT_EQ(replay.status.code, 0) << replay.stderrText;
    ASSERT_FALSE(replay.records.empty());
    EXPECT_EQ(replay.records.back()["data"]["line_errors"], 0);
}

TEST(ProviderHostReplay, LinesWhoseEventsBreakTheTableAreNamedAndFailTheReplay) {
    const auto replay =
        runReplay("lying-events", {"fine", "an unknown type", "a host type", "missing name",
                                   "terminal too early", "fine again"});
    EXPECT_EQ(replay.status.code, 1) << replay.stderrText;
    // Each bad line's events are replaced by one provider.line_error, in place.
    std::vector<std::string> types;
    for (const auto& record : replay.records) types.push_back(record.value("type", "?"));
    EXPECT_EQ(types,
              (std::vector<std::string>{"message.delta", "provider.line_error",
                                        "provider.line_error", "provider.line_error",
                                        "provider.line_error", "message.delta", "run.completed"}));
    EXPECT_EQ(replay.records[1]["data"]["raw_event_id"], "replay/stdout/2");
    EXPECT_EQ(replay.records[1]["data"]["provider"], "lying-events");
    EXPECT_NE(replay.records[1]["data"]["reason"].get<std::string>().find("unknown type"),
              std::string::npos);
    EXPECT_EQ(replay.records.back()["data"]["line_errors"], 4);
    for (const char* named :
         {"line 2: ", "unknown type 'message.shout'", "line 3: ", "only the host emits run.queued",
          "line 4: ", "data.name is missing", "line 5: ", "only exit_run"}) {
        EXPECT_NE(replay.stderrText.find(named), std::string::npos) << named << "\n"
                                                                    << replay.stderrText;
    }
    EXPECT_EQ(replay.stderrText.find("line 1: "), std::string::npos) << replay.stderrText;
}

TEST(ProviderHostReplay, ARejectedLinesBytesForTheCliStillReachIt) {
    const auto replay = runReplay("lying-events", {"a host type"}, {"--with-stdin"});
    ASSERT_EQ(replay.records.size(), 3u) << replay.stderrText;
    EXPECT_EQ(replay.records[0]["type"], "provider.line_error");
    EXPECT_EQ(replay.records[1]["stdin"], "still answered\n");
    EXPECT_EQ(replay.records[2]["type"], "run.completed");
}

TEST(ProviderHostReplay, ARefusedPluginExitsWithTheReason) {
    const auto replay = runReplay("wrong-abi-major", {"x"});
    EXPECT_EQ(replay.status.code, kProviderRefusedExitCode);
    EXPECT_NE(replay.stderrText.find("rebuild the plugin"), std::string::npos) << replay.stderrText;
}

class ServedProviderHost : public ::testing::Test {
protected:
    void start(const std::string& plugin) {
        SubprocessOptions options;
        options.argv = {providerHostBinary(), "--plugin", testPlugin(plugin).string()};
        options.pipeStdin = true;
        options.stderrFile = (dir_ / "stderr.txt").string();
        process_ = std::make_unique<Subprocess>(options);
        handshake_ = process_->readLine(10s).value_or("");
    }
    Json send(const Json& request) {
        process_->writeStdin(request.dump() + "\n");
        return Json::parse(process_->readLine(10s).value_or("null"));
    }

    TempDir dir_{"aw-served"};
    std::unique_ptr<Subprocess> process_;
    std::string handshake_;
};

TEST_F(ServedProviderHost, HandshakesThenAnswersRequestsByIdWithBatchedFeeds) {
    start("example");
    const auto handshake = parseHandshake(handshake_);
    ASSERT_TRUE(handshake && handshake->info) << handshake_;
    EXPECT_EQ(handshake->info->name, "example");
    EXPECT_EQ(handshake_.rfind("AWPH|1|1.0|example|1.0.0|7|", 0), 0u) << handshake_;

    // Several requests in flight at once: each answer carries its request's id.
    process_->writeStdin(Json{{"id", 7}, {"op", "open"}, {"run", "a"}, {"request", Json::object()}}.dump() +
                         "\n" + Json{{"id", 8}, {"op", "ping"}}.dump() + "\n");
    const auto opened = Json::parse(*process_->readLine(10s));
    const auto pong = Json::parse(*process_->readLine(10s));
    EXPECT_EQ(opened["id"], 7);
    EXPECT_EQ(opened["result"]["invocation"]["argv"][0], "cat");
    EXPECT_EQ(pong["id"], 8);
    EXPECT_EQ(pong["result"]["pong"], true);

    const auto fed = send({{"id", 9}, {"op", "feed"}, {"run", "a"}, {"lines", {"l1", "l2", "l3"}}});
    ASSERT_EQ(fed["result"]["outputs"].size(), 3u);
    EXPECT_EQ(fed["result"]["outputs"][2]["events"][0]["data"]["text"], "l3");
    EXPECT_EQ(send({{"id", 10}, {"op", "exit"}, {"run", "a"}, {"exit_code", 0}})["result"]["events"][0]["type"],
              "run.completed");
}

TEST_F(ServedProviderHost, ALineWhoseEventsBreakTheTableIsAnErrorInPlaceThatKeepsItsStdin) {
    start("lying-events");
    ASSERT_EQ(send({{"id", 1}, {"op", "open"}, {"run", "a"}, {"request", Json::object()}})["ok"],
              true);
    const auto fed =
        send({{"id", 2}, {"op", "feed"}, {"run", "a"}, {"lines", {"fine", "a host type"}}});
    const auto& outputs = fed["result"]["outputs"];
    ASSERT_EQ(outputs.size(), 2u) << fed.dump();
    EXPECT_EQ(outputs[0]["events"][0]["type"], "message.delta");
    EXPECT_FALSE(outputs[1].contains("events")) << outputs[1].dump();
    EXPECT_EQ(outputs[1]["error"]["code"], "invalid_plugin_output");
    EXPECT_EQ(outputs[1]["error"]["message"],
              "event 0 (run.queued): only the host emits run.queued");
    EXPECT_EQ(outputs[1]["stdin"], "still answered\n") << "agent-host still writes it to the CLI";
}

TEST_F(ServedProviderHost, BadRequestsGetErrorsAndServingGoesOn) {
    start("example");
    EXPECT_EQ(send({{"id", 1}, {"op", "feed"}, {"run", "nope"}, {"lines", {"x"}}})["error"]["code"],
              "bad_request");
    EXPECT_EQ(send({{"id", 2}, {"op", "teleport"}})["error"]["code"], "bad_request");
    process_->writeStdin("this is not json\n");
    const auto garbage = Json::parse(*process_->readLine(10s));
    EXPECT_TRUE(garbage["id"].is_null());
    EXPECT_EQ(garbage["ok"], false);
    EXPECT_EQ(send({{"id", 3}, {"op", "ping"}})["ok"], true);
}

TEST_F(ServedProviderHost, ARefusedPluginAnswersWithARefusalLine) {
    start("missing-entry");
    const auto handshake = parseHandshake(handshake_);
    ASSERT_TRUE(handshake && handshake->refusal) << handshake_;
    EXPECT_EQ(handshake->refusal->code, "missing_entry");
    EXPECT_EQ(process_->waitFor(10s)->code, kProviderRefusedExitCode);
}

TEST_F(ServedProviderHost, ExitsWhenItsInputCloses) {
    start("example");
    process_->closeStdin();
    const auto status = process_->waitFor(10s);
    ASSERT_TRUE(status.has_value());
    EXPECT_EQ(status->code, 0);
}

}  // namespace
}  // namespace aw::test
