// An SSE client for GET /v1/runs/{rid}/events (Accept: text/event-stream) on a raw Poco
// connection, read frame by frame as agent-host writes them.
#pragma once

#include <Poco/Net/HTTPClientSession.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <istream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace aw::test {

//! One block of an SSE stream, up to its blank line.
struct SseFrame {
    std::optional<std::string> id;
    std::string event;
    std::string data;
    std::vector<std::string> comments;  //!< ": keep-alive" -> " keep-alive"
    std::optional<std::string> retry;
    nlohmann::json json() const;  //!< `data` parsed; null when it is not JSON
    bool isEvent() const { return id.has_value() || !event.empty() || !data.empty(); }
};

class SseClient {
public:
    SseClient(unsigned short port, const std::string& runId, const std::string& lastEventId = "",
              std::chrono::milliseconds readTimeout = std::chrono::seconds(60));
    ~SseClient();

    int status() const { return status_; }
    const std::string& contentType() const { return contentType_; }
    const std::string& body() const { return body_; }  //!< of a non-200 answer
    //! The next frame; nullopt once the stream ended (or a read timed out: see timedOut()).
    std::optional<SseFrame> next();
    //! The next frame carrying an event (comments and `retry:` blocks are skipped).
    std::optional<SseFrame> nextEvent();
    //! Reads event frames until the stream ends.
    std::vector<SseFrame> readToEnd();
    bool ended() const { return ended_; }
    bool timedOut() const { return timedOut_; }
    int keepAlives() const { return keepAlives_; }
    //! Drops the connection without reading further.
    void close();

private:
    std::optional<SseFrame> readFrame();

    unsigned short port_;
    std::string target_;  //!< the request's path
    std::unique_ptr<Poco::Net::HTTPClientSession> session_;
    std::istream* in_ = nullptr;
    int status_ = 0;
    std::string contentType_;
    std::string body_;
    bool ended_ = false;
    bool timedOut_ = false;
    int keepAlives_ = 0;
};

}  // namespace aw::test
