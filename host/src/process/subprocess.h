// A child process with pipes, owned RAII-style: it is terminated when the owner goes away.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace aw {

struct SubprocessOptions {
    std::vector<std::string> argv;           //!< argv[0] is looked up on PATH when it has no '/'
    std::map<std::string, std::string> env;  //!< added to (or replacing) the inherited ones
    std::vector<std::string> unsetEnv;       //!< inherited variables to drop
    bool inheritEnvironment = true;
    std::string workingDir;       //!< empty: the parent's
    bool pipeStdin = false;       //!< otherwise /dev/null
    bool pipeStdout = true;       //!< otherwise stdoutFile, or inherited
    std::string stdoutFile;       //!< with pipeStdout off: appended to this file
    bool pipeStderr = false;      //!< read it through stderrFd(); otherwise stderrFile
    std::string stderrFile;       //!< empty: inherited; otherwise appended to this file
    bool ownProcessGroup = true;  //!< so signals reach the whole tree
    //! Signals the child starts with ignored (exec keeps them so; a program may take them back).
    std::vector<int> ignoredSignals;
};

//! How a process ended.
struct ExitStatus {
    int code = -1;   //!< exit code, or -1 when killed by a signal
    int signal = 0;  //!< terminating signal, or 0
    bool exitedNormally() const { return signal == 0; }
    std::string describe() const;  //!< "exit code 3" / "signal 9 (Killed)"
};

class Subprocess {
public:
    //! Starts the process; throws std::system_error when it cannot be started (including
    //! a program that does not exist).
    explicit Subprocess(const SubprocessOptions& options);
    ~Subprocess();
    Subprocess(const Subprocess&) = delete;
    Subprocess& operator=(const Subprocess&) = delete;

    pid_t pid() const { return pid_; }

    //! Next stdout line without its newline; nullopt on timeout or end of output.
    std::optional<std::string> readLine(std::chrono::milliseconds timeout);
    //! True once stdout has reached end of file.
    bool stdoutClosed() const { return stdoutFd_ < 0 && pending_.empty(); }

    //! Raw pipe ends for callers that poll several streams themselves (-1 when not piped
    //! or closed). Reading them directly bypasses readLine()'s buffer: use one or the other.
    int stdinFd() const { return stdinFd_; }
    int stdoutFd() const { return stdoutFd_; }
    int stderrFd() const { return stderrFd_; }

    //! Writes everything to stdin; false when the child closed it.
    bool writeStdin(const std::string& bytes);
    void closeStdin();

    //! Sends `sig` to the process (its group when it has its own).
    void signal(int sig);
    //! The exit status if it has ended, without waiting.
    std::optional<ExitStatus> poll();
    //! Waits up to `timeout` for the end.
    std::optional<ExitStatus> waitFor(std::chrono::milliseconds timeout);
    //! SIGTERM, then SIGKILL after `grace`; returns how it ended.
    ExitStatus terminate(std::chrono::milliseconds grace = std::chrono::milliseconds(3000));

private:
    pid_t pid_ = -1;
    bool ownGroup_ = false;
    int stdinFd_ = -1;
    int stdoutFd_ = -1;
    int stderrFd_ = -1;
    std::string pending_;
    std::optional<ExitStatus> status_;
};

}  // namespace aw
