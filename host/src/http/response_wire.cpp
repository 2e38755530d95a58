#include "http/response_wire.h"

#include <Poco/Net/HTTPResponse.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <memory>

#include "http/response_stream.h"

namespace aw {
namespace {

//! `Date:` is required of HTTP/1.1 servers; formatted once a second per thread.
const std::string& httpDate() {
    thread_local std::time_t formattedAt = 0;
    thread_local std::string text;
    const std::time_t now = std::time(nullptr);
    if (now != formattedAt) {
        std::tm parts{};
        gmtime_r(&now, &parts);
        char buffer[64];
        std::strftime(buffer, sizeof buffer, "%a, %d %b %Y %H:%M:%S GMT", &parts);
        text = buffer;
        formattedAt = now;
    }
    return text;
}

}  // namespace

bool wantsKeepAlive(const IncomingRequest& request) {
    const std::string_view connection = request.header("Connection");
    const auto says = [&](std::string_view word) {
        return connection.size() == word.size() &&
               std::equal(connection.begin(), connection.end(), word.begin(),
                          [](char a, char b) { return std::tolower(a) == b; });
    };
    return request.version == "HTTP/1.0" ? says("keep-alive") : !says("close");
}

std::string serializeResponse(const HttpResponse& response, bool head, bool keepAlive,
                              bool http10) {
    std::string out;
    out.reserve(256 + (head ? 0 : response.body.size()));
    out += "HTTP/1.1 ";
    out += std::to_string(response.status);
    out += ' ';
    out += Poco::Net::HTTPResponse::getReasonForStatus(
        static_cast<Poco::Net::HTTPResponse::HTTPStatus>(response.status));
    out += "\r\nDate: ";
    out += httpDate();
    // A 204 has no body, so neither a type nor a length (RFC 9110 forbids the length).
    const bool noContent = response.status == 204;
    if (!noContent) {
        out += "\r\nContent-Type: ";
        out += response.contentType;
    }
    if (response.stream) {
        out += "\r\nTransfer-Encoding: chunked";
    } else if (!noContent) {
        out += "\r\nContent-Length: ";
        out += std::to_string(response.body.size());
    }
    if (!keepAlive)
        out += "\r\nConnection: close";
    else if (http10)
        out += "\r\nConnection: keep-alive";
    for (const auto& [name, value] : response.headers) {
        out += "\r\n";
        out += name;
        out += ": ";
        out += value;
    }
    out += "\r\n\r\n";
    if (!head && !response.stream && !noContent) out += response.body;
    return out;
}

std::shared_ptr<const std::string> ResponseStream::chunk(std::string_view data) {
    char size[24];
    const int length = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    std::string framed;
    framed.reserve(static_cast<std::size_t>(length) + data.size() + 2);
    framed.append(size, static_cast<std::size_t>(length)).append(data).append("\r\n");
    return std::make_shared<const std::string>(std::move(framed));
}

}  // namespace aw
