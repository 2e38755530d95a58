// The one check of plugin output: every event type's required fields and their JSON types,
// who may emit what, terminal events only from exit_run, and a bad event rejecting its line.
#include "agent_worker/core/plugin_output_check.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace aw {
namespace {

using Json = nlohmann::json;

//! A valid event of every type a plugin may emit, with each documented field filled in.
const std::map<std::string, Json>& validData() {
    static const std::map<std::string, Json> data = {
        {"provider.session", {{"provider_session_id", "ses_1"}, {"model", "m"}, {"cwd", "/w"}}},
        {"provider.notice",
         {{"kind", "api_retry"},
          {"message", "Reconnecting... 2/5"},
          {"attempt", 2},
          {"max_attempts", 5},
          {"http_status", 500}}},
        {"message.start",
         {{"message_id", "m1"},
          {"kind", "text"},
          {"role", "assistant"},
          {"parent_tool_call_id", "toolu_0"}}},
        {"message.delta", {{"message_id", "m1"}, {"kind", "reasoning"}, {"text", "hi"}}},
        {"message.stop",
         {{"message_id", "m1"}, {"kind", "text"}, {"text", "hi"}, {"incomplete", true}}},
        {"tool.start", {{"tool_call_id", "t1"}, {"name", "Bash"}, {"input", {{"command", "ls"}}}}},
        {"tool.result",
         {{"tool_call_id", "t1"},
          {"name", "Bash"},
          {"output", "a\nb"},
          {"is_error", false},
          {"exit_code", 0},
          {"status", "completed"},
          {"unfinished", false}}},
        {"todo.update",
         {{"todos",
           {{{"id", "1"}, {"content", "plan"}, {"status", "completed"}, {"cancelled", true}},
            {{"id", "2"}, {"content", "do"}, {"status", "in_progress"}, {"priority", "high"}}}},
          {"source", "TodoWrite"}}},
        {"human.request",
         {{"request_id", "req_1"},
          {"kind", "permission"},
          {"tool", "Bash"},
          {"tool_call_id", "t1"},
          {"input", Json::object()},
          {"options", {"allow", "deny"}},
          {"description", "run ls"}}},
        {"human.response",
         {{"request_id", "req_1"}, {"decision", "cancelled"}, {"by", "provider"}}},
        {"usage",
         {{"input_tokens", 10},
          {"output_tokens", 5},
          {"cache_read_tokens", 0},
          {"cache_write_tokens", 0},
          {"reasoning_tokens", 1},
          {"cost_usd", 0.25},
          {"model_calls", 2},
          {"session_totals", {{"input_tokens", 20}}}}},
        {"run.completed",
         {{"exit_code", 0},
          {"signal", nullptr},
          {"result", "done"},
          {"ignored_lines", {{"non_json", 0}}},
          {"usage", {{"input_tokens", 10}}}}},
        {"run.failed",
         {{"exit_code", 1},
          {"signal", nullptr},
          {"error", {{"class", "api_error"}, {"message", "HTTP 500"}, {"http_status", 500}}}}},
        {"run.stopped", {{"exit_code", nullptr}, {"signal", 2}, {"reason", "cancelled"}}},
    };
    return data;
}

PluginCall callFor(const std::string& type) {
    const auto parsed = parseEventType(type);
    return parsed && isTerminal(*parsed) ? PluginCall::Exit : PluginCall::Feed;
}

Json output(const std::string& type, const Json& data) {
    return {{"events", {{{"type", type}, {"data", data}}}}};
}

CheckedOutput check(const std::string& type, const Json& data) {
    return checkPluginOutput(output(type, data), callFor(type));
}

//! The JSON pointer of a rule's path in the sample data (first item for "[]").
Json::json_pointer pointerOf(std::string_view path) {
    std::string pointer;
    while (!path.empty()) {
        const auto dot = path.find('.');
        std::string segment(path.substr(0, dot));
        if (segment.ends_with("[]")) segment.replace(segment.size() - 2, 2, "/0");
        pointer += "/" + segment;
        path = dot == std::string_view::npos ? "" : path.substr(dot + 1);
    }
    return Json::json_pointer(pointer);
}

//! A value of the wrong JSON type for `kind`.
Json wrongValueFor(FieldKind kind) {
    switch (kind) {
        case FieldKind::String:
        case FieldKind::NonEmptyString:
            return 42;
        case FieldKind::Integer:
        case FieldKind::IntegerOrNull:
            return 1.5;
        case FieldKind::Number:
        case FieldKind::Boolean:
        case FieldKind::Object:
        case FieldKind::Array:
            return "text";
    }
    return nullptr;
}

TEST(PluginOutputCheck, EveryEventTypeHasARowInTheTable) {
    for (int i = 0; i <= static_cast<int>(EventType::ProviderLineError); ++i) {
        const auto type = static_cast<EventType>(i);
        EXPECT_EQ(eventRule(type).type, type) << toString(type);
    }
    EXPECT_EQ(eventRules().size(), static_cast<std::size_t>(EventType::ProviderLineError) + 1);
}

TEST(PluginOutputCheck, AValidEventOfEveryPluginTypeIsAccepted) {
    for (const EventRule& rule : eventRules()) {
        if (rule.emitter == EventEmitter::Host) continue;
        const std::string type(toString(rule.type));
        ASSERT_TRUE(validData().count(type)) << "no sample for " << type;
        const auto checked = check(type, validData().at(type));
        EXPECT_TRUE(checked.accepted()) << type << ": " << checked.reason();
        ASSERT_EQ(checked.events.size(), 1u) << type;
        EXPECT_EQ(checked.events[0]["data"], validData().at(type)) << type;
    }
}

TEST(PluginOutputCheck, EveryRequiredFieldOfEveryTypeIsRequired) {
    for (const EventRule& rule : eventRules()) {
        const std::string type(toString(rule.type));
        for (const FieldRule& field : rule.fields) {
            // "todos[]" says what each item must be; an item cannot be missing.
            if (!field.required || std::string_view(field.path).ends_with("[]")) continue;
            Json data = validData().at(type);
            const auto pointer = pointerOf(field.path);
            ASSERT_TRUE(data.contains(pointer)) << type << " sample lacks " << field.path;
            data.at(pointer.parent_pointer()).erase(pointer.back());
            const auto checked = check(type, data);
            EXPECT_FALSE(checked.accepted()) << type << " accepted without " << field.path;
            EXPECT_TRUE(checked.events.empty()) << type;
            EXPECT_NE(checked.reason().find(" is missing"), std::string::npos)
                << type << ": " << checked.reason();
        }
    }
}

TEST(PluginOutputCheck, EveryFieldOfTheWrongJsonTypeIsRejected) {
    for (const EventRule& rule : eventRules()) {
        const std::string type(toString(rule.type));
        for (const FieldRule& field : rule.fields) {
            Json data = validData().at(type);
            const auto pointer = pointerOf(field.path);
            if (!data.contains(pointer)) {
                // Optional fields the sample leaves out: put the wrong value in.
                ASSERT_FALSE(field.required) << type << " sample lacks " << field.path;
                if (!data.contains(pointer.parent_pointer())) continue;
            }
            data[pointer] = wrongValueFor(field.kind);
            const auto checked = check(type, data);
            EXPECT_FALSE(checked.accepted())
                << type << "." << field.path << " accepted " << wrongValueFor(field.kind).dump();
            EXPECT_NE(checked.reason().find(" must be "), std::string::npos) << checked.reason();
        }
    }
}

TEST(PluginOutputCheck, ReasonsNameTheEventTheFieldAndWhatWasExpected) {
    Json data = validData().at("tool.start");
    data["name"] = 7;
    const auto checked = check("tool.start", data);
    ASSERT_EQ(checked.errors.size(), 1u);
    EXPECT_EQ(checked.errors[0].eventIndex, 0u);
    EXPECT_EQ(checked.reason(), "event 0 (tool.start): data.name must be a string, not an integer");
}

TEST(PluginOutputCheck, ValuesOutsideTheirListAreRejected) {
    Json message = validData().at("message.delta");
    message["kind"] = "html";
    EXPECT_NE(
        check("message.delta", message).reason().find("must be one of \"text\", \"reasoning\""),
        std::string::npos);
    Json todos = validData().at("todo.update");
    todos["todos"][1]["status"] = "blocked";
    EXPECT_NE(check("todo.update", todos).reason().find("data.todos[1].status"), std::string::npos);
    Json stopped = validData().at("run.stopped");
    stopped["reason"] = "bored";
    EXPECT_FALSE(check("run.stopped", stopped).accepted());
}

TEST(PluginOutputCheck, EmptyIdsAreRejected) {
    Json data = validData().at("tool.result");
    data["tool_call_id"] = "";
    EXPECT_NE(check("tool.result", data).reason().find("must be a non-empty string, not empty"),
              std::string::npos);
}

TEST(PluginOutputCheck, OptionalFieldsMayBeAbsentOrNullAndExtraFieldsAreKept) {
    Json data{{"message_id", "m"},
              {"kind", "text"},
              {"text", "t"},
              {"parent_tool_call_id", nullptr},
              {"line", 3}};
    const auto checked = check("message.delta", data);
    EXPECT_TRUE(checked.accepted()) << checked.reason();
    EXPECT_EQ(checked.events[0]["data"]["line"], 3);
}

TEST(PluginOutputCheck, ExitCodeAndSignalAreRequiredButMayBeNull) {
    Json data{{"exit_code", nullptr}, {"signal", nullptr}};
    EXPECT_TRUE(check("run.completed", data).accepted());
    data.erase("signal");
    EXPECT_FALSE(check("run.completed", data).accepted());
}

TEST(PluginOutputCheck, AnUnknownTypeIsALineError) {
    const auto checked = checkPluginOutput(output("tool.begin", {{"tool_call_id", "t"}}));
    EXPECT_FALSE(checked.accepted());
    EXPECT_EQ(checked.reason(), "event 0 has the unknown type 'tool.begin'");
}

TEST(PluginOutputCheck, EveryHostOnlyTypeFromAPluginIsALineError) {
    for (const EventRule& rule : eventRules()) {
        if (rule.emitter != EventEmitter::Host) continue;
        const std::string type(toString(rule.type));
        const auto checked = checkPluginOutput(output(type, {{"anything", 1}}));
        EXPECT_FALSE(checked.accepted()) << type;
        EXPECT_NE(checked.reason().find("only the host emits " + type), std::string::npos)
            << checked.reason();
    }
}

TEST(PluginOutputCheck, APluginMayOnlyWithdrawAHumanRequestNotAnswerIt) {
    Json answer = validData().at("human.response");
    answer["decision"] = "allow";
    answer["by"] = "user";
    EXPECT_FALSE(check("human.response", answer).accepted());
}

TEST(PluginOutputCheck, OneBadEventRejectsTheWholeLineButKeepsItsStdin) {
    const Json line{{"events",
                     {{{"type", "message.start"}, {"data", validData().at("message.start")}},
                      {{"type", "message.delta"}, {"data", {{"message_id", "m1"}}}},
                      {{"type", "message.stop"}, {"data", validData().at("message.stop")}}}},
                    {"stdin", "{\"type\":\"control_response\"}\n"},
                    {"close_stdin", true}};
    const auto checked = checkPluginOutput(line);
    EXPECT_FALSE(checked.accepted());
    EXPECT_TRUE(checked.events.empty());
    ASSERT_EQ(checked.errors.size(), 2u) << checked.reason();  // kind and text of event 1
    EXPECT_EQ(checked.errors[0].eventIndex, 1u);
    EXPECT_EQ(checked.stdinBytes, "{\"type\":\"control_response\"}\n");
    EXPECT_TRUE(checked.closeStdin);
}

TEST(PluginOutputCheck, EventsWithoutATypeOrADataObjectAreRejected) {
    EXPECT_FALSE(checkPluginOutput({{"events", {{{"data", Json::object()}}}}}).accepted());
    EXPECT_FALSE(checkPluginOutput({{"events", {"message.delta"}}}).accepted());
    EXPECT_NE(checkPluginOutput({{"events", {{{"type", "tool.start"}}}}})
                  .reason()
                  .find("\"data\" is missing"),
              std::string::npos);
    EXPECT_NE(checkPluginOutput({{"events", {{{"type", "tool.start"}, {"data", {1, 2}}}}}})
                  .reason()
                  .find("\"data\" is not an object"),
              std::string::npos);
}

TEST(PluginOutputCheck, TheDocumentItselfMustHaveTheRightShape) {
    EXPECT_EQ(checkPluginOutput(Json::array()).reason(), "the output is not a JSON object");
    EXPECT_FALSE(checkPluginOutput({{"events", "none"}}).accepted());
    EXPECT_FALSE(checkPluginOutput({{"stdin", 5}}).accepted());
    EXPECT_FALSE(checkPluginOutput({{"close_stdin", "yes"}}).accepted());
    const auto empty = checkPluginOutput(Json::object());
    EXPECT_TRUE(empty.accepted()) << "a line that means nothing";
    EXPECT_TRUE(checkPluginOutput({{"events", Json::array()}, {"stdin", "y\n"}}).accepted());
}

TEST(PluginOutputCheck, AnOutputOverTheEventLimitIsRejectedWhateverItsEvents) {
    Json events = Json::array();
    for (int i = 0; i < 4; ++i) {
        events.push_back({{"type", "message.delta"}, {"data", validData().at("message.delta")}});
    }
    EXPECT_TRUE(checkPluginOutput({{"events", events}}, PluginCall::Feed, 4).accepted());
    const auto checked = checkPluginOutput({{"events", events}}, PluginCall::Feed, 3);
    EXPECT_EQ(checked.reason(), "it holds 4 events, over the limit of 3 per call");
}

TEST(PluginOutputCheck, OnlyExitRunReturnsATerminalEventAndExactlyOne) {
    const Json completed = output("run.completed", validData().at("run.completed"));
    EXPECT_TRUE(checkPluginOutput(completed, PluginCall::Exit).accepted());
    EXPECT_NE(checkPluginOutput(completed, PluginCall::Feed).reason().find("only exit_run"),
              std::string::npos);
    EXPECT_FALSE(checkPluginOutput(completed, PluginCall::Reply).accepted());
    EXPECT_NE(checkPluginOutput(Json::object(), PluginCall::Exit).reason().find("not 0"),
              std::string::npos);
    Json twice = completed;
    twice["events"].push_back(twice["events"][0]);
    EXPECT_NE(checkPluginOutput(twice, PluginCall::Exit).reason().find("not 2"), std::string::npos);
}

TEST(PluginOutputCheck, ManyBadEventsGiveABoundedListOfReasons) {
    Json events = Json::array();
    for (int i = 0; i < 500; ++i) events.push_back({{"type", "bogus"}});
    const auto checked = checkPluginOutput({{"events", events}});
    EXPECT_EQ(checked.errors.size(), 11u);
    EXPECT_EQ(checked.errors.back().reason, "and more");
}

TEST(PluginOutputCheck, LongTypeNamesAreCutInReasons) {
    const auto checked = checkPluginOutput(output(std::string(10000, 'x'), Json::object()));
    EXPECT_LT(checked.reason().size(), 200u);
}

}  // namespace
}  // namespace aw
