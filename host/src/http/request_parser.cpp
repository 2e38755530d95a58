#include "http/request_parser.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace aw {
namespace {

bool isTokenChar(char c) {
    static constexpr std::string_view kSeparators = "()<>@,;:\\\"/[]?={} \t";
    return c > 32 && c < 127 && kSeparators.find(c) == std::string_view::npos;
}

bool isToken(std::string_view text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), isTokenChar);
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::string bodyLimitHint() {
    return "send a smaller body, or raise http.max_body_bytes (AW_HTTP_MAX_BODY_BYTES)";
}

}  // namespace

std::string_view IncomingRequest::header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
        if (equalsIgnoringCase(key, name)) return value;
    }
    return {};
}

RequestParser::State RequestParser::feed(std::string_view bytes) {
    if (state_ == State::Refused || state_ == State::Complete) return state_;
    buffer_.append(bytes);
    return parse();
}

bool RequestParser::takeContinueWanted() {
    return std::exchange(continueWanted_, false);
}

IncomingRequest RequestParser::take() {
    IncomingRequest taken = std::move(request_);
    request_ = {};
    buffer_.erase(0, consumed_);
    consumed_ = 0;
    headStart_ = 0;
    step_ = Step::RequestLine;
    state_ = State::Idle;
    return taken;
}

RequestParser::State RequestParser::refuse(int status, std::string code, std::string message,
                                           std::string hint) {
    refusal_.emplace(status, Problem{std::move(code), std::move(message), std::move(hint)});
    state_ = State::Refused;
    return state_;
}

std::optional<std::string_view> RequestParser::nextLine() {
    const auto end = buffer_.find('\n', consumed_);
    if (end == std::string::npos) return std::nullopt;
    std::string_view line(buffer_.data() + consumed_, end - consumed_);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    consumed_ = end + 1;
    return line;
}

RequestParser::State RequestParser::parse() {
    while (true) {
        switch (step_) {
            case Step::RequestLine:
            case Step::Headers: {
                const auto line = nextLine();
                if ((line ? consumed_ : buffer_.size()) - headStart_ > limits_.maxHeaderBytes) {
                    return refuse(431, "headers_too_large",
                                  "the request line and headers exceed " +
                                      std::to_string(limits_.maxHeaderBytes) + " bytes",
                                  "send fewer or shorter headers");
                }
                if (!line) {
                    if (consumed_ < buffer_.size() || step_ == Step::Headers) state_ = State::Partial;
                    return state_;
                }
                if (step_ == Step::RequestLine) {
                    if (line->empty()) {  // stray line ends between requests are allowed
                        headStart_ = consumed_;
                        continue;
                    }
                    state_ = State::Partial;
                    if (!parseRequestLine(*line)) return state_;
                    step_ = Step::Headers;
                } else if (line->empty()) {
                    if (!headersDone()) return state_;
                } else if (!parseHeaderLine(*line)) {
                    return state_;
                }
                break;
            }
            case Step::Body:
                if (!takeBody()) return state_;
                state_ = State::Complete;
                return state_;
            case Step::ChunkSize: {
                const auto line = nextLine();
                if (!line) {
                    if (buffer_.size() - consumed_ > 1024) {
                        return refuse(400, "invalid_request", "a chunk size line is too long", "");
                    }
                    return state_;
                }
                const auto digits = line->substr(0, line->find(';'));
                std::size_t size = 0;
                const auto text = trim(digits);
                const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), size, 16);
                if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
                    return refuse(400, "invalid_request",
                                  "a chunk size is not a hexadecimal number",
                                  "send a valid chunked body, or a Content-Length");
                }
                if (size > limits_.maxBodyBytes - request_.body.size()) {
                    return refuse(413, "body_too_large",
                                  "request body of more than " + std::to_string(limits_.maxBodyBytes) +
                                      " bytes exceeds the limit of " +
                                      std::to_string(limits_.maxBodyBytes) + " bytes",
                                  bodyLimitHint());
                }
                bodyLeft_ = size;
                step_ = size == 0 ? Step::Trailers : Step::ChunkData;
                headStart_ = consumed_;  // trailers count against the header limit
                break;
            }
            case Step::ChunkData:
                if (!takeBody()) return state_;
                step_ = Step::ChunkEnd;
                break;
            case Step::ChunkEnd: {
                const auto line = nextLine();
                if (!line) {
                    if (buffer_.size() - consumed_ > 2) {
                        return refuse(400, "invalid_request", "a chunk does not end with CRLF", "");
                    }
                    return state_;
                }
                if (!line->empty()) {
                    return refuse(400, "invalid_request", "a chunk is longer than its size", "");
                }
                step_ = Step::ChunkSize;
                break;
            }
            case Step::Trailers: {
                const auto line = nextLine();
                if ((line ? consumed_ : buffer_.size()) - headStart_ > limits_.maxHeaderBytes) {
                    return refuse(431, "headers_too_large", "the trailers are too long", "");
                }
                if (!line) return state_;
                if (line->empty()) {
                    state_ = State::Complete;
                    return state_;
                }
                break;  // trailers are read and dropped
            }
        }
    }
}

bool RequestParser::takeBody() {
    const std::size_t take = std::min(bodyLeft_, buffer_.size() - consumed_);
    request_.body.append(buffer_, consumed_, take);
    consumed_ += take;
    bodyLeft_ -= take;
    return bodyLeft_ == 0;
}

bool RequestParser::parseRequestLine(std::string_view line) {
    const auto first = line.find(' ');
    const auto last = line.rfind(' ');
    if (first == std::string_view::npos || first == last) {
        refuse(400, "invalid_request", "the request line is not METHOD TARGET HTTP/1.1",
               "send an HTTP/1.1 request");
        return false;
    }
    const auto method = line.substr(0, first);
    const auto target = line.substr(first + 1, last - first - 1);
    const auto version = line.substr(last + 1);
    if (!isToken(method) || target.empty() || target.find(' ') != std::string_view::npos) {
        refuse(400, "invalid_request", "the request line is not METHOD TARGET HTTP/1.1",
               "send an HTTP/1.1 request");
        return false;
    }
    if (version != "HTTP/1.1" && version != "HTTP/1.0") {
        refuse(505, "http_version_not_supported",
               "HTTP version '" + std::string(version.substr(0, 16)) + "' is not supported",
               "send HTTP/1.1");
        return false;
    }
    request_.method = method;
    request_.uri = target;
    request_.version = version;
    return true;
}

bool RequestParser::parseHeaderLine(std::string_view line) {
    const auto colon = line.find(':');
    if (line.front() == ' ' || line.front() == '\t' || colon == std::string_view::npos ||
        !isToken(line.substr(0, colon))) {
        refuse(400, "invalid_request", "a header line is not NAME: VALUE",
               "send each header on one line as Name: value");
        return false;
    }
    if (request_.headers.size() >= 100) {
        refuse(431, "headers_too_large", "the request has more than 100 headers",
               "send fewer headers");
        return false;
    }
    request_.headers.emplace_back(line.substr(0, colon), trim(line.substr(colon + 1)));
    return true;
}

bool RequestParser::headersDone() {
    const auto length = request_.header("Content-Length");
    const auto coding = request_.header("Transfer-Encoding");
    if (!coding.empty()) {
        // A body with both lengths is how requests are smuggled past proxies: refused.
        if (!length.empty()) {
            refuse(400, "invalid_request", "the request has both Content-Length and Transfer-Encoding",
                   "send one of them");
            return false;
        }
        if (!equalsIgnoringCase(trim(coding), "chunked")) {
            refuse(501, "not_implemented",
                   "Transfer-Encoding '" + std::string(coding.substr(0, 64)) + "' is not supported",
                   "send the body with Content-Length, or chunked");
            return false;
        }
        step_ = Step::ChunkSize;
    } else if (!length.empty()) {
        std::size_t size = 0;
        const auto [end, error] = std::from_chars(length.data(), length.data() + length.size(), size);
        if (error == std::errc::result_out_of_range) size = SIZE_MAX;
        else if (error != std::errc() || end != length.data() + length.size()) {
            refuse(400, "invalid_request", "Content-Length is not a number", "");
            return false;
        }
        for (const auto& [name, value] : request_.headers) {  // two different lengths
            if (equalsIgnoringCase(name, "Content-Length") && value != length) {
                refuse(400, "invalid_request", "the request has two different Content-Length headers", "");
                return false;
            }
        }
        if (size > limits_.maxBodyBytes) {
            refuse(413, "body_too_large",
                   "request body of " + std::string(length) + " bytes exceeds the limit of " +
                       std::to_string(limits_.maxBodyBytes) + " bytes",
                   bodyLimitHint());
            return false;
        }
        bodyLeft_ = size;
        step_ = Step::Body;
    } else {
        state_ = State::Complete;
        return false;  // nothing more to parse for this request
    }
    continueWanted_ = equalsIgnoringCase(request_.header("Expect"), "100-continue");
    return true;
}

}  // namespace aw
