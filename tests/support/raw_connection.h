// A client connection at the byte level, for what ordinary clients never do: many open at
// once, requests sent a byte at a time or not at all, answers left unread, raw HTTP/1.1
// answers read back and checked, chunked bodies decoded.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace aw::test {

struct RawResponse {
    int status = 0;
    std::map<std::string, std::string> headers;  //!< names lower-cased
    std::string body;                            //!< de-chunked
};

class RawConnection {
public:
    //! Connects to 127.0.0.1:`port`; throws std::runtime_error when it cannot.
    explicit RawConnection(unsigned short port);
    ~RawConnection();
    RawConnection(const RawConnection&) = delete;
    RawConnection& operator=(const RawConnection&) = delete;
    RawConnection(RawConnection&& other) noexcept;

    int fd() const { return fd_; }
    //! Sends all of `bytes`; false when the connection is gone.
    bool send(std::string_view bytes);
    //! Asks the kernel for the smallest receive buffer: a reader that never reads then
    //! backs the server up after a few kilobytes.
    void shrinkReceiveBuffer();
    //! Reads one whole answer (Content-Length or chunked, to its end); nullopt when the
    //! connection closes first or `timeout` passes.
    std::optional<RawResponse> readResponse(std::chrono::milliseconds timeout = std::chrono::seconds(30));
    //! Reads until what was received holds `text`; false when the connection closes first or
    //! `timeout` passes.
    bool readUntil(std::string_view text, std::chrono::milliseconds timeout);
    //! True when the server closes the connection within `timeout` (what arrives before is
    //! kept: see received()).
    bool waitClosed(std::chrono::milliseconds timeout);
    const std::string& received() const { return buffer_; }

private:
    //! Reads more into buffer_: the bytes read, 0 when the connection closed (or failed),
    //! -1 when `deadline` passed first.
    int readSome(std::chrono::steady_clock::time_point deadline);
    //! Reads more into buffer_; false on close, error or timeout.
    bool fill(std::chrono::steady_clock::time_point deadline);
    std::optional<std::string> line(std::chrono::steady_clock::time_point deadline);
    bool take(std::size_t count, std::string& into, std::chrono::steady_clock::time_point deadline);

    int fd_ = -1;
    std::string buffer_;
};

}  // namespace aw::test
