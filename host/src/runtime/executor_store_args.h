// How a worker's agent-executor is told where its workspace is stored, the same for every
// runtime: the object store arguments of its command line (the file store's objects
// directory, or the s3 store's endpoint, region and addressing style) and what it reads on
// its stdin (its two tokens, then with s3 the credentials). Secrets go only on stdin: never
// on a command line, in an environment, a label or a file an agent could read.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "storage/s3_transport.h"

namespace aw {

//! The executor's store arguments: `--object-store s3 --s3-endpoint ... --s3-region ...
//! --s3-path-style true|false` with `s3`, otherwise `--objects-dir <objectsDir>` (the path as
//! the executor sees it).
std::vector<std::string> executorStoreArguments(const std::optional<S3Settings>& s3,
                                                const std::string& objectsDir);

//! The executor's stdin, one a line: its token, its callback token, then with `s3` the
//! access key id, the secret and the session token (empty when there is none).
std::string executorStdin(const std::string& executorToken, const std::string& callbackToken,
                          const std::optional<S3Settings>& s3);

}  // namespace aw
