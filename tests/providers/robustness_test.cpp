// Property test for every plugin: whatever a CLI prints (truncated lines, flipped bytes, values
// of the wrong type, garbage, a 10 MB line), feed answers valid JSON that the host's check of
// plugin output accepts (core/plugin_output_check.h: known plugin types, their fields, nothing
// terminal) or a clean error, and the run still ends with exactly one terminal event.
#include <gtest/gtest.h>

#include "agent_worker/core/plugin_output_check.h"

#include <random>
#include <sstream>

#include "provider_harness.h"

namespace aw::provider_tests {
namespace {

//! Every line of every recorded stream, of all three CLIs and their other modes.
std::vector<std::vector<std::string>> corpus() {
    std::vector<std::vector<std::string>> streams;
    for (const std::string& name : allFixtureNames()) streams.push_back(loadFixture(name).lines);
    for (const char* sse : {"opencode-serve-basic.events.sse", "opencode-serve-hitl.events.sse"}) {
        std::vector<std::string> lines;
        std::istringstream stream(readFixtureFile(sse));
        for (std::string line; std::getline(stream, line);) lines.push_back(line);
        streams.push_back(lines);
    }
    return streams;
}

Json randomValue(std::mt19937& random) {
    switch (random() % 10) {
        case 0:
            return nullptr;
        case 1:
            return 0;
        case 2:
            return -1;
        case 3:
            return 1e308;
        case 4:
            return "";
        case 5:
            return "x";
        case 6:
            return Json::array();
        case 7:
            return Json::object();
        case 8:
            return true;
        default:
            return UINT64_MAX;
    }
}

//! Replaces one randomly chosen value somewhere inside `json` by a value of another type.
void swapRandomValue(Json& json, std::mt19937& random) {
    Json* node = &json;
    while ((node->is_object() || node->is_array()) && !node->empty() && random() % 4 != 0) {
        auto it = node->begin();
        std::advance(it, random() % node->size());
        node = &*it;
    }
    *node = randomValue(random);
}

std::vector<std::string> mutations(const std::string& line, std::mt19937& random) {
    std::vector<std::string> mutated;
    for (size_t k = 1; k < 16 && !line.empty(); ++k) {
        mutated.push_back(line.substr(0, line.size() * k / 16));
    }
    for (int i = 0; i < 8 && !line.empty(); ++i) {
        std::string flipped = line;
        flipped[random() % flipped.size()] ^= static_cast<char>(1 + random() % 255);
        mutated.push_back(flipped);
    }
    const Json json = Json::parse(line, nullptr, false);
    for (int i = 0; i < 8 && !json.is_discarded(); ++i) {
        Json swapped = json;
        swapRandomValue(swapped, random);
        mutated.push_back(swapped.dump());
    }
    return mutated;
}

std::string garbage(std::mt19937& random) {
    std::string bytes(random() % 2000, '\0');
    for (char& byte : bytes) byte = static_cast<char>(random() % 256);
    return bytes;
}

void expectWellFormed(const CallResult& result, const std::string& line) {
    const std::string shown = line.substr(0, 120);
    if (result.status != AW_OK) {
        EXPECT_TRUE(result.status == AW_ERR_INVALID_INPUT || result.status == AW_ERR_INTERNAL)
            << shown;
        EXPECT_FALSE(result.error.empty()) << shown;
        return;
    }
    ASSERT_TRUE(result.outputIsJson) << shown;
    ASSERT_TRUE(result.document.is_object()) << shown;
    ASSERT_TRUE(result.document["events"].is_array()) << shown;
    const CheckedOutput checked = checkPluginOutput(result.document, PluginCall::Feed);
    EXPECT_TRUE(checked.accepted()) << checked.reason() << " for " << shown;
}

class Robustness : public ::testing::TestWithParam<std::string> {};

// Some 20 000 mutated lines per approval mode; about a second per plugin in a Release build.
TEST_P(Robustness, MutatedFixtureLinesNeverBreakTheRun) {
    const aw_provider& provider = loadProvider(GetParam());
    std::mt19937 random(20261124);
    for (const auto& stream : corpus()) {
        for (const char* mode : {"auto", "ask"}) {
            PluginRun run(provider, runRequest({{"approval_mode", mode}}));
            if (!run.opened()) continue;  // ask mode without a human loop
            for (const std::string& line : stream) {
                expectWellFormed(run.feed(line), line);
                for (const std::string& mutated : mutations(line, random)) {
                    expectWellFormed(run.feed(mutated), mutated);
                }
            }
            for (int i = 0; i < 20; ++i) {
                const std::string bytes = garbage(random);
                expectWellFormed(run.feed(bytes), bytes);
            }
            const CallResult exited = run.exit(-1, 9, false);
            ASSERT_EQ(exited.status, AW_OK);
            EXPECT_EQ(run.terminalTypes().size(), 1u);
            const CheckedOutput checked = checkPluginOutput(exited.document, PluginCall::Exit);
            EXPECT_TRUE(checked.accepted()) << checked.reason();
        }
    }
}

TEST_P(Robustness, TenMegabyteLinesAreHandled) {
    const aw_provider& provider = loadProvider(GetParam());
    PluginRun run(provider, runRequest());
    const std::string huge(10 << 20, 'a');
    expectWellFormed(run.feed(huge), "10 MB of 'a'");
    const Json text{{"type", "assistant"},
                    {"session_id", "s"},
                    {"message", {{"id", "m"}, {"content", {{{"type", "text"}, {"text", huge}}}}}}};
    expectWellFormed(run.feed(text.dump()), "10 MB claude text");
    const Json item{{"type", "item.completed"},
                    {"item", {{"id", "i"}, {"type", "agent_message"}, {"text", huge}}}};
    expectWellFormed(run.feed(item.dump()), "10 MB codex text");
    const Json part{{"type", "text"}, {"sessionID", "s"}, {"part", {{"id", "p"}, {"text", huge}}}};
    expectWellFormed(run.feed(part.dump()), "10 MB opencode text");
    // Whichever of them is this plugin's format, the text arrives whole.
    const auto texts = run.messageTexts();
    ASSERT_EQ(texts.size(), 1u);
    EXPECT_EQ(texts[0].size(), huge.size());
    ASSERT_EQ(run.exit(0, 0, false).status, AW_OK);
}

TEST_P(Robustness, DeeplyNestedLinesAreCountedNotRecursedInto) {
    const aw_provider& provider = loadProvider(GetParam());
    const std::string deep = std::string(200000, '[') + std::string(200000, ']');
    PluginRun run(provider, runRequest());
    for (const std::string& line :
         {R"({"type":"assistant","message":{"id":"m","content":[{"type":"tool_use","id":"t",)"
          R"("name":"Bash","input":{"a":)" +
              deep + "}}]}}",
          R"({"type":"item.started","item":{"id":"i","type":"mcp_tool_call","arguments":)" + deep +
              "}}",
          R"({"type":"tool_use","part":{"callID":"c","tool":"x","state":{"status":"completed",)"
          R"("input":)" +
              deep + "}}}",
          deep}) {
        const CallResult result = run.feed(line);
        EXPECT_EQ(result.status, AW_OK);
        EXPECT_EQ(result.document["events"], Json::array());
    }
    ASSERT_EQ(run.exit(0, 0, false).status, AW_OK);
    EXPECT_EQ(run.terminal()["ignored_lines"]["malformed"], 4);

    std::string request = runRequest().dump();
    request.insert(1, "\"x\":" + deep + ",");
    PluginRun deepRequest(provider, std::string_view(request));
    EXPECT_EQ(deepRequest.openResult().status, AW_ERR_INVALID_INPUT);
}

TEST_P(Robustness, MutatedRequestsAndRepliesAreRefusedCleanly) {
    const aw_provider& provider = loadProvider(GetParam());
    std::mt19937 random(7);
    const std::string request =
        runRequest({{"approval_mode", "ask"},
                    {"provider_session_id", "abc"},
                    {"settings", {{"args", {"-x"}}, {"env", {{"A", "b"}}}}}})
            .dump();
    for (const std::string& mutated : mutations(request, random)) {
        PluginRun run(provider, std::string_view(mutated));
        if (!run.opened()) {
            EXPECT_FALSE(run.openResult().error.empty()) << mutated;
            continue;
        }
        EXPECT_TRUE(run.invocation()["argv"].is_array()) << mutated;
        for (const std::string& reply :
             mutations(R"({"request_id":"r1","decision":"allow"})", random)) {
            const CallResult result = run.reply(reply);
            EXPECT_NE(result.status, AW_OK) << reply;  // nothing is pending
            EXPECT_FALSE(result.error.empty()) << reply;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(EveryProvider, Robustness,
                         ::testing::Values("claude-code", "codex-cli", "opencode"),
                         [](const auto& info) {
                             std::string name = info.param;
                             std::erase(name, '-');
                             return name;
                         });

}  // namespace
}  // namespace aw::provider_tests
