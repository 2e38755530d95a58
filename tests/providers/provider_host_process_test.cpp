// agent-provider-host as a real process: replay mode for plugin authors, and the served
// protocol agent-host speaks (handshake, frames multiplexed by id, batched feeds of raw
// lines, bad requests, input that is not frames).
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "agent_worker/core/plugin_output_check.h"
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
        // Nothing follows the handshake until asked, so no frame byte is left in readLine's buffer.
        handshake_ = process_->readLine(10s).value_or("");
    }
    Frame readFrame() {
        for (;;) {
            if (auto frame = frames_.next()) return *frame;
            pollfd in{process_->stdoutFd(), POLLIN, 0};
            if (::poll(&in, 1, 10000) <= 0) throw std::runtime_error("no frame within 10 s");
            char chunk[65536];
            const auto n = ::read(process_->stdoutFd(), chunk, sizeof chunk);
            if (n <= 0) throw std::runtime_error("stdout closed");
            frames_.append(chunk, static_cast<std::size_t>(n));
        }
    }
    Json readJson() {
        const auto frame = readFrame();
        EXPECT_EQ(frame.kind, FrameKind::Json);
        return Json::parse(frame.payload);
    }
    void post(const Json& request) {
        process_->writeStdin(encodeFrame(FrameKind::Json, request.dump()));
    }
    Json send(const Json& request) {
        post(request);
        return readJson();
    }
    //! The outputs of a feed, parsed.
    std::vector<Json> feed(std::uint64_t id, const std::string& run,
                           const std::vector<std::string>& lines) {
        FeedFrameBuilder frame(id, run);
        for (const auto& line : lines) frame.add(line);
        process_->writeStdin(frame.take());
        const auto answer = readFrame();
        EXPECT_EQ(answer.kind, FrameKind::Outputs) << answer.payload;
        const auto decoded = decodeFeedAnswer(answer.payload);
        EXPECT_EQ(decoded.id, id);
        std::vector<Json> outputs;
        for (const auto& output : decoded.outputs) {
            outputs.push_back(Json::parse(output.text));
            EXPECT_EQ(output.ok, !outputs.back().contains("error")) << output.text;
        }
        return outputs;
    }
    std::string stderrText() const { return readText(dir_ / "stderr.txt"); }

    TempDir dir_{"aw-served"};
    std::unique_ptr<Subprocess> process_;
    std::string handshake_;
    FrameReader frames_{64 * 1024 * 1024};
};

TEST_F(ServedProviderHost, HandshakesThenAnswersRequestsByIdWithBatchedFeeds) {
    start("example");
    const auto handshake = parseHandshake(handshake_);
    ASSERT_TRUE(handshake && handshake->info) << handshake_;
    EXPECT_EQ(handshake->info->name, "example");
    EXPECT_EQ(handshake_.rfind("AWPH|2|1.0|example|1.0.0|7|", 0), 0u) << handshake_;

    // Several requests in flight at once: each answer carries its request's id.
    post({{"id", 7}, {"op", "open"}, {"run", "a"}, {"request", Json::object()}});
    post({{"id", 8}, {"op", "ping"}});
    const auto opened = readJson();
    const auto pong = readJson();
    EXPECT_EQ(opened["id"], 7);
    EXPECT_EQ(opened["result"]["invocation"]["argv"][0], "cat");
    EXPECT_EQ(pong["id"], 8);
    EXPECT_EQ(pong["result"]["pong"], true);

    // Lines go raw: a newline or a quote inside one is just a byte.
    const auto outputs = feed(9, "a", {"l1", "l2", "l3 \"quoted\"\nand more"});
    ASSERT_EQ(outputs.size(), 3u);
    EXPECT_EQ(outputs[2]["events"][0]["data"]["text"], "l3 \"quoted\"\nand more");
    EXPECT_EQ(send({{"id", 10}, {"op", "exit"}, {"run", "a"}, {"exit_code", 0}})["result"]["events"][0]["type"],
              "run.completed");
}

TEST_F(ServedProviderHost, FeedFramesCarryThePluginsOutputAsIsForAgentHostToCheck) {
    // A plugin runs in this process, so agent-host trusts no check made here: it parses and
    // checks every output itself (PluginOutputGate; RunRobustness.LinesWhoseEventsBreakThe
    // TableAreLineErrorsInALiveRun), and the provider-host does not do it twice.
    start("lying-events");
    ASSERT_EQ(send({{"id", 1}, {"op", "open"}, {"run", "a"}, {"request", Json::object()}})["ok"],
              true);
    const auto outputs = feed(2, "a", {"fine", "a host type"});
    ASSERT_EQ(outputs.size(), 2u);
    EXPECT_EQ(outputs[0]["events"][0]["type"], "message.delta");
    EXPECT_EQ(outputs[1]["events"][0]["type"], "run.queued") << outputs[1].dump();
    EXPECT_EQ(outputs[1]["stdin"], "still answered\n");
    const auto checked = checkPluginOutput(outputs[1], PluginCall::Feed);
    EXPECT_FALSE(checked.accepted());
    EXPECT_EQ(checked.reason(), "event 0 (run.queued): only the host emits run.queued");
    EXPECT_EQ(checked.stdinBytes, "still answered\n") << "agent-host still writes it to the CLI";
}

TEST_F(ServedProviderHost, BadRequestsGetErrorsAndServingGoesOn) {
    start("example");
    FeedFrameBuilder unopened(1, "nope");
    unopened.add("x");
    process_->writeStdin(unopened.take());
    const auto notOpen = readJson();
    EXPECT_EQ(notOpen["id"], 1);
    EXPECT_EQ(notOpen["error"]["code"], "bad_request");
    EXPECT_EQ(send({{"id", 2}, {"op", "teleport"}})["error"]["code"], "bad_request");
    process_->writeStdin(encodeFrame(FrameKind::Json, "this is not json"));
    const auto garbage = readJson();
    EXPECT_TRUE(garbage["id"].is_null());
    EXPECT_EQ(garbage["ok"], false);
    EXPECT_EQ(send({{"id", 3}, {"op", "ping"}})["ok"], true);
}

//! Bytes that are not frames cannot be resynchronised: the provider-host says so and exits.
class ServedProviderHostInput
    : public ServedProviderHost,
      public ::testing::WithParamInterface<std::pair<std::string, std::string>> {};

TEST_P(ServedProviderHostInput, ThatIsNotFramesEndsItWithTheReason) {
    start("example");
    const auto& [input, reason] = GetParam();
    process_->writeStdin(input);
    process_->closeStdin();
    const auto status = process_->waitFor(10s);
    ASSERT_TRUE(status.has_value());
    EXPECT_EQ(status->code, kProviderBadInputExitCode);
    EXPECT_NE(stderrText().find(reason), std::string::npos) << stderrText();
}

INSTANTIATE_TEST_SUITE_P(
    Garbage, ServedProviderHostInput,
    ::testing::Values(
        std::pair{std::string("{\"id\":1,\"op\":\"ping\"}\n"),
                  std::string("expected a frame, got '{\"id\":1")},
        std::pair{std::string("AWJ\0\x7f\0\0\0", 8),
                  std::string("announced a frame of 2130706432 bytes")},
        std::pair{encodeFrame(FrameKind::Json, "{}").substr(0, 9),
                  std::string("input ended inside a frame")},
        std::pair{encodeFrame(FrameKind::Feed, "\1\2"), std::string("feed frame is truncated")},
        std::pair{encodeFeedAnswer(1, {}), std::string("got a frame agent-host does not send")}));

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
