#include "support/raw_connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace aw::test {

using Clock = std::chrono::steady_clock;

RawConnection::RawConnection(unsigned short port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        const std::string reason = std::strerror(errno);
        ::close(fd_);
        fd_ = -1;
        throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + ": " + reason);
    }
}

RawConnection::~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
}

RawConnection::RawConnection(RawConnection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), buffer_(std::move(other.buffer_)) {}

bool RawConnection::send(std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

void RawConnection::shrinkReceiveBuffer() {
    const int size = 1;  // the kernel rounds it up to its minimum
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
}

int RawConnection::readSome(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return -1;
    pollfd watched{fd_, POLLIN, 0};
    if (::poll(&watched, 1, static_cast<int>(left.count())) <= 0) return -1;
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return 0;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return static_cast<int>(n);
}

bool RawConnection::fill(Clock::time_point deadline) { return readSome(deadline) > 0; }

std::optional<std::string> RawConnection::line(Clock::time_point deadline) {
    while (true) {
        const auto end = buffer_.find("\r\n");
        if (end != std::string::npos) {
            std::string text = buffer_.substr(0, end);
            buffer_.erase(0, end + 2);
            return text;
        }
        if (!fill(deadline)) return std::nullopt;
    }
}

bool RawConnection::take(std::size_t count, std::string& into, Clock::time_point deadline) {
    while (buffer_.size() < count) {
        if (!fill(deadline)) return false;
    }
    into.append(buffer_, 0, count);
    buffer_.erase(0, count);
    return true;
}

std::optional<RawResponse> RawConnection::readResponse(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    auto status = line(deadline);
    while (status && status->rfind("HTTP/1.1 100", 0) == 0) {  // an interim answer
        if (!line(deadline)) return std::nullopt;
        status = line(deadline);
    }
    if (!status || status->size() < 12) return std::nullopt;
    RawResponse response;
    response.status = std::stoi(status->substr(9, 3));
    while (true) {
        auto header = line(deadline);
        if (!header) return std::nullopt;
        if (header->empty()) break;
        const auto colon = header->find(':');
        std::string name = header->substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        std::string value = colon == std::string::npos ? "" : header->substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        response.headers[name] = value;
    }
    if (response.headers["transfer-encoding"] == "chunked") {
        while (true) {
            const auto size = line(deadline);
            if (!size) return std::nullopt;
            const std::size_t length = std::stoul(*size, nullptr, 16);
            if (length == 0) return line(deadline) ? std::optional(response) : std::nullopt;
            std::string crlf;
            if (!take(length, response.body, deadline) || !take(2, crlf, deadline)) return std::nullopt;
        }
    }
    const auto length = response.headers.find("content-length");
    if (length != response.headers.end() &&
        !take(std::stoul(length->second), response.body, deadline)) {
        return std::nullopt;
    }
    return response;
}

bool RawConnection::readUntil(std::string_view text, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (buffer_.find(text) == std::string::npos) {
        if (!fill(deadline)) return false;
    }
    return true;
}

bool RawConnection::waitClosed(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    int got = 1;
    while (got > 0) got = readSome(deadline);
    return got == 0;
}

}  // namespace aw::test
