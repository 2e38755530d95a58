// The HTTP/1.1 server: one I/O thread watches every connection with epoll and a bounded
// pool of threads runs the handlers. A connection holds a thread only while a handler runs
// for it, never while it is idle, slow or following an event stream, so thousands of
// kept-alive clients and event streams cost file descriptors and buffers, not threads.
//
// What keeps one client from starving the rest:
//  - a request must arrive whole (headers and body) within `requestTimeout` of its first
//    byte (slowloris gets 408 and is closed); an idle connection closes after `idleTimeout`;
//  - connections are capped in all and per client address (503 `too_many_connections`);
//  - requests beyond `maxQueued` waiting for a thread get 503 `overloaded` at once;
//  - routes marked RouteLane::OnIoThread (/health) are answered on the I/O thread, and
//    RouteLane::QueuedFirst ones (/ready) jump the queue, so probes answer under any load;
//  - an event stream whose reader lets `streamBufferBytes` pile up, or reads nothing for
//    `stallTimeout`, is dropped.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "http/listening_socket.h"
#include "http/request_parser.h"

namespace aw {

class Router;

struct HttpServerOptions {
    int threads = 16;                 //!< handler threads
    std::size_t maxQueued = 4096;     //!< requests waiting for a handler thread
    std::size_t maxHeaderBytes = 16 * 1024;
    std::chrono::milliseconds requestTimeout{30000};  //!< first byte -> whole request
    //! A connection waiting for a request. Above Poco clients' 8 s keep-alive, so our own
    //! clients (the executors' callbacks) never send on a connection the host is closing.
    std::chrono::milliseconds idleTimeout{10000};
    std::size_t maxConnections = 20000;
    std::size_t maxConnectionsPerAddress = 4096;
    std::size_t streamBufferBytes = 1024 * 1024;  //!< unsent bytes of a stream before its reader is dropped
    std::chrono::milliseconds stallTimeout{30000};  //!< unsent bytes and none taken for this long: dropped
};

class HttpServer {
public:
    //! Serves `router` on `listeningFd` (a bound, listening TCP or unix socket, which the
    //! server takes over and closes).
    HttpServer(Router& router, int listeningFd, HttpServerOptions options);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    //! Starts the I/O thread and the handler threads.
    void start();
    //! Closes the listening socket: new connections are refused by the kernel from now on;
    //! connections already open are still served.
    void stopAccepting();
    //! Stops serving: unsent answers get up to `flushFor` to go out, then every connection
    //! closes and the threads are joined. Idempotent.
    void stop(std::chrono::milliseconds flushFor = std::chrono::milliseconds(500));

    std::size_t openConnections() const;
    //! Requests begun and not yet answered: arriving, queued or in a handler. Shutdown
    //! gives them a bound to finish.
    int requestsInProgress() const;

private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace aw
