// Steps 7 and 8 of a run: plugin outputs become stored events and their effects (stdin,
// waiting for a human, one sync for the messages that ended, at most one per interval, one
// terminal event).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "agent_worker/core/executor_protocol.h"
#include "agent_worker/core/runs/run_translation.h"
#include "lifecycle/lifecycle_doubles.h"
#include "run_path/run_path_doubles.h"

namespace aw {
namespace {

using ::testing::_;
using ::testing::Return;
using ::testing::Throw;
using Json = nlohmann::json;
using testing::InMemoryRunStore;
using testing::InMemoryWorkerStore;
using testing::MockExecutorClient;

//! The executor's answer to an incremental sync that uploaded `files` files of `bytes` bytes.
Json syncAnswer(std::int64_t files, std::int64_t bytes) {
    SyncAnswer answer;
    answer.reason = "message.stop";
    answer.total.uploadedFiles = answer.workspace.uploadedFiles = files;
    answer.total.uploadedBytes = answer.workspace.uploadedBytes = bytes;
    return answer.toJson();
}

Json eventsOutput(std::initializer_list<Json> events) { return Json{{"events", Json::array_t(events)}}; }
Json event(const std::string& type, Json data) { return {{"type", type}, {"data", data}}; }

// Events as the shipped plugins emit them (docs/events.md has every type's fields).
Json messageEvent(const std::string& type, const std::string& text = "hi") {
    Json data{{"message_id", "m1"}, {"kind", "text"}};
    if (type == "message.start") data["role"] = "assistant";
    else data["text"] = text;
    return event(type, data);
}
Json toolStart(const std::string& id) { return event("tool.start", {{"tool_call_id", id}, {"name", "Bash"}, {"input", Json::object()}}); }
Json humanRequest(const std::string& id) {
    return event("human.request", {{"request_id", id}, {"kind", "permission"}, {"tool", "Bash"},
                                   {"tool_call_id", "t1"}, {"input", Json::object()}});
}
Json withdrawal(const std::string& id) {
    return event("human.response", {{"request_id", id}, {"decision", "cancelled"}, {"by", "provider"}});
}
Json completed() { return event("run.completed", {{"exit_code", 0}, {"signal", nullptr}}); }

class RunTranslationTest : public ::testing::Test {
protected:
    RunTranslationTest() {
        run.runId = "run_1";
        run.sessionId = "chat-1";
        store.runs["run_1"] = run;
        SessionWorker worker;
        worker.sessionId = "chat-1";
        workers.records["chat-1"] = worker;
    }

    AssembledLine line(int seq, std::string text) {
        RawOutputRecord record;
        record.runId = "run_1";
        record.stream = "stdout";
        record.seq = seq;
        record.eventId = "run_1/stdout/" + std::to_string(seq);
        record.line = text;
        store.insertRawOutput({record}, 0);
        return {{record.eventId}, std::move(text), seq};
    }

    RunRecord run;
    InMemoryRunStore store;
    InMemoryWorkerStore workers;
    ::testing::StrictMock<MockExecutorClient> executor;
    TraceContext trace{"trace", "chat-1", "exec", "run_1"};
    RunLog log{store, nullptr};
    RunTranslation translation{{run, executor, trace}, log, workers};
};

TEST_F(RunTranslationTest, AChunksEventsAreStoredWithItsRawRecordsMarkedTranslated) {
    const auto a = line(1, "a");
    const auto b = line(2, "b");
    translation.translated({a, b}, Json::array({eventsOutput({messageEvent("message.start"), messageEvent("message.delta")}),
                                                eventsOutput({toolStart("t")})}));
    EXPECT_EQ(store.types("run_1"), (std::vector<std::string>{"message.start", "message.delta", "tool.start"}));
    EXPECT_EQ(store.log["run_1"][0].eventId, translatedEventId("run_1/stdout/1", 0));
    EXPECT_EQ(store.rawState("run_1", "run_1/stdout/2"), RawState::Translated);
}

TEST_F(RunTranslationTest, OneSyncCoversEveryMessageThatEndedInTheChunk) {
    EXPECT_CALL(executor, sync(_, "incremental", "message.stop"))
        .WillOnce(Return(syncAnswer(2, 10)));
    translation.translated({line(1, "a"), line(2, "b")},
                           Json::array({eventsOutput({messageEvent("message.stop", "x")}),
                                        eventsOutput({messageEvent("message.stop", "y")})}));
    const auto types = store.types("run_1");
    EXPECT_EQ(types, (std::vector<std::string>{"message.stop", "message.stop", "workspace.sync"}));
    const auto& sync = store.log["run_1"].back().data;
    EXPECT_EQ(sync["status"], "succeeded");
    EXPECT_EQ(sync["files"], 2);
    EXPECT_EQ(sync["message_event_ids"].size(), 2u);
    EXPECT_EQ(workers.records["chat-1"].lastSyncStatus, SyncStatus::Succeeded);
}

TEST_F(RunTranslationTest, MessagesEndingWithinTheSyncIntervalShareTheNextSyncAndTheExitSyncsTheRest) {
    RunTranslation paced{{run, executor, trace}, log, workers, std::chrono::hours(1)};
    EXPECT_CALL(executor, sync(_, "incremental", "message.stop"))
        .Times(2)
        .WillRepeatedly(Return(syncAnswer(1, 1)));
    // The first message syncs at once; the next two end within the hour and wait.
    paced.translated({line(1, "a")}, Json::array({eventsOutput({messageEvent("message.stop", "x")})}));
    paced.translated({line(2, "b")}, Json::array({eventsOutput({messageEvent("message.stop", "y")})}));
    paced.translated({line(3, "c")}, Json::array({eventsOutput({messageEvent("message.stop", "z")})}));
    paced.syncIfDue();
    EXPECT_EQ(store.types("run_1"),
              (std::vector<std::string>{"message.stop", "workspace.sync", "message.stop", "message.stop"}));

    // The exit syncs what waits before the run's terminal event, which stays the last.
    RawOutputRecord exit;
    exit.eventId = "run_1/exit/1";
    paced.finished(exit, {0, std::nullopt, 0}, eventsOutput({completed()}), false);
    EXPECT_EQ(store.types("run_1"),
              (std::vector<std::string>{"message.stop", "workspace.sync", "message.stop", "message.stop",
                                        "workspace.sync", "run.completed"}));
    const auto& second = store.log["run_1"][4].data;
    EXPECT_EQ(second["message_event_ids"],
              Json::array({translatedEventId("run_1/stdout/2", 0), translatedEventId("run_1/stdout/3", 0)}));
}

TEST_F(RunTranslationTest, AWaitingMessageIsSyncedOnceTheIntervalHasPassed) {
    RunTranslation paced{{run, executor, trace}, log, workers, std::chrono::milliseconds(5)};
    EXPECT_CALL(executor, sync(_, "incremental", "message.stop"))
        .Times(2)
        .WillRepeatedly(Return(syncAnswer(1, 1)));
    paced.translated({line(1, "a")}, Json::array({eventsOutput({messageEvent("message.stop", "x")})}));
    paced.translated({line(2, "b")}, Json::array({eventsOutput({messageEvent("message.stop", "y")})}));
    std::this_thread::sleep_for(std::chrono::milliseconds(6));  // the interval, certainly past
    paced.syncIfDue();
    paced.syncIfDue();  // nothing waits any more
    EXPECT_EQ(store.types("run_1"),
              (std::vector<std::string>{"message.stop", "workspace.sync", "message.stop", "workspace.sync"}));
}

TEST_F(RunTranslationTest, AFailedSyncIsRecordedOnTheWorkerAndInTheEvent) {
    EXPECT_CALL(executor, sync(_, _, _)).WillOnce(Throw(std::runtime_error("store down")));
    translation.translated({line(1, "a")}, Json::array({eventsOutput({messageEvent("message.stop")})}));
    EXPECT_EQ(store.log["run_1"].back().data["status"], "failed");
    EXPECT_EQ(workers.records["chat-1"].lastSyncStatus, SyncStatus::Failed);
    EXPECT_EQ(workers.records["chat-1"].lastSyncError, "store down");
}

TEST_F(RunTranslationTest, StdinBytesGoToTheCliAndAHumanRequestMakesTheRunWait) {
    EXPECT_CALL(executor, writeStdin(_, "run_1", "{\"allow\":true}\n", true)).WillOnce(Return(Json::object()));
    Json output = eventsOutput({humanRequest("q1")});
    output["stdin"] = "{\"allow\":true}\n";
    output["close_stdin"] = true;
    translation.translated({line(1, "a")}, Json::array({output}));
    EXPECT_EQ(store.types("run_1"), (std::vector<std::string>{"human.request", "run.waiting_human"}));
    EXPECT_EQ(store.pendingHumanRequests("run_1").size(), 1u);
}

TEST_F(RunTranslationTest, APluginsEchoOfARequestTheHostSettledIsDropped) {
    translation.translated({line(1, "a")},
                           Json::array({eventsOutput({humanRequest("q1")})}));
    log.append("run_1", {{hostEventId("run_1", "human.response:q1"), "human.response",
                          {{"request_id", "q1"}, {"decision", "cancelled"}}, 1}});
    translation.translated({line(2, "b")},
                           Json::array({eventsOutput({withdrawal("q1")})}));
    const auto types = store.types("run_1");
    EXPECT_EQ(std::count(types.begin(), types.end(), "human.response"), 1);
}

TEST_F(RunTranslationTest, AnExitWithoutAnOutcomeGetsTheHostsFailureOrStop) {
    RawOutputRecord exit;
    exit.eventId = "run_1/exit/1";
    translation.finished(exit, {1, std::nullopt, 0}, eventsOutput({}), false);
    // An exit output without its one terminal event is a rejected output, and the host ends
    // the run itself, counting it.
    ASSERT_EQ(store.types("run_1"), (std::vector<std::string>{"provider.line_error", "run.failed"}));
    EXPECT_EQ(store.log["run_1"][1].data["error"]["class"], "process_error");
    EXPECT_EQ(store.log["run_1"][1].data["exit_code"], 1);
    EXPECT_EQ(store.log["run_1"][1].data["line_errors"], 1);
}

TEST_F(RunTranslationTest, AStoppedRunWhosePluginSaidNothingEndsStoppedAndAnOutcomeIsKept) {
    RawOutputRecord exit;
    exit.eventId = "run_1/exit/1";
    translation.finished(exit, {std::nullopt, 15, 0},
                         Json{{"error", {{"code", "plugin_error"}, {"message", "no outcome"}}}}, true);
    EXPECT_EQ(store.types("run_1"), (std::vector<std::string>{"provider.line_error", "run.stopped"}));
    EXPECT_EQ(store.log["run_1"][1].data["reason"], "cancelled");

    store.runs["run_2"].runId = "run_2";
    RunRecord other = run;
    other.runId = "run_2";
    RunTranslation second{{other, executor, trace}, log, workers};
    RawOutputRecord exit2;
    exit2.eventId = "run_2/exit/1";
    second.finished(exit2, {0, std::nullopt, 0}, eventsOutput({completed()}), false);
    EXPECT_EQ(store.types("run_2"), std::vector<std::string>{"run.completed"});
    EXPECT_EQ(store.log["run_2"][0].data["line_errors"], 0);
}

TEST_F(RunTranslationTest, OutputTheExecutorGaveUpIsReportedOnTheTerminalEvent) {
    RawOutputRecord exit = toRawOutputRecord([] {
        auto record = OutputRecord::exitOf("run_1", 0, std::nullopt, 7, 2);
        record.lostStdoutLines = 4;
        record.lostStderrLines = 2;
        record.lostReason = "the host answered 400";
        return record;
    }());
    translation.finished(exit, parseCliExit(exit.line), eventsOutput({completed()}), false);
    ASSERT_EQ(store.types("run_1"), std::vector<std::string>{"run.completed"});
    EXPECT_EQ(
        store.log["run_1"][0].data["output_lost"],
        (Json{{"stdout_lines", 4}, {"stderr_lines", 2}, {"reason", "the host answered 400"}}));
}

TEST_F(RunTranslationTest, ALineWithAnEventOfAnUnknownTypeStoresALineErrorInsteadOfItsEvents) {
    translation.translated({line(1, "a"), line(2, "b")},
                           Json::array({eventsOutput({messageEvent("message.start"), event("message.explode", Json::object())}),
                                        eventsOutput({toolStart("t")})}));
    EXPECT_EQ(store.types("run_1"), (std::vector<std::string>{"provider.line_error", "tool.start"}));
    const auto& error = store.log["run_1"][0].data;
    EXPECT_EQ(error["raw_event_id"], "run_1/stdout/1");
    EXPECT_NE(error["reason"].get<std::string>().find("message.explode"), std::string::npos);
    EXPECT_EQ(store.rawState("run_1", "run_1/stdout/1"), RawState::Translated);

    RawOutputRecord exit;
    exit.eventId = "run_1/exit/1";
    translation.finished(exit, {0, std::nullopt, 0}, eventsOutput({completed()}), false);
    EXPECT_EQ(store.log["run_1"].back().data["line_errors"], 1);
}

TEST_F(RunTranslationTest, APluginCannotWriteAHostOnlyTypeOrAFieldOfTheWrongType) {
    translation.translated({line(1, "a"), line(2, "b"), line(3, "c")},
                           Json::array({eventsOutput({event("run.started", Json::object())}),
                                        eventsOutput({event("tool.start", {{"tool_call_id", 7}, {"name", "x"},
                                                                            {"input", Json::object()}})}),
                                        eventsOutput({event("workspace.sync", {{"status", "succeeded"}})})}));
    EXPECT_EQ(store.types("run_1"),
              (std::vector<std::string>{"provider.line_error", "provider.line_error", "provider.line_error"}));
}

TEST_F(RunTranslationTest, ARejectedLinesBytesForTheCliStillReachIt) {
    EXPECT_CALL(executor, writeStdin(_, "run_1", "ack\n", false)).WillOnce(Return(Json::object()));
    translation.translated({line(1, "a")},
                           Json::array({Json{{"error", {{"code", "invalid_plugin_output"}, {"message", "bad"}}},
                                             {"stdin", "ack\n"}}}));
    EXPECT_EQ(store.types("run_1"), std::vector<std::string>{"provider.line_error"});
}

TEST_F(RunTranslationTest, AQuarantinedLineIsSurfacedAndItsRawRecordsMarked) {
    const auto poison = line(1, "poison");
    translation.quarantined(poison, 2, "provider_crashed");
    ASSERT_EQ(store.types("run_1"), std::vector<std::string>{"provider.quarantine"});
    EXPECT_EQ(store.log["run_1"][0].data["crashes"], 2);
    EXPECT_EQ(store.rawState("run_1", "run_1/stdout/1"), RawState::Quarantined);
}

}  // namespace
}  // namespace aw
