// The executor's side of the bootstrap exchange (a Swarm task has no stdin for its secrets):
// it presents the single-use token of its spec to the host's POST /v1/executors/bootstrap,
// with the address it listens on, and gets its executor and callback tokens and the S3
// credentials. Done before the executor serves or runs anything.
#pragma once

#include <chrono>
#include <string>

#include "storage/s3_transport.h"

namespace aw {

struct BootstrapAnswer {
    std::string executorToken;
    std::string callbackToken;
    S3Credentials s3;  //!< empty without the s3 store
};

//! Exchanges `token` at `url`, reporting where it listens: `listenHost`:`port`, or for a
//! wildcard `listenHost` (0.0.0.0, ::) the address its connection to the host comes from
//! (its own on the network both share, such as a Swarm overlay). Network failures and 5xx are
//! retried until `patience` has passed (the host may be restarting). Throws ProblemError
//! `bootstrap_refused` when the host refuses the token (4xx: never retried) and
//! `bootstrap_unreachable` when it never answered.
BootstrapAnswer exchangeBootstrapToken(const std::string& url, const std::string& token,
                                       const std::string& listenHost, unsigned short port,
                                       std::chrono::milliseconds patience);

}  // namespace aw
