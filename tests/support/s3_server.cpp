#include "support/s3_server.h"

#include <unistd.h>

#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "storage/s3_object_store.h"

namespace aw::test {
namespace {

using namespace std::chrono_literals;

// Keep in step with scripts/install-test-servers.sh.
constexpr const char* kS3rverVersion = "3.7.1";

std::filesystem::path serversCacheDir() {
    if (const char* cache = std::getenv("AW_TEST_SERVERS_CACHE"); cache && *cache) return cache;
    const char* home = std::getenv("HOME");
    return std::filesystem::path(home ? home : "/root") / ".cache" / "agent-worker" /
           "test-servers";
}

//! The port in s3rver's "S3rver listening on 127.0.0.1:PORT" line, or 0 while there is none.
unsigned short listeningPort(const std::string& log) {
    const std::string marker = "listening on 127.0.0.1:";
    const auto at = log.find(marker);
    if (at == std::string::npos) return 0;
    const auto digits = log.substr(at + marker.size());
    const auto end = digits.find_first_not_of("0123456789");
    if (end == 0 || (end == std::string::npos && digits.empty())) return 0;
    return static_cast<unsigned short>(std::stoi(digits.substr(0, end)));
}

}  // namespace

std::filesystem::path s3rverBinary() {
    return serversCacheDir() / (std::string("s3rver@") + kS3rverVersion) / "node_modules" / ".bin" /
           "s3rver";
}

S3Server::S3Server() {
    if (::access(s3rverBinary().c_str(), X_OK) != 0) {
        throw std::runtime_error(
            "the S3 test server is missing: no executable " + s3rverBinary().string() +
            ". Run scripts/install-test-servers.sh (make test does; it needs node, npm and the "
            "npm registry), with the same AW_TEST_SERVERS_CACHE as this test run.");
    }
    std::filesystem::create_directories(dir_ / "data");
    start();
}

S3Server::~S3Server() {
    if (process_) process_->terminate(2s);
}

void S3Server::start() {
    if (process_) return;
    // The log is truncated so that the listening line read is this start's.
    std::filesystem::remove(dir_ / "s3rver.log");
    SubprocessOptions options;
    options.argv = {s3rverBinary().string(),
                    "--directory",
                    (dir_ / "data").string(),
                    "--address",
                    "127.0.0.1",
                    "--port",
                    std::to_string(port_)};
    // s3rver makes its continuation tokens with DES, which node's OpenSSL 3 only has in
    // its legacy provider: without it every listing past one page answers 500.
    options.env = {{"NODE_OPTIONS", "--openssl-legacy-provider"}};
    options.pipeStdout = false;  // never read: a full pipe would stall the server
    options.stdoutFile = (dir_ / "s3rver.log").string();
    options.stderrFile = (dir_ / "s3rver.log").string();
    process_ = std::make_unique<Subprocess>(options);
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    for (;;) {
        if (const auto port = listeningPort(log())) {
            port_ = port;
            return;
        }
        if (auto status = process_->poll()) {
            process_.reset();
            throw std::runtime_error("s3rver ended (" + status->describe() +
                                     ") before listening: " + log());
        }
        if (std::chrono::steady_clock::now() > deadline) {
            process_.reset();
            throw std::runtime_error("s3rver did not listen within 30 s: " + log());
        }
        std::this_thread::sleep_for(50ms);
    }
}

void S3Server::stop() {
    if (!process_) return;
    process_->terminate(2s);
    process_.reset();
}

S3Settings S3Server::settings(const std::string& bucket) const {
    S3Settings settings;
    settings.endpoint = endpoint();
    settings.bucket = bucket;
    settings.pathStyle = true;
    settings.credentials = {kAccessKey, kSecretKey, ""};
    settings.retry.maxAttempts = 3;
    settings.retry.initialBackoff = 50ms;
    settings.retry.maxBackoff = 200ms;
    settings.connectTimeout = 2000ms;
    return settings;
}

void S3Server::createBucket(const std::string& bucket) const {
    S3ObjectStore(settings(bucket)).createBucket();
}

std::filesystem::path S3Server::objectFile(const std::string& bucket,
                                           const std::string& key) const {
    return dir_ / "data" / bucket / (key + "._S3rver_object");
}

std::string S3Server::log() const {
    return readText(dir_ / "s3rver.log");
}

std::map<std::string, std::uint64_t> S3Server::rcloneList(const std::string& bucket,
                                                          const std::string& prefix) const {
    SubprocessOptions options;
    options.argv = {"rclone", "lsf",         "--recursive", "--files-only",    "--format",
                    "sp",     "--separator", "\t",          "awtest:" + bucket};
    // A remote made of environment variables only; no configuration file is read or written.
    options.env = {{"RCLONE_CONFIG", (dir_ / "rclone.conf").string()},
                   {"RCLONE_CONFIG_AWTEST_TYPE", "s3"},
                   {"RCLONE_CONFIG_AWTEST_PROVIDER", "Other"},
                   {"RCLONE_CONFIG_AWTEST_ENDPOINT", endpoint()},
                   {"RCLONE_CONFIG_AWTEST_REGION", "us-east-1"},
                   {"RCLONE_CONFIG_AWTEST_FORCE_PATH_STYLE", "true"},
                   {"RCLONE_CONFIG_AWTEST_ACCESS_KEY_ID", kAccessKey},
                   {"RCLONE_CONFIG_AWTEST_SECRET_ACCESS_KEY", kSecretKey}};
    // The developer's AWS settings must not reach it (AWS_CA_BUNDLE breaks a plain http
    // endpoint; a profile would point it elsewhere).
    options.unsetEnv = {"AWS_CA_BUNDLE",     "AWS_PROFILE",
                        "AWS_CONFIG_FILE",   "AWS_SHARED_CREDENTIALS_FILE",
                        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                        "AWS_SESSION_TOKEN", "HTTP_PROXY",
                        "HTTPS_PROXY",       "http_proxy",
                        "https_proxy"};
    options.stderrFile = (dir_ / "rclone.log").string();
    Subprocess rclone(options);
    std::map<std::string, std::uint64_t> objects;
    while (auto line = rclone.readLine(60s)) {
        const auto tab = line->find('\t');
        if (tab == std::string::npos) continue;
        const std::string key = line->substr(tab + 1);
        if (key.rfind(prefix, 0) == 0) objects[key] = std::stoull(line->substr(0, tab));
    }
    const auto status = rclone.waitFor(60s);
    if (!status || status->code != 0) {
        throw std::runtime_error("rclone lsf failed (" + (status ? status->describe() : "timeout") +
                                 "): " + readText(dir_ / "rclone.log"));
    }
    return objects;
}

}  // namespace aw::test
