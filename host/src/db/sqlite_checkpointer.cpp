#include "db/sqlite_checkpointer.h"

#include <soci/sqlite3/soci-sqlite3.h>

#include <chrono>

namespace aw {

using namespace sqlite_api;

SqliteCheckpointer::SqliteCheckpointer(const std::string& path) {
    // A connection that cannot be opened leaves the log to grow until the pool's own
    // connections fail on the same file, which says why.
    // A connection checkpoints only once it has seen that the file is in WAL mode.
    if (sqlite3_open_v2(path.c_str(), &connection_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK ||
        sqlite3_exec(connection_, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr) !=
            SQLITE_OK) {
        sqlite3_close(connection_);
        connection_ = nullptr;
    }
    thread_ = std::thread([this] { run(); });
}

SqliteCheckpointer::~SqliteCheckpointer() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    due_.notify_one();
    thread_.join();
    checkpoint();
    sqlite3_close(connection_);
}

void SqliteCheckpointer::watch(sqlite3* connection) {
    sqlite3_wal_hook(connection, onCommit, this);
}

int SqliteCheckpointer::onCommit(void* self, sqlite3*, const char*, int pages) {
    auto& checkpointer = *static_cast<SqliteCheckpointer*>(self);
    bool due = false;
    {
        std::lock_guard lock(checkpointer.mutex_);
        due = checkpointer.pages_ < kPages && pages >= kPages;
        checkpointer.pages_ = pages;
    }
    if (due) checkpointer.due_.notify_one();
    return SQLITE_OK;
}

void SqliteCheckpointer::run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        due_.wait_for(lock, std::chrono::seconds(1),
                      [this] { return stopping_ || pages_ >= kPages; });
        if (stopping_ || pages_ == 0) continue;
        pages_ = 0;
        lock.unlock();
        checkpoint();
        lock.lock();
    }
}

void SqliteCheckpointer::checkpoint() {
    if (!connection_) return;
    // PASSIVE copies what no reader still needs; what it cannot copy now waits for the next.
    sqlite3_wal_checkpoint_v2(connection_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
}

}  // namespace aw
