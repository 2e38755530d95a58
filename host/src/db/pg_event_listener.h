// What other hosts announce of runs through PostgreSQL: new events of the runs they drive,
// and human replies they received for runs this host may drive.
//
// Replicas of agent-host share one PostgreSQL: a run's events are stored by the replica
// driving it, while its SSE streams may be served by any. Each append that stores events
// sends NOTIFY on kRunEventsChannel in its own transaction (so the notice arrives once the
// events can be read), with the storing host's id and the run's; this listener, on a
// connection of its own, hands the runs that other hosts stored events for to
// `onEvents` (the EventHub: streams then read them from the store). Its own appends it
// skips: they are published in process, events and all. When the connection is lost, notices
// are lost with it: once it is back, `onReconnect` lets every stream look in the store.
// A reply left for the driving host is announced on kRunControlChannel the same way, and
// executor output a host stored for a run it does not drive (callbacks reach any replica) on
// kRunOutputChannel.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <string_view>
#include <thread>

#include "db/database_url.h"

namespace aw {

inline constexpr std::string_view kRunEventsChannel = "aw_run_events";
inline constexpr std::string_view kRunControlChannel = "aw_run_control";
inline constexpr std::string_view kRunOutputChannel = "aw_run_output";

//! The payload of a notice: "<host id> <run id>" (run ids have no spaces).
std::string runNotice(const std::string& hostId, const std::string& runId);

class PgEventListener {
public:
    using RunNoticed = std::function<void(const std::string& runId)>;

    //! What to do with other hosts' notices, each given the run's id.
    struct Handlers {
        RunNoticed events;                  //!< new events stored
        RunNoticed replies;                 //!< a human reply left for the driving host
        RunNoticed output;                  //!< executor output stored for the driving host
        std::function<void()> reconnected;  //!< notices may have been lost meanwhile
    };

    //! Listens on `url` (a PostgreSQL database) for the notices of hosts other than `hostId`.
    PgEventListener(DatabaseUrl url, std::string hostId, Handlers handlers);
    ~PgEventListener();
    PgEventListener(const PgEventListener&) = delete;
    PgEventListener& operator=(const PgEventListener&) = delete;

    //! Whether it listens right now (for tests and readiness).
    bool listening() const { return listening_.load(); }

private:
    void run();

    DatabaseUrl url_;
    std::string hostId_;
    Handlers handlers_;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> listening_{false};
    std::thread thread_;
};

}  // namespace aw
