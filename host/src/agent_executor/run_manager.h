// The processes an executor runs for the host: each in its own process group, stdout and
// stderr split into numbered lines and appended to the output spool, the exit last.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "agent_executor/output_spool.h"
#include "process/subprocess.h"

namespace aw {

class RunManager {
public:
    //! Lines longer than this are delivered in pieces marked "continued": true.
    static constexpr std::size_t kMaxLineBytes = 1024 * 1024;

    explicit RunManager(OutputSpool& spool) : spool_(spool) {}
    ~RunManager();

    //! {"run_id","argv":[...],"env":{...},"cwd","stdin"?,"keep_stdin_open"?}. Starting a
    //! run id that exists returns its status: a retried start never starts it twice.
    nlohmann::json start(const nlohmann::json& spec);
    nlohmann::json writeStdin(const std::string& runId, const std::string& bytes, bool close);
    //! INT, TERM or KILL, to the whole process group.
    nlohmann::json signal(const std::string& runId, const std::string& signal);
    nlohmann::json status(const std::string& runId);

private:
    struct Run;
    std::shared_ptr<Run> find(const std::string& runId);
    void pump(std::shared_ptr<Run> run);

    OutputSpool& spool_;
    std::mutex mutex_;
    std::map<std::string, std::shared_ptr<Run>> runs_;
};

}  // namespace aw
