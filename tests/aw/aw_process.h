// build/bin/aw as a child process: its exit status, stdout and stderr, read line by line
// while it runs (a test answers what it asks, or interrupts it).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "process/subprocess.h"
#include "support/temp_dir.h"

namespace aw::awcli {

std::string awBinary();  //!< <build>/bin/aw

struct AwResult {
    ExitStatus status;
    std::string out;  //!< stdout
    std::string err;  //!< stderr
    std::string describe() const;
};

class AwProcess {
public:
    AwProcess(const std::vector<std::string>& args, const std::map<std::string, std::string>& env);

    //! The next stdout line, or nullopt once stdout ended or `timeout` passed.
    std::optional<std::string> nextLine(std::chrono::milliseconds timeout);
    //! Reads stdout until a line contains `text`; that line, or nullopt (ended, timed out).
    std::optional<std::string> waitForLine(const std::string& text,
                                           std::chrono::milliseconds timeout);
    void signal(int sig) { process_->signal(sig); }
    //! Reads the rest of stdout and waits for the end; SIGKILL after `timeout`.
    AwResult finish(std::chrono::milliseconds timeout);
    const std::string& outSoFar() const { return out_; }

private:
    test::TempDir dir_{"aw-cli"};
    std::unique_ptr<Subprocess> process_;
    std::string out_;
};

//! Runs aw to its end (at most `timeout`).
AwResult runAw(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
               std::chrono::milliseconds timeout = std::chrono::seconds(120));

}  // namespace aw::awcli
