// StoredEvent::jsonText, the event streams' text of an event, must be byte for byte the
// dump() of StoredEvent::toJson(): SSE frames and the JSON replay show the same events.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "agent_worker/core/run_events.h"

namespace aw {
namespace {

std::string dumped(const StoredEvent& event) {
    return event.toJson().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

StoredEvent sample() {
    StoredEvent event;
    event.eventId = "run-1/stdout/7#0";
    event.runId = "run-1";
    event.sessionId = "chat-42";
    event.seq = 123456789012;
    event.type = "message.delta";
    event.provider = "claude-code";
    event.tsMs = 1764489600123;
    return event;
}

TEST(EventText, IsTheDumpOfTheEventsJson) {
    const std::vector<nlohmann::json> datas = {
        nlohmann::json::object(),
        {{"text", "quote \" backslash \\ newline \n tab \t bell \x07 del \x7f \u00e9\u4e2d\U0001F600"}},
        {{"n", 1.5}, {"big", 18446744073709551615ull}, {"neg", -3}, {"tiny", 1e-300}, {"null", nullptr}},
        {{"list", {1, "two", {{"nested", {{"z", 1}, {"a", 2}}}}}}, {"flag", false}},
    };
    for (const auto& data : datas) {
        StoredEvent event = sample();
        event.data = data;
        EXPECT_EQ(event.jsonText(data.dump()), dumped(event)) << data.dump();
    }
}

TEST(EventText, EscapesEveryFieldAsDumpDoes) {
    StoredEvent event = sample();
    event.eventId = std::string("id \"with\" \\ and \x01\x1f and \r\n\b\f", 27);
    event.type = "caf\u00e9";
    event.provider = "bad \xff utf-8";  // replaced, as the streams' dump replaces it
    event.sessionId = "";
    event.seq = 0;
    event.tsMs = 0;
    EXPECT_EQ(event.jsonText("{}"), dumped(event));
    EXPECT_NE(event.jsonText("{}").find("\\u0001\\u001f"), std::string::npos);
}

}  // namespace
}  // namespace aw
