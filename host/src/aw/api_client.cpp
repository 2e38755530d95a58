#include "aw/api_client.h"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <istream>
#include <thread>

namespace aw::cli {
namespace {

using Poco::Net::HTTPRequest;
using Poco::Net::HTTPResponse;

// A plain request gets its whole answer well within this; an event stream carries
// keep-alive comments (every sse.keepalive_ms, 15 s by default), so silence this long
// means the connection is gone.
constexpr auto kRequestTimeout = std::chrono::seconds(60);
constexpr auto kStreamSilenceLimit = std::chrono::minutes(5);
// A stream that drops is reopened; this many drops in a row without a new event give up.
constexpr int kMaxReconnects = 5;

bool isTerminal(const std::string& type) {
    return type == "run.completed" || type == "run.failed" || type == "run.stopped";
}

bool isTerminalStatus(const std::string& status) {
    return status == "completed" || status == "failed" || status == "stopped";
}

//! Reads server-sent events from `in` until it ends or the run's terminal event was handed
//! on (true). One event is `id:`, `event:` and `data:` lines ended by an empty line; `event:`
//! repeats the JSON's type, and `:` lines are keep-alive comments.
bool readEvents(std::istream& in, std::int64_t& lastSeq, bool& progressed,
                const std::function<void(const StreamedEvent&)>& onEvent) {
    std::string line, data;
    std::int64_t id = 0;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.rfind("id:", 0) == 0) {
            id = std::strtoll(line.c_str() + 3, nullptr, 10);
        } else if (line.rfind("data:", 0) == 0) {
            const std::size_t start = line.size() > 5 && line[5] == ' ' ? 6 : 5;
            data += (data.empty() ? "" : "\n") + line.substr(start);
        } else if (line.empty() && !data.empty()) {
            StreamedEvent streamed{id, Json::parse(data, nullptr, false)};
            data.clear();
            id = 0;
            if (!streamed.event.is_object()) continue;
            if (streamed.seq == 0) streamed.seq = streamed.event.value("seq", std::int64_t{0});
            lastSeq = std::max(lastSeq, streamed.seq);
            progressed = true;
            onEvent(streamed);
            if (isTerminal(streamed.event.value("type", ""))) return true;
        }
    }
    return false;
}

Poco::Timespan timespan(std::chrono::seconds value) {
    return Poco::Timespan(static_cast<long>(value.count()), 0);
}

}  // namespace

ApiClient::ApiClient(Endpoint endpoint) : endpoint_(std::move(endpoint)) {
    Poco::URI uri;
    try {
        uri = Poco::URI(endpoint_.url);
    } catch (const Poco::Exception& e) {
        throw AwError(kUsage, "the URL '" + endpoint_.url + "' is not a URL: " + e.message(),
                      "pass --url http://HOST:PORT (or set AW_URL)");
    }
    if (uri.getScheme() != "http" || uri.getHost().empty()) {
        throw AwError(kUsage, "the URL '" + endpoint_.url + "' is not http://HOST[:PORT]",
                      "aw speaks plain HTTP to agent-host; pass --url http://127.0.0.1:8080 (or "
                      "set AW_URL)");
    }
    host_ = uri.getHost();
    port_ = uri.getPort();
    while (!endpoint_.url.empty() && endpoint_.url.back() == '/') endpoint_.url.pop_back();
}

std::string ApiClient::tokenFor(const std::string& path) const {
    const bool admin = path.rfind("/admin/", 0) == 0;
    return admin && !endpoint_.adminToken.empty() ? endpoint_.adminToken : endpoint_.token;
}

AwError ApiClient::unreachable(const std::string& why) const {
    return AwError(kUnreachable, "cannot reach agent-host at " + endpoint_.url + ": " + why,
                   "is it running (make run)? pass --url or set AW_URL to where it listens");
}

ApiClient::Answer ApiClient::exchange(const std::string& method, const std::string& path,
                                      const std::string* body) const {
    try {
        Poco::Net::HTTPClientSession session(host_, port_);
        session.setTimeout(timespan(kRequestTimeout));
        HTTPRequest request(method, path, HTTPResponse::HTTP_1_1);
        request.set("Accept", "application/json");
        if (const auto token = tokenFor(path); !token.empty())
            request.setCredentials("Bearer", token);
        if (body) {
            request.setContentType("application/json");
            request.setContentLength64(static_cast<Poco::Int64>(body->size()));
            session.sendRequest(request) << *body;
        } else {
            session.sendRequest(request);
        }
        HTTPResponse response;
        std::istream& in = session.receiveResponse(response);
        Answer answer;
        answer.status = static_cast<int>(response.getStatus());
        Poco::StreamCopier::copyToString(in, answer.body);
        return answer;
    } catch (const Poco::Exception& e) {
        throw unreachable(e.displayText());
    } catch (const std::ios_base::failure& e) {
        throw unreachable(e.what());
    }
}

Json ApiClient::jsonOf(const std::string& method, const std::string& path,
                       const Answer& answer) const {
    Json json = Json::parse(answer.body, nullptr, false);
    if (answer.status >= 200 && answer.status < 300) {
        if (json.is_discarded()) {
            throw unreachable(method + " " + path + " answered " + std::to_string(answer.status) +
                              " with a body that is not JSON");
        }
        return json;
    }
    if (json.is_object() && json.contains("error") && json["error"].is_object()) {
        const Json& error = json["error"];
        throw AwError(kApiError,
                      std::to_string(answer.status) + " " + error.value("code", "error") + ": " +
                          error.value("message", ""),
                      error.value("hint", ""));
    }
    throw unreachable(method + " " + path + " answered " + std::to_string(answer.status) +
                      " without the API's error object (is this agent-host?)");
}

Json ApiClient::get(const std::string& path) const {
    return jsonOf("GET", path, exchange("GET", path, nullptr));
}

Json ApiClient::post(const std::string& path, const Json& body) const {
    const std::string text = body.dump();
    return jsonOf("POST", path, exchange("POST", path, &text));
}

void ApiClient::followEvents(const std::string& runId, std::int64_t afterSeq,
                             const std::function<void(const StreamedEvent&)>& onEvent) const {
    const std::string path = "/v1/runs/" + runId + "/events";
    std::int64_t lastSeq = afterSeq;
    int dropsInARow = 0;
    for (;;) {
        bool progressed = false;
        try {
            Poco::Net::HTTPClientSession session(host_, port_);
            session.setTimeout(
                timespan(kRequestTimeout), timespan(kRequestTimeout),
                timespan(std::chrono::duration_cast<std::chrono::seconds>(kStreamSilenceLimit)));
            HTTPRequest request("GET", path, HTTPResponse::HTTP_1_1);
            request.set("Accept", "text/event-stream");
            if (lastSeq > 0) request.set("Last-Event-ID", std::to_string(lastSeq));
            if (const auto token = tokenFor(path); !token.empty())
                request.setCredentials("Bearer", token);
            session.sendRequest(request);
            HTTPResponse response;
            std::istream& in = session.receiveResponse(response);
            const int status = static_cast<int>(response.getStatus());
            if (status == 204) return;  // nothing past the end of a finished run
            if (status != 200) {
                Answer answer{status, {}};
                Poco::StreamCopier::copyToString(in, answer.body);
                jsonOf("GET", path, answer);  // throws the API's error
                throw unreachable("GET " + path + " answered " + std::to_string(status) +
                                  " without an event stream");
            }
            if (readEvents(in, lastSeq, progressed, onEvent)) return;
        } catch (const Poco::Exception& e) {
            if (dropsInARow + 1 >= kMaxReconnects) throw unreachable(e.displayText());
        }
        // The stream ended without the run's terminal event: the run may have ended while
        // we were away (the stream then holds nothing new), or the connection dropped.
        if (isTerminalStatus(get("/v1/runs/" + runId).value("status", "")) && !progressed) return;
        dropsInARow = progressed ? 0 : dropsInARow + 1;
        if (dropsInARow >= kMaxReconnects) {
            throw unreachable("the event stream of run " + runId +
                              " keeps ending without the run's end");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(500 * dropsInARow));
    }
}

}  // namespace aw::cli
