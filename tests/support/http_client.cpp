#include "support/http_client.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>

#include "support/api_recorder.h"

namespace aw::test {

nlohmann::json HttpResult::json() const {
    auto parsed = nlohmann::json::parse(body, nullptr, false);
    return parsed.is_discarded() ? nlohmann::json() : parsed;
}

HttpResult httpRequest(unsigned short port, const HttpCall& call) {
    Poco::Net::HTTPClientSession session("127.0.0.1", port);
    session.setTimeout(Poco::Timespan(30, 0));
    Poco::Net::HTTPRequest request(call.method, call.path, Poco::Net::HTTPMessage::HTTP_1_1);
    for (const auto& [name, value] : call.headers) request.set(name, value);
    if (call.chunked) {
        request.setChunkedTransferEncoding(true);
    } else if (!call.body.empty() || call.method == "POST") {
        request.setContentLength64(static_cast<Poco::Int64>(call.body.size()));
    }
    if (!call.body.empty() && !request.has("Content-Type")) request.setContentType("application/json");
    auto& out = session.sendRequest(request);
    out << call.body;
    Poco::Net::HTTPResponse response;
    auto& in = session.receiveResponse(response);
    HttpResult result;
    result.status = static_cast<int>(response.getStatus());
    Poco::StreamCopier::copyToString(in, result.body);
    for (const auto& [name, value] : response) result.headers[name] = value;
    api_record::response(port, call.method, call.path, result.status, response.getContentType(),
                         result.body);
    return result;
}

}  // namespace aw::test
