#include "runtime/worker_tokens.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>

#include "agent_worker/core/identifiers.h"
#include "agent_worker/core/problem.h"
#include "agent_worker/core/random_id.h"

namespace aw {
namespace fs = std::filesystem;
namespace {

constexpr const char* kExecutorToken = "executor-token";
constexpr const char* kCallbackToken = "callback-token";

ProblemError tokenProblem(const std::string& message, const std::string& hint) {
    return ProblemError({"runtime_unavailable", message, hint});
}

//! A new random token in `file`, written 0600 from the start (it is a credential).
std::string writeNewToken(const fs::path& file) {
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) throw tokenProblem("cannot create " + file.string(), "check the data dir");
    const std::string token = newToken();
    const std::string line = token + "\n";
    const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    ::close(fd);
    if (!written) throw tokenProblem("cannot write " + file.string(), "check free space");
    return token;
}

std::string readFirstLine(const fs::path& file) {
    std::ifstream in(file);
    std::string line;
    std::getline(in, line);
    return line;
}

}  // namespace

WorkerTokens::WorkerTokens(const fs::path& workersDir, ExecutorIdOf executorId)
    : root_(workersDir.parent_path() / "workers-private"), executorId_(std::move(executorId)) {
    fs::create_directories(root_);
    fs::permissions(root_, fs::perms::owner_all);
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(workersDir, error)) {
        SessionWorker worker;
        worker.sessionId = entry.path().filename().string();
        if (checkIdentifier("session", worker.sessionId)) continue;
        const std::string token = readFirstLine(privateDir(worker) / kCallbackToken);
        if (!token.empty()) callbackTokens_.bind(worker.sessionId, executorId_(worker), token);
    }
}

fs::path WorkerTokens::privateDir(const SessionWorker& worker) const {
    if (auto problem = checkIdentifier("session", worker.sessionId)) throw ProblemError(*problem);
    return root_ / worker.sessionId;
}

void WorkerTokens::issue(const SessionWorker& worker) {
    const auto dir = privateDir(worker);
    fs::create_directories(dir);
    fs::permissions(dir, fs::perms::owner_all);
    if (!fs::exists(dir / kExecutorToken)) writeNewToken(dir / kExecutorToken);
    callbackToken(worker);
}

std::string WorkerTokens::executorToken(const SessionWorker& worker) const {
    return readFirstLine(privateDir(worker) / kExecutorToken);
}

std::string WorkerTokens::callbackToken(const SessionWorker& worker) {
    const auto file = privateDir(worker) / kCallbackToken;
    std::string token = readFirstLine(file);
    if (token.empty()) token = writeNewToken(file);
    callbackTokens_.bind(worker.sessionId, executorId_(worker), token);
    return token;
}

void WorkerTokens::revoke(const SessionWorker& worker) {
    // Revoked before the files go: nothing the removed worker left can post again.
    callbackTokens_.revoke(worker.sessionId);
    std::error_code ignored;
    fs::remove_all(privateDir(worker), ignored);
}

}  // namespace aw
