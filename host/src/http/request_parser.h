// Reads HTTP/1.x requests from the bytes a connection receives, however they are split,
// within limits: the server never buffers more than one request's headers and body.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "http/api_error.h"
#include "http/incoming_request.h"

namespace aw {

struct RequestLimits {
    std::size_t maxHeaderBytes = 16 * 1024;  //!< request line and headers together
    std::size_t maxBodyBytes = 1024 * 1024;
};

class RequestParser {
public:
    enum class State {
        Idle,      //!< no byte of a request yet
        Partial,   //!< a request has begun
        Complete,  //!< take() it
        Refused,   //!< refusal() says why; the connection must close after answering
    };

    explicit RequestParser(RequestLimits limits) : limits_(limits) {}

    //! Adds received bytes and parses as far as they go.
    State feed(std::string_view bytes);
    //! Parses what is buffered already (the bytes after a request taken: pipelining).
    State resume() { return feed({}); }
    State state() const { return state_; }

    //! True once per request whose client waits for `100 Continue` before its body.
    bool takeContinueWanted();
    //! The complete request; the parser goes on with the bytes after it.
    IncomingRequest take();
    //! What a refused request gets: its status and problem (400, 413, 431, 501, 505).
    const ApiError& refusal() const { return *refusal_; }
    //! The part of a refused request read so far (method and uri, when they were).
    const IncomingRequest& partial() const { return request_; }

private:
    enum class Step { RequestLine, Headers, Body, ChunkSize, ChunkData, ChunkEnd, Trailers };

    State refuse(int status, std::string code, std::string message, std::string hint);
    State parse();
    bool parseRequestLine(std::string_view line);
    bool parseHeaderLine(std::string_view line);
    bool headersDone();
    //! Moves buffered body bytes (of the body or the current chunk) into the request; true
    //! once all `bodyLeft_` are there.
    bool takeBody();
    //! The next CRLF- (or LF-) ended line from the buffer, if whole.
    std::optional<std::string_view> nextLine();

    RequestLimits limits_;
    State state_ = State::Idle;
    Step step_ = Step::RequestLine;
    std::string buffer_;
    std::size_t consumed_ = 0;  //!< bytes of buffer_ parsed already
    std::size_t headStart_ = 0;  //!< where the request line (or the trailers) began
    std::size_t bodyLeft_ = 0;  //!< of the Content-Length body, or of the current chunk
    bool continueWanted_ = false;
    IncomingRequest request_;
    std::optional<ApiError> refusal_;
};

}  // namespace aw
