// What a run keeps of its plugin outputs: accepted events, a provider.line_error event in
// place of a rejected line, and the count of rejected lines on the terminal event.
#include "agent_worker/core/plugin_output_gate.h"

#include <gtest/gtest.h>

namespace aw {
namespace {

using Json = nlohmann::json;

const Json kDelta{{"events",
                   {{{"type", "message.delta"},
                     {"data", {{"message_id", "m1"}, {"kind", "text"}, {"text", "hi"}}}}}}};
const Json kCompleted{
    {"events", {{{"type", "run.completed"}, {"data", {{"exit_code", 0}, {"signal", nullptr}}}}}}};

TEST(PluginOutputGate, AnAcceptedLineKeepsItsEventsAndStdin) {
    PluginOutputGate gate("codex-cli");
    Json line = kDelta;
    line["stdin"] = "y\n";
    const auto admitted = gate.admit(line, "r1/stdout/1");
    EXPECT_TRUE(admitted.accepted());
    EXPECT_EQ(admitted.events, kDelta["events"]);
    EXPECT_EQ(admitted.stdinBytes, "y\n");
    EXPECT_EQ(gate.lineErrors(), 0u);
}

TEST(PluginOutputGate, ARejectedLineBecomesOneLineErrorEventNamingTheRawLine) {
    PluginOutputGate gate("lying-events");
    const Json lie{
        {"events", {kDelta["events"][0], {{"type", "run.queued"}, {"data", Json::object()}}}},
        {"stdin", "answer\n"}};
    const auto admitted = gate.admit(lie, "r1/stdout/7");
    EXPECT_FALSE(admitted.accepted());
    ASSERT_EQ(admitted.events.size(), 1u);
    const Json& event = admitted.events[0];
    EXPECT_EQ(event["type"], "provider.line_error");
    EXPECT_EQ(event["data"]["raw_event_id"], "r1/stdout/7");
    EXPECT_EQ(event["data"]["provider"], "lying-events");
    EXPECT_EQ(event["data"]["reason"], admitted.rejection);
    EXPECT_NE(admitted.rejection.find("only the host emits run.queued"), std::string::npos);
    EXPECT_EQ(admitted.stdinBytes, "answer\n") << "the CLI still gets its answer";
    EXPECT_EQ(gate.lineErrors(), 1u);
}

TEST(PluginOutputGate, AFailedCallIsALineErrorToo) {
    PluginOutputGate gate("garbage-stdout");
    const auto admitted =
        gate.reject("r1/stdout/2", "garbage-stdout feed returned text that is not JSON");
    EXPECT_FALSE(admitted.accepted());
    EXPECT_EQ(admitted.events[0]["data"]["reason"],
              "garbage-stdout feed returned text that is not JSON");
    EXPECT_EQ(gate.lineErrors(), 1u);
}

TEST(PluginOutputGate, TheTerminalEventCountsTheRejectedLines) {
    PluginOutputGate gate("p");
    gate.admit({{"events", {{{"type", "nope"}}}}}, "r1/stdout/1");
    gate.reject("r1/stdout/2", "plugin failed");
    gate.admit(kDelta, "r1/stdout/3");
    const auto exited = gate.admit(kCompleted, "r1/exit/1", PluginCall::Exit);
    ASSERT_TRUE(exited.accepted()) << exited.rejection;
    EXPECT_EQ(exited.events[0]["data"]["line_errors"], 2);
}

TEST(PluginOutputGate, ACleanRunSaysItHadNoLineErrors) {
    PluginOutputGate gate("p");
    EXPECT_EQ(
        gate.admit(kCompleted, "r1/exit/1", PluginCall::Exit).events[0]["data"]["line_errors"], 0);
}

TEST(PluginOutputGate, ARejectedExitLeavesTheHostsOwnTerminalToBeCounted) {
    PluginOutputGate gate("p", 3);  // three rejected lines already stored by an earlier host
    const auto exited = gate.admit({{"events", Json::array()}}, "r1/exit/1", PluginCall::Exit);
    EXPECT_FALSE(exited.accepted());
    EXPECT_EQ(exited.events[0]["type"], "provider.line_error");
    Json hostTerminal = Json::array(
        {{{"type", "run.failed"}, {"data", {{"error", {{"class", "process_error"}}}}}}});
    gate.countOnTerminal(hostTerminal);
    EXPECT_EQ(hostTerminal[0]["data"]["line_errors"], 4);
}

TEST(PluginOutputGate, HugeReasonsAreCutInTheStoredEvent) {
    PluginOutputGate gate("p");
    const auto admitted = gate.reject("r1/stdout/1", std::string(100000, 'x'));
    EXPECT_LE(admitted.events[0]["data"]["reason"].get<std::string>().size(),
              kMaxLineErrorReasonBytes + 3);
}

}  // namespace
}  // namespace aw
