// The human loop of a running run: replies, timeouts, cancellation on stop.
#include <gtest/gtest.h>

#include "agent_worker/core/runs/human_loop.h"
#include "lifecycle/lifecycle_doubles.h"
#include "run_path/run_path_doubles.h"

namespace aw {
namespace {

using ::testing::_;
using ::testing::Return;
using Json = nlohmann::json;
using testing::FakeProviderRegistry;
using testing::InMemoryRunStore;
using testing::InMemoryWorkerStore;
using testing::MockExecutorClient;
using testing::ScriptedPluginProcess;

class HumanLoopTest : public ::testing::Test {
protected:
    HumanLoopTest() {
        run.runId = "run_1";
        run.sessionId = "chat-1";
        store.runs["run_1"] = run;
        process = std::make_shared<ScriptedPluginProcess>();
        process->answers["reply"] = [](const Json& params) {
            return Json{{"stdin", "reply:" + params["reply"]["decision"].get<std::string>() + "\n"}};
        };
        providers.processes.push_back(process);
        plugin.acquire();
        plugin.open(Json::object());
    }

    void request(const std::string& id, std::int64_t atMs) {
        log.append("run_1", {{"run_1/stdout/" + id, "human.request",
                              {{"request_id", id}, {"kind", "permission"}, {"tool", "Bash"}, {"tool_call_id", "t"},
                               {"input", Json::object()}},
                              atMs}});
    }

    RunRecord run;
    InMemoryRunStore store;
    InMemoryWorkerStore workers;
    FakeProviderRegistry providers;
    std::shared_ptr<ScriptedPluginProcess> process;
    ::testing::NiceMock<MockExecutorClient> executor;
    TraceContext trace{"trace", "chat-1", "exec", "run_1"};
    RunLog log{store, nullptr};
    RunTranslation translation{{run, executor, trace}, log, workers};
    PluginSession plugin{{std::chrono::milliseconds(0), 2, 64}, providers, store, "run_1", "claude-code"};
    HumanLoop loop{translation, plugin, log, std::chrono::milliseconds(60000)};
};

TEST_F(HumanLoopTest, AnAnswerReachesTheCliIsLoggedOnceAndTheRunResumes) {
    request("q1", 1000);
    EXPECT_CALL(executor, writeStdin(_, "run_1", "reply:allow\n", false)).WillOnce(Return(Json::object()));
    loop.answer(*store.humanRequest("run_1", "q1"), {"allow", "ok", nullptr, "user"});
    EXPECT_EQ(store.types("run_1"), (std::vector<std::string>{"human.request", "human.response", "run.resumed"}));
    EXPECT_EQ(store.humanRequest("run_1", "q1")->status, "answered");
    EXPECT_EQ(store.log["run_1"][1].data["by"], "user");
}

TEST_F(HumanLoopTest, TheRunResumesOnlyWhenNothingIsPending) {
    request("q1", 1000);
    request("q2", 1000);
    loop.answer(*store.humanRequest("run_1", "q1"), {"deny", "", nullptr, "user"});
    const auto types = store.types("run_1");
    EXPECT_EQ(std::count(types.begin(), types.end(), "run.resumed"), 0);
}

TEST_F(HumanLoopTest, AQuestionsAnswersGoToThePlugin) {
    request("q1", 1000);
    loop.answer(*store.humanRequest("run_1", "q1"), {"allow", "", Json{{"color", "blue"}}, "user"});
    const auto& [op, params] = process->calls.back();
    EXPECT_EQ(op, "reply");
    EXPECT_EQ(params["reply"]["answers"]["color"], "blue");
}

TEST_F(HumanLoopTest, ThePluginsRefusalLeavesTheRequestPendingAndLogsNothing) {
    request("q1", 1000);
    process->answers["reply"] = [](const Json&) -> Json {
        throw ProviderCallError({"invalid_input", "a question needs reply.answers", ""});
    };
    EXPECT_THROW(loop.answer(*store.humanRequest("run_1", "q1"), {"allow", "", nullptr, "user"}), ProviderCallError);
    EXPECT_EQ(store.humanRequest("run_1", "q1")->status, "pending");
    EXPECT_EQ(store.types("run_1"), std::vector<std::string>{"human.request"});
}

TEST_F(HumanLoopTest, RequestsPastTheTimeoutAreDeniedAsTimedOut) {
    request("old", 1000);
    request("new", 100000);
    loop.expire(100000);
    EXPECT_EQ(store.humanRequest("run_1", "old")->status, "timed_out");
    EXPECT_EQ(store.humanRequest("run_1", "new")->status, "pending");
    EXPECT_EQ(process->calls.back().second["reply"]["decision"], "deny");
}

TEST_F(HumanLoopTest, AStopCancelsWhatIsPendingOnceWithoutAskingThePlugin) {
    request("q1", 1000);
    const auto callsBefore = process->calls.size();
    loop.cancelPending();
    loop.cancelPending();
    EXPECT_EQ(store.humanRequest("run_1", "q1")->status, "cancelled");
    const auto types = store.types("run_1");
    EXPECT_EQ(std::count(types.begin(), types.end(), "human.response"), 1);
    EXPECT_EQ(process->calls.size(), callsBefore);
}

}  // namespace
}  // namespace aw
