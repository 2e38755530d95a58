// (AwDemo) `make demo` without a terminal: scripts/demo.sh --check starts the scripted model
// server and agent-host itself, drives a Claude Code run with aw (allowing what it asks) and
// exits 0 only when the run completed and made its files.
#include <gtest/gtest.h>

#include <fstream>

#include "process/subprocess.h"
#include "support/agent_clis.h"
#include "support/temp_dir.h"

namespace aw::awcli {
namespace {

using namespace std::chrono_literals;

TEST(AwDemo, DemoScriptCheckRunsTheDemoToTheEnd) {
    ASSERT_EQ(live::missingCli(live::Cli::ClaudeCode), "") << "run scripts/install-agent-clis.sh";
    test::TempDir dir("aw-demo-test");
    SubprocessOptions options;
    options.argv = {std::string(AW_SOURCE_DIR) + "/scripts/demo.sh", "--check", AW_BUILD_DIR};
    options.env = {{"TMPDIR", dir.path().string()}};
    options.unsetEnv = {"AW_URL", "AW_TOKEN", "AW_ADMIN_TOKEN"};
    options.stderrFile = (dir / "stderr").string();
    Subprocess demo(options);
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + 150s;
    while (!demo.stdoutClosed() && std::chrono::steady_clock::now() < deadline) {
        if (auto line = demo.readLine(1s)) out += *line + "\n";
    }
    auto status = demo.waitFor(10s);
    if (!status) status = demo.terminate(3000ms);
    std::ifstream errFile(dir / "stderr");
    const std::string err((std::istreambuf_iterator<char>(errFile)),
                          std::istreambuf_iterator<char>());
    ASSERT_EQ(status->code, 0) << status->describe() << "\n--- stdout:\n"
                               << out << "\n--- stderr:\n"
                               << err;
    EXPECT_NE(out.find("demo check: ok"), std::string::npos) << out;
    EXPECT_NE(out.find("? Bash asks for permission"), std::string::npos) << out;
    EXPECT_NE(out.find("todos:"), std::string::npos) << out;
    EXPECT_NE(out.find("hello.txt: hello"), std::string::npos) << out;
    EXPECT_NE(out.find("notes.txt: notes written by the scripted model"), std::string::npos) << out;
    // The script tore down what it started: its work directory is gone.
    std::size_t left = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
        left += entry.path().filename().string().rfind("aw-demo.", 0) == 0;
    }
    EXPECT_EQ(left, 0u);
}

}  // namespace
}  // namespace aw::awcli
