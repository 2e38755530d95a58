// SociRunStore (RunStore + RunQueue) and the session worker store against real databases:
// every test runs on a SQLite file and on a throwaway PostgreSQL cluster (one cluster per
// test program, a fresh database per test).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <thread>

#include "agent_worker/core/problem.h"
#include "db/migrator.h"
#include "db/soci_run_store.h"
#include "db/soci_session_worker_repository.h"
#include "support/postgres_cluster.h"
#include "support/temp_dir.h"

namespace aw {
namespace {

using nlohmann::json;

//! The PostgreSQL cluster every test of this program shares: started when the first
//! PostgreSQL test needs it (startup takes seconds), stopped when the program ends.
class SharedPostgres : public ::testing::Environment {
public:
    static test::PostgresCluster& cluster() {
        auto& instance = holder();
        if (!instance) instance = std::make_unique<test::PostgresCluster>();
        return *instance;
    }
    void TearDown() override { holder().reset(); }

private:
    static std::unique_ptr<test::PostgresCluster>& holder() {
        static std::unique_ptr<test::PostgresCluster> instance;
        return instance;
    }
};

[[maybe_unused]] ::testing::Environment* const kSharedPostgres =
    ::testing::AddGlobalTestEnvironment(new SharedPostgres);

constexpr std::int64_t kNow = 1'700'000'000'000;
constexpr const char* kProvider = "claude-code";

std::string dialectLabel(const ::testing::TestParamInfo<Dialect>& info) {
    return dialectName(info.param);
}

class RunStoreTest : public ::testing::TestWithParam<Dialect> {
protected:
    void SetUp() override {
        std::string url;
        if (GetParam() == Dialect::Postgresql) {
            if (const auto reason = test::PostgresCluster::unavailableReason(); !reason.empty()) {
                GTEST_FAIL() << "PostgreSQL is needed for these tests: " << reason;
            }
            static int databases = 0;
            const std::string name = "runstore" + std::to_string(++databases);
            SharedPostgres::cluster().createDatabase(name);
            url = SharedPostgres::cluster().url(name);
        } else {
            url = "sqlite://" + (dir_ / "aw.db").string();
        }
        url_ = url;
        db_ = std::make_unique<Database>(parseDatabaseUrl(url), 8, std::chrono::seconds(10));
        applyMigrations(*db_, std::filesystem::path(AW_SOURCE_DIR) / "sql");
        store_ = std::make_unique<SociRunStore>(*db_);
        workers_ = std::make_unique<SociSessionWorkerRepository>(*db_);
    }

    static NewRun newRun(const std::string& sessionId, const std::string& runId,
                         const std::string& idempotencyKey = "", std::int64_t now = kNow) {
        NewRun run;
        run.runId = runId;
        run.sessionId = sessionId;
        run.workspaceS3Prefix = "s3://bucket/aw/default/" + sessionId + "/";
        run.provider = kProvider;
        run.prompt = "héllo";  // 5 characters, 6 bytes
        run.idempotencyKey = idempotencyKey;
        run.nowMs = now;
        return run;
    }

    RunRecord create(const std::string& sessionId, const std::string& runId, int maxAttempts = 3,
                     std::int64_t now = kNow) {
        auto run = newRun(sessionId, runId, "", now);
        run.maxAttempts = maxAttempts;
        const auto created = store_->createRun(run);
        EXPECT_TRUE(created.created);
        return created.run;
    }

    static NewEvent event(const std::string& id, const std::string& type, json data = json::object()) {
        return NewEvent{id, type, std::move(data), kNow};
    }

    std::vector<StoredEvent> append(const std::string& runId, const std::vector<NewEvent>& events,
                                    std::int64_t now = kNow) {
        return store_->appendEvents(runId, events, {}, now);
    }

    RunRecord run(const std::string& runId) {
        auto found = store_->findRun(runId);
        EXPECT_TRUE(found.has_value()) << runId;
        return found.value_or(RunRecord{});
    }

    int count(const std::string& query) {
        return db_->withSession([&](soci::session& sql) {
            int n = -1;
            sql << query, soci::into(n);
            return n;
        });
    }

    std::string text(const std::string& query) {
        return db_->withSession([&](soci::session& sql) {
            std::string value;
            sql << query, soci::into(value);
            return value;
        });
    }

    test::TempDir dir_;
    std::string url_;
    std::unique_ptr<Database> db_;
    std::unique_ptr<SociRunStore> store_;
    std::unique_ptr<SociSessionWorkerRepository> workers_;
};

// ----- createRun ------------------------------------------------------------------------

TEST_P(RunStoreTest, CreateRunMakesWorkerRunQueueEntryAndQueuedEvent) {
    const auto created = store_->createRun(newRun("s1", "r1", "key-1"));
    ASSERT_TRUE(created.created);
    EXPECT_EQ(created.run.runId, "r1");
    EXPECT_EQ(created.run.status, RunStatus::Queued);
    EXPECT_EQ(created.run.idempotencyKey, "key-1");
    EXPECT_EQ(created.run.prompt, "héllo");
    EXPECT_EQ(created.run.createdAtMs, kNow);

    const auto worker = workers_->find("s1");
    ASSERT_TRUE(worker.has_value());
    EXPECT_EQ(worker->status, WorkerStatus::Pending);
    EXPECT_EQ(worker->desiredStatus, WorkerStatus::Running);
    EXPECT_EQ(worker->version, 0);
    EXPECT_EQ(worker->workspaceS3Prefix, "s3://bucket/aw/default/s1/");

    const auto entry = store_->findByRun("r1");
    ASSERT_TRUE(entry.has_value());
    EXPECT_EQ(entry->enqueueKey, "r1");  // defaults to the run id
    EXPECT_EQ(entry->status, QueueStatus::Queued);
    EXPECT_EQ(entry->attempts, 0);
    EXPECT_EQ(entry->maxAttempts, 3);
    EXPECT_EQ(entry->availableAtMs, kNow);

    const auto events = store_->events("r1", 0, 10);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].eventId, "r1:host:run.queued");
    EXPECT_EQ(events[0].seq, 1);
    EXPECT_EQ(events[0].type, "run.queued");
    EXPECT_EQ(events[0].provider, kProvider);
    EXPECT_EQ(events[0].sessionId, "s1");
    EXPECT_EQ(events[0].data, (json{{"provider", kProvider}, {"prompt_chars", 5}}));
    EXPECT_EQ(store_->lastSeq("r1"), 1);
}

TEST_P(RunStoreTest, CreateRunWithTheSameKeyReturnsTheFirstRun) {
    ASSERT_TRUE(store_->createRun(newRun("s1", "r1", "key-1")).created);
    const auto again = store_->createRun(newRun("s1", "r2", "key-1"));
    EXPECT_FALSE(again.created);
    EXPECT_EQ(again.run.runId, "r1");
    EXPECT_EQ(count("SELECT COUNT(*) FROM runs"), 1);
    EXPECT_EQ(count("SELECT COUNT(*) FROM run_queue"), 1);
    EXPECT_EQ(count("SELECT COUNT(*) FROM run_events"), 1);

    // The key is per session; no key never conflicts.
    EXPECT_TRUE(store_->createRun(newRun("s2", "r3", "key-1")).created);
    EXPECT_TRUE(store_->createRun(newRun("s1", "r4")).created);
    EXPECT_TRUE(store_->createRun(newRun("s1", "r5")).created);
    EXPECT_EQ(count("SELECT COUNT(*) FROM runs"), 4);
    EXPECT_EQ(count("SELECT COUNT(*) FROM session_workers"), 2);
}

TEST_P(RunStoreTest, CreateRunWithAKnownEnqueueKeyReturnsThatRunAndWritesNothing) {
    auto first = newRun("s1", "r1");
    first.enqueueKey = "job-7";
    ASSERT_TRUE(store_->createRun(first).created);
    auto second = newRun("s2", "r2");
    second.enqueueKey = "job-7";
    const auto again = store_->createRun(second);
    EXPECT_FALSE(again.created);
    EXPECT_EQ(again.run.runId, "r1");
    EXPECT_EQ(count("SELECT COUNT(*) FROM runs"), 1);
    EXPECT_EQ(count("SELECT COUNT(*) FROM session_workers"), 1);  // rolled back with the run
    EXPECT_EQ(count("SELECT COUNT(*) FROM run_queue"), 1);
}

TEST_P(RunStoreTest, ConcurrentCreateRunWithOneKeyMakesExactlyOneRun) {
    constexpr int kThreads = 6;
    std::vector<CreatedRun> results(kThreads);
    std::vector<std::string> errors(kThreads);
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
        threads.emplace_back([&, i] {
            ready.fetch_add(1);
            while (ready.load() < kThreads) std::this_thread::yield();
            try {
                results[i] = store_->createRun(newRun("s1", "r" + std::to_string(i), "same-key"));
            } catch (const std::exception& e) {
                errors[i] = e.what();
            }
        });
    }
    for (auto& thread : threads) thread.join();
    int created = 0;
    std::set<std::string> runIds;
    for (int i = 0; i < kThreads; ++i) {
        EXPECT_EQ(errors[i], "") << "thread " << i;
        created += results[i].created ? 1 : 0;
        runIds.insert(results[i].run.runId);
    }
    EXPECT_EQ(created, 1);
    EXPECT_EQ(runIds.size(), 1u);
    EXPECT_EQ(count("SELECT COUNT(*) FROM runs"), 1);
    EXPECT_EQ(count("SELECT COUNT(*) FROM run_queue"), 1);
    EXPECT_EQ(count("SELECT COUNT(*) FROM run_events"), 1);
    EXPECT_EQ(count("SELECT COUNT(*) FROM session_workers"), 1);
}

// ----- events ---------------------------------------------------------------------------

TEST_P(RunStoreTest, AppendEventsGivesDenseSeqAndSkipsStoredIds) {
    create("s1", "r1");
    const auto first = append("r1", {event("r1/stdout/1#0", "message.start"),
                                     event("r1/stdout/1#1", "message.delta", {{"text", "a"}}),
                                     event("r1/stdout/2#0", "message.delta", {{"text", "b"}})});
    ASSERT_EQ(first.size(), 3u);
    EXPECT_EQ(first[0].seq, 2);
    EXPECT_EQ(first[1].seq, 3);
    EXPECT_EQ(first[2].seq, 4);
    EXPECT_EQ(first[2].provider, kProvider);
    EXPECT_EQ(first[2].sessionId, "s1");

    // A replay of stored ids plus one new event repeated within the batch.
    const auto second = append("r1", {event("r1/stdout/1#1", "message.delta", {{"text", "a"}}),
                                      event("r1/stdout/3#0", "message.stop", {{"text", "ab"}}),
                                      event("r1/stdout/3#0", "message.stop", {{"text", "ab"}})});
    ASSERT_EQ(second.size(), 1u);
    EXPECT_EQ(second[0].eventId, "r1/stdout/3#0");
    EXPECT_EQ(second[0].seq, 5);
    EXPECT_EQ(store_->lastSeq("r1"), 5);

    const auto page = store_->events("r1", 2, 2);
    ASSERT_EQ(page.size(), 2u);
    EXPECT_EQ(page[0].seq, 3);
    EXPECT_EQ(page[0].data, (json{{"text", "a"}}));
    EXPECT_EQ(page[1].seq, 4);
    EXPECT_TRUE(store_->events("r1", 5, 10).empty());
    EXPECT_EQ(store_->lastSeq("unknown"), 0);
}

TEST_P(RunStoreTest, AppendEventsToAnUnknownRunIsRunNotFound) {
    try {
        append("nope", {event("nope:host:x", "message.start")});
        FAIL() << "appended to a run that does not exist";
    } catch (const ProblemError& e) {
        EXPECT_EQ(e.problem().code, "run_not_found");
    }
}

TEST_P(RunStoreTest, TodoUpdateReplacesTheSessionsList) {
    create("s1", "r1");
    append("r1", {event("e1", "todo.update",
                        {{"todos", json::array({{{"id", "a"}, {"content", "first"}, {"status", "completed"}},
                                                {{"id", "b"}, {"content", "second"}, {"status", "in_progress"}},
                                                {{"id", "c"}, {"content", "third"}, {"status", "pending"}}})}})});
    ASSERT_EQ(store_->todos("s1").size(), 3u);

    create("s1", "r2");
    append("r2", {event("e2", "todo.update",
                        {{"todos", json::array({{{"id", "z"}, {"content", "last"}, {"status", "pending"}},
                                                {{"id", "b"}, {"content", "second!"}, {"status", "completed"}}})}})},
           kNow + 5);
    const auto todos = store_->todos("s1");
    ASSERT_EQ(todos.size(), 2u);
    EXPECT_EQ(todos[0].id, "z");
    EXPECT_EQ(todos[0].content, "last");
    EXPECT_EQ(todos[0].status, "pending");
    EXPECT_EQ(todos[0].runId, "r2");
    EXPECT_EQ(todos[0].updatedAtMs, kNow + 5);
    EXPECT_EQ(todos[1].id, "b");
    EXPECT_EQ(todos[1].status, "completed");
    EXPECT_TRUE(store_->todos("s2").empty());
}

TEST_P(RunStoreTest, AForwardedReplyWaitsOnItsPendingRequestUntilTheDrivingHostSettlesIt) {
    create("s1", "r1");
    append("r1",
           {event("e1", "run.started"),
            event("e2", "human.request", {{"request_id", "q1"}, {"kind", "permission"}})},
           kNow + 10);
    const std::string reply = R"({"decision":"allow"})";
    EXPECT_FALSE(store_->forwardHumanReply("r1", "nope", reply));
    ASSERT_TRUE(store_->forwardHumanReply("r1", "q1", reply));
    EXPECT_FALSE(store_->forwardHumanReply("r1", "q1", reply)) << "one reply waits at a time";
    EXPECT_EQ(store_->pendingHumanRequests("r1").at(0).forwardedReply, reply);

    store_->settleForwardedReply("r1", "q1", "the plugin refused it");
    auto request = store_->humanRequest("r1", "q1");
    EXPECT_TRUE(request->forwardedReply.empty());
    EXPECT_EQ(request->replyError, "the plugin refused it");
    ASSERT_TRUE(store_->forwardHumanReply("r1", "q1", reply)) << "a corrected reply may follow";
    EXPECT_TRUE(store_->humanRequest("r1", "q1")->replyError.empty());

    store_->settleForwardedReply("r1", "q1", "");
    append("r1", {event("e3", "human.response", {{"request_id", "q1"}, {"decision", "allow"}})},
           kNow + 20);
    EXPECT_EQ(store_->humanRequest("r1", "q1")->status, "answered");
    EXPECT_FALSE(store_->forwardHumanReply("r1", "q1", reply)) << "an answered request takes none";
}

TEST_P(RunStoreTest, HumanRequestWaitsAndHumanResponseAnswersOnce) {
    create("s1", "r1");
    append("r1", {event("e1", "run.started")}, kNow + 10);
    EXPECT_EQ(run("r1").status, RunStatus::Running);
    EXPECT_EQ(run("r1").startedAtMs, kNow + 10);

    append("r1", {event("e2", "human.request",
                        {{"request_id", "q1"}, {"kind", "permission"}, {"tool", "Bash"},
                         {"input", {{"command", "rm -rf build"}}},
                         {"options", json::array({"allow", "deny"})}}),
                  event("e3", "run.waiting_human", {{"request_id", "q1"}})},
           kNow + 20);
    EXPECT_EQ(run("r1").status, RunStatus::WaitingHuman);
    auto request = store_->humanRequest("r1", "q1");
    ASSERT_TRUE(request.has_value());
    EXPECT_EQ(request->status, "pending");
    EXPECT_EQ(request->kind, "permission");
    EXPECT_EQ(request->tool, "Bash");
    EXPECT_EQ(request->sessionId, "s1");
    EXPECT_EQ(request->input, (json{{"command", "rm -rf build"}}));
    EXPECT_EQ(request->options, json::array({"allow", "deny"}));
    EXPECT_EQ(request->createdAtMs, kNow + 20);
    EXPECT_EQ(store_->pendingHumanRequests("r1").size(), 1u);
    EXPECT_EQ(store_->expiredHumanRequests(kNow + 21).size(), 1u);
    EXPECT_TRUE(store_->expiredHumanRequests(kNow + 20).empty());

    append("r1", {event("r1:host:human.response:q1", "human.response",
                        {{"request_id", "q1"}, {"decision", "allow"}, {"by", "alice"}, {"message", "ok"}}),
                  event("e4", "run.resumed")},
           kNow + 30);
    request = store_->humanRequest("r1", "q1");
    ASSERT_TRUE(request.has_value());
    EXPECT_EQ(request->status, "answered");
    EXPECT_EQ(request->decision, "allow");
    EXPECT_EQ(request->answeredBy, "alice");
    EXPECT_EQ(request->message, "ok");
    EXPECT_EQ(request->answeredAtMs, kNow + 30);
    EXPECT_TRUE(store_->pendingHumanRequests("r1").empty());
    EXPECT_TRUE(store_->expiredHumanRequests(kNow + 1000).empty());
    EXPECT_EQ(run("r1").status, RunStatus::Running);
    EXPECT_EQ(run("r1").startedAtMs, kNow + 10);  // kept

    // A second answer (another event id) leaves the first one standing.
    append("r1", {event("late", "human.response", {{"request_id", "q1"}, {"decision", "deny"}})},
           kNow + 40);
    EXPECT_EQ(store_->humanRequest("r1", "q1")->decision, "allow");
    // A repeated request id does not reopen it.
    append("r1", {event("e5", "human.request", {{"request_id", "q1"}, {"kind", "question"}})});
    EXPECT_EQ(store_->humanRequest("r1", "q1")->status, "answered");
    EXPECT_FALSE(store_->humanRequest("r1", "q2").has_value());
}

TEST_P(RunStoreTest, RunDetailIsTheRunItsPendingHumanRequestsAndLastSeqReadAfreshEachTime) {
    EXPECT_FALSE(store_->runDetail("unknown").has_value());
    create("s1", "r1");
    create("s1", "r2");
    // Read many times: the statement prepared once per connection sees every change.
    for (int read = 0; read < 3; ++read) {
        const auto view = store_->runDetail("r1");
        ASSERT_TRUE(view.has_value());
        EXPECT_EQ(view->run.runId, "r1");
        EXPECT_EQ(view->run.status, RunStatus::Queued);
        EXPECT_EQ(view->lastSeq, 1);
        EXPECT_TRUE(view->pendingHumanRequests.empty());
    }
    append("r1",
           {event("e1", "run.started"),
            event("e2", "human.request", {{"request_id", "q1"}, {"kind", "question"}}),
            event("e3", "run.waiting_human", {{"request_id", "q1"}})},
           kNow + 10);
    auto view = store_->runDetail("r1");
    ASSERT_TRUE(view.has_value());
    EXPECT_EQ(view->run.status, RunStatus::WaitingHuman);
    EXPECT_EQ(view->lastSeq, 4);
    ASSERT_EQ(view->pendingHumanRequests.size(), 1u);
    EXPECT_EQ(view->pendingHumanRequests[0].requestId, "q1");
    EXPECT_EQ(view->run.toJson(), run("r1").toJson());
    // Another run of the session is read apart.
    EXPECT_EQ(store_->runDetail("r2")->lastSeq, 1);
    EXPECT_TRUE(store_->runDetail("r2")->pendingHumanRequests.empty());
    EXPECT_FALSE(store_->runDetail("unknown").has_value());
}

TEST_P(RunStoreTest, WaitingHumanOnlyFromRunning) {
    create("s1", "r1");
    append("r1", {event("e1", "run.waiting_human")});
    EXPECT_EQ(run("r1").status, RunStatus::Queued);
}

TEST_P(RunStoreTest, FinalUsageSettlesIntoTheSessionsProviderUsage) {
    create("s1", "r1");
    append("r1", {event("e1", "run.started"), event("e2", "usage", {{"input_tokens", 10}, {"output_tokens", 5}})});
    EXPECT_EQ(run("r1").usage, (json{{"input_tokens", 10}, {"output_tokens", 5}}));
    EXPECT_EQ(text("SELECT provider_usage FROM session_workers WHERE session_id = 's1'"), "{}");

    append("r1", {event("e3", "run.completed",
                        {{"usage", {{"input_tokens", 100}, {"output_tokens", 50}, {"cost_usd", 0.5}}}})},
           kNow + 100);
    auto first = run("r1");
    EXPECT_EQ(first.status, RunStatus::Completed);
    EXPECT_EQ(first.finishedAtMs, kNow + 100);
    EXPECT_EQ(first.usage, (json{{"input_tokens", 100}, {"output_tokens", 50}, {"cost_usd", 0.5}}));

    create("s1", "r2");
    append("r2", {event("f1", "run.started"),
                  event("f2", "run.completed",
                        {{"usage", {{"input_tokens", 1}, {"output_tokens", 2}, {"cost_usd", 0.25}}}})});
    const auto usage = json::parse(text("SELECT provider_usage FROM session_workers WHERE session_id = 's1'"));
    EXPECT_EQ(usage, (json{{kProvider, {{"input_tokens", 101}, {"output_tokens", 52}, {"cost_usd", 0.75}}}}));

    // A usage event after the run settled changes nothing.
    append("r2", {event("f3", "usage", {{"input_tokens", 999}})});
    EXPECT_EQ(run("r2").usage["input_tokens"], 1);
}

TEST_P(RunStoreTest, RunFailedRecordsItsError) {
    create("s1", "r1");
    append("r1", {event("e1", "run.started"),
                  event("e2", "run.failed", {{"error", {{"class", "timeout"}, {"message", "too slow"}}}})});
    const auto failed = run("r1");
    EXPECT_EQ(failed.status, RunStatus::Failed);
    EXPECT_EQ(failed.errorCode, "timeout");
    EXPECT_EQ(failed.errorMessage, "too slow");
    EXPECT_EQ(failed.toJson()["error"]["code"], "timeout");
}

TEST_P(RunStoreTest, ProviderSessionIsKeptOnTheRunAndTheWorker) {
    create("s1", "r1");
    append("r1", {event("e1", "provider.session", {{"provider_session_id", "cli-abc"}})});
    EXPECT_EQ(run("r1").providerSessionId, "cli-abc");
    const auto worker = workers_->find("s1");
    ASSERT_TRUE(worker.has_value());
    EXPECT_EQ(json::parse(worker->providerSessionsJson), (json{{kProvider, "cli-abc"}}));

    create("s1", "r2");
    append("r2", {event("f1", "provider.session", {{"provider_session_id", "cli-def"}})});
    EXPECT_EQ(json::parse(workers_->find("s1")->providerSessionsJson), (json{{kProvider, "cli-def"}}));
    EXPECT_EQ(run("r1").providerSessionId, "cli-abc");
}

TEST_P(RunStoreTest, TerminalStatusIsNeverReopened) {
    create("s1", "r1");
    append("r1", {event("e1", "run.started"), event("e2", "run.completed")}, kNow + 50);
    append("r1", {event("e3", "run.resumed"), event("e4", "run.waiting_human"),
                  event("e5", "run.failed", {{"error", {{"class", "late"}}}}),
                  event("e6", "run.started")},
           kNow + 90);
    const auto done = run("r1");
    EXPECT_EQ(done.status, RunStatus::Completed);
    EXPECT_EQ(done.finishedAtMs, kNow + 50);
    EXPECT_EQ(done.errorCode, "");
    EXPECT_EQ(store_->lastSeq("r1"), 7);  // the events are logged all the same
    EXPECT_FALSE(store_->requestStop("r1", kNow + 100));
    EXPECT_FALSE(store_->markStarting("r1", 1, kNow + 100));
    EXPECT_EQ(run("r1").stopRequestedAtMs, 0);
}

TEST_P(RunStoreTest, MarkStartingAndRequestStop) {
    create("s1", "r1");
    EXPECT_TRUE(store_->markStarting("r1", 1, kNow + 1));
    auto starting = run("r1");
    EXPECT_EQ(starting.status, RunStatus::Starting);
    EXPECT_EQ(starting.attempts, 1);
    EXPECT_EQ(starting.startedAtMs, kNow + 1);
    EXPECT_TRUE(store_->markStarting("r1", 2, kNow + 2));
    EXPECT_EQ(run("r1").attempts, 2);
    EXPECT_EQ(run("r1").startedAtMs, kNow + 1);

    append("r1", {event("e1", "run.started")}, kNow + 3);
    EXPECT_EQ(run("r1").startedAtMs, kNow + 1);
    EXPECT_FALSE(store_->markStarting("r1", 3, kNow + 4));

    EXPECT_TRUE(store_->requestStop("r1", kNow + 5));
    EXPECT_TRUE(store_->requestStop("r1", kNow + 6));
    EXPECT_EQ(run("r1").stopRequestedAtMs, kNow + 5);  // the first one wins
    EXPECT_TRUE(run("r1").toJson()["stop_requested"].get<bool>());
    EXPECT_FALSE(store_->requestStop("unknown", kNow));
}

TEST_P(RunStoreTest, RunsWithStatusAndUnfinishedStatuses) {
    create("s1", "r1", 3, kNow);
    create("s1", "r2", 3, kNow + 1);
    create("s2", "r3", 3, kNow + 2);
    append("r1", {event("e1", "run.started")});
    append("r3", {event("g1", "run.started"), event("g2", "run.completed")});

    const auto queued = store_->runsWithStatus({RunStatus::Queued, RunStatus::Running}, 10);
    ASSERT_EQ(queued.size(), 2u);
    EXPECT_EQ(queued[0].runId, "r1");
    EXPECT_EQ(queued[1].runId, "r2");
    EXPECT_EQ(store_->runsWithStatus({RunStatus::Queued, RunStatus::Running}, 1).size(), 1u);
    EXPECT_TRUE(store_->runsWithStatus({}, 10).empty());

    const auto unfinished = store_->unfinishedRunStatuses("s1");
    EXPECT_EQ(unfinished, (std::vector<RunStatus>{RunStatus::Running, RunStatus::Queued}));
    EXPECT_TRUE(store_->unfinishedRunStatuses("s2").empty());
}

// ----- raw output -----------------------------------------------------------------------

RawOutputRecord raw(const std::string& runId, const std::string& stream, std::int64_t seq,
                    const std::string& line, bool continued = false) {
    RawOutputRecord record;
    record.eventId = runId + "/" + stream + "/" + std::to_string(seq);
    record.runId = runId;
    record.stream = stream;
    record.seq = seq;
    record.line = line;
    record.continued = continued;
    return record;
}

TEST_P(RunStoreTest, RawOutputIsStoredOnceAndMarkedWhenTranslated) {
    create("s1", "r1");
    const auto first = store_->insertRawOutput({raw("r1", "stdout", 2, "{\"b\":2}"),
                                                raw("r1", "stdout", 1, "{\"a\":1", true)},
                                               kNow);
    ASSERT_EQ(first.size(), 2u);
    EXPECT_EQ(first[0].seq, 2);
    const auto second = store_->insertRawOutput(
        {raw("r1", "stdout", 2, "{\"b\":2}"), raw("r1", "stdout", 3, "x"), raw("r1", "exit", 1, "{\"code\":0}")},
        kNow);
    ASSERT_EQ(second.size(), 2u);
    EXPECT_EQ(second[0].eventId, "r1/stdout/3");
    EXPECT_EQ(second[1].eventId, "r1/exit/1");

    auto stdoutRecords = store_->rawOutput("r1", "stdout");
    ASSERT_EQ(stdoutRecords.size(), 3u);
    EXPECT_EQ(stdoutRecords[0].seq, 1);
    EXPECT_TRUE(stdoutRecords[0].continued);
    EXPECT_EQ(stdoutRecords[0].line, "{\"a\":1");
    EXPECT_FALSE(stdoutRecords[1].continued);
    EXPECT_EQ(stdoutRecords[2].seq, 3);
    for (const auto& record : stdoutRecords) EXPECT_EQ(record.state, RawState::Pending);
    ASSERT_EQ(store_->rawOutput("r1", "exit").size(), 1u);

    store_->appendEvents("r1", {event("r1/stdout/1#0", "message.start")}, RawProgress{2, {}}, kNow);
    stdoutRecords = store_->rawOutput("r1", "stdout");
    EXPECT_EQ(stdoutRecords[1].state, RawState::Translated);
    EXPECT_EQ(stdoutRecords[2].state, RawState::Pending);  // past the translated seq
    store_->appendEvents("r1", {}, RawProgress{3, {"r1/stdout/3"}}, kNow);
    store_->appendEvents("r1", {}, RawProgress{1, {}}, kNow);  // a replay's: the seq only grows
    stdoutRecords = store_->rawOutput("r1", "stdout");
    EXPECT_EQ(stdoutRecords[0].state, RawState::Translated);
    EXPECT_EQ(stdoutRecords[1].state, RawState::Translated);
    EXPECT_EQ(stdoutRecords[2].state, RawState::Quarantined);
    EXPECT_EQ(store_->rawOutput("r1", "exit").front().state, RawState::Pending);
}

TEST_P(RunStoreTest, RawOutputPositionIsTheHighestStoredSeqOfEachLineStream) {
    create("s1", "r1");
    EXPECT_EQ(store_->rawOutputPosition("r1").stdoutSeq, 0);
    store_->insertRawOutput({raw("r1", "stdout", 7, "a"), raw("r1", "stdout", 3, "b"), raw("r1", "stderr", 2, "c"),
                             raw("r1", "exit", 1, "{}")},
                            kNow);
    const auto position = store_->rawOutputPosition("r1");
    EXPECT_EQ(position.stdoutSeq, 7);
    EXPECT_EQ(position.stderrSeq, 2);
    EXPECT_EQ(store_->rawOutputPosition("other").stdoutSeq, 0);
}

TEST_P(RunStoreTest, RawOutputOfAnUnknownRunIsRefusedWhole) {
    create("s1", "r1");
    try {
        store_->insertRawOutput({raw("r1", "stdout", 1, "kept?"), raw("ghost", "stdout", 1, "no")}, kNow);
        FAIL() << "stored output of a run that does not exist";
    } catch (const ProblemError& e) {
        EXPECT_EQ(e.problem().code, "run_not_found");
    }
    EXPECT_TRUE(store_->rawOutput("r1", "stdout").empty());
}

TEST_P(RunStoreTest, ABatchOfRawOutputKeepsItsOrderAndTextAndStoresARepeatedRecordOnce) {
    create("s1", "r1");
    store_->insertRawOutput({raw("r1", "stdout", 3, "stored before")}, kNow);
    // Text a JSON round trip could bend: quotes, backslashes, escapes, non-ASCII, newlines.
    const std::string tricky = "{\"q\":\"a \\\"b\\\" \\\\ \\u00e9 \u00e9\u4e2d\"}\n\ttail";
    std::vector<RawOutputRecord> batch;
    for (std::int64_t seq = 1; seq <= 100; ++seq)
        batch.push_back(raw("r1", "stdout", seq, tricky + std::to_string(seq)));
    batch.push_back(raw("r1", "stdout", 5, "a repeat of 5"));
    batch.push_back(raw("r1", "exit", 1, "{\"exit_code\":0}"));

    const auto stored = store_->insertRawOutput(batch, kNow);
    ASSERT_EQ(stored.size(), 100u);  // 99 new lines (3 was stored) and the exit
    EXPECT_EQ(stored[0].seq, 1);
    EXPECT_EQ(stored[2].seq, 4);
    EXPECT_EQ(stored[3].line, tricky + "5");  // the first copy of 5 (3 is left out)
    EXPECT_EQ(stored.back().stream, "exit");
    const auto lines = store_->rawOutput("r1", "stdout");
    ASSERT_EQ(lines.size(), 100u);
    EXPECT_EQ(lines[2].line, "stored before");
    EXPECT_EQ(lines[4].line, tricky + "5");
    EXPECT_EQ(lines[99].line, tricky + "100");
    EXPECT_EQ(store_->rawOutputPosition("r1").stdoutSeq, 100);
}

TEST_P(RunStoreTest, ABatchOfEventsIsNumberedDenselyAndKeepsItsData) {
    create("s1", "r1");
    append("r1", {event("r1/stdout/2#0", "message.start")});
    const json data = {{"text", "quote \" backslash \\ newline \n \u00e9\u4e2d"},
                       {"n", 1.5},
                       {"list", {1, "two"}}};
    std::vector<NewEvent> batch;
    for (int line = 1; line <= 64; ++line) {
        for (int i = 0; i < 3; ++i) {
            batch.push_back(event("r1/stdout/" + std::to_string(line) + "#" + std::to_string(i),
                                  "message.delta", data));
        }
    }
    store_->insertRawOutput({raw("r1", "stdout", 1, "a"), raw("r1", "stdout", 2, "b")}, kNow);
    const auto stored = store_->appendEvents("r1", batch, RawProgress{2, {}}, kNow);

    ASSERT_EQ(stored.size(), batch.size() - 1);  // r1/stdout/2#0 was stored before
    for (std::size_t i = 0; i < stored.size(); ++i)
        EXPECT_EQ(stored[i].seq, static_cast<std::int64_t>(i) + 3);
    EXPECT_EQ(stored[3].eventId, "r1/stdout/2#1");
    const auto page = store_->events("r1", 1, 500);
    ASSERT_EQ(page.size(), stored.size() + 1);
    EXPECT_EQ(page[0].type, "message.start");
    EXPECT_EQ(page[1].data, data);
    EXPECT_EQ(page.back().seq, store_->lastSeq("r1"));
    for (const auto& record : store_->rawOutput("r1", "stdout"))
        EXPECT_EQ(record.state, RawState::Translated);
}

TEST_P(RunStoreTest, EventTextsAreTheEventsAsTheirJsonText) {
    create("s1", "r1");
    const json data = {{"text", "quote \" backslash \\ newline \n \u00e9\u4e2d"},
                       {"n", 1.5},
                       {"list", {1, "two", {{"z", nullptr}, {"a", false}}}}};
    append("r1", {event("r1/stdout/1#0", "message.start"), event("r1/stdout/1#1", "message.delta", data),
                  event("r1/stdout/1#2", "message.stop")});

    const auto events = store_->events("r1", 0, 10);  // run.queued, then the three
    const auto texts = store_->eventTexts("r1", 1, 10);
    ASSERT_EQ(events.size(), 4u);
    ASSERT_EQ(texts.size(), 3u);  // after seq 1
    for (std::size_t i = 0; i < texts.size(); ++i) {
        EXPECT_EQ(texts[i].seq, events[i + 1].seq);
        EXPECT_EQ(texts[i].type, events[i + 1].type);
        EXPECT_EQ(texts[i].json, events[i + 1].toJson().dump(-1, ' ', false, json::error_handler_t::replace));
    }
    EXPECT_EQ(json::parse(texts[1].json)["data"], data);
    EXPECT_TRUE(store_->eventTexts("r1", 4, 10).empty());
}

TEST_P(RunStoreTest, AStoreThatRefusedAnAppendOrAnAdmissionServesTheNextOnes) {
    // The statements are kept per pooled connection: a refusal in the middle of one must not
    // leave them unusable for the next caller of that connection.
    create("s1", "r1");
    for (int round = 0; round < 10; ++round) {
        EXPECT_THROW(append("ghost", {event("ghost:host:x", "message.start")}), ProblemError);
        EXPECT_THROW(store_->insertRawOutput({raw("ghost", "stdout", 1, "x")}, kNow), ProblemError);
        const auto seq = round + 1;
        ASSERT_EQ(store_->insertRawOutput({raw("r1", "stdout", seq, "x")}, kNow).size(), 1u);
        ASSERT_EQ(append("r1", {event("r1/stdout/" + std::to_string(seq) + "#0", "message.start")})
                      .size(),
                  1u);
    }
    EXPECT_EQ(store_->lastSeq("r1"), 11);
}

TEST_P(RunStoreTest, ConcurrentAdmissionsOfOneRunDecideOneAfterTheOther) {
    // Two batches race, each with an exit for the same run and a check that admits an exit
    // only when none is stored. Decided on a state read before the other's insert, both
    // would pass (and the loser's exit would vanish in ON CONFLICT DO NOTHING); in one
    // transaction, exactly one is admitted and the other is refused on what the first stored.
    constexpr int kRaces = 40;
    for (int race = 0; race < kRaces; ++race) {
        const std::string runId = "race" + std::to_string(race);
        create("s" + std::to_string(race), runId);
        std::atomic<int> ready{0};
        std::optional<std::vector<RawOutputRecord>> outcomes[2];
        const auto post = [&](int who) {
            const auto exit = raw(runId, "exit", 1, "{\"exit_code\":" + std::to_string(who) + "}");
            ++ready;
            while (ready.load() < 2) std::this_thread::yield();  // both start together
            outcomes[who] = store_->admitRawOutput(
                {exit},
                [&](const RunOutputStates& states) {
                    const auto state = states(runId);
                    return state && !state->exitLine;
                },
                kNow);
        };
        std::thread first(post, 0), second(post, 1);
        first.join();
        second.join();
        ASSERT_NE(outcomes[0].has_value(), outcomes[1].has_value()) << "race " << race;
        const int winner = outcomes[0] ? 0 : 1;
        ASSERT_EQ(outcomes[winner]->size(), 1u) << "race " << race;
        const auto exits = store_->rawOutput(runId, "exit");
        ASSERT_EQ(exits.size(), 1u) << "race " << race;
        EXPECT_EQ(exits[0].line, "{\"exit_code\":" + std::to_string(winner) + "}")
            << "race " << race;
    }
}

TEST_P(RunStoreTest, ARefusedAdmissionStoresNothingAndAnUnknownRunReadsAsNone) {
    create("s1", "r1");
    bool sawGhost = true;
    const auto refused = store_->admitRawOutput(
        {raw("r1", "stdout", 1, "a"), raw("ghost", "stdout", 1, "b")},
        [&](const RunOutputStates& states) {
            const auto known = states("r1");
            EXPECT_TRUE(known.has_value());
            if (known) {
                EXPECT_EQ(known->sessionId, "s1");
                EXPECT_EQ(known->status, RunStatus::Queued);
            }
            sawGhost = states("ghost").has_value();
            return false;
        },
        kNow);
    EXPECT_FALSE(refused.has_value());
    EXPECT_FALSE(sawGhost);
    EXPECT_TRUE(store_->rawOutput("r1", "stdout").empty());
}

// ----- run queue ------------------------------------------------------------------------

TEST_P(RunStoreTest, ClaimCountsAttemptsAndSerialisesASessionsRuns) {
    create("a", "a1", 3, kNow);
    create("a", "a2", 3, kNow + 1);
    create("b", "b1", 3, kNow + 2);

    const auto claimed = store_->claim("host-1", kNow + 10, 1000, 10);
    ASSERT_EQ(claimed.size(), 2u);  // one per session, oldest first
    EXPECT_EQ(claimed[0].runId, "a1");
    EXPECT_EQ(claimed[1].runId, "b1");
    for (const auto& entry : claimed) {
        EXPECT_EQ(entry.status, QueueStatus::Claimed);
        EXPECT_EQ(entry.attempts, 1);
        EXPECT_EQ(entry.lockedBy, "host-1");
        EXPECT_EQ(entry.lockExpiresAtMs, kNow + 1010);
    }
    EXPECT_TRUE(store_->claim("host-2", kNow + 20, 1000, 10).empty());  // a2 waits for a1

    EXPECT_FALSE(store_->finish(claimed[0].queueId, "host-2", QueueStatus::Succeeded, "", kNow + 30));
    EXPECT_TRUE(store_->finish(claimed[0].queueId, "host-1", QueueStatus::Succeeded, "", kNow + 30));
    EXPECT_FALSE(store_->finish(claimed[0].queueId, "host-1", QueueStatus::Succeeded, "", kNow + 31));
    const auto next = store_->claim("host-2", kNow + 40, 1000, 10);
    ASSERT_EQ(next.size(), 1u);
    EXPECT_EQ(next[0].runId, "a2");
    EXPECT_EQ(next[0].lockedBy, "host-2");
    EXPECT_EQ(store_->findByRun("a1")->status, QueueStatus::Succeeded);
}

TEST_P(RunStoreTest, ClaimRespectsLimitAndAvailability) {
    for (int i = 0; i < 5; ++i) create("s" + std::to_string(i), "r" + std::to_string(i), 3, kNow + i);
    EXPECT_TRUE(store_->claim("h", kNow - 1, 1000, 10).empty());  // not available yet
    EXPECT_TRUE(store_->claim("h", kNow + 10, 1000, 0).empty());
    const auto two = store_->claim("h", kNow + 10, 1000, 2);
    ASSERT_EQ(two.size(), 2u);
    EXPECT_EQ(two[0].runId, "r0");
    EXPECT_EQ(two[1].runId, "r1");
    EXPECT_EQ(store_->claim("h", kNow + 10, 1000, 10).size(), 3u);
}

TEST_P(RunStoreTest, ExpiredLeaseIsReclaimedAndTheOldHolderLosesIt) {
    create("s1", "r1");
    const auto first = store_->claim("host-1", kNow, 1000, 1);
    ASSERT_EQ(first.size(), 1u);
    EXPECT_TRUE(store_->extendLease(first[0].queueId, "host-1", kNow + 1500, kNow + 400));
    EXPECT_TRUE(store_->claim("host-2", kNow + 1499, 1000, 1).empty());

    const auto second = store_->claim("host-2", kNow + 1500, 1000, 1);
    ASSERT_EQ(second.size(), 1u);
    EXPECT_EQ(second[0].queueId, first[0].queueId);
    EXPECT_EQ(second[0].attempts, 2);
    EXPECT_EQ(second[0].lockedBy, "host-2");

    EXPECT_FALSE(store_->extendLease(first[0].queueId, "host-1", kNow + 9000, kNow + 1600));
    EXPECT_FALSE(store_->finish(first[0].queueId, "host-1", QueueStatus::FinalFailed, "x", kNow + 1600));
    EXPECT_FALSE(store_->retryLater(first[0].queueId, "host-1", kNow + 2000, "x", kNow + 1600).has_value());
    EXPECT_TRUE(store_->extendLease(first[0].queueId, "host-2", kNow + 9000, kNow + 1600));
    EXPECT_EQ(store_->findByRun("r1")->lockExpiresAtMs, kNow + 9000);
}

TEST_P(RunStoreTest, RetryLaterWaitsThenFailsFinallyAfterMaxAttempts) {
    create("s1", "r1", 2);
    auto claimed = store_->claim("h", kNow, 1000, 1);
    ASSERT_EQ(claimed.size(), 1u);
    const auto queueId = claimed[0].queueId;
    EXPECT_EQ(store_->retryLater(queueId, "h", kNow + 100, "executor 503", kNow + 10), QueueStatus::RetryWait);
    auto entry = store_->findByRun("r1");
    EXPECT_EQ(entry->status, QueueStatus::RetryWait);
    EXPECT_EQ(entry->availableAtMs, kNow + 100);
    EXPECT_EQ(entry->lastError, "executor 503");
    EXPECT_FALSE(store_->extendLease(queueId, "h", kNow + 5000, kNow + 20));  // no longer claimed

    EXPECT_TRUE(store_->claim("h", kNow + 99, 1000, 1).empty());
    claimed = store_->claim("h", kNow + 100, 1000, 1);
    ASSERT_EQ(claimed.size(), 1u);
    EXPECT_EQ(claimed[0].attempts, 2);
    EXPECT_EQ(store_->retryLater(queueId, "h", kNow + 300, "executor 503 again", kNow + 110),
              QueueStatus::FinalFailed);
    EXPECT_TRUE(store_->claim("h", kNow + 10'000, 1000, 1).empty());
    EXPECT_EQ(store_->list(QueueStatus::FinalFailed, 10).size(), 1u);
    EXPECT_EQ(store_->list(std::nullopt, 10).front().lastError, "executor 503 again");
}

TEST_P(RunStoreTest, ANewerRunNeverOvertakesAnOlderOneWaitingForItsRetry) {
    create("s1", "older", 3, kNow);
    create("s1", "newer", 3, kNow + 1);
    const auto first = store_->claim("h", kNow + 10, 1000, 10);
    ASSERT_EQ(first.size(), 1u);
    EXPECT_EQ(first[0].runId, "older");
    ASSERT_EQ(store_->retryLater(first[0].queueId, "h", kNow + 500, "executor 503", kNow + 20),
              QueueStatus::RetryWait);
    EXPECT_TRUE(store_->claim("h", kNow + 30, 1000, 10).empty());  // the older one is not due yet
    const auto again = store_->claim("h", kNow + 500, 1000, 10);
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0].runId, "older");
}

TEST_P(RunStoreTest, ListIsNewestFirst) {
    create("s1", "r1");
    create("s2", "r2");
    create("s3", "r3");
    store_->claim("h", kNow, 1000, 1);
    const auto all = store_->list(std::nullopt, 10);
    ASSERT_EQ(all.size(), 3u);
    EXPECT_EQ(all[0].runId, "r3");
    EXPECT_EQ(all[2].runId, "r1");
    EXPECT_EQ(store_->list(std::nullopt, 2).size(), 2u);
    const auto queued = store_->list(QueueStatus::Queued, 10);
    ASSERT_EQ(queued.size(), 2u);
    EXPECT_EQ(queued[0].runId, "r3");
    EXPECT_EQ(store_->list(QueueStatus::Claimed, 10).front().runId, "r1");
    EXPECT_FALSE(store_->findByRun("nope").has_value());
}

TEST_P(RunStoreTest, ConcurrentClaimersTakeEachEntryExactlyOnce) {
    constexpr int kEntries = 50;
    constexpr int kThreads = 4;
    for (int i = 0; i < kEntries; ++i) create("s" + std::to_string(i), "r" + std::to_string(i));
    std::mutex mutex;
    std::map<std::int64_t, int> timesClaimed;
    std::map<std::int64_t, std::string> holderOf;
    std::atomic<int> total{0};
    std::atomic<int> ready{0};
    std::vector<std::string> errors(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            const std::string holder = "host-" + std::to_string(t);
            ready.fetch_add(1);
            while (ready.load() < kThreads) std::this_thread::yield();
            try {
                for (int round = 0; round < 1000 && total.load() < kEntries; ++round) {
                    for (const auto& entry : store_->claim(holder, kNow, 60'000, 3)) {
                        std::lock_guard lock(mutex);
                        ++timesClaimed[entry.queueId];
                        holderOf[entry.queueId] = holder;
                        total.fetch_add(1);
                    }
                }
            } catch (const std::exception& e) {
                errors[t] = e.what();
            }
        });
    }
    for (auto& thread : threads) thread.join();
    for (const auto& error : errors) EXPECT_EQ(error, "");
    EXPECT_EQ(total.load(), kEntries);
    EXPECT_EQ(timesClaimed.size(), static_cast<std::size_t>(kEntries));
    for (const auto& [queueId, times] : timesClaimed) EXPECT_EQ(times, 1) << queueId;
    EXPECT_EQ(count("SELECT COUNT(*) FROM run_queue WHERE status = 'claimed' AND attempts = 1"), kEntries);
    for (const auto& entry : store_->list(QueueStatus::Claimed, 100)) {
        EXPECT_EQ(entry.lockedBy, holderOf[entry.queueId]);
    }
}

TEST_P(RunStoreTest, ConcurrentClaimersNeverHoldTwoEntriesOfOneSession) {
    constexpr int kSessions = 8;
    constexpr int kPerSession = 3;
    constexpr int kThreads = 4;
    for (int e = 0; e < kPerSession; ++e) {
        for (int s = 0; s < kSessions; ++s) {
            create("s" + std::to_string(s), "r" + std::to_string(s) + "-" + std::to_string(e), 3, kNow + e);
        }
    }
    // Each session's oldest entry waits for a retry at kNow + 12, so claimers whose clocks
    // differ (as on different hosts) disagree on which entry of a session is next: those at
    // kNow + 10 and + 11 see the second entry, those at + 12 and + 13 the first.
    const auto first = store_->claim("setup", kNow + 5, 60'000, kSessions);
    ASSERT_EQ(first.size(), static_cast<std::size_t>(kSessions));
    for (const auto& entry : first) {
        ASSERT_EQ(store_->retryLater(entry.queueId, "setup", kNow + 12, "retry", kNow + 6),
                  QueueStatus::RetryWait);
    }
    std::atomic<int> ready{0};
    std::vector<std::string> errors(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            ready.fetch_add(1);
            while (ready.load() < kThreads) std::this_thread::yield();
            try {
                for (int round = 0; round < 5; ++round) {
                    store_->claim("host-" + std::to_string(t), kNow + 10 + t, 60'000, kSessions);
                }
            } catch (const std::exception& e) {
                errors[t] = e.what();
            }
        });
    }
    for (auto& thread : threads) thread.join();
    for (const auto& error : errors) EXPECT_EQ(error, "");
    store_->claim("late", kNow + 20, 60'000, kSessions);  // whatever a skipped lock left
    EXPECT_EQ(count("SELECT COUNT(*) FROM run_queue WHERE status = 'claimed'"), kSessions);
    EXPECT_EQ(count("SELECT COUNT(DISTINCT session_id) FROM run_queue WHERE status = 'claimed'"), kSessions);
}

TEST_P(RunStoreTest, AtABacklogClaimsKeepOrderAndSessionsAndFinishedEntriesLeaveTheQueue) {
    // 2,000 entries over 200 sessions, enqueued round-robin: entry e of every session, then
    // entry e + 1 of every session. Each round one claim takes the 50 oldest entries; a
    // second claim, while those are held, takes the rest of the sessions' oldest ones and
    // nothing of a session held; then all are finished.
    constexpr int kSessions = 200;
    constexpr int kPerSession = 10;
    constexpr std::size_t kFirst = 50;
    const auto name = [](int session, int entry) {
        return "r" + std::to_string(session) + "-" + std::to_string(entry);
    };
    for (int e = 0; e < kPerSession; ++e) {
        for (int s = 0; s < kSessions; ++s)
            create("s" + std::to_string(s), name(s, e), 3, kNow + e);
    }
    for (int round = 0; round < kPerSession; ++round) {
        const std::int64_t now = kNow + 100 + round;
        const auto first = store_->claim("host-1", now, 60'000, kFirst);
        const auto rest = store_->claim("host-2", now, 60'000, 1000);
        ASSERT_EQ(first.size(), kFirst) << "round " << round;
        ASSERT_EQ(rest.size(), static_cast<std::size_t>(kSessions) - kFirst) << "round " << round;
        // Oldest first, across both claims: session order, each session's next entry.
        for (int s = 0; s < kSessions; ++s) {
            const auto i = static_cast<std::size_t>(s);
            EXPECT_EQ((i < kFirst ? first[i] : rest[i - kFirst]).runId, name(s, round));
        }
        EXPECT_TRUE(store_->claim("host-3", now, 60'000, 1000).empty());  // every session held
        for (const auto* claimed : {&first, &rest}) {
            for (const auto& entry : *claimed) {
                // One final failure shows both endings leave run_queue.
                const bool fail = round == kPerSession - 1 && entry.runId == name(0, round);
                EXPECT_TRUE(store_->finish(entry.queueId, entry.lockedBy,
                                           fail ? QueueStatus::FinalFailed : QueueStatus::Succeeded,
                                           fail ? "gave up" : "", now));
            }
        }
    }
    EXPECT_EQ(count("SELECT COUNT(*) FROM run_queue"), 0);
    EXPECT_TRUE(store_->claim("host-1", kNow + 1000, 60'000, 1000).empty());

    // Finished entries stay readable: by run, in the listing, and as enqueue keys taken.
    EXPECT_EQ(store_->findByRun(name(7, 3))->status, QueueStatus::Succeeded);
    const auto failed = store_->list(QueueStatus::FinalFailed, 10);
    ASSERT_EQ(failed.size(), 1u);
    EXPECT_EQ(failed[0].runId, name(0, kPerSession - 1));
    EXPECT_EQ(failed[0].lastError, "gave up");
    const auto newest = store_->list(std::nullopt, 3);
    ASSERT_EQ(newest.size(), 3u);
    EXPECT_EQ(newest[0].runId, name(kSessions - 1, kPerSession - 1));
    EXPECT_EQ(store_->list(QueueStatus::Succeeded, 5000).size(), 1999u);
    auto again = newRun("s7", "again");
    again.enqueueKey = name(7, 3);  // a run's enqueue key defaults to its id
    const auto repeated = store_->createRun(again);
    EXPECT_FALSE(repeated.created);
    EXPECT_EQ(repeated.run.runId, name(7, 3));
    EXPECT_EQ(count("SELECT COUNT(*) FROM run_queue"), 0);
}

TEST_P(RunStoreTest, FinishedEntriesArePrunedAfterTheRetentionAndTheRestStays) {
    SociRunStore pruning(*db_, std::chrono::milliseconds(1000));
    for (const char* id : {"r1", "r2", "r3", "r4"}) create(std::string("s") + id, id);
    const auto claimed = store_->claim("h", kNow, 600'000, 10);  // held past the prunes
    ASSERT_EQ(claimed.size(), 4u);
    EXPECT_TRUE(store_->finish(claimed[0].queueId, "h", QueueStatus::Succeeded, "", kNow + 10));
    EXPECT_TRUE(store_->finish(claimed[1].queueId, "h", QueueStatus::FinalFailed, "x", kNow + 10));
    EXPECT_TRUE(store_->finish(claimed[2].queueId, "h", QueueStatus::Succeeded, "", kNow + 900));

    // Ended before kNow + 11: r1 and r2 go; r3 ended later, r4 is still claimed.
    EXPECT_TRUE(pruning.claim("h", kNow + 1011, 60'000, 10).empty());
    EXPECT_FALSE(store_->findByRun("r1").has_value());
    EXPECT_FALSE(store_->findByRun("r2").has_value());
    EXPECT_EQ(store_->findByRun("r3")->status, QueueStatus::Succeeded);
    EXPECT_EQ(store_->findByRun("r4")->status, QueueStatus::Claimed);
    EXPECT_EQ(count("SELECT COUNT(*) FROM runs"), 4);  // the runs themselves are kept

    // The next prune is due a minute later; then r3 goes too.
    EXPECT_TRUE(pruning.claim("h", kNow + 1011 + 60'000, 60'000, 10).empty());
    EXPECT_FALSE(store_->findByRun("r3").has_value());
    EXPECT_EQ(count("SELECT COUNT(*) FROM run_queue_done"), 0);
    EXPECT_EQ(store_->findByRun("r4")->status, QueueStatus::Claimed);
}

TEST_P(RunStoreTest, WithoutARetentionFinishedEntriesAreKept) {
    create("s1", "r1");
    const auto claimed = store_->claim("h", kNow, 60'000, 1);
    ASSERT_EQ(claimed.size(), 1u);
    EXPECT_TRUE(store_->finish(claimed[0].queueId, "h", QueueStatus::Succeeded, "", kNow));
    EXPECT_TRUE(store_->claim("h", kNow + 10LL * 365 * 86'400'000, 60'000, 1).empty());
    EXPECT_EQ(store_->findByRun("r1")->status, QueueStatus::Succeeded);
}

TEST_P(RunStoreTest, AnOlderEntryEnqueuedLateWaitsForTheClaimedOneOfItsSession) {
    // An enqueue can commit after a newer entry of its session was claimed: "late" gets the
    // lower queue_id but joins session s1 only once "newer" is claimed.
    create("s0", "late", 3, kNow);
    create("s1", "newer", 3, kNow + 1);
    const auto setup = store_->claim("h", kNow + 5, 1000, 10);
    ASSERT_EQ(setup.size(), 2u);
    ASSERT_EQ(store_->retryLater(setup[0].queueId, "h", kNow + 5, "", kNow + 5),
              QueueStatus::RetryWait);
    db_->withSession([](soci::session& sql) {
        sql << "UPDATE run_queue SET session_id = 's1' WHERE run_id = 'late'";
    });

    // Two claimed entries in one session are refused by the database itself...
    EXPECT_THROW(db_->withSession([](soci::session& sql) {
        sql << "UPDATE run_queue SET status = 'claimed' WHERE run_id = 'late'";
    }),
                 soci::soci_error);
    // ...and a claim passes over the session while "newer" is held, takes "newer" over when
    // its lease expires, and "late" only after "newer" is finished.
    EXPECT_TRUE(store_->claim("h", kNow + 10, 1000, 10).empty());
    const auto takenOver = store_->claim("h2", kNow + 1005, 1000, 10);
    ASSERT_EQ(takenOver.size(), 1u);
    EXPECT_EQ(takenOver[0].runId, "newer");
    EXPECT_TRUE(
        store_->finish(takenOver[0].queueId, "h2", QueueStatus::Succeeded, "", kNow + 1006));
    const auto late = store_->claim("h2", kNow + 1007, 1000, 10);
    ASSERT_EQ(late.size(), 1u);
    EXPECT_EQ(late[0].runId, "late");
    EXPECT_EQ(late[0].attempts, 2);
}

TEST_P(RunStoreTest, OnSqliteTheClaimWalksIndexesAndSortsNothing) {
    if (GetParam() != Dialect::Sqlite) GTEST_SKIP() << "SQLite's EXPLAIN QUERY PLAN";
    std::string plan;
    db_->withSession([&](soci::session& sql) {
        soci::rowset<soci::row> steps =
            (sql.prepare << "EXPLAIN QUERY PLAN " + SociRunStore::claimStatement(Dialect::Sqlite));
        for (const auto& step : steps) plan += step.get<std::string>(3) + "\n";
    });
    EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << plan;
    EXPECT_NE(plan.find("run_queue_session_order"), std::string::npos) << plan;
    EXPECT_NE(plan.find("run_queue_one_claimed"), std::string::npos) << plan;
}

TEST_P(RunStoreTest, OnSqliteTheNewestRunsOfAllSessionsAreReadWithoutASort) {
    if (GetParam() != Dialect::Sqlite) GTEST_SKIP() << "SQLite's EXPLAIN QUERY PLAN";
    std::string plan;
    db_->withSession([&](soci::session& sql) {
        // recentRuns' order, across sessions (GET /v1/runs without session_id).
        soci::rowset<soci::row> steps =
            (sql.prepare << "EXPLAIN QUERY PLAN SELECT run_id FROM runs"
                            " ORDER BY created_at_ms DESC, run_id DESC LIMIT 20");
        for (const auto& step : steps) plan += step.get<std::string>(3) + "\n";
    });
    EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << plan;
    EXPECT_NE(plan.find("runs_newest"), std::string::npos) << plan;
}

TEST_P(RunStoreTest, OnPostgresqlEnqueueClaimAndFinishArePreparedOnceAndReused) {
    if (GetParam() != Dialect::Postgresql) GTEST_SKIP() << "PostgreSQL's pg_prepared_statements";
    Database one(parseDatabaseUrl(url_), 1, std::chrono::seconds(10));
    SociRunStore store(one);
    constexpr int kRuns = 10;
    for (int i = 0; i < kRuns; ++i) {
        store.createRun(newRun("s" + std::to_string(i), "r" + std::to_string(i)));
        const auto claimed = store.claim("h", kNow, 1000, 1);
        ASSERT_EQ(claimed.size(), 1u);
        EXPECT_TRUE(store.finish(claimed[0].queueId, "h", QueueStatus::Succeeded, "", kNow));
    }
    const auto executions = [&](const std::string& start) {
        return one.withSession([&](soci::session& sql) {
            long long n = -1;
            sql << "SELECT COALESCE(SUM(generic_plans + custom_plans), 0) FROM"
                   " pg_prepared_statements WHERE starts_with(statement, :start)",
                soci::use(start), soci::into(n);
            return n;
        });
    };
    EXPECT_EQ(executions("WITH next AS"), kRuns);  // the claim
    EXPECT_EQ(executions("WITH ended AS"), kRuns);
    EXPECT_EQ(executions("WITH worker AS (INSERT INTO session_workers"), kRuns);  // and the run
    EXPECT_EQ(executions("WITH entry AS (INSERT INTO run_queue"), kRuns);         // and run.queued
    EXPECT_EQ(executions("SELECT run_id FROM run_queue WHERE enqueue_key"), kRuns);
}

TEST_P(RunStoreTest, OnPostgresqlAnAppendLooksUpEachEventByIndexWhateverTheTablesSize) {
    if (GetParam() != Dialect::Postgresql) GTEST_SKIP() << "PostgreSQL's EXPLAIN";
    // A young run_events table, analyzed: a few thousand events. Here a hash of the whole
    // table is the cheaper plan for a NOT EXISTS against a batch, and PostgreSQL keeps it as
    // the table grows until autovacuum analyzes again: every append then reads every event.
    create("s", "r");
    for (int batch = 0; batch < 40; ++batch) {
        std::vector<NewEvent> events;
        for (int i = 0; i < 100; ++i) {
            events.push_back(event("e" + std::to_string(batch) + "-" + std::to_string(i),
                                   "message.delta", {{"text", "some words"}}));
        }
        append("r", events);
    }
    db_->withSession([](soci::session& sql) { sql << "ANALYZE run_events"; });

    // The statement with its parameters as literals, for EXPLAIN.
    const json batch = json::array(
        {{{"n", 0}, {"event_id", "new"}, {"type", "message.delta"}, {"data", "{}"}, {"ts", kNow}}});
    std::string statement = SociRunStore::appendStatement();
    for (const auto& [name, value] :
         std::vector<std::pair<std::string, std::string>>{{":rows", batch.dump()},
                                                          {":rid3", "r"},
                                                          {":rid2", "r"},
                                                          {":rid", "r"},
                                                          {":sid", "s"},
                                                          {":provider", kProvider},
                                                          {":through2", "7"},
                                                          {":through", "7"},
                                                          {":notice", "h r"}}) {
        for (auto at = statement.find(name); at != std::string::npos; at = statement.find(name)) {
            statement.replace(at, name.size(), "'" + value + "'");
        }
    }
    ASSERT_FALSE(std::regex_search(statement, std::regex(R"([\s(,]:[a-z])"))) << statement;
    const auto plan = [&](const std::string& query) {
        std::string text;
        db_->withSession([&](soci::session& sql) {
            soci::rowset<std::string> lines = (sql.prepare << "EXPLAIN " + query);
            for (const auto& line : lines) text += line + "\n";  // plans only: nothing runs
        });
        return text;
    };
    const std::string lookup = "(SELECT 1 FROM run_events r WHERE r.event_id = e.event_id) IS NULL";
    ASSERT_NE(statement.find(lookup), std::string::npos) << statement;
    // The same lookup as NOT EXISTS is hashed here: the table makes the trap.
    std::string asNotExists = statement;
    asNotExists.replace(asNotExists.find(lookup), lookup.size(),
                        "NOT EXISTS (SELECT 1 FROM run_events r WHERE r.event_id = e.event_id)");
    EXPECT_NE(plan(asNotExists).find("Seq Scan on run_events"), std::string::npos)
        << plan(asNotExists);
    const std::string appendPlan = plan(statement);
    EXPECT_EQ(appendPlan.find("Seq Scan on run_events"), std::string::npos) << appendPlan;
    EXPECT_NE(appendPlan.find("run_events_pkey"), std::string::npos) << appendPlan;
}

// ----- session worker store -------------------------------------------------------------

SessionWorker worker(const std::string& sessionId, WorkerStatus status, std::int64_t changedAt) {
    SessionWorker w;
    w.sessionId = sessionId;
    w.tenantId = "default";
    w.status = status;
    w.runtime = "local";
    w.workspaceS3Prefix = "s3://bucket/aw/default/" + sessionId + "/";
    w.stateChangedAtMs = changedAt;
    w.createdAtMs = changedAt;
    w.updatedAtMs = changedAt;
    return w;
}

TEST_P(RunStoreTest, WorkerStoreInsertsOnceAndListsOldestChangeFirst) {
    EXPECT_TRUE(workers_->insertIfAbsent(worker("w1", WorkerStatus::Running, kNow + 5)));
    EXPECT_TRUE(workers_->insertIfAbsent(worker("w2", WorkerStatus::Running, kNow + 1)));
    EXPECT_TRUE(workers_->insertIfAbsent(worker("w3", WorkerStatus::Stopped, kNow)));
    EXPECT_FALSE(workers_->insertIfAbsent(worker("w1", WorkerStatus::Failed, kNow)));
    EXPECT_EQ(workers_->find("w1")->status, WorkerStatus::Running);

    const auto running = workers_->listByStatus(WorkerStatus::Running, 10);
    ASSERT_EQ(running.size(), 2u);
    EXPECT_EQ(running[0].sessionId, "w2");
    EXPECT_EQ(running[1].sessionId, "w1");
    EXPECT_EQ(running[0].stateChangedAtMs, kNow + 1);
    EXPECT_EQ(workers_->listByStatus(WorkerStatus::Running, 1).size(), 1u);
    EXPECT_TRUE(workers_->listByStatus(WorkerStatus::Removed, 10).empty());
    EXPECT_FALSE(workers_->find("nobody").has_value());
}

TEST_P(RunStoreTest, RecentRunsAndWorkersListTheNewestFirst) {
    create("s1", "r1", 3, kNow);
    create("s2", "r2", 3, kNow + 1);
    create("s1", "r3", 3, kNow + 2);
    const auto all = store_->recentRuns("", 10);
    ASSERT_EQ(all.size(), 3u);
    EXPECT_EQ(all[0].runId, "r3");
    EXPECT_EQ(all[2].runId, "r1");
    const auto ofS1 = store_->recentRuns("s1", 10);
    ASSERT_EQ(ofS1.size(), 2u);
    EXPECT_EQ(ofS1[0].runId, "r3");
    EXPECT_EQ(ofS1[1].runId, "r1");
    EXPECT_EQ(store_->recentRuns("", 1).size(), 1u);
    EXPECT_TRUE(store_->recentRuns("nobody", 10).empty());

    EXPECT_TRUE(workers_->insertIfAbsent(worker("w1", WorkerStatus::Running, kNow + 5)));
    EXPECT_TRUE(workers_->insertIfAbsent(worker("w2", WorkerStatus::Stopped, kNow + 9)));
    EXPECT_TRUE(workers_->insertIfAbsent(worker("w3", WorkerStatus::Failed, kNow)));
    std::vector<std::string> order;  // the runs' sessions have records too: leave them out
    for (const auto& w : workers_->recentlyUpdated(10)) {
        if (w.sessionId.rfind("w", 0) == 0) order.push_back(w.sessionId);
    }
    EXPECT_EQ(order, (std::vector<std::string>{"w2", "w1", "w3"}));
    EXPECT_EQ(workers_->recentlyUpdated(2).size(), 2u);
}

TEST_P(RunStoreTest, WorkerCompareAndSetHasExactlyOneWinner) {
    ASSERT_TRUE(workers_->insertIfAbsent(worker("w1", WorkerStatus::Running, kNow)));
    std::atomic<int> ready{0};
    bool won[2] = {false, false};
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i) {
        threads.emplace_back([&, i] {
            ready.fetch_add(1);
            while (ready.load() < 2) std::this_thread::yield();
            won[i] = workers_->compareAndSet(
                "w1", 0,
                WorkerTransition{i == 0 ? WorkerStatus::Stopping : WorkerStatus::Removing,
                                 WorkerStatus::Stopped, std::string("reaper ") + std::to_string(i)},
                kNow + 10 + i);
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_NE(won[0], won[1]);
    const auto after = workers_->find("w1");
    EXPECT_EQ(after->version, 1);
    EXPECT_EQ(after->status, won[0] ? WorkerStatus::Stopping : WorkerStatus::Removing);
    EXPECT_EQ(after->desiredStatus, WorkerStatus::Stopped);
    EXPECT_EQ(after->lastError, won[0] ? "reaper 0" : "reaper 1");
    EXPECT_EQ(after->stateChangedAtMs, won[0] ? kNow + 10 : kNow + 11);

    // No last error given keeps it; an empty one clears it.
    EXPECT_TRUE(workers_->compareAndSet("w1", 1, WorkerTransition{WorkerStatus::Stopped, WorkerStatus::Stopped, {}},
                                        kNow + 20));
    EXPECT_EQ(workers_->find("w1")->lastError, won[0] ? "reaper 0" : "reaper 1");
    EXPECT_TRUE(workers_->compareAndSet("w1", 2, WorkerTransition{WorkerStatus::Running, WorkerStatus::Running, ""},
                                        kNow + 30));
    EXPECT_EQ(workers_->find("w1")->lastError, "");
    EXPECT_FALSE(workers_->compareAndSet("w1", 2, WorkerTransition(), kNow + 40));
    EXPECT_FALSE(workers_->compareAndSet("nobody", 0, WorkerTransition(), kNow + 40));
}

TEST_P(RunStoreTest, WorkerActivityMovesForwardAndSyncKeepsTheVersion) {
    ASSERT_TRUE(workers_->insertIfAbsent(worker("w1", WorkerStatus::Running, kNow)));
    EXPECT_TRUE(workers_->touchActivity("w1", kNow + 100));
    EXPECT_TRUE(workers_->touchActivity("w1", kNow + 50));  // older: kept, version bumped
    auto record = workers_->find("w1");
    EXPECT_EQ(record->lastActiveAtMs, kNow + 100);
    EXPECT_EQ(record->version, 2);
    EXPECT_FALSE(workers_->touchActivity("nobody", kNow));

    workers_->recordSync("w1", SyncRecord{SyncStatus::Failed, "bucket unreachable", kNow + 200});
    record = workers_->find("w1");
    EXPECT_EQ(record->lastSyncStatus, SyncStatus::Failed);
    EXPECT_EQ(record->lastSyncError, "bucket unreachable");
    EXPECT_EQ(record->lastSyncAtMs, kNow + 200);
    EXPECT_EQ(record->version, 2);
    workers_->recordSync("w1", SyncRecord{SyncStatus::Succeeded, "", kNow + 300});
    record = workers_->find("w1");
    EXPECT_EQ(record->lastSyncStatus, SyncStatus::Succeeded);
    EXPECT_EQ(record->lastSyncError, "");
    // A compare-and-set decided on the record before the activity loses.
    EXPECT_FALSE(workers_->compareAndSet("w1", 0, WorkerTransition{WorkerStatus::Stopping, WorkerStatus::Stopped, {}}, kNow + 400));
    EXPECT_TRUE(workers_->compareAndSet("w1", 2, WorkerTransition{WorkerStatus::Stopping, WorkerStatus::Stopped, {}}, kNow + 400));
}

INSTANTIATE_TEST_SUITE_P(Dialects, RunStoreTest,
                         ::testing::Values(Dialect::Sqlite, Dialect::Postgresql), dialectLabel);

}  // namespace
}  // namespace aw
