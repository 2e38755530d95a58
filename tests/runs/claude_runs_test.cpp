// Claude Code runs end to end: POST a message to agent-host, the session's local worker runs
// the pinned Claude Code CLI against the scripted model server, and the run is read back
// through the API (run, events as JSON and as SSE, session, todos), on SQLite and PostgreSQL.
#include <algorithm>
#include <iostream>
#include <set>

#include "runs/claude_run_fixture.h"

namespace aw::runs {
namespace {

using namespace std::chrono_literals;
using test::dataOf;
using test::eventually;
using test::isTerminalStatus;
using test::isTerminalType;
using test::SseClient;
using test::SseFrame;
using test::typesOf;

const char* kToolsPrompt = "TOOLS_AND_TODOS: create hello.txt and notes.txt, track the work";
const char* kToolsAnswer = "Done: hello.txt and notes.txt were created.";

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

bool has(const std::vector<std::string>& list, const std::string& item) {
    return std::find(list.begin(), list.end(), item) != list.end();
}

std::string joined(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : " ") + item;
    return out;
}

//! Processes under the worker's directory other than its agent-executor: the CLI and
//! whatever it started.
std::vector<std::string> cliProcesses(const std::filesystem::path& workerDir) {
    std::vector<std::string> found;
    for (const auto& process : live::processesIn(workerDir)) {
        if (!contains(process, "agent-executor")) found.push_back(process);
    }
    return found;
}

//! The log invariants: envelope fields, seq dense from 1, unique event ids, exactly one
//! terminal event and it is the last.
void expectWellFormedLog(const std::vector<Json>& events, const std::string& runId,
                         const std::string& sessionId) {
    ASSERT_FALSE(events.empty());
    std::set<std::string> ids;
    int terminals = 0;
    for (std::size_t i = 0; i < events.size(); ++i) {
        const Json& event = events[i];
        EXPECT_EQ(event.value("seq", std::int64_t{-1}), static_cast<std::int64_t>(i + 1))
            << "seq is not dense at position " << i << ": " << event.dump();
        EXPECT_EQ(event.value("run_id", ""), runId);
        EXPECT_EQ(event.value("session_id", ""), sessionId);
        EXPECT_EQ(event.value("provider", ""), "claude-code") << event.dump();
        EXPECT_FALSE(event.value("ts", "").empty()) << event.dump();
        EXPECT_TRUE(event.contains("data") && event["data"].is_object()) << event.dump();
        EXPECT_TRUE(ids.insert(event.value("event_id", "")).second)
            << "event_id used twice: " << event.dump();
        terminals += isTerminalType(event.value("type", "")) ? 1 : 0;
    }
    EXPECT_EQ(terminals, 1) << joined(typesOf(events));
    EXPECT_TRUE(isTerminalType(events.back().value("type", ""))) << joined(typesOf(events));
}

Json toolStart(const std::vector<Json>& events, const std::string& name) {
    for (const auto& data : dataOf(events, "tool.start")) {
        if (data.value("name", "") == name) return data;
    }
    return Json();
}

Json toolResult(const std::vector<Json>& events, const std::string& callId) {
    for (const auto& data : dataOf(events, "tool.result")) {
        if (data.value("tool_call_id", "") == callId) return data;
    }
    return Json();
}

std::vector<std::string> texts(const std::vector<Json>& events) {
    std::vector<std::string> list;
    for (const auto& data : dataOf(events, "message.stop")) {
        if (data.value("kind", "") == "text") list.push_back(data.value("text", ""));
    }
    return list;
}

std::string providerSessionOf(const std::vector<Json>& events) {
    const auto sessions = dataOf(events, "provider.session");
    return sessions.empty() ? "" : sessions.front().value("provider_session_id", "");
}

std::string paramName(const ::testing::TestParamInfo<Db>& info) { return toString(info.param); }

class ClaudeRuns : public ::testing::TestWithParam<Db> {
protected:
    void SetUp() override {
        if (const auto missing = live::missingCli(Cli::ClaudeCode); !missing.empty()) {
            GTEST_SKIP() << missing;
        }
    }

    RunHarness& start(HarnessOptions options = {}) {
        options.db = GetParam();
        harness_ = std::make_unique<RunHarness>(std::move(options));
        return *harness_;
    }

    //! Waits for the run's end and returns its events; fails when it takes too long.
    std::vector<Json> finish(const std::string& runId, const std::string& status) {
        const Json run = harness_->waitForEnd(runId);
        EXPECT_EQ(run.value("status", ""), status) << harness_->describe(runId);
        return harness_->events(runId);
    }

    //! Answers every human.request of an approval_mode "ask" run with `reply` (its
    //! request_id filled in) until the run ends; returns the request ids answered.
    std::vector<std::string> answerUntilEnd(const std::string& runId, const Json& reply) {
        std::vector<std::string> answered;
        for (int round = 0; round < 10; ++round) {
            const Json run = harness_->waitForRun(runId, [](const Json& r) {
                return r.value("status", "") == "waiting_human" || isTerminalStatus(r.value("status", ""));
            });
            if (run.value("status", "") != "waiting_human") break;
            const Json pending = run.value("pending_human_requests", Json::array());
            EXPECT_FALSE(pending.empty()) << run.dump();
            for (const auto& request : pending) {
                Json body = reply;
                body["request_id"] = request.value("request_id", "");
                const auto answer = harness_->humanReply(runId, body);
                EXPECT_EQ(answer.status, 200) << answer.body;
                EXPECT_EQ(answer.json().value("request_id", ""), body["request_id"]) << answer.body;
                EXPECT_EQ(answer.json().value("decision", ""), reply.value("decision", ""));
                answered.push_back(body["request_id"]);
                // The same request again: it is answered now.
                const auto again = harness_->humanReply(runId, body);
                EXPECT_EQ(again.status, 409) << again.body;
                EXPECT_EQ(again.json()["error"].value("code", ""), "request_not_pending") << again.body;
            }
            // Until the run has moved on, its pending list may still be the old one.
            harness_->waitForRun(runId, [&](const Json& r) {
                for (const auto& request : r.value("pending_human_requests", Json::array())) {
                    if (has(answered, request.value("request_id", ""))) return false;
                }
                return true;
            });
        }
        return answered;
    }

    std::unique_ptr<RunHarness> harness_;
};

// 1. A run with tools, todos and usage, and what the host derives from it.
TEST_P(ClaudeRuns, ToolsAndTodosRunCompletes) {
    auto& h = start();
    const std::string sid = "chat-tools";
    const auto posted = h.postMessage(sid, {{"provider", "claude-code"}, {"prompt", kToolsPrompt}},
                                      {{"Idempotency-Key", "message-1"}});
    ASSERT_EQ(posted.status, 202) << posted.body;
    const std::string rid = posted.json().value("run_id", "");
    ASSERT_FALSE(rid.empty()) << posted.body;
    EXPECT_EQ(posted.json().value("session_id", ""), sid);
    // The same message again is the same run.
    const auto repeated = h.postMessage(sid, {{"provider", "claude-code"}, {"prompt", kToolsPrompt}},
                                        {{"Idempotency-Key", "message-1"}});
    EXPECT_EQ(repeated.status, 200) << repeated.body;
    EXPECT_EQ(repeated.json().value("run_id", ""), rid) << repeated.body;
    EXPECT_EQ(repeated.json().value("created", true), false) << repeated.body;

    const auto events = finish(rid, "completed");
    expectWellFormedLog(events, rid, sid);
    const auto types = typesOf(events);
    for (const char* type : {"run.queued", "run.started", "provider.session", "message.start",
                             "message.delta", "message.stop", "tool.start", "tool.result",
                             "todo.update", "usage", "workspace.sync", "run.completed"}) {
        EXPECT_TRUE(has(types, type)) << "no " << type << " in: " << joined(types);
    }
    EXPECT_EQ(types.front(), "run.queued");
    EXPECT_EQ(types.back(), "run.completed");

    // Messages: deltas add up to their stop text; the last answer is the model's.
    std::map<std::string, std::string> deltas;
    for (const auto& event : events) {
        const Json& data = event["data"];
        if (event.value("type", "") == "message.delta") deltas[data.value("message_id", "")] += data.value("text", "");
        if (event.value("type", "") == "message.stop" && !data.value("incomplete", false)) {
            EXPECT_EQ(deltas[data.value("message_id", "")], data.value("text", "")) << data.dump();
        }
    }
    const auto answers = texts(events);
    ASSERT_FALSE(answers.empty());
    EXPECT_EQ(answers.back(), kToolsAnswer);
    EXPECT_EQ(events.back()["data"].value("result", ""), kToolsAnswer);

    // Tools with their results.
    const Json bash = toolStart(events, "Bash");
    ASSERT_FALSE(bash.is_null()) << h.describe(rid);
    EXPECT_EQ(bash["input"].value("command", ""), "echo hello > hello.txt") << bash.dump();
    EXPECT_EQ(toolResult(events, bash.value("tool_call_id", "")).value("is_error", true), false);
    const Json write = toolStart(events, "Write");
    ASSERT_FALSE(write.is_null()) << h.describe(rid);
    EXPECT_EQ(toolResult(events, write.value("tool_call_id", "")).value("is_error", true), false);
    for (const auto& start : dataOf(events, "tool.start")) {
        EXPECT_FALSE(toolResult(events, start.value("tool_call_id", "")).is_null()) << start.dump();
    }

    // Todos: the session's list is the last todo.update's.
    const auto updates = dataOf(events, "todo.update");
    ASSERT_FALSE(updates.empty());
    const Json last = updates.back()["todos"];
    ASSERT_EQ(last.size(), 2u) << last.dump();
    const Json todos = h.todos(sid);
    EXPECT_EQ(todos.value("session_id", ""), sid);
    ASSERT_EQ(todos["todos"].size(), last.size()) << todos.dump() << " vs " << last.dump();
    for (std::size_t i = 0; i < last.size(); ++i) {
        const Json& item = todos["todos"][i];
        EXPECT_EQ(item.value("id", ""), last[i].value("id", "-")) << item.dump();
        EXPECT_EQ(item.value("content", ""), last[i].value("content", "-")) << item.dump();
        EXPECT_EQ(item.value("status", ""), last[i].value("status", "-")) << item.dump();
        EXPECT_EQ(item.value("status", ""), "completed") << item.dump();
        EXPECT_EQ(item.value("run_id", ""), rid) << item.dump();
    }
    EXPECT_EQ(todos["todos"][0].value("content", ""), "Create hello.txt");
    EXPECT_EQ(todos["todos"][1].value("content", ""), "Write notes.txt");

    // Usage: the run's equals the final one, which equals the last usage event.
    const Json run = h.run(rid);
    const Json finalUsage = events.back()["data"].value("usage", Json());
    ASSERT_TRUE(finalUsage.is_object()) << events.back().dump();
    EXPECT_EQ(run["usage"], finalUsage) << run.dump();
    EXPECT_EQ(dataOf(events, "usage").back(), finalUsage);
    EXPECT_GE(finalUsage.value("input_tokens", 0), 3000) << finalUsage.dump();
    EXPECT_GT(finalUsage.value("output_tokens", 0), 0) << finalUsage.dump();
    EXPECT_TRUE(run["error"].is_null()) << run.dump();
    EXPECT_EQ(run.value("attempts", 0), 1) << run.dump();
    EXPECT_EQ(run.value("last_seq", std::int64_t{0}), static_cast<std::int64_t>(events.size()));
    EXPECT_TRUE(run["pending_human_requests"].empty()) << run.dump();

    // The files are in the session's workspace, and synced after the messages.
    EXPECT_EQ(test::readText(h.workspace(sid) / "hello.txt"), "hello\n");
    EXPECT_EQ(test::readText(h.workspace(sid) / "notes.txt"), "notes written by the scripted model\n");
    const auto syncs = dataOf(events, "workspace.sync");
    EXPECT_GE(syncs.size(), 1u);
    int uploaded = 0;
    for (const auto& sync : syncs) {
        EXPECT_EQ(sync.value("status", ""), "succeeded") << sync.dump();
        EXPECT_FALSE(sync.value("reason", "").empty()) << sync.dump();
        uploaded += sync.value("files", 0);
    }
    EXPECT_GE(uploaded, 2) << "hello.txt and notes.txt were never uploaded";
    // ... into the object store, under the session's prefix.
    std::map<std::string, std::string> stored;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(h.dataDir() / "objects")) {
        const std::string name = entry.path().filename().string();
        if (entry.is_regular_file() && (name == "hello.txt" || name == "notes.txt")) {
            EXPECT_TRUE(contains(entry.path().string(), "/" + sid + "/")) << entry.path();
            stored[name] = test::readText(entry.path());
        }
    }
    EXPECT_EQ(stored["hello.txt"], "hello\n");
    EXPECT_EQ(stored["notes.txt"], "notes written by the scripted model\n");
    const Json session = h.session(sid);
    EXPECT_EQ(session.value("last_sync_status", ""), "succeeded") << session.dump();
    EXPECT_TRUE(contains(session.value("workspace_s3_prefix", ""), sid)) << session.dump();
    EXPECT_EQ(session["provider_sessions"].value("claude-code", ""), providerSessionOf(events))
        << session.dump();
    EXPECT_EQ(run.value("provider_session_id", ""), providerSessionOf(events)) << run.dump();

    EXPECT_TRUE(eventually([&] { return cliProcesses(h.workerDir(sid)).empty(); }, 5s))
        << joined(cliProcesses(h.workerDir(sid)));
}

// 2. A follow-up message resumes the CLI's session.
TEST_P(ClaudeRuns, FollowUpMessageResumesTheProviderSession) {
    auto& h = start();
    const std::string sid = "chat-resume";
    const std::string first = h.startRun(sid, "Say hello");
    ASSERT_FALSE(first.empty());
    const auto firstEvents = finish(first, "completed");
    const std::string providerSession = providerSessionOf(firstEvents);
    ASSERT_FALSE(providerSession.empty()) << h.describe(first);

    const std::string second = h.startRun(sid, "RECALL what I asked before");
    ASSERT_FALSE(second.empty());
    const auto secondEvents = finish(second, "completed");
    expectWellFormedLog(secondEvents, second, sid);
    EXPECT_EQ(providerSessionOf(secondEvents), providerSession) << h.describe(second);
    EXPECT_EQ(h.run(second).value("provider_session_id", ""), providerSession);
    const auto answers = texts(secondEvents);
    ASSERT_FALSE(answers.empty()) << h.describe(second);
    EXPECT_TRUE(contains(answers.back(), "I remember 1 earlier prompt(s): Say hello")) << answers.back();
    const Json session = h.session(sid);
    EXPECT_EQ(session["provider_sessions"].value("claude-code", ""), providerSession) << session.dump();
    EXPECT_EQ(session.value("status", ""), "running") << session.dump();
}

// 3a. Live SSE equals the JSON replay; a reconnect with Last-Event-ID continues exactly.
TEST_P(ClaudeRuns, SseStreamsEqualTheJsonReplayAndResumeFromLastEventId) {
    auto& h = start();
    const std::string sid = "chat-sse";
    const std::string rid = h.startRun(sid, kToolsPrompt);
    ASSERT_FALSE(rid.empty());
    SseClient whole(h.port(), rid);
    SseClient partial(h.port(), rid);
    ASSERT_EQ(whole.status(), 200) << whole.body();
    ASSERT_EQ(partial.status(), 200) << partial.body();
    EXPECT_EQ(whole.contentType(), "text/event-stream");

    // The first frame tells the client how soon to reconnect.
    const auto hello = whole.next();
    ASSERT_TRUE(hello.has_value());
    EXPECT_EQ(hello->retry.value_or(""), "1000");

    constexpr int kFirst = 3;
    std::vector<SseFrame> resumed;
    for (int i = 0; i < kFirst; ++i) {
        auto frame = partial.nextEvent();
        ASSERT_TRUE(frame.has_value()) << "stream ended after " << i << " frames";
        resumed.push_back(*frame);
    }
    const bool runStillGoing = !isTerminalStatus(h.run(rid).value("status", ""));
    partial.close();
    SseClient again(h.port(), rid, resumed.back().id.value_or(""));
    ASSERT_EQ(again.status(), 200) << again.body();
    for (auto& frame : again.readToEnd()) resumed.push_back(std::move(frame));
    EXPECT_TRUE(again.ended());
    EXPECT_FALSE(again.timedOut());
    const auto live = whole.readToEnd();
    EXPECT_FALSE(whole.timedOut());

    const Json run = h.run(rid);
    EXPECT_EQ(run.value("status", ""), "completed") << h.describe(rid);
    const auto events = h.events(rid);
    expectWellFormedLog(events, rid, sid);
    auto compare = [&](const std::vector<SseFrame>& frames, const std::string& which) {
        ASSERT_EQ(frames.size(), events.size()) << which;
        for (std::size_t i = 0; i < frames.size(); ++i) {
            const Json& event = events[i];
            EXPECT_EQ(frames[i].id.value_or(""), std::to_string(event.value("seq", 0))) << which << " #" << i;
            EXPECT_EQ(frames[i].event, event.value("type", "")) << which << " #" << i;
            EXPECT_EQ(frames[i].json(), event) << which << " #" << i;
        }
    };
    compare(live, "live stream");
    compare(resumed, "stream resumed after " + std::to_string(kFirst) + " frames");
    std::cout << "[ info ] the first stream was dropped while the run was "
              << (runStillGoing ? "still going" : "already over") << std::endl;

    // After the end: a replay from the start, and a reconnect at the last event is told to
    // stop (204, the EventSource standard's answer).
    SseClient replay(h.port(), rid);
    EXPECT_EQ(replay.readToEnd().size(), events.size());
    SseClient atEnd(h.port(), rid, std::to_string(events.size()));
    EXPECT_EQ(atEnd.status(), 204) << atEnd.body();
    EXPECT_TRUE(atEnd.readToEnd().empty());
    // A JSON page from the middle.
    const auto page = test::httpGet(h.port(), "/v1/runs/" + rid + "/events?after=2&limit=2").json();
    ASSERT_EQ(page["events"].size(), 2u) << page.dump();
    EXPECT_EQ(page["events"][0], events[2]);
    EXPECT_EQ(page.value("next_after", 0), 4);
    EXPECT_EQ(page.value("status", ""), "completed");
}

// 3b. A quiet stream (a run waiting for a human) carries keep-alive comments, then ends with
// the run. Stopping a waiting run cancels its pending request.
TEST_P(ClaudeRuns, QuietStreamSendsKeepAlivesAndEndsWithTheRun) {
    HarnessOptions options;
    options.hostEnv = {{"AW_SSE_KEEPALIVE_MS", "200"}};
    auto& h = start(options);
    const std::string sid = "chat-quiet";
    const std::string rid = h.startRun(sid, kToolsPrompt, {{"approval_mode", "ask"}});
    ASSERT_FALSE(rid.empty());
    const Json waiting = h.waitForStatus(rid, "waiting_human");
    ASSERT_EQ(waiting.value("status", ""), "waiting_human") << h.describe(rid);
    const std::int64_t lastSeq = waiting.value("last_seq", std::int64_t{0});

    SseClient stream(h.port(), rid, "", 10s);
    ASSERT_EQ(stream.status(), 200) << stream.body();
    std::vector<SseFrame> frames;
    int keepAlivesAfterEvents = 0;
    while (keepAlivesAfterEvents < 3) {
        auto frame = stream.next();
        ASSERT_TRUE(frame.has_value()) << "the stream ended or stalled (timed out: " << stream.timedOut()
                                       << ") after " << frames.size() << " events";
        if (frame->isEvent()) {
            frames.push_back(*frame);
            keepAlivesAfterEvents = 0;
        } else if (!frame->comments.empty() && frames.size() >= static_cast<std::size_t>(lastSeq)) {
            EXPECT_EQ(frame->comments.front(), " keep-alive");
            ++keepAlivesAfterEvents;
        }
    }
    std::vector<std::string> seen;
    for (const auto& frame : frames) seen.push_back(frame.event);
    EXPECT_TRUE(has(seen, "run.waiting_human")) << joined(seen);
    EXPECT_FALSE(has(seen, "run.stopped")) << joined(seen);

    const auto stopped = h.stopRun(rid);
    EXPECT_EQ(stopped.status, 202) << stopped.body;
    for (auto& frame : stream.readToEnd()) frames.push_back(std::move(frame));
    EXPECT_TRUE(stream.ended());
    EXPECT_FALSE(stream.timedOut()) << "the stream did not end with the run";
    ASSERT_FALSE(frames.empty());
    EXPECT_EQ(frames.back().event, "run.stopped");

    const Json run = h.waitForEnd(rid);
    EXPECT_EQ(run.value("status", ""), "stopped") << h.describe(rid);
    EXPECT_TRUE(run["pending_human_requests"].empty()) << run.dump();
    const auto events = h.events(rid);
    ASSERT_EQ(frames.size(), events.size());
    for (std::size_t i = 0; i < events.size(); ++i) EXPECT_EQ(frames[i].json(), events[i]);
    // The host cancels the pending request when the stop begins.
    const auto responses = dataOf(events, "human.response");
    ASSERT_FALSE(responses.empty()) << h.describe(rid);
    EXPECT_EQ(responses[0].value("decision", ""), "cancelled") << responses[0].dump();
    EXPECT_EQ(responses[0].value("by", ""), "host") << responses[0].dump();
    EXPECT_EQ(responses[0].value("request_id", ""),
              dataOf(events, "human.request").at(0).value("request_id", "-"));
}

// Stopping a run that waits for a human answers its request once: the host cancels it, and
// the plugin's own withdrawal (the interrupted CLI drops its permission prompt) is not
// logged again.
TEST_P(ClaudeRuns, StopWhileWaitingAnswersTheRequestOnce) {
    auto& h = start();
    const std::string sid = "chat-stop-waiting";
    const std::string rid = h.startRun(sid, kToolsPrompt, {{"approval_mode", "ask"}});
    ASSERT_FALSE(rid.empty());
    ASSERT_EQ(h.waitForStatus(rid, "waiting_human").value("status", ""), "waiting_human") << h.describe(rid);
    EXPECT_EQ(h.stopRun(rid).status, 202);
    const auto events = finish(rid, "stopped");
    expectWellFormedLog(events, rid, sid);
    const auto requests = dataOf(events, "human.request");
    const auto responses = dataOf(events, "human.response");
    ASSERT_EQ(requests.size(), 1u) << h.describe(rid);
    EXPECT_EQ(responses.size(), 1u) << "one request, one answer\n" << h.describe(rid);
}

// 4a. approval_mode "ask": the run waits for each permission; allow lets the tools run.
TEST_P(ClaudeRuns, HumanLoopAllowLetsTheRunFinish) {
    auto& h = start();
    const std::string sid = "chat-allow";
    const std::string rid = h.startRun(sid, kToolsPrompt, {{"approval_mode", "ask"}});
    ASSERT_FALSE(rid.empty());

    const Json waiting = h.waitForStatus(rid, "waiting_human");
    ASSERT_EQ(waiting.value("status", ""), "waiting_human") << h.describe(rid);
    ASSERT_EQ(waiting["pending_human_requests"].size(), 1u) << waiting.dump();
    const Json pending = waiting["pending_human_requests"][0];
    EXPECT_EQ(pending.value("kind", ""), "permission") << pending.dump();
    EXPECT_EQ(pending.value("tool", ""), "Bash") << pending.dump();
    EXPECT_EQ(pending.value("status", ""), "pending") << pending.dump();
    EXPECT_EQ(pending["input"].value("command", ""), "echo hello > hello.txt") << pending.dump();
    EXPECT_FALSE(std::filesystem::exists(h.workspace(sid) / "hello.txt"));

    const auto unknown = h.humanReply(rid, {{"request_id", "no-such-request"}, {"decision", "allow"}});
    EXPECT_EQ(unknown.status, 409) << unknown.body;
    EXPECT_EQ(unknown.json()["error"].value("code", ""), "request_not_pending") << unknown.body;
    const auto invalid = h.humanReply(rid, {{"request_id", pending.value("request_id", "")}, {"decision", "maybe"}});
    EXPECT_EQ(invalid.status, 400) << invalid.body;

    const auto answered = answerUntilEnd(rid, {{"decision", "allow"}});
    const auto events = finish(rid, "completed");
    expectWellFormedLog(events, rid, sid);
    EXPECT_EQ(answered.size(), 2u) << "Bash and Write ask; " << h.describe(rid);
    EXPECT_EQ(answered.at(0), pending.value("request_id", ""));

    // Each request: human.request, run.waiting_human, human.response (allow, by the user),
    // run.resumed, in this order.
    const auto types = typesOf(events);
    for (const auto& requestId : answered) {
        std::vector<std::string> sequence;
        for (const auto& event : events) {
            const Json& data = event["data"];
            if (data.value("request_id", "") == requestId) sequence.push_back(event.value("type", ""));
            if (event.value("type", "") == "human.response" && data.value("request_id", "") == requestId) {
                EXPECT_EQ(data.value("decision", ""), "allow") << data.dump();
                EXPECT_EQ(data.value("by", ""), "user") << data.dump();
            }
        }
        EXPECT_EQ(sequence, (std::vector<std::string>{"human.request", "run.waiting_human",
                                                      "human.response", "run.resumed"}))
            << requestId << ": " << joined(types);
    }
    const Json request = dataOf(events, "human.request").at(0);
    EXPECT_EQ(request.value("tool_call_id", ""), toolStart(events, "Bash").value("tool_call_id", "-"));
    EXPECT_EQ(texts(events).back(), kToolsAnswer);
    EXPECT_EQ(test::readText(h.workspace(sid) / "hello.txt"), "hello\n");
    EXPECT_EQ(test::readText(h.workspace(sid) / "notes.txt"), "notes written by the scripted model\n");

    // Replies to a finished run's requests are conflicts.
    const auto late = h.humanReply(rid, {{"request_id", answered.at(0)}, {"decision", "deny"}});
    EXPECT_EQ(late.status, 409) << late.body;
    EXPECT_TRUE(h.run(rid)["pending_human_requests"].empty());
}

// 4b. deny: the tool is refused with the human's message, and the run still completes.
TEST_P(ClaudeRuns, HumanLoopDenyRefusesTheToolAndCompletes) {
    auto& h = start();
    const std::string sid = "chat-deny";
    const std::string rid = h.startRun(sid, kToolsPrompt, {{"approval_mode", "ask"}});
    ASSERT_FALSE(rid.empty());
    const auto answered =
        answerUntilEnd(rid, {{"decision", "deny"}, {"message", "Not in this workspace, please."}});
    const auto events = finish(rid, "completed");
    expectWellFormedLog(events, rid, sid);
    ASSERT_FALSE(answered.empty()) << h.describe(rid);

    const auto requests = dataOf(events, "human.request");
    ASSERT_FALSE(requests.empty());
    EXPECT_EQ(requests[0].value("tool", ""), "Bash");
    const std::string bashCall = requests[0].value("tool_call_id", "");
    const Json result = toolResult(events, bashCall);
    ASSERT_FALSE(result.is_null()) << h.describe(rid);
    EXPECT_TRUE(result.value("is_error", false)) << result.dump();
    EXPECT_TRUE(contains(result.value("output", ""), "Not in this workspace, please.")) << result.dump();
    for (const auto& response : dataOf(events, "human.response")) {
        EXPECT_EQ(response.value("decision", ""), "deny") << response.dump();
        EXPECT_EQ(response.value("message", ""), "Not in this workspace, please.") << response.dump();
    }
    EXPECT_FALSE(std::filesystem::exists(h.workspace(sid) / "hello.txt"));
    EXPECT_FALSE(std::filesystem::exists(h.workspace(sid) / "notes.txt"));
}

// 6. Stop mid-tool: the run ends stopped (cancelled), nothing of the CLI is left.
TEST_P(ClaudeRuns, StopMidToolEndsTheRunAndItsProcesses) {
    auto& h = start();
    const std::string sid = "chat-stop";
    const std::string rid = h.startRun(sid, "SLOWTOOL: wait for something");
    ASSERT_FALSE(rid.empty());
    ASSERT_TRUE(eventually([&] { return std::filesystem::exists(h.workspace(sid) / "slow.started"); }, 90s))
        << h.describe(rid);
    EXPECT_FALSE(cliProcesses(h.workerDir(sid)).empty()) << "the CLI is not running under the worker";

    const auto stopped = h.stopRun(rid);
    EXPECT_EQ(stopped.status, 202) << stopped.body;
    EXPECT_EQ(stopped.json().value("stop_requested", false), true) << stopped.body;
    const Json run = h.waitForEnd(rid, 60s);
    EXPECT_EQ(run.value("status", ""), "stopped") << h.describe(rid);
    EXPECT_EQ(run["error"].value("code", ""), "cancelled") << run.dump();
    const auto events = h.events(rid);
    expectWellFormedLog(events, rid, sid);
    EXPECT_EQ(events.back().value("type", ""), "run.stopped");
    EXPECT_EQ(events.back()["data"].value("reason", ""), "cancelled") << events.back().dump();
    const Json bash = toolStart(events, "Bash");
    ASSERT_FALSE(bash.is_null()) << h.describe(rid);
    EXPECT_FALSE(toolResult(events, bash.value("tool_call_id", "")).is_null()) << h.describe(rid);

    EXPECT_TRUE(eventually([&] { return cliProcesses(h.workerDir(sid)).empty(); }, 5s))
        << "left running: " << joined(cliProcesses(h.workerDir(sid)));
    EXPECT_FALSE(std::filesystem::exists(h.workspace(sid) / "slow.done"));

    const auto again = h.stopRun(rid);
    EXPECT_EQ(again.status, 409) << again.body;
    EXPECT_EQ(again.json()["error"].value("code", ""), "run_finished") << again.body;
}

// 7. The model API refuses the request: the run fails with the server's message.
TEST_P(ClaudeRuns, ModelServerFailureFailsTheRunWithItsMessage) {
    auto& h = start();
    const std::string sid = "chat-fail";
    const std::string rid = h.startRun(sid, "FAIL400 now");
    ASSERT_FALSE(rid.empty());
    const auto events = finish(rid, "failed");
    expectWellFormedLog(events, rid, sid);
    const Json run = h.run(rid);
    EXPECT_EQ(run["error"].value("code", ""), "api_error") << run.dump();
    EXPECT_TRUE(contains(run["error"].value("message", ""),
                         "scripted failure: the model server refuses this request (400)"))
        << run.dump();
    const Json failed = events.back()["data"];
    EXPECT_EQ(events.back().value("type", ""), "run.failed");
    EXPECT_EQ(failed["error"].value("class", ""), "api_error") << failed.dump();
    EXPECT_EQ(failed["error"].value("http_status", 0), 400) << failed.dump();
}

// 8. A question's reply must carry answers: without them the plugin refuses it, the API says
// so with 422 and the plugin's message, and the request stays pending for a proper reply.
TEST_P(ClaudeRuns, AQuestionsReplyWithoutAnswersIs422AndTheRequestStaysPending) {
    auto& h = start();
    const std::string sid = "chat-question";
    const std::string rid = h.startRun(sid, "ASKUSER: which greeting?", {{"approval_mode", "ask"}});
    ASSERT_FALSE(rid.empty());
    const Json waiting = h.waitForStatus(rid, "waiting_human");
    ASSERT_EQ(waiting["pending_human_requests"].size(), 1u) << h.describe(rid);
    const Json pending = waiting["pending_human_requests"][0];
    ASSERT_EQ(pending.value("kind", ""), "question") << pending.dump();
    const std::string requestId = pending.value("request_id", "");

    const auto refused = h.humanReply(rid, {{"request_id", requestId}, {"decision", "allow"}});
    EXPECT_EQ(refused.status, 422) << refused.body;
    EXPECT_EQ(refused.json()["error"].value("code", ""), "invalid_reply") << refused.body;
    EXPECT_TRUE(contains(refused.json()["error"].value("message", ""), "answers")) << refused.body;
    EXPECT_EQ(h.run(rid)["pending_human_requests"].size(), 1u) << "the request must stay pending";

    const auto answered = h.humanReply(
        rid, {{"request_id", requestId},
              {"decision", "allow"},
              {"answers", {{"Which greeting should I write?", "bonjour"}}}});
    EXPECT_EQ(answered.status, 200) << answered.body;
    const auto events = finish(rid, "completed");
    expectWellFormedLog(events, rid, sid);
    const auto said = texts(events);
    ASSERT_FALSE(said.empty());
    EXPECT_TRUE(contains(said.back(), "bonjour")) << "the model did not get the answer: " << said.back();
}

// 9. A prompt too long for a command-line argument reaches the CLI on its stdin, through the
// executor, in print mode and in the stdio protocol mode alike, and the runs complete.
TEST_P(ClaudeRuns, APromptTooLongForAnArgumentRunsThroughStdin) {
    auto& h = start();
    const std::string prompt = "LONGPROMPT: how long is this? " + std::string(200 * 1024, 'x');
    const std::string expected =
        "Received a prompt of " + std::to_string(prompt.size()) + " bytes.";
    for (const std::string mode : {"auto", "ask"}) {
        const std::string sid = "chat-long-" + mode;
        const std::string rid = h.startRun(sid, prompt, {{"approval_mode", mode}});
        ASSERT_FALSE(rid.empty()) << mode;
        const auto events = finish(rid, "completed");
        expectWellFormedLog(events, rid, sid);
        const auto said = texts(events);
        ASSERT_FALSE(said.empty()) << mode << ": " << h.describe(rid);
        EXPECT_EQ(said.back(), expected) << mode;
    }
}

INSTANTIATE_TEST_SUITE_P(Db, ClaudeRuns, ::testing::Values(Db::Sqlite, Db::Postgres), paramName);

// 5. Capability refusals: decided by the provider's capabilities, no CLI needed.
class RunRefusals : public ::testing::TestWithParam<Db> {};

TEST_P(RunRefusals, AskModeAndHumanRepliesNeedHumanLoop) {
    HarnessOptions options;
    options.db = GetParam();
    options.codexBinary = "/bin/true";
    RunHarness h(options);
    const auto ask = h.postMessage("chat-codex", {{"provider", "codex-cli"},
                                                  {"prompt", "hello"},
                                                  {"approval_mode", "ask"}});
    EXPECT_EQ(ask.status, 422) << ask.body;
    EXPECT_EQ(ask.json()["error"].value("code", ""), "capability_missing") << ask.body;
    EXPECT_TRUE(contains(ask.json()["error"].value("hint", ""), "claude-code")) << ask.body;
    EXPECT_EQ(test::httpGet(h.port(), "/v1/sessions/chat-codex").status, 404)
        << "a refused message must not create the session";

    const auto posted = h.postMessage("chat-codex", {{"provider", "codex-cli"}, {"prompt", "hello"}});
    ASSERT_EQ(posted.status, 202) << posted.body;
    const std::string rid = posted.json().value("run_id", "");
    const auto reply = h.humanReply(rid, {{"request_id", "any"}, {"decision", "allow"}});
    EXPECT_EQ(reply.status, 422) << reply.body;
    EXPECT_EQ(reply.json()["error"].value("code", ""), "capability_missing") << reply.body;
    // The fake CLI prints nothing: the run ends on its own.
    EXPECT_TRUE(isTerminalStatus(h.waitForEnd(rid, 60s).value("status", ""))) << h.describe(rid);
    EXPECT_EQ(h.humanReply(rid, {{"request_id", "any"}, {"decision", "allow"}}).status, 422);

    const auto missing = h.humanReply("run_unknown", {{"request_id", "any"}, {"decision", "allow"}});
    EXPECT_EQ(missing.status, 404) << missing.body;
    EXPECT_EQ(h.stopRun("run_unknown").status, 404);
}

// A message posted while the plugins are still loading gets 503 provider_unavailable (retry),
// never 404: a plugin that has not handshaken yet has no name, but may be the provider asked.
TEST_P(RunRefusals, MessageWhileProvidersStartIsNotUnknownProvider) {
    HarnessOptions options;
    options.db = GetParam();
    options.waitForProviders = false;
    RunHarness h(options);
    const auto posted = h.postMessage("chat-early", {{"provider", "claude-code"}, {"prompt", "hello"}});
    EXPECT_TRUE(posted.status == 202 || posted.status == 503) << posted.status << " " << posted.body;
    if (posted.status == 503) {
        EXPECT_EQ(posted.json()["error"].value("code", ""), "provider_unavailable") << posted.body;
    }
}

INSTANTIATE_TEST_SUITE_P(Db, RunRefusals, ::testing::Values(Db::Sqlite, Db::Postgres), paramName);

}  // namespace
}  // namespace aw::runs
