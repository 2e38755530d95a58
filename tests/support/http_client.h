// A small blocking HTTP client for tests (Poco), returning status, headers and JSON body.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <string>

namespace aw::test {

struct HttpResult {
    int status = 0;
    std::string body;
    std::map<std::string, std::string> headers;
    nlohmann::json json() const;  //!< the body parsed; null when it is not JSON
};

struct HttpCall {
    HttpCall(std::string method, std::string path, std::string body = "",
             std::map<std::string, std::string> headers = {}, bool chunked = false)
        : method(std::move(method)), path(std::move(path)), body(std::move(body)),
          headers(std::move(headers)), chunked(chunked) {}

    std::string method;
    std::string path;
    std::string body;
    std::map<std::string, std::string> headers;
    bool chunked;  //!< send the body chunked, without Content-Length
};

HttpResult httpRequest(unsigned short port, const HttpCall& call);
inline HttpResult httpGet(unsigned short port, const std::string& path,
                          std::map<std::string, std::string> headers = {}) {
    return httpRequest(port, HttpCall{"GET", path, "", std::move(headers)});
}

}  // namespace aw::test
