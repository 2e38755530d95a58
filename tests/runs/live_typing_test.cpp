// Live typing end to end: the real Claude Code CLI (partial messages on by default) against
// the scripted model server, which streams every text and thinking block in pieces. Each
// message reaches the client in several message.delta events before its message.stop, the
// deltas add up to the stop text, and the live SSE stream is the JSON replay.
#include <algorithm>
#include <map>

#include "runs/claude_run_fixture.h"

namespace aw::runs {
namespace {

using test::SseClient;
using test::SseFrame;

const char* kToolsPrompt = "TOOLS_AND_TODOS: create hello.txt and notes.txt, track the work";

struct Typed {
    std::string kind;
    int deltas = 0;
    std::string text;  //!< the deltas, concatenated
    bool stopped = false;
};

//! Checks the typing rules on a run's events; returns each message as it was typed.
std::map<std::string, Typed> expectTypedLive(const std::vector<Json>& events) {
    std::map<std::string, Typed> messages;
    for (const Json& event : events) {
        const std::string type = event.value("type", "");
        if (!type.starts_with("message.")) continue;
        const Json& data = event["data"];
        Typed& message = messages[data.value("message_id", "")];
        if (type == "message.start") {
            EXPECT_TRUE(message.kind.empty()) << "started twice: " << event.dump();
            message.kind = data.value("kind", "");
        } else if (type == "message.delta") {
            EXPECT_FALSE(message.stopped) << "a delta after its stop: " << event.dump();
            message.text += data.value("text", "");
            ++message.deltas;
        } else if (type == "message.stop") {
            message.stopped = true;
            EXPECT_FALSE(data.value("incomplete", false)) << event.dump();
            EXPECT_EQ(message.text, data.value("text", "")) << event.dump();
            // The model server sends pieces of 16 characters: every message here is longer.
            EXPECT_GE(message.deltas, 2) << "typed in one piece: " << event.dump();
        }
    }
    for (const auto& [id, message] : messages) EXPECT_TRUE(message.stopped) << id;
    return messages;
}

std::vector<std::string> stoppedTexts(const std::map<std::string, Typed>& messages,
                                      const std::string& kind) {
    std::vector<std::string> texts;
    for (const auto& [id, message] : messages) {
        if (message.kind == kind) texts.push_back(message.text);
    }
    return texts;
}

bool has(const std::vector<std::string>& list, const std::string& item) {
    return std::find(list.begin(), list.end(), item) != list.end();
}

class LiveTyping : public ::testing::Test {
protected:
    void SetUp() override {
        if (const auto missing = live::missingCli(Cli::ClaudeCode); !missing.empty()) {
            GTEST_SKIP() << missing;
        }
        harness_ = std::make_unique<RunHarness>(HarnessOptions{});
    }
    std::unique_ptr<RunHarness> harness_;
};

TEST_F(LiveTyping, TextAndReasoningArriveInDeltasBeforeTheirStopOverSse) {
    RunHarness& h = *harness_;
    const std::string rid = h.startRun("chat-typing", kToolsPrompt);
    ASSERT_FALSE(rid.empty());
    SseClient stream(h.port(), rid);
    ASSERT_EQ(stream.status(), 200) << stream.body();
    const std::vector<SseFrame> frames = stream.readToEnd();
    EXPECT_FALSE(stream.timedOut());
    ASSERT_EQ(h.waitForEnd(rid).value("status", ""), "completed") << h.describe(rid);

    const auto events = h.events(rid);
    std::vector<Json> streamed;
    for (const SseFrame& frame : frames) streamed.push_back(frame.json());
    EXPECT_EQ(streamed, events) << "the live stream is not the JSON replay";

    const auto messages = expectTypedLive(streamed);
    const auto texts = stoppedTexts(messages, "text");
    EXPECT_TRUE(has(texts, "I'll create hello.txt and track the work.")) << texts.size();
    EXPECT_TRUE(has(texts, "Done: hello.txt and notes.txt were created.")) << texts.size();
    EXPECT_EQ(stoppedTexts(messages, "reasoning"),
              std::vector<std::string>{"The user wants two files; start with the shell."});
}

TEST_F(LiveTyping, StdioProtocolRunsTypeLiveToo) {
    RunHarness& h = *harness_;
    const std::string rid = h.startRun("chat-typing-ask", "Say hello", {{"approval_mode", "ask"}});
    ASSERT_FALSE(rid.empty());
    ASSERT_EQ(h.waitForEnd(rid).value("status", ""), "completed") << h.describe(rid);
    const auto messages = expectTypedLive(h.events(rid));
    EXPECT_EQ(stoppedTexts(messages, "text"),
              std::vector<std::string>{"Hello from the scripted model server."});
}

}  // namespace
}  // namespace aw::runs
