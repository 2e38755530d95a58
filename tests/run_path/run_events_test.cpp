// The state each unified event derives (deriveStateChange), usage sums and event ids.
#include <gtest/gtest.h>

#include "agent_worker/core/run_events.h"

namespace aw {
namespace {

using nlohmann::json;

TEST(RunEventIds, AreDeterministic) {
    EXPECT_EQ(translatedEventId("r1/stdout/7", 0), "r1/stdout/7#0");
    EXPECT_EQ(translatedEventId("r1/stdout/7", 3), "r1/stdout/7#3");
    EXPECT_EQ(hostEventId("r1", "run.queued"), "r1:host:run.queued");
    EXPECT_EQ(hostEventId("r1", "human.response:q1"), "r1:host:human.response:q1");
}

TEST(DeriveStateChange, StartedAndResumedMeanRunningFromAnywhereNotTerminal) {
    for (const char* type : {"run.started", "run.resumed"}) {
        const auto change = deriveStateChange(type, json::object());
        ASSERT_TRUE(change.runStatus.has_value()) << type;
        EXPECT_EQ(*change.runStatus, RunStatus::Running);
        EXPECT_TRUE(change.onlyFrom.empty());
        EXPECT_FALSE(change.finalUsage.has_value());
    }
}

TEST(DeriveStateChange, WaitingHumanOnlyFromRunning) {
    const auto change = deriveStateChange("run.waiting_human", json::object());
    EXPECT_EQ(change.runStatus, RunStatus::WaitingHuman);
    EXPECT_EQ(change.onlyFrom, std::vector<RunStatus>{RunStatus::Running});
}

TEST(DeriveStateChange, CompletedCarriesFinalUsage) {
    const json usage = {{"input_tokens", 10}, {"output_tokens", 4}};
    const auto change = deriveStateChange("run.completed", {{"usage", usage}});
    EXPECT_EQ(change.runStatus, RunStatus::Completed);
    ASSERT_TRUE(change.finalUsage.has_value());
    EXPECT_EQ(*change.finalUsage, usage);
    EXPECT_FALSE(change.errorCode.has_value());

    EXPECT_FALSE(deriveStateChange("run.completed", json::object()).finalUsage.has_value());
    EXPECT_FALSE(deriveStateChange("run.completed", {{"usage", "lots"}}).finalUsage.has_value());
}

TEST(DeriveStateChange, FailedTakesTheErrorClassOrProcessError) {
    auto change = deriveStateChange("run.failed", {{"error", {{"class", "timeout"}, {"message", "slow"}}}});
    EXPECT_EQ(change.runStatus, RunStatus::Failed);
    EXPECT_EQ(change.errorCode, "timeout");
    EXPECT_EQ(change.errorMessage, "slow");

    change = deriveStateChange("run.failed", json::object());
    EXPECT_EQ(change.errorCode, "process_error");
    EXPECT_EQ(change.errorMessage, "");
}

TEST(DeriveStateChange, StoppedIsCancelledUnlessAReasonIsGiven) {
    auto change = deriveStateChange("run.stopped", json::object());
    EXPECT_EQ(change.runStatus, RunStatus::Stopped);
    EXPECT_EQ(change.errorCode, "cancelled");
    change = deriveStateChange("run.stopped", {{"reason", "timed_out"}});
    EXPECT_EQ(change.errorCode, "timed_out");
}

TEST(DeriveStateChange, UsageReplacesTheRunsFigures) {
    const json data = {{"input_tokens", 3}};
    const auto change = deriveStateChange("usage", data);
    EXPECT_FALSE(change.runStatus.has_value());
    ASSERT_TRUE(change.runUsage.has_value());
    EXPECT_EQ(*change.runUsage, data);
    EXPECT_FALSE(change.finalUsage.has_value());
}

TEST(DeriveStateChange, ProviderSessionNeedsAnId) {
    EXPECT_EQ(deriveStateChange("provider.session", {{"provider_session_id", "abc"}}).providerSessionId, "abc");
    EXPECT_FALSE(deriveStateChange("provider.session", {{"provider_session_id", ""}}).providerSessionId.has_value());
    EXPECT_FALSE(deriveStateChange("provider.session", json::object()).providerSessionId.has_value());
}

TEST(DeriveStateChange, TodoUpdateNormalisesTheWholeList) {
    const auto change = deriveStateChange(
        "todo.update", {{"todos", json::array({{{"id", "a"}, {"content", "one"}, {"status", "completed"}},
                                               {{"content", "two"}, {"status", "bogus"}},
                                               "not an object",
                                               {{"id", "c"}, {"content", "three"}, {"status", "in_progress"}}})}});
    ASSERT_TRUE(change.todos.has_value());
    EXPECT_EQ(*change.todos, json::array({{{"id", "a"}, {"content", "one"}, {"status", "completed"}},
                                          {{"id", "2"}, {"content", "two"}, {"status", "pending"}},
                                          {{"id", "c"}, {"content", "three"}, {"status", "in_progress"}}}));
    EXPECT_EQ(*deriveStateChange("todo.update", {{"todos", json::array()}}).todos, json::array());
    EXPECT_FALSE(deriveStateChange("todo.update", json::object()).todos.has_value());
}

TEST(DeriveStateChange, HumanRequestAndResponse) {
    auto change = deriveStateChange("human.request", {{"request_id", "q1"},
                                                      {"kind", "question"},
                                                      {"questions", json::array({"why?"})},
                                                      {"options", json::array({"a", "b"})}});
    ASSERT_TRUE(change.humanRequest.has_value());
    EXPECT_EQ(change.humanRequest->requestId, "q1");
    EXPECT_EQ(change.humanRequest->kind, "question");
    EXPECT_EQ(change.humanRequest->input, (json{{"questions", json::array({"why?"})}}));
    EXPECT_EQ(change.humanRequest->options, json::array({"a", "b"}));
    EXPECT_FALSE(change.runStatus.has_value());

    change = deriveStateChange("human.request", {{"request_id", "q2"}, {"kind", "other"}, {"tool", "Bash"}});
    EXPECT_EQ(change.humanRequest->kind, "permission");
    EXPECT_EQ(change.humanRequest->tool, "Bash");
    EXPECT_FALSE(deriveStateChange("human.request", json::object()).humanRequest.has_value());

    change = deriveStateChange("human.response", {{"request_id", "q1"}, {"decision", "deny"}, {"by", "bob"},
                                                  {"message", "no"}});
    ASSERT_TRUE(change.humanResponse.has_value());
    EXPECT_EQ(change.humanResponse->status, "answered");
    EXPECT_EQ(change.humanResponse->decision, "deny");
    EXPECT_EQ(change.humanResponse->answeredBy, "bob");
    EXPECT_EQ(change.humanResponse->message, "no");

    change = deriveStateChange("human.response", {{"request_id", "q1"}, {"decision", "timed_out"}});
    EXPECT_EQ(change.humanResponse->status, "timed_out");
    EXPECT_EQ(change.humanResponse->decision, "");
    change = deriveStateChange("human.response", {{"request_id", "q1"}});
    EXPECT_EQ(change.humanResponse->status, "cancelled");
}

TEST(DeriveStateChange, OtherEventsAndBadDataChangeNothing) {
    for (const auto& [type, data] : std::vector<std::pair<std::string, json>>{
             {"message.delta", {{"text", "x"}}},
             {"tool.start", {{"name", "Bash"}}},
             {"no.such.type", json::object()},
             {"run.completed", json::array()},
             {"run.started", "text"}}) {
        const auto change = deriveStateChange(type, data);
        EXPECT_FALSE(change.runStatus.has_value()) << type;
        EXPECT_FALSE(change.todos.has_value()) << type;
        EXPECT_FALSE(change.runUsage.has_value()) << type;
    }
}

TEST(AddUsage, SumsNumbersAndReplacesTheRest) {
    const json total = {{"input_tokens", 10}, {"cost_usd", 0.5}, {"model", "a"}};
    const json delta = {{"input_tokens", 5},
                        {"cost_usd", 0.25},
                        {"output_tokens", 7},
                        {"model", "b"},
                        {"session_totals", {{"input_tokens", 1000}}}};
    EXPECT_EQ(addUsage(total, delta),
              (json{{"input_tokens", 15}, {"cost_usd", 0.75}, {"output_tokens", 7}, {"model", "b"}}));
    EXPECT_EQ(addUsage(json(), delta).value("input_tokens", 0), 5);
    EXPECT_EQ(addUsage(total, "nothing"), total);
    // Integer plus float becomes a float.
    EXPECT_DOUBLE_EQ(addUsage({{"n", 1}}, {{"n", 0.5}})["n"].get<double>(), 1.5);
}

}  // namespace
}  // namespace aw
