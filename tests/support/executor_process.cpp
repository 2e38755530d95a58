#include "support/executor_process.h"

namespace aw::test {

std::unique_ptr<Subprocess> startExecutor(SubprocessOptions options,
                                          const std::string& executorToken,
                                          const std::string& callbackToken) {
    options.pipeStdin = true;
    auto executor = std::make_unique<Subprocess>(options);
    executor->writeStdin(executorToken + "\n" + callbackToken + "\n");
    executor->closeStdin();
    return executor;
}

}  // namespace aw::test
