// A throwaway PostgreSQL cluster for tests: initdb + pg_ctl in a temp dir, unix socket
// only, run as a non-root user (the `postgres` account when the tests run as root).
// Stopped and deleted when the object goes away, also when a test fails.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "support/temp_dir.h"

namespace aw::test {

class PostgresCluster {
public:
    PostgresCluster();
    ~PostgresCluster();

    //! postgresql:// URL of database `name` (created on first use) for user `aw`.
    std::string url(const std::string& database = "postgres");
    void createDatabase(const std::string& name);

    void stop();   //!< fast shutdown; connections drop
    void start();  //!< starts again on the same data and socket

    //! Why the cluster could not be made on this machine (empty when it is running).
    static std::string unavailableReason();

private:
    void run(const std::vector<std::string>& argv) const;

    TempDir dir_{"aw-pg"};
    std::string binDir_;
    bool running_ = false;
};

}  // namespace aw::test
