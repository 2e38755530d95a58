#include "process/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <thread>
#include <utility>

extern char** environ;

namespace aw {
namespace {

void closeFd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
}

ExitStatus fromWaitStatus(int status) {
    if (WIFSIGNALED(status)) return ExitStatus{-1, WTERMSIG(status)};
    return ExitStatus{WEXITSTATUS(status), 0};
}

std::vector<std::string> buildEnvironment(const SubprocessOptions& options) {
    std::map<std::string, std::string> merged;
    if (options.inheritEnvironment) {
        for (char** entry = environ; entry && *entry; ++entry) {
            const std::string item(*entry);
            const auto eq = item.find('=');
            if (eq != std::string::npos) merged[item.substr(0, eq)] = item.substr(eq + 1);
        }
    }
    for (const auto& name : options.unsetEnv) merged.erase(name);
    for (const auto& [name, value] : options.env) merged[name] = value;
    std::vector<std::string> out;
    for (const auto& [name, value] : merged) out.push_back(name + "=" + value);
    return out;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
    std::vector<char*> out;
    for (auto& s : strings) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

}  // namespace

std::string ExitStatus::describe() const {
    if (signal != 0) return "signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
    return "exit code " + std::to_string(code);
}

Subprocess::Subprocess(const SubprocessOptions& options) : ownGroup_(options.ownProcessGroup) {
    if (options.argv.empty()) throw std::invalid_argument("Subprocess needs a program");
    std::vector<std::string> args = options.argv;
    std::vector<std::string> envStrings = buildEnvironment(options);
    auto argPointers = pointers(args);
    auto envPointers = pointers(envStrings);

    int stdinPipe[2] = {-1, -1}, stdoutPipe[2] = {-1, -1}, stderrPipe[2] = {-1, -1};
    int errorPipe[2] = {-1, -1};
    auto fail = [&](const char* what) {
        const int error = errno;
        for (int fd : {stdinPipe[0], stdinPipe[1], stdoutPipe[0], stdoutPipe[1], stderrPipe[0],
                       stderrPipe[1], errorPipe[0], errorPipe[1]}) {
            if (fd >= 0) ::close(fd);
        }
        throw std::system_error(error, std::generic_category(), what);
    };
    if (options.pipeStdin && ::pipe2(stdinPipe, O_CLOEXEC) != 0) fail("pipe");
    if (options.pipeStdout && ::pipe2(stdoutPipe, O_CLOEXEC) != 0) fail("pipe");
    if (options.pipeStderr && ::pipe2(stderrPipe, O_CLOEXEC) != 0) fail("pipe");
    // Reports exec failure (errno) to the parent; closes on a successful exec.
    if (::pipe2(errorPipe, O_CLOEXEC) != 0) fail("pipe");
    // A child's output may hold anything it saw (paths, prompts, tokens): its owner's alone.
    auto openLog = [&](const std::string& file) {
        if (file.empty()) return -1;
        const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0) fail(("open " + file).c_str());
        return fd;
    };
    const int stderrFd = options.pipeStderr ? -1 : openLog(options.stderrFile);
    const int stdoutFd = options.pipeStdout ? -1 : openLog(options.stdoutFile);

    pid_ = ::fork();
    if (pid_ < 0) fail("fork");
    if (pid_ == 0) {
        // Child: only async-signal-safe calls from here to exec.
        if (options.ownProcessGroup) ::setpgid(0, 0);
        int devNull = ::open("/dev/null", O_RDWR);
        ::dup2(options.pipeStdin ? stdinPipe[0] : devNull, 0);
        if (options.pipeStdout) ::dup2(stdoutPipe[1], 1);
        if (stdoutFd >= 0) ::dup2(stdoutFd, 1);
        if (stderrFd >= 0) ::dup2(stderrFd, 2);
        if (options.pipeStderr) ::dup2(stderrPipe[1], 2);
        // Only stdin, stdout and stderr pass to the program. Whatever else the parent holds
        // (agent-host's listening socket and its clients' connections, database files) would
        // reach executors, providers and agent CLIs: an agent could accept the host's
        // connections, and the port kept accepting after the host closed it. Marked
        // close-on-exec rather than closed, so errorPipe still reports a failed exec.
        ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        struct sigaction ignore {};
        ignore.sa_handler = SIG_IGN;
        for (int sig : options.ignoredSignals) ::sigaction(sig, &ignore, nullptr);
        if (!options.workingDir.empty() && ::chdir(options.workingDir.c_str()) != 0) {
            const int error = errno;
            [[maybe_unused]] auto ignored = ::write(errorPipe[1], &error, sizeof error);
            ::_exit(127);
        }
        ::execvpe(argPointers[0], argPointers.data(), envPointers.data());
        const int error = errno;
        [[maybe_unused]] auto ignored = ::write(errorPipe[1], &error, sizeof error);
        ::_exit(127);
    }
    if (options.ownProcessGroup) ::setpgid(pid_, pid_);  // avoids racing the child's own call
    if (stderrFd >= 0) ::close(stderrFd);
    if (stdoutFd >= 0) ::close(stdoutFd);
    closeFd(errorPipe[1]);
    if (options.pipeStdin) {
        ::close(stdinPipe[0]);
        stdinFd_ = stdinPipe[1];
    }
    if (options.pipeStdout) {
        ::close(stdoutPipe[1]);
        stdoutFd_ = stdoutPipe[0];
    }
    if (options.pipeStderr) {
        ::close(stderrPipe[1]);
        stderrFd_ = stderrPipe[0];
    }
    int childError = 0;
    const auto got = ::read(errorPipe[0], &childError, sizeof childError);
    ::close(errorPipe[0]);
    if (got == static_cast<ssize_t>(sizeof childError)) {
        int ignored = 0;
        ::waitpid(pid_, &ignored, 0);
        pid_ = -1;
        closeFd(stdinFd_);
        closeFd(stdoutFd_);
        closeFd(stderrFd_);
        throw std::system_error(childError, std::generic_category(),
                                "cannot start '" + options.argv[0] + "'");
    }
}

Subprocess::~Subprocess() {
    if (pid_ > 0 && !status_) terminate(std::chrono::milliseconds(2000));
    closeFd(stdinFd_);
    closeFd(stdoutFd_);
    closeFd(stderrFd_);
}

std::optional<std::string> Subprocess::readLine(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (const auto newline = pending_.find('\n'); newline != std::string::npos) {
            std::string line = pending_.substr(0, newline);
            pending_.erase(0, newline + 1);
            return line;
        }
        if (stdoutFd_ < 0) {
            if (pending_.empty()) return std::nullopt;
            return std::exchange(pending_, std::string());
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return std::nullopt;
        pollfd fd{stdoutFd_, POLLIN, 0};
        const int ready = ::poll(&fd, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) return std::nullopt;
        char buffer[8192];
        const auto n = ::read(stdoutFd_, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            closeFd(stdoutFd_);
            continue;
        }
        pending_.append(buffer, static_cast<std::size_t>(n));
    }
}

bool Subprocess::writeStdin(const std::string& bytes) {
    std::size_t written = 0;
    while (stdinFd_ >= 0 && written < bytes.size()) {
        const auto n = ::write(stdinFd_, bytes.data() + written, bytes.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        written += static_cast<std::size_t>(n);
    }
    return written == bytes.size();
}

void Subprocess::closeStdin() {
    closeFd(stdinFd_);
}

void Subprocess::signal(int sig) {
    if (pid_ <= 0 || status_) return;
    ::kill(ownGroup_ ? -pid_ : pid_, sig);
}

std::optional<ExitStatus> Subprocess::poll() {
    if (status_ || pid_ <= 0) return status_;
    int status = 0;
    const pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) status_ = fromWaitStatus(status);
    return status_;
}

std::optional<ExitStatus> Subprocess::waitFor(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto pause = std::chrono::milliseconds(1);
    while (!poll()) {
        if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::milliseconds(50));
    }
    return status_;
}

ExitStatus Subprocess::terminate(std::chrono::milliseconds grace) {
    if (auto done = poll()) return *done;
    signal(SIGTERM);
    if (auto done = waitFor(grace)) return *done;
    signal(SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    status_ = fromWaitStatus(status);
    return *status_;
}

}  // namespace aw
