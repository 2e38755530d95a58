// Step 3 of a run: the worker is brought up, restored, linked and validated.
#include <gtest/gtest.h>

#include "agent_worker/core/executor_protocol.h"
#include "agent_worker/core/runs/run_failure.h"
#include "agent_worker/core/runs/worker_preparation.h"
#include "lifecycle/lifecycle_doubles.h"
#include "run_path/run_path_doubles.h"

namespace aw {
namespace {

using ::testing::_;
using ::testing::NiceMock;
using ::testing::Return;
using Json = nlohmann::json;
using namespace aw::testing;

class WorkerPreparationTest : public ::testing::Test {
protected:
    WorkerPreparationTest() {
        run.runId = "run_1";
        run.sessionId = "chat-1";
        run.provider = "claude-code";
        store.runs["run_1"] = run;
        ON_CALL(activity, unfinishedRunStatuses(_)).WillByDefault(Return(std::vector<RunStatus>{}));
        ON_CALL(runtime, inspect(_)).WillByDefault(Return(SandboxState::Missing));
        gateway.makeExecutor = [this] {
            auto executor = std::make_unique<NiceMock<MockExecutorClient>>();
            ON_CALL(*executor, restore(_, _)).WillByDefault([this](const TraceContext&, const Json& plan) {
                plans.push_back(plan);
                RestoreAnswer answer;
                answer.files = 3;
                return answer.toJson();
            });
            LinkAnswer linked;
            linked.links = 2;
            ON_CALL(*executor, link(_, _)).WillByDefault(Return(linked.toJson()));
            ON_CALL(*executor, validate(_, _)).WillByDefault([this](const TraceContext&, const Json&) {
                ValidateAnswer answer;
                for (const auto& path : missing) answer.missingPaths.push_back(path);
                return answer.toJson();
            });
            return executor;
        };
    }

    WorkerPreparationOptions options() {
        WorkerPreparationOptions o;
        o.placement = {"acme", "local", "bucket", "root"};
        return o;
    }

    RunRecord run;
    InMemoryRunStore store;
    InMemoryWorkerStore workers;
    NiceMock<MockWorkerRuntime> runtime;
    NiceMock<MockWorkspaceSyncer> syncer;
    NiceMock<MockRunActivity> activity;
    FakeClock clock{1'800'000'000'000};
    LifecycleManager lifecycle{workers, runtime, syncer, activity, clock, LifecyclePolicy{}};
    FakeWorkerGateway gateway;
    RunLog log{store, nullptr};
    WorkerPreparation preparation{options(), lifecycle, gateway, log};
    std::vector<Json> plans;
    Json missing = Json::array();
};

TEST_F(WorkerPreparationTest, ANewSessionsWorkerIsCreatedRestoredAndRunningWithTheRunsTrace) {
    EXPECT_CALL(runtime, create(_)).Times(2);  // this session's, and chat-2's below
    EXPECT_CALL(runtime, start(_)).Times(2);
    auto prepared = preparation.activate(run);
    EXPECT_EQ(prepared.trace.runId, "run_1");
    EXPECT_EQ(prepared.trace.executorId, "fake-chat-1");
    EXPECT_EQ(prepared.trace.traceId.size(), 32u);
    RunRecord again = run;  // another attempt of the run (on a fresh worker record)
    again.sessionId = "chat-2";
    EXPECT_EQ(preparation.activate(again).trace.traceId, prepared.trace.traceId) << "one trace per run";
    EXPECT_EQ(prepared.roots.workspaceRoot, "/w/workspace");
    preparation.restore(prepared, run, 1, {{"state_paths", {"~/.claude/projects"}}});
    EXPECT_EQ(prepared.worker.status, WorkerStatus::Running);
    ASSERT_EQ(store.types("run_1"), std::vector<std::string>{"workspace.restore"});
    const auto& restored = store.log["run_1"][0].data;
    EXPECT_EQ(restored["status"], "succeeded");
    EXPECT_EQ(restored["links"], 2);
    EXPECT_EQ(restored["situation"], "new_worker");
    ASSERT_EQ(plans.size(), 1u);
    EXPECT_NE(plans[0].dump().find("claude-projects"), std::string::npos);
}

TEST_F(WorkerPreparationTest, AMissingRequiredPathFailsTheRunForGoodAndNamesThePaths) {
    missing = Json::array({"/w/workspace/src"});
    auto prepared = preparation.activate(run);
    try {
        preparation.restore(prepared, run, 1, Json::object());
        FAIL() << "a missing required path let the run go on";
    } catch (const RunAttemptFailure& failure) {
        EXPECT_FALSE(failure.retryable());
        EXPECT_EQ(failure.problem().code, "restore_validation_failed");
        EXPECT_NE(failure.problem().message.find("/w/workspace/src"), std::string::npos);
    }
    EXPECT_EQ(store.log["run_1"][0].data["status"], "failed");
    EXPECT_EQ(workers.records["chat-1"].status, WorkerStatus::Failed);
}

TEST_F(WorkerPreparationTest, AWorkerInTransitionIsARetryableBusy) {
    SessionWorker busy;
    busy.sessionId = "chat-1";
    busy.status = WorkerStatus::Stopping;
    busy.stateChangedAtMs = clock.now;
    workers.records["chat-1"] = busy;
    try {
        preparation.activate(run);
        FAIL() << "activated a worker that is stopping";
    } catch (const RunAttemptFailure& failure) {
        EXPECT_TRUE(failure.retryable());
        EXPECT_EQ(failure.problem().code, "worker_busy");
    }
}

TEST_F(WorkerPreparationTest, ARunningWorkerIsUsedAsItIsWithoutARestore) {
    SessionWorker running;
    running.sessionId = "chat-1";
    running.status = WorkerStatus::Running;
    running.desiredStatus = WorkerStatus::Running;
    workers.records["chat-1"] = running;
    ON_CALL(runtime, inspect(_)).WillByDefault(Return(SandboxState::Running));
    auto prepared = preparation.activate(run);
    preparation.restore(prepared, run, 1, Json::object());
    EXPECT_TRUE(plans.empty());
    EXPECT_TRUE(store.types("run_1").empty());
}

TEST(StatePathName, NamesAStatePathForTheManifest) {
    EXPECT_EQ(statePathName("~/.claude/projects"), "claude-projects");
    EXPECT_EQ(statePathName("~/.local/share/opencode"), "local-share-opencode");
    EXPECT_EQ(statePathName("///"), "state");
}

}  // namespace
}  // namespace aw
