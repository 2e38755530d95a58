// The processes an executor runs for the host: each in its own process group, stdout and
// stderr split into numbered lines and appended to the output spool, the exit last. No
// process outlives its run: when the run's process exits, its group and whatever it left
// behind (orphans re-parented to the executor, children in sessions of their own) are
// killed, sparing what belongs to the other runs still going. The executor is expected to
// be a child subreaper (PR_SET_CHILD_SUBREAPER); the orphans it adopts are reaped here.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "agent_executor/output_spool.h"
#include "agent_worker/core/executor_protocol.h"
#include "process/subprocess.h"

namespace aw {

class RunManager {
public:
    //! A line is held up to this much before its first pieces go out.
    static constexpr std::size_t kMaxLineBytes = 1024 * 1024;

    //! Set in every run's environment (so inherited by its descendants): the run a
    //! leftover process belongs to, when it is no longer in the run's tree or group.
    static constexpr const char* kRunIdVariable = "AW_EXECUTOR_RUN_ID";

    //! `callbackBodyBytes`: the host's body limit for callbacks as the deliverer knows it
    //! (it lowers it on a 413). A line whose record would not fit a callback of its own is
    //! delivered in pieces marked "continued": true, cut between UTF-8 characters.
    RunManager(OutputSpool& spool, const std::atomic<std::size_t>& callbackBodyBytes);
    //! Kills every run and everything they left behind.
    ~RunManager();

    //! Starts the spec's process. Starting a run id that exists returns its status: a
    //! retried start never starts it twice. `traceId` (the trace of the host's start call;
    //! a fresh one when empty) goes with every callback of the run, kept in the spool.
    ExecutorRunStatus start(const ExecutorRunSpec& spec, const std::string& traceId);
    StdinWriteAnswer writeStdin(const std::string& runId, const StdinWrite& write);
    //! To the whole process group.
    SignalAnswer signal(const std::string& runId, RunSignal signal);
    ExecutorRunStatus status(const std::string& runId);

private:
    struct Run;
    std::shared_ptr<Run> find(const std::string& runId);
    void pump(std::shared_ptr<Run> run);
    //! Kills the descendants of the executor that belong to no live run (`finished`: the
    //! run that just ended, whose own tagged processes are not spared; nullopt: everything)
    //! and reaps adopted zombies. Returns how many processes it killed.
    std::size_t killLeftovers(const std::optional<std::string>& finished);
    //! Reaps zombie children that are not a live run's leader (those are Subprocess's).
    void reapOrphans();

    OutputSpool& spool_;
    const std::atomic<std::size_t>& callbackBodyBytes_;
    std::mutex mutex_;
    std::map<std::string, std::shared_ptr<Run>> runs_;
    //! Guards spawning, `live_`, and scanning and reaping the process table: a run being
    //! started is either not forked yet or registered, never an unclaimed child.
    std::mutex processMutex_;
    std::map<pid_t, std::string> live_;  //!< leader pid (= process group) -> run id, until cleaned up
    std::mutex reaperMutex_;
    std::condition_variable reaperWake_;
    bool stopping_ = false;
    std::thread reaper_;
};

}  // namespace aw
