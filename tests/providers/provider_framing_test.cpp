// The frames between agent-host and agent-provider-host: the codec on its own, then
// agent-host's side against a real provider-host (feeds cut into pipelined frames) and
// against a lying one (tests/providers/lying_provider_host.cpp) that sends garbage,
// oversized, truncated or half-written frames: each fails that process with a clear error
// and agent-host carries on.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "provider/provider_process.h"
#include "provider/provider_protocol.h"
#include "provider/provider_supervisor.h"
#include "support/plugins.h"
#include "support/run_events.h"
#include "support/temp_dir.h"

namespace aw::test {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;

std::string throwsFrameError(const std::function<void()>& action) {
    try {
        action();
    } catch (const FrameError& e) {
        return e.what();
    }
    return "no error";
}

TEST(ProviderFrames, ComeOutWholeHoweverTheBytesAreSplit) {
    FeedFrameBuilder feed(7, "run-1");
    // Raw bytes, none escaped: newlines, quotes, NUL, an empty line.
    const std::vector<std::string> lines = {"{\"type\":\"x\"}", "two\nlines", "nul\0byte"s, ""};
    for (const auto& line : lines) feed.add(line);
    const std::string stream =
        feed.take() + encodeFrame(FrameKind::Json, R"({"id":8,"op":"ping"})") +
        encodeFeedAnswer(9, {{true, "{\"events\":[]}"}, {false, "{\"error\":{}}"}});
    FrameReader reader(1024);
    std::vector<Frame> frames;
    for (const char byte : stream) {
        reader.append(&byte, 1);
        while (auto frame = reader.next()) frames.push_back(std::move(*frame));
    }
    EXPECT_EQ(reader.pending(), 0u);
    ASSERT_EQ(frames.size(), 3u);
    ASSERT_EQ(frames[0].kind, FrameKind::Feed);
    const auto request = decodeFeedRequest(frames[0].payload);
    EXPECT_EQ(request.id, 7u);
    EXPECT_EQ(request.run, "run-1");
    EXPECT_EQ(std::vector<std::string>(request.lines.begin(), request.lines.end()), lines);
    EXPECT_EQ(frames[1].kind, FrameKind::Json);
    EXPECT_EQ(frames[1].payload, R"({"id":8,"op":"ping"})");
    const auto answer = decodeFeedAnswer(frames[2].payload);
    EXPECT_EQ(answer.id, 9u);
    ASSERT_EQ(answer.outputs.size(), 2u);
    EXPECT_TRUE(answer.outputs[0].ok);
    EXPECT_FALSE(answer.outputs[1].ok);
    EXPECT_EQ(answer.outputs[1].text, "{\"error\":{}}");
}

TEST(ProviderFrames, GarbageAndOversizedHeadersAreRefusedAtOnce) {
    FrameReader garbage(1024);
    garbage.append("hello, world\n", 13);
    EXPECT_EQ(throwsFrameError([&] { garbage.next(); }),
              "expected a frame, got 'hello, world\\x0a'");

    // Refused from the header alone: nobody waits for (or buffers) the gigabyte announced.
    FrameReader oversized(1024);
    oversized.append("AWJ\0\x40\0\0\0", 8);
    EXPECT_EQ(throwsFrameError([&] { oversized.next(); }),
              "announced a frame of 1073741824 bytes, over the limit of 1024");
}

TEST(ProviderFrames, PayloadsThatDoNotHoldWhatTheySayAreMalformed) {
    FeedFrameBuilder feed(1, "r");
    feed.add("a line");
    const std::string payload = feed.take().substr(kFrameHeaderBytes);
    EXPECT_NE(throwsFrameError([&] {
                  decodeFeedRequest(payload.substr(0, payload.size() - 2));
              }).find("feed frame is truncated"),
              std::string::npos);
    EXPECT_EQ(throwsFrameError([&] { decodeFeedRequest(payload + "xx"); }),
              "feed frame has 2 bytes after its last field");
    const std::string answer = encodeFeedAnswer(1, {{true, "{}"}}).substr(kFrameHeaderBytes);
    std::string badTag = answer;
    badTag[12] = 'Z';
    EXPECT_EQ(throwsFrameError([&] { decodeFeedAnswer(badTag); }),
              "feed answer frame tags output 0 with 'Z'");
}

std::string lyingHostBinary() {
    return std::string(AW_BUILD_DIR) + "/tests/aw-lying-provider-host";
}

std::shared_ptr<ProviderProcess> startProcess(const std::string& binary,
                                              const std::string& plugin) {
    return ProviderProcess::start({binary, plugin, 10s, 500ms, 1024 * 1024});
}

nlohmann::json linesJson(std::size_t count) {
    nlohmann::json lines = nlohmann::json::array();
    for (std::size_t i = 0; i < count; ++i)
        lines.push_back("line " + std::to_string(i) + " \"quoted\"\n");
    return lines;
}

TEST(ProviderProcessFrames, ALongFeedIsAnsweredInOrderThroughPipelinedFrames) {
    auto process = startProcess(providerHostBinary(), testPlugin("example").string());
    process->call("open", {{"run", "a"}, {"request", nlohmann::json::object()}}, 10s);
    // More lines than one frame holds, and one line larger than a frame's byte budget.
    auto lines = linesJson(100);
    lines[50] = std::string(300 * 1024, 'x');
    const auto fed = process->call("feed", {{"run", "a"}, {"lines", lines}}, 10s);
    ASSERT_EQ(fed["outputs"].size(), 100u);
    for (std::size_t i = 0; i < 100; ++i) {
        EXPECT_EQ(fed["outputs"][i]["events"][0]["data"]["text"], lines[i]) << i;
    }
    EXPECT_EQ(process->inFlight(), 0u);
    EXPECT_FALSE(process->failure().has_value());
}

TEST(ProviderProcessFrames, FeedsSubmittedAheadAreEachAnsweredWithTheirOwnOutputs) {
    auto process = startProcess(providerHostBinary(), testPlugin("example").string());
    process->call("open", {{"run", "a"}, {"request", nlohmann::json::object()}}, 10s);
    // Three feeds and a ping in flight at once, as a run's pipelined chunks are.
    const auto first = linesJson(70), second = linesJson(5), third = linesJson(40);
    const auto one = process->submit("feed", {{"run", "a"}, {"lines", first}}, 10s);
    const auto two = process->submit("feed", {{"run", "a"}, {"lines", second}}, 10s);
    const auto ping = process->submit("ping", nlohmann::json::object(), 10s);
    const auto three = process->submit("feed", {{"run", "a"}, {"lines", third}}, 10s);
    const auto none =
        process->submit("feed", {{"run", "a"}, {"lines", nlohmann::json::array()}}, 10s);
    for (const auto& [ticket, lines] :
         {std::pair{&one, &first}, {&two, &second}, {&three, &third}}) {
        const auto fed = process->await(*ticket);
        ASSERT_EQ(fed["outputs"].size(), lines->size());
        for (std::size_t i = 0; i < lines->size(); ++i) {
            EXPECT_EQ(fed["outputs"][i]["events"][0]["data"]["text"], (*lines)[i]) << i;
        }
    }
    EXPECT_EQ(process->await(ping)["pong"], true);
    EXPECT_EQ(process->await(none)["outputs"], nlohmann::json::array());
    EXPECT_EQ(process->inFlight(), 0u);
}

TEST(ProviderProcessFrames, ACrashKeepsTheAnswersWrittenBeforeItAndFailsEveryFeedAfter) {
    // What PluginSession's recovery counts on: a feed answered before the one that crashed
    // the plugin is still answered; the crashed one and those sent after it fail with the
    // process, never with a partial answer.
    auto process = startProcess(providerHostBinary(), testPlugin("abort-on-poison").string());
    process->call("open", {{"run", "a"}, {"request", nlohmann::json::object()}}, 10s);
    auto poisoned = linesJson(40);
    poisoned[20] = "a poison pill";
    const auto before = process->submit("feed", {{"run", "a"}, {"lines", linesJson(40)}}, 10s);
    const auto crashing = process->submit("feed", {{"run", "a"}, {"lines", poisoned}}, 10s);
    std::optional<ProviderProcess::Ticket> after;
    try {
        after = process->submit("feed", {{"run", "a"}, {"lines", linesJson(40)}}, 10s);
    } catch (const ProviderCallError& e) {
        EXPECT_TRUE(e.processFailed()) << e.problem().message;  // it had failed already
    }
    EXPECT_EQ(process->await(before)["outputs"].size(), 40u);
    std::vector<const ProviderProcess::Ticket*> failing = {&crashing};
    if (after) failing.push_back(&*after);
    for (const auto* ticket : failing) {
        try {
            process->await(*ticket);
            FAIL() << "a feed sent with or after the crash was answered";
        } catch (const ProviderCallError& e) {
            EXPECT_TRUE(e.processFailed()) << e.problem().message;
        }
    }
    EXPECT_TRUE(process->waitForFailure(10s).has_value());
    EXPECT_EQ(process->inFlight(), 0u);
}

TEST(ProviderProcessFrames, AFeedWithALineOverTheFrameLimitSendsNothing) {
    auto process = startProcess(providerHostBinary(), testPlugin("example").string());
    process->call("open", {{"run", "a"}, {"request", nlohmann::json::object()}}, 10s);
    auto lines = linesJson(100);
    lines[90] = std::string(kMaxRequestFrameBytes + 1, 'x');
    try {
        process->submit("feed", {{"run", "a"}, {"lines", lines}}, 10s);
        FAIL() << "a frame over the limit was sent";
    } catch (const ProviderCallError& e) {
        EXPECT_EQ(e.problem().code, "bad_request");
    }
    EXPECT_EQ(process->inFlight(), 0u);
    // Not one frame of it went out (a frame cut short would have broken the stream).
    const auto fed = process->call("feed", {{"run", "a"}, {"lines", linesJson(1)}}, 10s);
    EXPECT_EQ(fed["outputs"].size(), 1u);
    EXPECT_FALSE(process->failure().has_value());
}

TEST(ProviderProcessFrames, AFeedForARunNotOpenIsThatCallsErrorNotTheProcesses) {
    auto process = startProcess(providerHostBinary(), testPlugin("example").string());
    try {
        process->call("feed", {{"run", "nope"}, {"lines", linesJson(40)}}, 10s);
        FAIL() << "fed a run never opened";
    } catch (const ProviderCallError& e) {
        EXPECT_EQ(e.problem().code, "bad_request");
        EXPECT_FALSE(e.processFailed());
    }
    EXPECT_EQ(process->inFlight(), 0u) << "every frame of the call was awaited";
    EXPECT_EQ(process->call("ping", nlohmann::json::object(), 10s)["pong"], true);
}

struct Lie {
    std::string mode;
    std::string code;    //!< failureCode() of the process
    std::string reason;  //!< in the call's error and the process's failure
    std::string callCode = "provider_crashed";
};

class LyingProviderHost : public ::testing::TestWithParam<Lie> {};

TEST_P(LyingProviderHost, FailsThatProcessWithAClearError) {
    const Lie& lie = GetParam();
    auto process = startProcess(lyingHostBinary(), lie.mode + ".so");
    ASSERT_EQ(process->info().name, "liar-" + lie.mode);
    process->call("open", {{"run", "a"}, {"request", nlohmann::json::object()}}, 10s);
    std::string message;
    try {
        process->call("feed", {{"run", "a"}, {"lines", linesJson(3)}}, 1s);
        FAIL() << "the lie went unnoticed";
    } catch (const ProviderCallError& e) {
        EXPECT_EQ(e.problem().code, lie.callCode);
        EXPECT_TRUE(e.processFailed());
        message = e.problem().message;
    }
    EXPECT_NE(message.find(lie.reason), std::string::npos) << message;
    ASSERT_TRUE(process->waitForFailure(10s).has_value());
    EXPECT_EQ(process->failureCode(), lie.code);
    EXPECT_NE(process->failure()->find(lie.reason), std::string::npos) << *process->failure();
    EXPECT_EQ(process->inFlight(), 0u);
    try {
        process->call("ping", nlohmann::json::object(), 1s);
        FAIL() << "a failed process took a request";
    } catch (const ProviderCallError& e) {
        EXPECT_EQ(e.problem().code, "provider_unavailable");
    }
    // agent-host carries on: the next process serves.
    auto honest = startProcess(lyingHostBinary(), "honest.so");
    honest->call("open", {{"run", "a"}, {"request", nlohmann::json::object()}}, 10s);
    EXPECT_EQ(honest->call("feed", {{"run", "a"}, {"lines", linesJson(3)}}, 10s)["outputs"].size(),
              3u);
}

INSTANTIATE_TEST_SUITE_P(
    EveryLie, LyingProviderHost,
    ::testing::Values(
        Lie{"garbage", "protocol_error",
            "broke the protocol: expected a frame, got 'this is not a frame"},
        Lie{"oversized", "protocol_error",
            "broke the protocol: announced a frame of 1073741824 bytes, over the limit of 1048576"},
        Lie{"truncated", "protocol_error", "broke the protocol: feed answer frame is truncated"},
        Lie{"die-mid-frame", "crashed", "exited with signal 9 (Killed) in the middle of a frame ("},
        Lie{"stall-mid-frame", "hung", "no answer to `feed` within 1000 ms; killed as hung",
            "provider_timeout"},
        Lie{"stranger", "protocol_error",
            "broke the protocol: answered a request it was never sent"},
        Lie{"wrong-count", "protocol_error",
            "broke the protocol: answered a feed of 3 lines with 2 outputs"},
        Lie{"bad-error", "protocol_error",
            "broke the protocol: output 0 of a feed answer is not an error object: '}{'"}),
    [](const auto& info) {
        std::string name = info.param.mode;
        std::erase(name, '-');
        return name;
    });

TEST(ProviderHostOutputs, APluginsOutputThatIsNotJsonIsThatLinesErrorAndTheProcessServesOn) {
    // The provider-host forwards a plugin's text unchecked; agent-host parses it, and text
    // that is not JSON is that line's error (the run path turns it into provider.line_error).
    auto process = startProcess(lyingHostBinary(), "garbled-output.so");
    process->call("open", {{"run", "a"}, {"request", nlohmann::json::object()}}, 10s);
    const auto answer = process->call("feed", {{"run", "a"}, {"lines", linesJson(3)}}, 10s);
    ASSERT_EQ(answer["outputs"].size(), 3u);
    EXPECT_EQ(answer["outputs"][0]["error"]["code"], "invalid_plugin_output");
    EXPECT_NE(answer["outputs"][0]["error"]["message"].get<std::string>().find("not JSON: '}{'"),
              std::string::npos)
        << answer.dump();
    EXPECT_EQ(answer["outputs"][1], nlohmann::json::parse(R"({"events":[]})"));
    EXPECT_FALSE(process->failure().has_value());
    EXPECT_EQ(process->call("feed", {{"run", "a"}, {"lines", linesJson(2)}}, 10s)["outputs"].size(), 2u)
        << "the process serves on";
}

TEST(LyingProviderHostSupervised, IsRestartedLikeAnyCrashAndServesAgain) {
    TempDir plugins("aw-liar");
    plugins.write("garbage.so", "not loaded: the liar only reads its name");
    ProviderSupervisorOptions options;
    options.pluginsDir = plugins.path().string();
    options.providerHostBinary = lyingHostBinary();
    options.watchDirectory = false;
    ProviderSupervisor supervisor(options);
    supervisor.start();
    ASSERT_TRUE(eventually([&] {
        const auto row = supervisor.find("garbage.so");
        return row && row->status == ProviderStatus::Healthy;
    }));
    auto process = supervisor.acquire("liar-garbage");
    process->call("open", {{"run", "a"}, {"request", nlohmann::json::object()}}, 10s);
    EXPECT_THROW(process->call("feed", {{"run", "a"}, {"lines", linesJson(1)}}, 10s),
                 ProviderCallError);
    EXPECT_EQ(process->failureCode(), "protocol_error");
    ASSERT_TRUE(eventually([&] {
        const auto row = supervisor.find("garbage.so");
        return row && row->status == ProviderStatus::Healthy && row->restarts == 1;
    }));
    EXPECT_NE(supervisor.acquire("liar-garbage")->pid(), process->pid());
}

}  // namespace
}  // namespace aw::test
