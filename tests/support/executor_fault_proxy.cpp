#include "support/executor_fault_proxy.h"

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
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/StreamCopier.h>

#include <map>
#include <mutex>
#include <sstream>

namespace aw::test {

struct ExecutorFaultProxy::State {
    std::filesystem::path upstream;
    std::mutex mutex;
    std::string failPrefix;
    int failCount = 0;
    int failStatus = 500;
    std::atomic<int> injected{0};
    std::map<std::string, int> seen;  //!< `METHOD path` -> requests
};

namespace {

class ForwardingHandler : public Poco::Net::HTTPRequestHandler {
public:
    explicit ForwardingHandler(std::shared_ptr<ExecutorFaultProxy::State> state)
        : state_(std::move(state)) {}

    void handleRequest(Poco::Net::HTTPServerRequest& request,
                       Poco::Net::HTTPServerResponse& response) override {
        std::string body;
        Poco::StreamCopier::copyToString(request.stream(), body);
        const std::string line = request.getMethod() + " " + request.getURI();
        int failWith = 0;
        {
            std::lock_guard lock(state_->mutex);
            ++state_->seen[line];
            if (state_->failCount > 0 && line.rfind(state_->failPrefix, 0) == 0) {
                --state_->failCount;
                failWith = state_->failStatus;
            }
        }
        if (failWith != 0) {
            ++state_->injected;
            response.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(failWith));
            response.setContentType("application/json");
            response.send()
                << R"({"error":{"code":"injected","message":"the test's proxy answered )"
                << failWith << R"( once","hint":""}})";
            return;
        }
        Poco::Net::StreamSocket socket;
        socket.connect(Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL,
                                                state_->upstream.string()));
        Poco::Net::HTTPClientSession session(socket);
        session.setTimeout(Poco::Timespan(600, 0));
        Poco::Net::HTTPRequest upstream(request.getMethod(), request.getURI(),
                                        Poco::Net::HTTPMessage::HTTP_1_1);
        for (const auto& [name, value] : request) {
            if (name != "Connection" && name != "Transfer-Encoding" && name != "Content-Length")
                upstream.set(name, value);
        }
        upstream.setContentLength64(static_cast<Poco::Int64>(body.size()));
        session.sendRequest(upstream) << body;
        Poco::Net::HTTPResponse answer;
        std::istream& in = session.receiveResponse(answer);
        std::string answerBody;
        Poco::StreamCopier::copyToString(in, answerBody);
        response.setStatus(answer.getStatus());
        for (const auto& [name, value] : answer) {
            if (name != "Connection" && name != "Transfer-Encoding" && name != "Content-Length")
                response.set(name, value);
        }
        response.setContentLength64(static_cast<Poco::Int64>(answerBody.size()));
        response.send() << answerBody;
    }

private:
    std::shared_ptr<ExecutorFaultProxy::State> state_;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
public:
    explicit Factory(std::shared_ptr<ExecutorFaultProxy::State> state) : state_(std::move(state)) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(
        const Poco::Net::HTTPServerRequest&) override {
        return new ForwardingHandler(state_);
    }

private:
    std::shared_ptr<ExecutorFaultProxy::State> state_;
};

}  // namespace

ExecutorFaultProxy::ExecutorFaultProxy(std::filesystem::path socketPath)
    : socketPath_(std::move(socketPath)),
      upstreamPath_(socketPath_.parent_path() / (socketPath_.filename().string() + ".real")),
      state_(std::make_shared<State>()),
      injected_(state_->injected) {
    state_->upstream = upstreamPath_;
    // A listening unix socket keeps serving when its file is renamed.
    std::filesystem::rename(socketPath_, upstreamPath_);
    Poco::Net::ServerSocket listening(
        Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL, socketPath_.string()));
    auto params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(8);
    server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(state_), listening, params);
    server_->start();
}

ExecutorFaultProxy::~ExecutorFaultProxy() {
    server_->stopAll(true);
    std::error_code ignored;
    std::filesystem::remove(socketPath_, ignored);
    std::filesystem::rename(upstreamPath_, socketPath_, ignored);
}

void ExecutorFaultProxy::failNext(const std::string& prefix, int count, int status) {
    std::lock_guard lock(state_->mutex);
    state_->failPrefix = prefix;
    state_->failCount = count;
    state_->failStatus = status;
}

int ExecutorFaultProxy::seen(const std::string& line) const {
    std::lock_guard lock(state_->mutex);
    const auto found = state_->seen.find(line);
    return found == state_->seen.end() ? 0 : found->second;
}

}  // namespace aw::test
