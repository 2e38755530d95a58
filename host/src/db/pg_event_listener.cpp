#include "db/pg_event_listener.h"

#include <libpq-fe.h>
#include <poll.h>

#include <Poco/Logger.h>

#include <chrono>
#include <memory>

#include "logging/json_formatter.h"

namespace aw {
namespace {

using Connection = std::unique_ptr<PGconn, decltype(&PQfinish)>;

constexpr auto kWake = std::chrono::milliseconds(250);  //!< how soon a stop is seen
constexpr auto kReconnectPause = std::chrono::seconds(1);

Poco::Logger& logger() {
    return Poco::Logger::get("db");
}

//! A connection listening on the channel, or null (the reason logged once per outage).
Connection listen(const DatabaseUrl& url, bool& complained) {
    Connection connection(PQconnectdb(withConnectTimeout(url.target).c_str()), &PQfinish);
    std::string problem;
    if (PQstatus(connection.get()) != CONNECTION_OK) {
        problem = PQerrorMessage(connection.get());
    } else {
        const std::string command = "LISTEN " + std::string(kRunEventsChannel) + "; LISTEN " +
                                    std::string(kRunControlChannel) + "; LISTEN " +
                                    std::string(kRunOutputChannel);
        std::unique_ptr<PGresult, decltype(&PQclear)> result(
            PQexec(connection.get(), command.c_str()), &PQclear);
        if (PQresultStatus(result.get()) == PGRES_COMMAND_OK) return connection;
        problem = PQerrorMessage(connection.get());
    }
    if (!complained) {
        logFields(logger(), Poco::Message::PRIO_WARNING,
                  "cannot listen for other hosts' events; retrying",
                  {{"db", url.redacted}, {"error", problem}});
        complained = true;
    }
    return Connection(nullptr, &PQfinish);
}

}  // namespace

std::string runNotice(const std::string& hostId, const std::string& runId) {
    return hostId + " " + runId;
}

PgEventListener::PgEventListener(DatabaseUrl url, std::string hostId, Handlers handlers)
    : url_(std::move(url)),
      hostId_(std::move(hostId)),
      handlers_(std::move(handlers)),
      thread_([this] { run(); }) {}

PgEventListener::~PgEventListener() {
    stopping_ = true;
    thread_.join();
}

void PgEventListener::run() {
    Connection connection(nullptr, &PQfinish);
    bool complained = false;
    bool everListened = false;
    while (!stopping_) {
        if (!connection) {
            connection = listen(url_, complained);
            if (!connection) {
                for (auto waited = std::chrono::milliseconds(0);
                     waited < kReconnectPause && !stopping_; waited += kWake)
                    std::this_thread::sleep_for(kWake);
                continue;
            }
            listening_ = true;
            complained = false;
            // What was stored while nobody listened is in the store.
            if (everListened && handlers_.reconnected) handlers_.reconnected();
            everListened = true;
        }
        pollfd socket{PQsocket(connection.get()), POLLIN, 0};
        if (::poll(&socket, 1, static_cast<int>(kWake.count())) < 0) continue;
        if (PQconsumeInput(connection.get()) == 0) {
            logFields(
                logger(), Poco::Message::PRIO_WARNING,
                "lost the connection that listens for other hosts' events",
                {{"db", url_.redacted}, {"error", std::string(PQerrorMessage(connection.get()))}});
            connection.reset();
            listening_ = false;
            continue;
        }
        while (PGnotify* notice = PQnotifies(connection.get())) {
            const std::string channel = notice->relname;
            const std::string payload = notice->extra;
            PQfreemem(notice);
            const auto space = payload.find(' ');
            if (space == std::string::npos || payload.compare(0, space, hostId_) == 0) continue;
            const auto& handler = channel == kRunControlChannel  ? handlers_.replies
                                  : channel == kRunOutputChannel ? handlers_.output
                                                                 : handlers_.events;
            if (handler) handler(payload.substr(space + 1));
        }
    }
}

}  // namespace aw
