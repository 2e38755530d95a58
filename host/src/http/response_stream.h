// The body of a streamed response (server-sent events), written after the headers from any
// thread. Writes never block: bytes queue on the connection, and a reader that falls too
// far behind is dropped, so one stalled client cannot hold up the writer or the others.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace aw {

class ResponseStream {
public:
    //! Bytes framed once as a chunk of the body, shareable by every stream they go to.
    using Chunk = std::shared_ptr<const std::string>;
    static Chunk chunk(std::string_view data);

    virtual ~ResponseStream() = default;
    //! Queues a chunk; false when the client is gone or was dropped for falling behind
    //! (the connection is then closed): stop writing to this stream.
    virtual bool write(const Chunk& chunk) = 0;
    //! Ends the body; the connection may carry further requests.
    virtual void end() = 0;
    //! False once the client is gone, dropped or the body ended.
    virtual bool open() const = 0;
};

}  // namespace aw
