#include "aw/aw_process.h"

#include <csignal>
#include <fstream>
#include <sstream>

namespace aw::awcli {

std::string awBinary() {
    return std::string(AW_BUILD_DIR) + "/bin/aw";
}

std::string AwResult::describe() const {
    return "aw ended with " + status.describe() + "\n--- stdout:\n" + out + "\n--- stderr:\n" + err;
}

AwProcess::AwProcess(const std::vector<std::string>& args,
                     const std::map<std::string, std::string>& env) {
    SubprocessOptions options;
    options.argv = {awBinary()};
    options.argv.insert(options.argv.end(), args.begin(), args.end());
    options.env = env;
    // The tests say where agent-host is; the developer's own settings must not leak in.
    for (const char* name : {"AW_URL", "AW_TOKEN", "AW_ADMIN_TOKEN"}) {
        if (!env.count(name)) options.unsetEnv.push_back(name);
    }
    options.stderrFile = (dir_ / "stderr").string();
    process_ = std::make_unique<Subprocess>(options);
}

std::optional<std::string> AwProcess::nextLine(std::chrono::milliseconds timeout) {
    auto line = process_->readLine(timeout);
    if (line) out_ += *line + "\n";
    return line;
}

std::optional<std::string> AwProcess::waitForLine(const std::string& text,
                                                  std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        auto line = nextLine(left);
        if (!line) return std::nullopt;
        if (line->find(text) != std::string::npos) return line;
    }
    return std::nullopt;
}

AwResult AwProcess::finish(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!process_->stdoutClosed() && std::chrono::steady_clock::now() < deadline) {
        nextLine(std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now()));
    }
    AwResult result;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    auto status = process_->waitFor(std::max(left, std::chrono::milliseconds(100)));
    result.status = status ? *status : process_->terminate(std::chrono::milliseconds(100));
    result.out = out_;
    std::ifstream err(dir_ / "stderr");
    std::stringstream text;
    text << err.rdbuf();
    result.err = text.str();
    if (!status) result.err += "\n(aw did not end within the test's time and was killed)";
    return result;
}

AwResult runAw(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
               std::chrono::milliseconds timeout) {
    AwProcess aw(args, env);
    return aw.finish(timeout);
}

}  // namespace aw::awcli
