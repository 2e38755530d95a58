// Bad input is a clear 4xx on every route of agent-host: malformed percent-escapes in the
// path or query, fields of the wrong JSON type, over-long ids and keys, prompts no CLI could
// be given, a malformed Last-Event-ID. Each answer is the one error shape with a code, and
// carries X-Request-Id. HEAD on every GET route answers like GET, without the body.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "support/agent_host_harness.h"
#include "support/http_client.h"
#include "support/plugins.h"

namespace aw::test {
namespace {

//! Every route agent-host serves, as in docs/api.md; `{x}` marks a path parameter.
struct RouteRow {
    std::string method;
    std::string pattern;
};

const std::vector<RouteRow>& routeTable() {
    static const std::vector<RouteRow> routes{
        {"GET", "/health"},
        {"GET", "/ready"},
        {"GET", "/v1/sessions/{sid}"},
        {"POST", "/v1/sessions/{sid}/messages"},
        {"GET", "/v1/sessions/{sid}/todos"},
        {"GET", "/v1/runs/{rid}"},
        {"GET", "/v1/runs/{rid}/events"},
        {"POST", "/v1/runs/{rid}/stop"},
        {"POST", "/v1/runs/{rid}/human-reply"},
        {"POST", "/v1/run-queue"},
        {"POST", "/v1/run-queue/drain"},
        {"GET", "/v1/run-queue"},
        {"POST", "/v1/maintenance/idle-stop"},
        {"POST", "/v1/maintenance/remove-stopped"},
        {"POST", "/v1/callbacks/executor"},
        {"GET", "/admin/config"},
        {"GET", "/admin/providers"},
        {"POST", "/admin/providers/rescan"},
        {"POST", "/admin/providers/{name}/restart"},
        {"POST", "/admin/providers/{name}/replay"},
        {"GET", "/metrics"},
    };
    return routes;
}

//! The pattern with every `{x}` replaced by `value` (as it goes on the wire).
std::string withParams(const std::string& pattern, const std::string& value) {
    std::string path;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        if (pattern[i] == '{') {
            path += value;
            i = pattern.find('}', i);
        } else {
            path += pattern[i];
        }
    }
    return path;
}

//! One bad request and what must come back.
struct BadCall {
    std::string method;
    std::string path;
    std::string body;
    std::map<std::string, std::string> headers;
    std::string code;  //!< the expected error code; empty: any code
};

class AgentHostBadInput : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        data_ = new TempDir("aw-bad-input");
        auto launch = defaultLaunch(data_->path().string());
        launch.env["AW_DISPATCHER_CONCURRENCY"] = "0";  // runs stay queued: no worker needed
        launch.env["AW_SSE_MAX_STREAMS"] = "2";         // a leaked stream slot shows at once
        std::filesystem::create_directories(data_->path() / "plugins");
        dropPlugin(testPlugin("example"), data_->path() / "plugins", "example.so");
        host_ = new AgentHost(launch);
        const auto providers = host_->waitProvidersHealthy(1);
        provider_ = providers.at("providers").at(0).value("name", "");
        runId_ = host_->sendMessage("bad-input", provider_, "hello");
    }
    static void TearDownTestSuite() {
        delete host_;
        delete data_;
        host_ = nullptr;
        data_ = nullptr;
    }

    //! Sends `call` and checks the answer: 4xx, the error shape with a code (the expected one
    //! when given), X-Request-Id. Returns the answer for further checks.
    static HttpResult expectClear4xx(const BadCall& call) {
        const std::string what =
            call.method + " " + call.path.substr(0, 120) + " " + call.body.substr(0, 120);
        HttpCall http{call.method, call.path, call.body, call.headers};
        const auto result = httpRequest(host_->port(), http);
        EXPECT_GE(result.status, 400) << what << ": " << result.body;
        EXPECT_LT(result.status, 500) << what << ": " << result.body;
        const auto json = result.json();
        EXPECT_TRUE(json.is_object() && json.contains("error")) << what << ": " << result.body;
        if (json.is_object() && json.contains("error")) {
            const auto& error = json["error"];
            EXPECT_TRUE(error.value("code", "").size() > 0) << what << ": " << result.body;
            EXPECT_TRUE(error.contains("message") && error.contains("hint"))
                << what << ": " << result.body;
            if (!call.code.empty()) {
                EXPECT_EQ(error.value("code", ""), call.code) << what << ": " << result.body;
            }
        }
        EXPECT_TRUE(result.headers.count("X-Request-Id") &&
                    !result.headers.at("X-Request-Id").empty())
            << what;
        return result;
    }

    //! A response header, "" when absent.
    static std::string headerOf(const HttpResult& result, const std::string& name) {
        const auto it = result.headers.find(name);
        return it == result.headers.end() ? "" : it->second;
    }

    static TempDir* data_;
    static AgentHost* host_;
    static std::string provider_;
    static std::string runId_;
};

TempDir* AgentHostBadInput::data_ = nullptr;
AgentHost* AgentHostBadInput::host_ = nullptr;
std::string AgentHostBadInput::provider_;
std::string AgentHostBadInput::runId_;

TEST_F(AgentHostBadInput, EveryRouteAnswersMalformedPercentEscapesWith400AndTheRequestId) {
    for (const auto& route : routeTable()) {
        const bool hasParams = route.pattern.find('{') != std::string::npos;
        const std::string body = route.method == "POST" ? "{}" : "";
        std::vector<BadCall> calls{
            {route.method,
             withParams(route.pattern, "ok") + "?after=%G1",
             body,
             {},
             "invalid_query"},
            {route.method, withParams(route.pattern, "ok") + "?%zz=1", body, {}, "invalid_query"},
            {route.method,
             route.pattern == "/health" ? "/heal%th" : route.pattern + "%",
             body,
             {},
             "invalid_path"},
        };
        if (hasParams) {
            calls.push_back(
                {route.method, withParams(route.pattern, "%zz"), body, {}, "invalid_path"});
            calls.push_back(
                {route.method, withParams(route.pattern, "a%2"), body, {}, "invalid_path"});
        }
        for (const auto& call : calls) {
            const auto result = expectClear4xx(call);
            const auto hint = result.json()["error"].value("hint", "");
            EXPECT_NE(hint.find(headerOf(result, "X-Request-Id")), std::string::npos)
                << call.path << ": the hint does not name the request id: " << hint;
        }
    }
    EXPECT_EQ(httpGet(host_->port(), "/health").status, 200) << "the host did not stay up";
}

TEST_F(AgentHostBadInput, EveryRouteWithAnIdAnswersAnOverLongOneWith4xx) {
    const std::string longId(300, 'a');
    for (const auto& route : routeTable()) {
        if (route.pattern.find('{') == std::string::npos) continue;
        const std::string body = route.method == "POST" ? "{}" : "";
        expectClear4xx({route.method, withParams(route.pattern, longId), body, {}, ""});
    }
    expectClear4xx({"GET", "/v1/sessions/" + longId, "", {}, "invalid_session"});
    expectClear4xx({"GET", "/v1/runs/" + longId, "", {}, "invalid_run"});
    expectClear4xx({"GET", "/v1/runs/" + longId + "/events", "", {}, "invalid_run"});
    expectClear4xx({"POST", "/v1/runs/" + longId + "/stop", "", {}, "invalid_run"});
    expectClear4xx({"POST",
                    "/v1/runs/" + longId + "/human-reply",
                    R"({"request_id": "r1", "decision": "allow"})",
                    {},
                    "invalid_run"});
}

TEST_F(AgentHostBadInput, OverLongKeysAreRefusedWithTheirOwnCode) {
    const std::string longKey(201, 'k');
    const nlohmann::json message{{"provider", provider_}, {"prompt", "hello"}};
    expectClear4xx({"POST",
                    "/v1/sessions/bad-input/messages",
                    message.dump(),
                    {{"Idempotency-Key", longKey}},
                    "invalid_idempotency_key"});
    auto queued = message;
    queued["session_id"] = "bad-input";
    queued["enqueue_key"] = longKey;
    expectClear4xx({"POST", "/v1/run-queue", queued.dump(), {}, "invalid_enqueue_key"});
    queued.erase("enqueue_key");
    queued["idempotency_key"] = longKey;
    expectClear4xx({"POST", "/v1/run-queue", queued.dump(), {}, "invalid_idempotency_key"});
    const nlohmann::json reply{{"request_id", longKey}, {"decision", "allow"}};
    expectClear4xx(
        {"POST", "/v1/runs/" + runId_ + "/human-reply", reply.dump(), {}, "invalid_reply"});

    // 200 characters are still fine.
    queued["idempotency_key"] = std::string(200, 'k');
    const auto fits = httpRequest(host_->port(), {"POST", "/v1/run-queue", queued.dump()});
    EXPECT_EQ(fits.status, 202) << fits.body;
}

TEST_F(AgentHostBadInput, FieldsOfTheWrongTypeAre400) {
    const std::string messages = "/v1/sessions/bad-input/messages";
    const std::string reply = "/v1/runs/" + runId_ + "/human-reply";
    const std::vector<BadCall> calls{
        {"POST", messages, R"({"provider": 1, "prompt": "x"})", {}, "invalid_message"},
        {"POST", messages, R"({"provider": "example", "prompt": ["x"]})", {}, "invalid_message"},
        {"POST",
         messages,
         R"({"provider": "example", "prompt": "x", "approval_mode": true})",
         {},
         "invalid_message"},
        {"POST",
         messages,
         R"({"provider": "example", "prompt": "x", "model": {}})",
         {},
         "invalid_message"},
        {"POST", messages, R"(["provider"])", {}, "invalid_json"},
        {"POST", messages, R"({"provider": )", {}, "invalid_json"},
        {"POST",
         "/v1/run-queue",
         R"({"session_id": 7, "provider": "example", "prompt": "x"})",
         {},
         "invalid_message"},
        {"POST",
         "/v1/run-queue",
         R"({"session_id": "s", "provider": "example", "prompt": "x", "enqueue_key": 5})",
         {},
         "invalid_message"},
        {"POST", reply, R"({"request_id": 1, "decision": "allow"})", {}, "invalid_reply"},
        {"POST", reply, R"({"request_id": "r1", "decision": ["allow"]})", {}, "invalid_reply"},
        {"POST", "/v1/callbacks/executor", R"({"executor_id": 1, "events": "x"})", {}, ""},
        {"POST", "/admin/providers/" + provider_ + "/replay", R"({"lines": 5})", {}, ""},
        {"GET", "/v1/run-queue?limit=ten", "", {}, "invalid_query"},
        {"GET", "/v1/run-queue?status=7", "", {}, "invalid_query"},
        {"GET", "/v1/runs/" + runId_ + "/events?after=1e3", "", {}, "invalid_query"},
        {"GET", "/v1/runs/" + runId_ + "/events?after=-1", "", {}, "invalid_query"},
        {"GET", "/v1/runs/" + runId_ + "/events?after=+1", "", {}, "invalid_query"},
        {"GET", "/v1/runs/" + runId_ + "/events?after=%201", "", {}, "invalid_query"},
        {"GET",
         "/v1/runs/" + runId_ + "/events?limit=99999999999999999999",
         "",
         {},
         "invalid_query"},
    };
    for (const auto& call : calls) expectClear4xx(call);
}

TEST_F(AgentHostBadInput, APromptItsCliCouldNotBeGivenIsRefusedAtSubmission) {
    const std::string messages = "/v1/sessions/bad-input/messages";
    const nlohmann::json withNul{{"provider", provider_}, {"prompt", std::string("a\0b", 3)}};
    const auto nul = expectClear4xx({"POST", messages, withNul.dump(), {}, "invalid_message"});
    EXPECT_NE(nul.body.find("NUL"), std::string::npos) << nul.body;
    // The example plugin has no LONG_PROMPT capability: its prompts are one argument.
    const nlohmann::json tooLong{{"provider", provider_}, {"prompt", std::string(128 * 1024, 'p')}};
    const auto longAnswer =
        expectClear4xx({"POST", messages, tooLong.dump(), {}, "invalid_message"});
    EXPECT_NE(longAnswer.body.find("128 KiB"), std::string::npos) << longAnswer.body;
}

TEST_F(AgentHostBadInput, LastEventIdIsParsedAsStrictlyAsAfter) {
    const std::string events = "/v1/runs/" + runId_ + "/events";
    for (const std::string bad : {"12abc", "-1", "+3", "1.0", "3 4", "99999999999999999999", "x"}) {
        expectClear4xx({"GET",
                        events,
                        "",
                        {{"Accept", "text/event-stream"}, {"Last-Event-ID", bad}},
                        "invalid_last_event_id"});
    }
}

TEST_F(AgentHostBadInput, HeadOnEveryGetRouteAnswersLikeGetWithoutABody) {
    for (const auto& route : routeTable()) {
        if (route.method != "GET") continue;
        const std::string path = withParams(
            route.pattern,
            route.pattern.find("{rid}") != std::string::npos ? runId_ : std::string("bad-input"));
        const auto get = httpGet(host_->port(), path);
        const auto head = httpRequest(host_->port(), {"HEAD", path});
        EXPECT_EQ(head.status, get.status) << path;
        EXPECT_TRUE(head.body.empty()) << path << ": " << head.body;
        EXPECT_TRUE(head.headers.count("X-Request-Id")) << path;
        EXPECT_EQ(headerOf(head, "Content-Type"), headerOf(get, "Content-Type")) << path;
    }
    // A HEAD on the event stream sends its headers and does not hold a stream slot.
    for (int i = 0; i < 40; ++i) {
        const auto head = httpRequest(
            host_->port(),
            {"HEAD", "/v1/runs/" + runId_ + "/events", "", {{"Accept", "text/event-stream"}}});
        ASSERT_EQ(head.status, 200) << head.body;
        EXPECT_EQ(headerOf(head, "Content-Type"), "text/event-stream");
    }
}

}  // namespace
}  // namespace aw::test
