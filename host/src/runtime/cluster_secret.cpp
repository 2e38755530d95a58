#include "runtime/cluster_secret.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "agent_worker/core/problem.h"
#include "agent_worker/core/random_id.h"

namespace aw {

std::string clusterSecret(const std::string& configured, const std::filesystem::path& dataDir) {
    if (!configured.empty()) return configured;
    const auto file = dataDir / "cluster-secret";
    auto unreadable = [&](const std::string& what) {
        return ProblemError({"config_invalid", what + " " + file.string(),
                             "check the data dir's permissions, or set cluster_secret "
                             "(AW_CLUSTER_SECRET)"});
    };
    std::error_code ignored;  // a data dir that cannot be made fails below, saying where
    std::filesystem::create_directories(dataDir, ignored);
    if (!std::filesystem::exists(file)) {
        // Written whole aside, then linked into place: of two replicas starting at once on
        // one data dir, one link wins and both read its secret; none reads half of one.
        const auto written = dataDir / ("cluster-secret." + newToken().substr(0, 12) + ".new");
        const int fd = ::open(written.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) throw unreadable("cannot create a secret beside");
        const std::string line = newToken() + newToken() + "\n";
        const bool whole =
            ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
        ::close(fd);
        const bool linked = whole && (::link(written.c_str(), file.c_str()) == 0 || errno == EEXIST);
        ::unlink(written.c_str());
        if (!linked) throw unreadable("cannot write");
    }
    std::ifstream in(file);
    std::string secret;
    std::getline(in, secret);
    if (secret.empty()) throw unreadable("no secret in");
    return secret;
}

}  // namespace aw
