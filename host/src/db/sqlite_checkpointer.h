// SQLite's write-ahead-log checkpoints, on a thread of their own.
//
// By default the connection whose commit takes the log past 1,000 pages copies the log into
// the database file, with an fsync, before its commit returns: now and then a callback's
// admission or a run's append (and the events behind it) waited milliseconds for that. Here
// the pool's connections only report the log's length as they commit, and this thread
// checkpoints, PASSIVE (it never waits for a reader or a writer), on its own connection once
// the log is past kPages, and once a second while the log holds anything.
//
// kPages is eight times SQLite's default: the pages every commit touches (the tail of each
// table and index, the run's row) are copied once per checkpoint however often they were
// logged, so fewer, larger checkpoints copy less. At 50,000 events a second that was a
// seventh of agent-host's CPU at 1,000 pages; the log stays under about 32 MiB.
#pragma once

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

// SOCI's SQLite backend declares SQLite's API in this namespace (soci-sqlite3.h).
namespace sqlite_api {
struct sqlite3;
}

namespace aw {

class SqliteCheckpointer {
public:
    static constexpr int kPages = 8000;  //!< 4 KiB pages

    //! Opens its own connection to the database file at `path`.
    explicit SqliteCheckpointer(const std::string& path);
    //! Checkpoints what is left, then closes.
    ~SqliteCheckpointer();
    SqliteCheckpointer(const SqliteCheckpointer&) = delete;
    SqliteCheckpointer& operator=(const SqliteCheckpointer&) = delete;

    //! Makes `connection`'s commits report to this checkpointer instead of checkpointing
    //! themselves.
    void watch(sqlite_api::sqlite3* connection);

private:
    static int onCommit(void* self, sqlite_api::sqlite3* connection, const char* database,
                        int pages);
    void run();
    void checkpoint();

    sqlite_api::sqlite3* connection_ = nullptr;
    std::mutex mutex_;
    std::condition_variable due_;
    int pages_ = 0;  //!< the log's length at the last commit
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace aw
