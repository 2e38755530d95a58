// The executor protocol's documents: each reads back what it writes, and a wrong document
// is a Problem naming the field, never a JSON library exception.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "agent_worker/core/executor_protocol.h"

namespace aw {
namespace {

using Json = nlohmann::json;

//! The Problem `read` throws; fails the test when it throws nothing or something else.
template <typename Read>
Problem problemOf(Read read) {
    try {
        read();
    } catch (const ProblemError& e) {
        return e.problem();
    } catch (const std::exception& e) {
        ADD_FAILURE() << "not a ProblemError: " << e.what();
        return {};
    }
    ADD_FAILURE() << "accepted";
    return {};
}

bool mentions(const Problem& problem, const std::string& text) {
    return problem.message.find(text) != std::string::npos;
}

//! The Problem parseCallbackBatch() answers for `body`.
Problem callbackProblem(const Json& body) {
    const auto parsed = parseCallbackBatch(body);
    if (!std::holds_alternative<Problem>(parsed)) {
        ADD_FAILURE() << "accepted " << body.dump();
        return {};
    }
    return std::get<Problem>(parsed);
}

// --- Processes ----------------------------------------------------------------------------

TEST(ExecutorRunSpec, ReadsBackWhatItWrites) {
    ExecutorRunSpec spec{"run-1",      {"claude", "-p"}, {{"HOME", "/home/w"}},
                         "/workspace", "hello\n",        true};
    EXPECT_EQ(ExecutorRunSpec::fromJson(spec.toJson()), spec);
    spec.stdinBytes.reset();
    EXPECT_FALSE(spec.toJson().contains("stdin"));
    EXPECT_EQ(ExecutorRunSpec::fromJson(spec.toJson()), spec);
}

TEST(ExecutorRunSpec, OnlyRunIdAndArgvAreRequired) {
    const auto spec = ExecutorRunSpec::fromJson({{"run_id", "r1"}, {"argv", {"env"}}});
    EXPECT_EQ(spec.argv, std::vector<std::string>{"env"});
    EXPECT_TRUE(spec.env.empty());
    EXPECT_EQ(spec.cwd, "");
    EXPECT_FALSE(spec.stdinBytes.has_value());
    EXPECT_FALSE(spec.keepStdinOpen);
}

TEST(ExecutorRunSpec, WrongSpecsNameTheField) {
    const Json good{{"run_id", "r1"}, {"argv", {"sh"}}};
    auto with = [&](const char* key, Json value) {
        Json spec = good;
        spec[key] = std::move(value);
        return problemOf([&] { ExecutorRunSpec::fromJson(spec); });
    };
    EXPECT_EQ(with("argv", Json::array()).code, "invalid_run");
    EXPECT_TRUE(mentions(with("argv", {"sh", 3}), "argv[1] must be a string"));
    EXPECT_TRUE(mentions(with("env", {{"A", 1}}), "env.A must be a string"));
    EXPECT_TRUE(mentions(with("keep_stdin_open", "yes"), "keep_stdin_open must be true or false"));
    EXPECT_TRUE(mentions(with("stdin", Json::object()), "stdin must be a string"));
    EXPECT_TRUE(mentions(with("keep_stdin_opn", true), "keep_stdin_opn is not a known field"));
    EXPECT_TRUE(mentions(problemOf([] {
                             ExecutorRunSpec::fromJson({{"argv", {"sh"}}});
                         }),
                         "run_id is missing"));
    EXPECT_EQ(problemOf([] { ExecutorRunSpec::fromJson(Json::array()); }).code, "invalid_run");
}

TEST(ExecutorRunSpec, ARunIdThatCouldLeaveTheSpoolIsRefused) {
    const auto problem = problemOf([] {
        ExecutorRunSpec::fromJson({{"run_id", "../etc/passwd"}, {"argv", {"sh"}}});
    });
    EXPECT_EQ(problem.code, "invalid_run");
    EXPECT_FALSE(problem.hint.empty());
}

TEST(ExecutorRunStatus, ShowsExitCodeAndSignalOnlyOnceExited) {
    const ExecutorRunStatus running{"r1", 42,           ExecutorRunState::Running,
                                    7,    std::nullopt, std::nullopt};
    EXPECT_EQ(running.toJson(),
              Json({{"run_id", "r1"}, {"pid", 42}, {"state", "running"}, {"stdout_lines", 7}}));
    EXPECT_EQ(ExecutorRunStatus::fromJson(running.toJson()), running);
    const ExecutorRunStatus killed{"r1", 42, ExecutorRunState::Exited, 9, std::nullopt, 15};
    EXPECT_TRUE(killed.toJson()["exit_code"].is_null());
    EXPECT_EQ(killed.toJson()["signal"], 15);
    EXPECT_EQ(ExecutorRunStatus::fromJson(killed.toJson()), killed);
    EXPECT_TRUE(
        mentions(problemOf([] {
                     ExecutorRunStatus::fromJson(
                         {{"run_id", "r1"}, {"pid", 1}, {"state", "zombie"}, {"stdout_lines", 0}});
                 }),
                 "state is \"zombie\", expected one of: running, exited"));
}

TEST(StdinAndSignal, RequestsAndAnswersReadBackWhatTheyWrite) {
    EXPECT_EQ(StdinWrite::fromJson(StdinWrite{"y\n", true}.toJson()), (StdinWrite{"y\n", true}));
    EXPECT_EQ(StdinWrite::fromJson({{"data", "x"}}).close, false);
    EXPECT_EQ(problemOf([] { StdinWrite::fromJson({{"data", 5}}); }).code, "invalid_stdin");
    EXPECT_EQ(StdinWriteAnswer::fromJson(StdinWriteAnswer{3, false}.toJson()),
              (StdinWriteAnswer{3, false}));

    EXPECT_EQ(SignalRequest{RunSignal::Kill}.toJson(), Json({{"signal", "KILL"}}));
    EXPECT_EQ(SignalRequest::fromJson({{"signal", "INT"}}).signal, RunSignal::Int);
    const auto hup = problemOf([] { SignalRequest::fromJson({{"signal", "HUP"}}); });
    EXPECT_EQ(hup.code, "invalid_signal");
    EXPECT_TRUE(mentions(hup, "INT, TERM, KILL"));
    const SignalAnswer answer{"r1", RunSignal::Term, true};
    EXPECT_EQ(SignalAnswer::fromJson(answer.toJson()), answer);
}

// --- Output -------------------------------------------------------------------------------

TEST(OutputRecord, LinesAndExitsReadBackWhatTheyWrite) {
    const auto line =
        OutputRecord::lineOf("r1", OutputStream::Stdout, 3, "{\"type\":\"x\"}", false);
    EXPECT_EQ(line.toJson(), Json({{"event_id", "r1/stdout/3"},
                                   {"run_id", "r1"},
                                   {"stream", "stdout"},
                                   {"seq", 3},
                                   {"line", "{\"type\":\"x\"}"}}));
    EXPECT_EQ(OutputRecord::fromJson(line.toJson()), line);
    const auto piece = OutputRecord::lineOf("r1", OutputStream::Stderr, 1, "abc", true);
    EXPECT_EQ(piece.toJson()["continued"], true);
    EXPECT_EQ(OutputRecord::fromJson(piece.toJson()), piece);

    const auto exit = OutputRecord::exitOf("r1", 3, std::nullopt, 500, 1);
    EXPECT_EQ(exit.eventId(), "r1/exit/1");
    EXPECT_EQ(exit.toJson()["exit_code"], 3);
    EXPECT_TRUE(exit.toJson()["signal"].is_null());
    EXPECT_EQ(OutputRecord::fromJson(exit.toJson()), exit);
}

TEST(OutputRecord, ItsTextIsItsJsonAsNlohmannWritesIt) {
    const auto asNlohmann = [](const OutputRecord& record) {
        return record.toJson().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    };
    std::vector<OutputRecord> records;
    for (const std::string& line : std::vector<std::string>{
             "", "line 1", "say \"hi\"", "back\\slash", "tab\tnew\nline\x01\x7f",
             "caf\xc3\xa9 \xe2\x82\xac", "torn \xc3", std::string(1, '\0')}) {
        records.push_back(OutputRecord::lineOf("run-1", OutputStream::Stdout, 7, line, false));
        records.push_back(
            OutputRecord::lineOf("run-1", OutputStream::Stderr, 123456789, line, true));
    }
    records.push_back(OutputRecord::exitOf("run-1", 3, std::nullopt, 500, 1));
    records.push_back(OutputRecord::exitOf("run-1", std::nullopt, 9, 0, 0));
    for (const auto& record : records) EXPECT_EQ(record.toText(), asNlohmann(record));
}

TEST(OutputRecord, TheEventIdIsDerivedNotTrusted) {
    const auto record = OutputRecord::fromJson({{"event_id", "r2/stdout/1"},
                                                {"run_id", "r1"},
                                                {"stream", "stdout"},
                                                {"seq", 9},
                                                {"line", "x"}});
    EXPECT_EQ(record.eventId(), "r1/stdout/9");
}

TEST(OutputRecord, AnExitReportsTheLinesGivenUpOnlyWhenThereAreSome) {
    auto exit = OutputRecord::exitOf("r1", 0, std::nullopt, 9, 3);
    EXPECT_FALSE(exit.toJson().contains("lost_stdout_lines"));
    exit.lostStdoutLines = 5;
    exit.lostReason = "the host answered 400";
    EXPECT_EQ(exit.toJson()["lost_stdout_lines"], 5);
    EXPECT_EQ(exit.toJson()["lost_stderr_lines"], 0);
    EXPECT_EQ(OutputRecord::fromJson(exit.toJson()), exit);
    EXPECT_EQ(Json::parse(toRawOutputRecord(exit).line)["lost_reason"], "the host answered 400");
}

TEST(OutputRecord, TheRunStoreKeepsLinesAsTextAndTheExitAsItsBody) {
    const auto line =
        toRawOutputRecord(OutputRecord::lineOf("r1", OutputStream::Stdout, 2, "hi", true));
    EXPECT_EQ(line.eventId, "r1/stdout/2");
    EXPECT_EQ(line.stream, "stdout");
    EXPECT_EQ(line.line, "hi");
    EXPECT_TRUE(line.continued);
    const auto exit = toRawOutputRecord(OutputRecord::exitOf("r1", std::nullopt, 9, 4, 0));
    EXPECT_EQ(exit.stream, "exit");
    EXPECT_EQ(
        Json::parse(exit.line),
        Json({{"exit_code", nullptr}, {"signal", 9}, {"stdout_lines", 4}, {"stderr_lines", 0}}));
}

TEST(CallbackBatch, ReadsBackWhatTheExecutorSends) {
    const CallbackBatch batch{"exec-1",
                              "chat-1",
                              "r1",
                              {OutputRecord::lineOf("r1", OutputStream::Stdout, 1, "a", false),
                               OutputRecord::exitOf("r1", 0, std::nullopt, 1, 0)}};
    const auto parsed = parseCallbackBatch(batch.toJson());
    ASSERT_TRUE(std::holds_alternative<CallbackBatch>(parsed)) << std::get<Problem>(parsed).message;
    EXPECT_EQ(std::get<CallbackBatch>(parsed), batch);
    EXPECT_EQ(CallbackBatch::fromJson(batch.toJson()), batch);
}

TEST(CallbackBatch, AcceptsWhatTheHostAcceptedBefore) {
    // Only run_id, stream and seq are required; the rest has defaults, unknown fields are
    // ignored: a refused batch is resent for ever, so strictness there would stall a run.
    const auto parsed = parseCallbackBatch(
        {{"events",
          {{{"run_id", "r1"}, {"stream", "stdout"}, {"seq", 1}, {"from_a_newer_executor", true}},
           {{"run_id", "r2"}, {"stream", "exit"}, {"seq", 1}}}}});
    ASSERT_TRUE(std::holds_alternative<CallbackBatch>(parsed)) << std::get<Problem>(parsed).message;
    const auto& batch = std::get<CallbackBatch>(parsed);
    ASSERT_EQ(batch.events.size(), 2u);
    EXPECT_EQ(batch.events[0].line, "");
    EXPECT_FALSE(batch.events[1].exitCode.has_value());
    EXPECT_EQ(batch.events[1].runId, "r2") << "records of several runs stay possible";
    EXPECT_TRUE(
        std::holds_alternative<CallbackBatch>(parseCallbackBatch({{"events", Json::array()}})));
}

TEST(CallbackBatch, WrongBodiesAreProblemsNamingTheField) {
    for (const Json& body : {Json::array(), Json("text"), Json(nullptr), Json::object()}) {
        const auto problem = callbackProblem(body);
        EXPECT_EQ(problem.code, "invalid_callback") << body.dump();
        EXPECT_FALSE(problem.message.empty());
        EXPECT_FALSE(problem.hint.empty());
    }
    EXPECT_TRUE(mentions(callbackProblem({{"events", {{"a", 1}}}}), "events must be an array"));
    const Json record{{"run_id", "r1"}, {"stream", "stdout"}, {"seq", 1}};
    auto withRecord = [&](const char* key, Json value) {
        Json changed = record;
        changed[key] = std::move(value);
        return callbackProblem({{"events", Json::array({record, changed})}});
    };
    EXPECT_TRUE(mentions(withRecord("seq", "1"), "events[1].seq must be an integer"));
    EXPECT_TRUE(mentions(withRecord("seq", 1.5), "events[1].seq must be an integer"));
    EXPECT_TRUE(mentions(withRecord("run_id", 7), "events[1].run_id must be a string"));
    EXPECT_TRUE(mentions(withRecord("stream", "stdin"),
                         "events[1].stream is \"stdin\", expected one of: stdout, stderr, exit"));
    EXPECT_TRUE(mentions(withRecord("line", Json::array()), "events[1].line must be a string"));
    EXPECT_TRUE(mentions(withRecord("continued", 1), "events[1].continued must be true or false"));
    EXPECT_TRUE(mentions(callbackProblem({{"events", Json::array({"just a line"})}}),
                         "events[0] must be an object"));
    EXPECT_TRUE(
        mentions(callbackProblem({{"events", Json::array({{{"stream", "stdout"}, {"seq", 1}}})}}),
                 "events[0].run_id is missing"));
    Json exit{{"run_id", "r1"}, {"stream", "exit"}, {"seq", 1}, {"exit_code", "0"}};
    EXPECT_TRUE(mentions(callbackProblem({{"events", Json::array({exit})}}),
                         "events[0].exit_code must be an integer or null"));
    EXPECT_TRUE(mentions(callbackProblem({{"executor_id", 3}, {"events", Json::array()}}),
                         "executor_id must be a string"));
}

// --- Workspace ----------------------------------------------------------------------------

TEST(WorkspaceAnswers, ReadBackWhatTheyWrite) {
    const RestoreAnswer restored{2, 10, 4096, 1, 12.5};
    EXPECT_EQ(RestoreAnswer::fromJson(restored.toJson()), restored);
    const LinkAnswer linked{1, 3, 300, 0, 0.25};
    EXPECT_EQ(LinkAnswer::fromJson(linked.toJson()), linked);
    const ValidateAnswer validated{{"/workspace/README.md"}};
    EXPECT_EQ(validated.toJson(), Json({{"missing_paths", {"/workspace/README.md"}}}));
    EXPECT_EQ(ValidateAnswer::fromJson(validated.toJson()), validated);
    EXPECT_TRUE(validated.validation().blocksRun());
}

TEST(WorkspaceAnswers, TheSyncAnswerHasTotalsAtTheTopAndEachTreeBelow) {
    SyncAnswer answer;
    answer.mode = SyncMode::Full;
    answer.reason = "message.stop";
    answer.workspace = {5, 2, 200, 1, 3};
    answer.agentState = {4, 1, 50, 0, 3};
    answer.total = answer.workspace;
    answer.total += answer.agentState;
    answer.slots = 1;
    answer.durationMs = 8.5;
    const Json json = answer.toJson();
    EXPECT_EQ(json["mode"], "full");
    EXPECT_EQ(json["uploaded_files"], 3);
    EXPECT_EQ(json["uploaded_bytes"], 250);
    EXPECT_EQ(json["workspace"]["deleted_files"], 1);
    EXPECT_EQ(json["agent_state"]["slots"], 1);
    EXPECT_EQ(SyncAnswer::fromJson(json), answer);

    Json missing = json;
    missing["workspace"].erase("unchanged_files");
    EXPECT_TRUE(mentions(problemOf([&] { SyncAnswer::fromJson(missing); }),
                         "workspace.unchanged_files is missing"));
    Json wrong = json;
    wrong["uploaded_bytes"] = "250";
    const auto problem = problemOf([&] { SyncAnswer::fromJson(wrong); });
    EXPECT_EQ(problem.code, "invalid_executor_answer");
    EXPECT_TRUE(mentions(problem, "uploaded_bytes must be an integer"));
}

TEST(WorkspaceAnswers, TheValidateAnswerIsTheRestoreValidationsWireForm) {
    EXPECT_EQ(problemOf([] {
                  ValidateAnswer::fromJson({{"missing", Json::array()}});
              }).code,
              "invalid_restore_validation");
}

TEST(SyncRequest, ModeAndReasonAreRequired) {
    EXPECT_EQ(SyncRequest::fromJson(SyncRequest{SyncMode::Full, "idle_stop"}.toJson()),
              (SyncRequest{SyncMode::Full, "idle_stop"}));
    const auto partial = problemOf([] {
        SyncRequest::fromJson({{"mode", "partial"}, {"reason", ""}});
    });
    EXPECT_EQ(partial.code, "invalid_sync");
    EXPECT_TRUE(mentions(partial, "expected one of: full, incremental"));
    EXPECT_TRUE(mentions(problemOf([] {
                             SyncRequest::fromJson({{"mode", "full"}});
                         }),
                         "reason is missing"));
}

TEST(ExecutorHealth, ReadsBackWhatItWrites) {
    const ExecutorHealth health{"ok", "local-chat-1"};
    EXPECT_EQ(ExecutorHealth::fromJson(health.toJson()), health);
}

}  // namespace
}  // namespace aw
