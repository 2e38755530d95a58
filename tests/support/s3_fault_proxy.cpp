#include "support/s3_fault_proxy.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/StreamCopier.h>

#include <algorithm>
#include <set>

namespace aw::test {
namespace {

using namespace Poco::Net;

// Hop-by-hop headers: each side of the proxy has its own connection.
bool isHopByHop(const std::string& name) {
    static const std::set<std::string> names = {"connection",     "keep-alive", "transfer-encoding",
                                                "content-length", "te",         "upgrade"};
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    return names.count(lower) > 0;
}

class ProxyHandler : public HTTPRequestHandler {
public:
    explicit ProxyHandler(std::shared_ptr<S3FaultProxy::State> state) : state_(std::move(state)) {}

    void handleRequest(HTTPServerRequest& request, HTTPServerResponse& response) override {
        std::string body;
        Poco::StreamCopier::copyToString(request.stream(), body);
        int failWith = 0;
        unsigned short upstream = 0;
        {
            std::lock_guard lock(state_->mutex);
            state_->requests.push_back(request.getMethod() + " " + request.getURI());
            if (state_->failures > 0) {
                --state_->failures;
                failWith = state_->failureStatus;
            }
            upstream = state_->upstreamPort;
        }
        if (failWith) {
            const std::string error =
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InternalError</Code>"
                "<Message>injected by the test proxy</Message></Error>";
            response.setStatus(static_cast<HTTPResponse::HTTPStatus>(failWith));
            response.setContentType("application/xml");
            response.setContentLength(static_cast<std::streamsize>(error.size()));
            response.send() << error;
            return;
        }
        HTTPClientSession session("127.0.0.1", upstream);
        HTTPRequest forwarded(request.getMethod(), request.getURI(), HTTPMessage::HTTP_1_1);
        for (const auto& [name, value] : request) {
            if (!isHopByHop(name)) forwarded.set(name, value);
        }
        if (!body.empty() || request.getMethod() == "PUT" || request.getMethod() == "POST") {
            forwarded.setContentLength(static_cast<std::streamsize>(body.size()));
        }
        session.sendRequest(forwarded) << body;
        HTTPResponse answer;
        std::istream& answerStream = session.receiveResponse(answer);
        std::string answerBody;
        Poco::StreamCopier::copyToString(answerStream, answerBody);
        response.setStatusAndReason(answer.getStatus(), answer.getReason());
        for (const auto& [name, value] : answer) {
            if (!isHopByHop(name)) response.set(name, value);
        }
        if (request.getMethod() == "HEAD") {
            if (answer.hasContentLength()) response.setContentLength64(answer.getContentLength64());
            response.send();
            return;
        }
        response.setContentLength(static_cast<std::streamsize>(answerBody.size()));
        response.send() << answerBody;
    }

private:
    std::shared_ptr<S3FaultProxy::State> state_;
};

class ProxyFactory : public HTTPRequestHandlerFactory {
public:
    explicit ProxyFactory(std::shared_ptr<S3FaultProxy::State> state) : state_(std::move(state)) {}
    HTTPRequestHandler* createRequestHandler(const HTTPServerRequest&) override {
        return new ProxyHandler(state_);
    }

private:
    std::shared_ptr<S3FaultProxy::State> state_;
};

}  // namespace

S3FaultProxy::S3FaultProxy(unsigned short upstreamPort) : state_(std::make_shared<State>()) {
    state_->upstreamPort = upstreamPort;
    ServerSocket socket(SocketAddress("127.0.0.1", 0));
    port_ = socket.address().port();
    auto* params = new HTTPServerParams;
    params->setMaxThreads(8);
    server_ = std::make_unique<HTTPServer>(new ProxyFactory(state_), socket, params);
    server_->start();
}

S3FaultProxy::~S3FaultProxy() {
    server_->stopAll(true);
}

void S3FaultProxy::failNext(int count, int status) {
    std::lock_guard lock(state_->mutex);
    state_->failures = count;
    state_->failureStatus = status;
}

std::vector<std::string> S3FaultProxy::requests() const {
    std::lock_guard lock(state_->mutex);
    return state_->requests;
}

int S3FaultProxy::count(const std::string& method) const {
    std::lock_guard lock(state_->mutex);
    return static_cast<int>(
        std::count_if(state_->requests.begin(), state_->requests.end(),
                      [&](const std::string& r) { return r.rfind(method + " ", 0) == 0; }));
}

void S3FaultProxy::clear() {
    std::lock_guard lock(state_->mutex);
    state_->requests.clear();
}

}  // namespace aw::test
