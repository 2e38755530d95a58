#include "support/callback_sink.h"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/StreamCopier.h>

#include <thread>

namespace aw::test {

using Json = nlohmann::json;

struct CallbackSink::Handler : Poco::Net::HTTPRequestHandler {
    explicit Handler(CallbackSink& sink) : sink(sink) {}
    void handleRequest(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) override {
        std::string body;
        Poco::StreamCopier::copyToString(request.stream(), body);
        {
            const Json batch = Json::parse(body, nullptr, false);
            std::lock_guard lock(sink.mutex_);
            sink.deliveries_.push_back({batch.is_object() ? batch.value("run_id", "") : "",
                                        request.get("X-Trace-Id", ""), request.get("traceparent", ""),
                                        sink.down_.load()});
        }
        if (sink.down_) {
            ++sink.refused_;
            response.setStatusAndReason(Poco::Net::HTTPResponse::HTTP_SERVICE_UNAVAILABLE);
            response.setContentLength(2);
            response.send() << "{}";
            return;
        }
        {
            std::lock_guard lock(sink.mutex_);
            sink.token_ = request.get("Authorization", "");
            const Json batch = Json::parse(body);  // outlives the loop over its events
            for (const auto& event : batch["events"]) {
                if (sink.seen_.insert(event["event_id"].get<std::string>()).second) sink.events_.push_back(event);
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
        if (!events(runId, "exit").empty()) return true;
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

std::string CallbackSink::lastToken() {
    std::lock_guard lock(mutex_);
    return token_;
}

}  // namespace aw::test
