#include "support/executor_process.h"

namespace aw::test {

std::unique_ptr<Subprocess> startExecutor(SubprocessOptions options,
                                          const std::string& executorToken,
                                          const std::string& callbackToken,
                                          const std::vector<std::string>& moreLines) {
    options.pipeStdin = true;
    auto executor = std::make_unique<Subprocess>(options);
    std::string lines = executorToken + "\n" + callbackToken + "\n";
    for (const auto& line : moreLines) lines += line + "\n";
    executor->writeStdin(lines);
    executor->closeStdin();
    return executor;
}

}  // namespace aw::test
