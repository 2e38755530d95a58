#include "agent_executor/bootstrap_client.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/IPAddress.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "agent_worker/core/problem.h"

namespace aw {

BootstrapAnswer exchangeBootstrapToken(const std::string& url, const std::string& token,
                                       const std::string& listenHost, unsigned short port,
                                       std::chrono::milliseconds patience) {
    const auto deadline = std::chrono::steady_clock::now() + patience;
    const Poco::URI uri(url);
    std::string lastError;
    for (auto pause = std::chrono::milliseconds(100);;
         pause = std::min(pause * 2, std::chrono::milliseconds(2000))) {
        try {
            Poco::Net::StreamSocket socket;
            socket.connect(Poco::Net::SocketAddress(uri.getHost(), uri.getPort()),
                           Poco::Timespan(10, 0));
            Poco::Net::HTTPClientSession session(socket);
            session.setTimeout(Poco::Timespan(10, 0));
            Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_POST, uri.getPathAndQuery(),
                                           Poco::Net::HTTPMessage::HTTP_1_1);
            request.setHost(uri.getHost(), uri.getPort());
            request.set("Authorization", "Bearer " + token);
            request.setContentType("application/json");
            // A wildcard says nothing: report the address this connection leaves from.
            Poco::Net::IPAddress host(listenHost);
            if (host.isWildcard()) host = socket.address().host();
            const std::string reported =
                (host.family() == Poco::Net::IPAddress::IPv6 ? "[" + host.toString() + "]"
                                                             : host.toString()) +
                ":" + std::to_string(port);
            const std::string body = nlohmann::json{{"address", reported}}.dump();
            request.setContentLength64(static_cast<Poco::Int64>(body.size()));
            session.sendRequest(request) << body;
            Poco::Net::HTTPResponse response;
            std::string answer;
            Poco::StreamCopier::copyToString(session.receiveResponse(response), answer);
            const int status = static_cast<int>(response.getStatus());
            if (status == 200) {
                const auto json = nlohmann::json::parse(answer);
                BootstrapAnswer out{json.at("executor_token").get<std::string>(),
                                    json.at("callback_token").get<std::string>(),
                                    {}};
                if (json.contains("s3") && json["s3"].is_object()) {
                    out.s3 = {json["s3"].value("access_key_id", ""),
                              json["s3"].value("secret_access_key", ""),
                              json["s3"].value("session_token", "")};
                }
                if (out.executorToken.empty() || out.callbackToken.empty())
                    throw std::runtime_error("the answer lacks the tokens");
                return out;
            }
            if (status >= 400 && status < 500) {
                throw ProblemError({"bootstrap_refused",
                                    "the host refused the bootstrap token (" +
                                        std::to_string(status) + "): " + answer.substr(0, 300),
                                    "a bootstrap token serves one start; the host starts the "
                                    "worker again with a new one"});
            }
            lastError = "HTTP " + std::to_string(status);
        } catch (const ProblemError&) {
            throw;
        } catch (const Poco::Exception& e) {
            lastError = e.displayText();
        } catch (const std::exception& e) {
            lastError = e.what();
        }
        if (std::chrono::steady_clock::now() + pause > deadline) {
            throw ProblemError(
                {"bootstrap_unreachable",
                 "the host at " + url + " did not answer the bootstrap exchange: " + lastError,
                 "check --bootstrap-url and that agent-host is reachable from "
                 "the worker's network"});
        }
        std::this_thread::sleep_for(pause);
    }
}

}  // namespace aw
