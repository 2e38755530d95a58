// The swarm the tests run on: the test binary's own dockerd (DockerDaemonEnvironment) made a
// single-node swarm manager advertising 127.0.0.1 (POST /swarm/init), and left again at the
// end. A swarm that cannot be made fails every test that asks for it, saying why.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "runtime/swarm_worker_runtime.h"

namespace aw::test {

class SwarmEnvironment : public ::testing::Environment {
public:
    void SetUp() override;
    void TearDown() override;

    //! The manager's socket; throws (failing the test) when there is no swarm.
    static std::string socket();
    //! The tests' worker image on it.
    static std::string image();

private:
    static std::string failure_;
    static bool initialised_;
    static bool madeGatewayBridge_;
};

//! The cluster secret of the tests' runtimes.
inline constexpr const char* kTestClusterSecret = "swarm-tests-cluster-secret-0123456789abcdef";

//! Runtime options for `hostId` on the test swarm with s3 `store` (callbacks and bootstrap at
//! `hostUrl`), its executors kept in `directory`.
SwarmRuntimeOptions swarmOptions(const std::string& hostId, ExecutorDirectory& directory,
                                 const S3Settings& store, const std::string& hostUrl);

}  // namespace aw::test
