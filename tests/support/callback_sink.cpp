#include "support/callback_sink.h"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/StreamCopier.h>

#include <algorithm>
#include <thread>

namespace aw::test {

using Json = nlohmann::json;

struct CallbackSink::Handler : Poco::Net::HTTPRequestHandler {
    explicit Handler(CallbackSink& sink) : sink(sink) {}
    void handleRequest(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) override {
        std::string body;
        Poco::StreamCopier::copyToString(request.stream(), body);
        const Json batch = Json::parse(body, nullptr, false);
        const std::string runId = batch.is_object() ? batch.value("run_id", "") : "";
        int status = 200;
        {
            std::lock_guard lock(sink.mutex_);
            const bool holdsLines =
                batch.is_object() &&
                std::any_of(batch["events"].begin(), batch["events"].end(),
                            [](const Json& event) { return event["stream"] != "exit"; });
            if (sink.down_) {
                status = 503;
            } else if (sink.maxBodyBytes_ && body.size() > sink.maxBodyBytes_) {
                status = 413;
            } else if (const auto refused = sink.refusedRuns_.find(runId);
                       refused != sink.refusedRuns_.end() && holdsLines) {
                status = refused->second;
            }
            sink.deliveries_.push_back({runId, request.get("X-Trace-Id", ""),
                                        request.get("traceparent", ""), status == 503, status,
                                        body.size()});
        }
        if (status != 200) {
            if (status == 503) ++sink.refused_;
            const std::string answer = Json{
                {"error",
                 {{"code", status == 413 ? "body_too_large" : "invalid_callback"},
                  {"message", "refused by the test"},
                  {"hint", ""}}}}.dump();
            response.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status));
            response.setContentType("application/json");
            response.setContentLength(static_cast<std::streamsize>(answer.size()));
            response.send() << answer;
            return;
        }
        {
            std::lock_guard lock(sink.mutex_);
            sink.token_ = request.get("Authorization", "");
            for (const auto& event : batch["events"]) {
                if (!sink.seen_.insert(event["event_id"].get<std::string>()).second) continue;
                if (event["stream"] == "exit")
                    sink.exited_.insert(event["run_id"].get<std::string>());
                sink.events_.push_back(event);
            }
        }
        response.setContentType("application/json");
        response.setContentLength(11);
        response.send() << "{\"ok\":true}";
    }
    CallbackSink& sink;
};

struct CallbackSink::Factory : Poco::Net::HTTPRequestHandlerFactory {
    explicit Factory(CallbackSink& sink) : sink(sink) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
        return new Handler(sink);
    }
    CallbackSink& sink;
};

CallbackSink::CallbackSink() {
    Poco::Net::ServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", 0));
    port_ = socket.address().port();
    server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(*this), socket, new Poco::Net::HTTPServerParams);
    server_->start();
}

CallbackSink::~CallbackSink() { server_->stopAll(true); }

std::string CallbackSink::url() const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/v1/callbacks/executor";
}

std::vector<Json> CallbackSink::events(const std::string& runId, const std::string& stream) {
    std::lock_guard lock(mutex_);
    std::vector<Json> out;
    for (const auto& event : events_) {
        if (event["run_id"] == runId && event["stream"] == stream) out.push_back(event);
    }
    return out;
}

bool CallbackSink::waitForExit(const std::string& runId, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        {
            // Not by scanning the events, of which a test may have sent 200,000.
            std::lock_guard lock(mutex_);
            if (exited_.count(runId)) return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

std::vector<CallbackSink::Delivery> CallbackSink::deliveries(const std::string& runId) {
    std::lock_guard lock(mutex_);
    std::vector<Delivery> out;
    for (const auto& delivery : deliveries_) {
        if (delivery.runId == runId) out.push_back(delivery);
    }
    return out;
}

void CallbackSink::refuseLinesOf(const std::string& runId, int status) {
    std::lock_guard lock(mutex_);
    refusedRuns_[runId] = status;
}

std::string CallbackSink::lastToken() {
    std::lock_guard lock(mutex_);
    return token_;
}

}  // namespace aw::test
