// agent-executor as a real process: runs in their own process groups, output delivered to
// a callback sink exactly once and in order, through host outages and executor restarts;
// no process outliving its run (but none of another run's killed); the executor exiting
// with its parent.
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "executor/http_executor_client.h"
#include "process/subprocess.h"
#include "support/callback_sink.h"
#include "support/executor_process.h"
#include "support/run_events.h"
#include "support/temp_dir.h"

namespace aw::test {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

class AgentExecutor : public ::testing::Test {
protected:
    void startExecutor() {
        SubprocessOptions options;
        options.argv = {std::string(AW_BUILD_DIR) + "/bin/agent-executor",
                        "--socket",
                        socket(),
                        "--spool-dir",
                        (dir_ / "spool").string(),
                        "--callback-url",
                        sink_.url(),
                        "--executor-id",
                        "exec-1",
                        "--session-id",
                        "chat-1"};
        options.stderrFile = (dir_ / "executor.log").string();
        executor_ = test::startExecutor(options, "exec-token", "cb-token");
        const auto line = executor_->readLine(10s);
        ASSERT_TRUE(line && line->find("listening") != std::string::npos)
            << readText(dir_ / "executor.log");
    }
    std::string socket() const { return (dir_ / "executor.sock").string(); }
    HttpExecutorClient client(const std::string& token = "exec-token") {
        HttpExecutorClientOptions options;
        options.retry.maxAttempts = 1;
        return HttpExecutorClient({"unix://" + socket(), token}, options);
    }
    //! Starts `script` as run `runId`, under `traceId` (a fresh one per call when empty).
    Json startRun(const std::string& runId, const std::string& script, Json extra = Json::object(),
                  const std::string& traceId = "") {
        Json spec{{"run_id", runId}, {"argv", {"sh", "-c", script}}, {"cwd", dir_.path().string()}};
        spec.update(extra);
        return client().startRun({traceId, "chat-1", "exec-1", runId}, spec);
    }
    //! Every callback request of the run carried `traceId`, as X-Trace-Id and in traceparent.
    void expectEveryCallbackCarries(const std::string& runId, const std::string& traceId) {
        const auto deliveries = sink_.deliveries(runId);
        ASSERT_FALSE(deliveries.empty()) << runId;
        for (std::size_t i = 0; i < deliveries.size(); ++i) {
            EXPECT_EQ(deliveries[i].traceId, traceId) << runId << " callback " << i;
            EXPECT_EQ(deliveries[i].traceparent.substr(0, 36), "00-" + traceId + "-")
                << runId << " callback " << i;
        }
    }

    TempDir dir_{"aw-exec"};
    CallbackSink sink_;
    std::unique_ptr<Subprocess> executor_;
    const TraceContext trace_{"", "chat-1", "exec-1", ""};
};

TEST_F(AgentExecutor, OutputArrivesNumberedInOrderWithTheExitLast) {
    startExecutor();
    startRun("run-1",
             "i=1; while [ $i -le 500 ]; do echo line $i; i=$((i+1)); done; echo oops >&2; exit 3");
    ASSERT_TRUE(sink_.waitForExit("run-1"))
        << readText(dir_ / "executor.log") << sink_.events("run-1", "stdout").size()
        << " lines; status " << client().runStatus(trace_, "run-1").dump();
    const auto lines = sink_.events("run-1", "stdout");
    ASSERT_EQ(lines.size(), 500u);
    for (std::size_t i = 0; i < lines.size(); ++i) {
        EXPECT_EQ(lines[i]["seq"], i + 1);
        EXPECT_EQ(lines[i]["line"], "line " + std::to_string(i + 1));
        EXPECT_EQ(lines[i]["event_id"], "run-1/stdout/" + std::to_string(i + 1));
    }
    EXPECT_EQ(sink_.events("run-1", "stderr").at(0)["line"], "oops");
    const auto exit = sink_.events("run-1", "exit").at(0);
    EXPECT_EQ(exit["exit_code"], 3);
    EXPECT_EQ(exit["stdout_lines"], 500);
    EXPECT_EQ(sink_.lastToken(), "Bearer cb-token");
    EXPECT_EQ(client().runStatus(trace_, "run-1")["state"], "exited");
    // The executor's log carries the caller's trace headers (information lines are
    // buffered: written within 100 ms).
    std::string log;
    eventually([&] {
        log = readText(dir_ / "executor.log");
        return log.find("\"operation\":\"runs.start\"") != std::string::npos;
    });
    EXPECT_NE(log.find("\"operation\":\"runs.start\""), std::string::npos) << log.substr(0, 2000);
    EXPECT_NE(log.find("\"run_id\":\"run-1\""), std::string::npos);
    EXPECT_NE(log.find("\"executor_id\":\"exec-1\""), std::string::npos);
}

TEST_F(AgentExecutor, ItsSpoolSocketAndLogAreItsOwnersAloneWhateverTheUmask) {
    {
        const ScopedUmask permissive(0);
        startExecutor();
    }
    startRun("run-1", "echo hello");
    ASSERT_TRUE(sink_.waitForExit("run-1")) << readText(dir_ / "executor.log");
    namespace fs = std::filesystem;
    std::vector<fs::path> paths{dir_ / "spool", dir_ / "executor.sock", dir_ / "executor.log"};
    for (const auto& entry : fs::recursive_directory_iterator(dir_ / "spool"))
        paths.push_back(entry.path());
    ASSERT_GT(paths.size(), 4u) << "the run left nothing in the spool";
    for (const auto& path : paths) {
        const auto perms = fs::symlink_status(path).permissions();
        const auto others = fs::is_directory(path)
                                ? fs::perms::group_all | fs::perms::others_all
                                : fs::perms::group_read | fs::perms::group_write |
                                      fs::perms::others_read | fs::perms::others_write;
        EXPECT_TRUE((perms & others) == fs::perms::none)
            << path << " is " << std::oct << static_cast<unsigned>(perms);
    }
}

TEST_F(AgentExecutor, AHostOutageLosesNothingAndDuplicatesNothing) {
    startExecutor();
    sink_.setDown(true);
    startRun("run-2", "i=1; while [ $i -le 200 ]; do echo $i; i=$((i+1)); done");
    // The executor keeps trying while the host is down...
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (sink_.refused() < 2 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(20ms);
    ASSERT_GE(sink_.refused(), 2);
    sink_.setDown(false);
    // ...and delivers everything, once, in order, when it is back.
    ASSERT_TRUE(sink_.waitForExit("run-2")) << readText(dir_ / "executor.log");
    const auto lines = sink_.events("run-2", "stdout");
    ASSERT_EQ(lines.size(), 200u);
    for (std::size_t i = 0; i < lines.size(); ++i)
        EXPECT_EQ(lines[i]["line"], std::to_string(i + 1));
}

TEST_F(AgentExecutor, AnExecutorKilledMidDeliveryLosesNothing) {
    // Many lines, spooled in large groups; the executor is killed (-9) once it has begun
    // delivering them, and the next one on the same spool delivers the rest.
    constexpr std::size_t kLines = 200000;
    startExecutor();
    sink_.setDown(true);
    startRun("run-3", "seq 1 " + std::to_string(kLines));
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (client().runStatus(trace_, "run-3")["state"] != "exited" &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    ASSERT_EQ(client().runStatus(trace_, "run-3")["stdout_lines"], kLines);
    sink_.setDown(false);
    auto delivered = [&] {
        const auto deliveries = sink_.deliveries("run-3");
        return std::any_of(deliveries.begin(), deliveries.end(),
                           [](const auto& d) { return d.status == 200; });
    };
    deadline = std::chrono::steady_clock::now() + 30s;
    while (!delivered() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(1ms);
    executor_->signal(SIGKILL);
    executor_->waitFor(5s);
    startExecutor();  // same spool directory: it picks up where the killed one stopped
    ASSERT_TRUE(sink_.waitForExit("run-3", 60s)) << readText(dir_ / "executor.log");
    // Every line once (the sink keeps each event id once, as the host does), in order.
    const auto lines = sink_.events("run-3", "stdout");
    ASSERT_EQ(lines.size(), kLines);
    std::size_t misplaced = 0;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        if (lines[i]["seq"] != i + 1 || lines[i]["line"] != std::to_string(i + 1)) ++misplaced;
    }
    EXPECT_EQ(misplaced, 0u);
    EXPECT_EQ(sink_.events("run-3", "exit").at(0)["stdout_lines"], kLines);
}

TEST_F(AgentExecutor, EveryCallbackOfARunCarriesTheTraceOfItsStart) {
    startExecutor();
    const std::string traceA = "4bf92f3577b34da6a3ce929d0e0e4736";
    const std::string traceB = "0af7651916cd43dd8448eb211c80319c";
    // More lines than one batch holds (256), on both streams, then the exit.
    startRun("run-11",
             "sleep 0.5; i=1; while [ $i -le 600 ]; do echo $i; echo e$i >&2; i=$((i+1)); done",
             Json::object(), traceA);
    // A retried start under another trace is the same run, with its first trace.
    startRun("run-11", "echo never", Json::object(), "ffffffffffffffffffffffffffffffff");
    startRun("run-12", "i=1; while [ $i -le 300 ]; do echo $i; i=$((i+1)); done", Json::object(),
             traceB);
    ASSERT_TRUE(sink_.waitForExit("run-11")) << readText(dir_ / "executor.log");
    ASSERT_TRUE(sink_.waitForExit("run-12")) << readText(dir_ / "executor.log");
    ASSERT_EQ(sink_.events("run-11", "stdout").size(), 600u);
    EXPECT_GE(sink_.deliveries("run-11").size(), 5u) << "1201 records need several batches";
    expectEveryCallbackCarries("run-11", traceA);
    expectEveryCallbackCarries("run-12", traceB);
}

TEST_F(AgentExecutor, ARunKeepsItsTraceAcrossAnExecutorRestart) {
    startExecutor();
    sink_.setDown(true);
    const std::string trace = "5e8f2a1c9b7d4e3fa6c0b1d2e3f40516";
    startRun("run-13", "i=1; while [ $i -le 300 ]; do echo $i; i=$((i+1)); done", Json::object(),
             trace);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while ((client().runStatus(trace_, "run-13")["state"] != "exited" || sink_.refused() < 1) &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    executor_->signal(SIGKILL);
    executor_->waitFor(5s);
    sink_.setDown(false);
    startExecutor();  // same spool directory: the run's trace comes back with its records
    ASSERT_TRUE(sink_.waitForExit("run-13")) << readText(dir_ / "executor.log");
    ASSERT_EQ(sink_.events("run-13", "stdout").size(), 300u);
    const auto deliveries = sink_.deliveries("run-13");
    ASSERT_TRUE(
        std::any_of(deliveries.begin(), deliveries.end(), [](const auto& d) { return d.refused; }));
    ASSERT_TRUE(std::any_of(deliveries.begin(), deliveries.end(),
                            [](const auto& d) { return !d.refused; }));
    expectEveryCallbackCarries("run-13", trace);
}

TEST_F(AgentExecutor, StopBySignalReachesTheWholeProcessGroup) {
    startExecutor();
    startRun("run-4", "sleep 300 & echo $!; wait");
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (sink_.events("run-4", "stdout").empty() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    const pid_t grandchild =
        std::stoi(sink_.events("run-4", "stdout").at(0)["line"].get<std::string>());
    ASSERT_EQ(::kill(grandchild, 0), 0) << "the background sleep runs";
    client().signalRun(trace_, "run-4", "TERM");
    ASSERT_TRUE(sink_.waitForExit("run-4"));
    EXPECT_EQ(sink_.events("run-4", "exit").at(0)["signal"], SIGTERM);
    const auto gone = std::chrono::steady_clock::now() + 5s;
    while (::kill(grandchild, 0) == 0 && std::chrono::steady_clock::now() < gone)
        std::this_thread::sleep_for(20ms);
    EXPECT_NE(::kill(grandchild, 0), 0) << "the grandchild survived the stop";
}

TEST_F(AgentExecutor, StdinReachesTheProcessAndLongLinesArriveInPieces) {
    startExecutor();
    startRun("run-5", "cat", {{"keep_stdin_open", true}});
    const std::string longLine(3 * 1024 * 1024 + 5, 'x');
    client().writeStdin(trace_, "run-5", "hello\n" + longLine + "\n", true);
    ASSERT_TRUE(sink_.waitForExit("run-5"));
    const auto lines = sink_.events("run-5", "stdout");
    ASSERT_GE(lines.size(), 5u);
    EXPECT_EQ(lines[0]["line"], "hello");
    std::string rebuilt;
    for (std::size_t i = 1; i < lines.size(); ++i) {
        rebuilt += lines[i]["line"].get<std::string>();
        EXPECT_EQ(lines[i].value("continued", false), i + 1 < lines.size()) << i;
    }
    EXPECT_EQ(rebuilt, longLine);
    EXPECT_EQ(sink_.events("run-5", "exit").at(0)["exit_code"], 0);
}

TEST_F(AgentExecutor, TheSpecsStdinReachesTheProcessWithoutHoldingUpTheStart) {
    startExecutor();
    // More than a pipe holds, for a process that reads it late; later writes come after it.
    const std::string prompt(300 * 1024, 'p');
    const auto before = std::chrono::steady_clock::now();
    startRun("run-6", "sleep 1; wc -c", {{"stdin", prompt}, {"keep_stdin_open", true}});
    EXPECT_LT(std::chrono::steady_clock::now() - before, 900ms)
        << "the start waited for the reader";
    client().writeStdin(trace_, "run-6", "tail\n", true);
    ASSERT_TRUE(sink_.waitForExit("run-6"));
    const auto lines = sink_.events("run-6", "stdout");
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0]["line"], std::to_string(prompt.size() + 5));
    EXPECT_EQ(sink_.events("run-6", "exit").at(0)["exit_code"], 0);
}

TEST_F(AgentExecutor, AProcessThatNeverReadsItsStdinStillStartsAndEnds) {
    startExecutor();
    const std::string prompt(1024 * 1024, 'p');
    const auto before = std::chrono::steady_clock::now();
    startRun("run-7", "exec sleep 300", {{"stdin", prompt}});
    EXPECT_LT(std::chrono::steady_clock::now() - before, 900ms)
        << "the start waited for the reader";
    client().signalRun(trace_, "run-7", "TERM");
    ASSERT_TRUE(sink_.waitForExit("run-7"));
    EXPECT_EQ(sink_.events("run-7", "exit").at(0)["signal"], SIGTERM);
    startRun("run-8", "echo done", {{"stdin", prompt}});
    ASSERT_TRUE(sink_.waitForExit("run-8"));
    EXPECT_EQ(sink_.events("run-8", "exit").at(0)["exit_code"], 0);
}

TEST_F(AgentExecutor, WithoutStdinToWriteTheProcessReadsDevNull) {
    startExecutor();
    startRun("run-9", "readlink /proc/$$/fd/0");
    ASSERT_TRUE(sink_.waitForExit("run-9"));
    EXPECT_EQ(sink_.events("run-9", "stdout").at(0)["line"], "/dev/null");
}

TEST_F(AgentExecutor, EveryCallNeedsTheWorkersToken) {
    startExecutor();
    try {
        client("wrong").health(trace_);
        FAIL() << "wrong token accepted";
    } catch (const ExecutorCallError& e) {
        EXPECT_EQ(e.failure().status, 401);
    }
    EXPECT_EQ(client().health(trace_)["status"], "ok");
    // A repeated start of the same run id is the same run, not a second process.
    const auto first = startRun("run-6", "sleep 5");
    const auto again = startRun("run-6", "echo never");
    EXPECT_EQ(first["pid"], again["pid"]);
    client().signalRun(trace_, "run-6", "KILL");
}

//! True while `pid` exists and is not a zombie.
bool alive(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text;
    if (!std::getline(stat, text)) return false;
    const auto close = text.rfind(')');
    return close != std::string::npos && close + 2 < text.size() && text[close + 2] != 'Z';
}

//! Whether `pid` is gone entirely (reaped), waiting up to `timeout` for it.
bool waitGone(pid_t pid, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::filesystem::exists("/proc/" + std::to_string(pid)) &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    return !std::filesystem::exists("/proc/" + std::to_string(pid));
}

//! The pids a run printed, one per line, once it printed `count` of them.
std::vector<pid_t> printedPids(CallbackSink& sink, const std::string& runId, std::size_t count) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (sink.events(runId, "stdout").size() < count &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    std::vector<pid_t> pids;
    for (const auto& line : sink.events(runId, "stdout"))
        pids.push_back(std::stoi(line["line"].get<std::string>()));
    return pids;
}

TEST_F(AgentExecutor, NothingARunStartedOutlivesIt) {
    startExecutor();
    // Children in sessions of their own are out of reach of a process-group kill; the first
    // keeps the output pipe open, the second is an orphan re-parented to the executor.
    startRun("run-7",
             "setsid sleep 300 & echo $!; (setsid sleep 301 >/dev/null 2>&1 </dev/null & echo $!)");
    ASSERT_TRUE(sink_.waitForExit("run-7", 10s))
        << "a child holding the pipe must not hold the run open";
    const auto pids = printedPids(sink_, "run-7", 2);
    ASSERT_EQ(pids.size(), 2u);
    EXPECT_EQ(sink_.events("run-7", "exit").at(0)["exit_code"], 0);
    for (const pid_t pid : pids)
        EXPECT_TRUE(waitGone(pid)) << pid << " survived its run (or is an unreaped zombie)";
}

TEST_F(AgentExecutor, ARunsCleanupSparesTheOtherRuns) {
    startExecutor();
    // run-8 goes on: a child in its own session below it, an orphan of it re-parented to
    // the executor, and a short-lived orphan that must be reaped when it ends.
    startRun("run-8",
             "setsid sleep 300 >/dev/null 2>&1 </dev/null & echo $!;"
             " (setsid sleep 301 >/dev/null 2>&1 </dev/null & echo $!);"
             " (setsid sleep 0.3 >/dev/null 2>&1 </dev/null & echo $!); wait");
    const auto kept = printedPids(sink_, "run-8", 3);
    ASSERT_EQ(kept.size(), 3u);
    startRun("run-9", "setsid sleep 302 & echo $!");
    ASSERT_TRUE(sink_.waitForExit("run-9", 10s));
    const auto ended = printedPids(sink_, "run-9", 1);
    ASSERT_EQ(ended.size(), 1u);
    EXPECT_TRUE(waitGone(ended[0])) << "run-9's leftover survived";
    EXPECT_TRUE(alive(kept[0])) << "run-9's cleanup killed run-8's child";
    EXPECT_TRUE(alive(kept[1])) << "run-9's cleanup killed run-8's orphan";
    EXPECT_EQ(client().runStatus(trace_, "run-8")["state"], "running");
    EXPECT_TRUE(waitGone(kept[2])) << "an adopted orphan that ended was not reaped";

    client().signalRun(trace_, "run-8", "KILL");
    ASSERT_TRUE(sink_.waitForExit("run-8", 10s));
    EXPECT_TRUE(waitGone(kept[0]));
    EXPECT_TRUE(waitGone(kept[1]));
}

TEST_F(AgentExecutor, WithExitWithParentItEndsWhenItsParentDoesAndItsRunsWithIt) {
    // A parent that starts the executor, waits for the test's go, and exits.
    SubprocessOptions options;
    options.argv = {"sh",
                    "-c",
                    "printf 'exec-token\\ncb-token\\n' | \"$0\" --socket \"$1\" --spool-dir \"$2\""
                    " --callback-url \"$3\" --executor-id exec-1"
                    " --session-id chat-1 --exit-with-parent >/dev/null 2>>\"$4\" & echo $!;"
                    " while [ ! -e \"$5\" ]; do sleep 0.05; done; exit 0",
                    std::string(AW_BUILD_DIR) + "/bin/agent-executor",
                    socket(),
                    (dir_ / "spool").string(),
                    sink_.url(),
                    (dir_ / "executor.log").string(),
                    (dir_ / "go").string()};
    Subprocess parent(options);
    const auto line = parent.readLine(10s);
    ASSERT_TRUE(line.has_value());
    const pid_t executor = std::stoi(*line);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!std::filesystem::exists(socket()) && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    ASSERT_EQ(client().health(trace_)["status"], "ok") << readText(dir_ / "executor.log");
    const pid_t sleeper =
        client().startRun(trace_, {{"run_id", "run-10"}, {"argv", {"sleep", "300"}}})["pid"];
    ASSERT_TRUE(alive(sleeper));

    std::ofstream(dir_ / "go") << "";
    ASSERT_TRUE(parent.waitFor(10s).has_value());
    // The executor is re-parented (to init or a subreaper, which may or may not reap it).
    const auto gone = std::chrono::steady_clock::now() + 10s;
    while (alive(executor) && std::chrono::steady_clock::now() < gone)
        std::this_thread::sleep_for(20ms);
    EXPECT_FALSE(alive(executor)) << "the executor outlived its parent";
    EXPECT_FALSE(alive(sleeper)) << "its run outlived it";
    EXPECT_NE(readText(dir_ / "executor.log").find("parent process is gone"), std::string::npos);
}

}  // namespace
}  // namespace aw::test
