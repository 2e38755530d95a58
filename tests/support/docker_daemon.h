// A throwaway Docker engine for tests: Debian's dockerd started as root with
// `--bridge=none --iptables=false` and its own data root, exec root, pid file and unix socket
// in a temporary directory, stopped and deleted at the end. Starting one takes seconds, so a
// test binary shares one (DockerDaemonEnvironment). Also the tiny worker image the tests use:
// agent-executor, the shared libraries it needs, and a shell, imported through the Engine API
// with no registry and no dependency on `make worker-image`.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "process/subprocess.h"
#include "support/temp_dir.h"

namespace aw::test {

class DockerDaemon {
public:
    //! Throws std::runtime_error saying what is missing when dockerd cannot start.
    DockerDaemon();
    ~DockerDaemon();
    DockerDaemon(const DockerDaemon&) = delete;
    DockerDaemon& operator=(const DockerDaemon&) = delete;

    const std::string& socketPath() const { return socketPath_; }
    std::string dockerHost() const { return "unix://" + socketPath_; }
    //! The tail of dockerd's log, for failure messages.
    std::string logTail() const;

    //! Why no engine can be started here (empty when dockerd is there and we are root).
    static std::string unavailableReason();

private:
    TempDir dir_{"awd"};
    std::string socketPath_;
    std::unique_ptr<Subprocess> process_;
};

//! The test worker image, made once per daemon: `name` when imported.
struct TestWorkerImage {
    std::string name;  //!< repo:tag
    std::string user;  //!< uid:gid of its non-root user (named `agent` in its /etc/passwd)
};

//! Builds a root filesystem tar of agent-executor (at /usr/local/bin/agent-executor), every
//! shared library `ldd` names for it and for /bin/sh, cat and ls, an /etc/passwd naming the
//! non-root user and a fake `claude` (/usr/local/bin/claude printing a recorded turn), then
//! imports it (POST /images/create?fromSrc=-).
TestWorkerImage importTestWorkerImage(const std::string& socketPath, const std::string& name);

//! One daemon for the whole test binary: started in SetUp, stopped in TearDown. A daemon that
//! cannot start fails every test that asks for it, saying why.
class DockerDaemonEnvironment : public ::testing::Environment {
public:
    void SetUp() override;
    void TearDown() override;

    //! The shared daemon; fails the calling test (fatal) when it did not start.
    static DockerDaemon& daemon();
    //! The shared test image on it.
    static const TestWorkerImage& image();

private:
    static std::unique_ptr<DockerDaemon> daemon_;
    static TestWorkerImage image_;
    static std::string failure_;
};

}  // namespace aw::test
