// A real S3-compatible server for tests: the npm package s3rver (pinned, installed by
// scripts/install-test-servers.sh) on 127.0.0.1 with a free port and a data directory of its
// own, stopped and deleted with the object. Buckets are made through the S3 API; rclone
// lists them as an independent client.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "process/subprocess.h"
#include "storage/s3_transport.h"
#include "support/temp_dir.h"

namespace aw::test {

//! <cache>/s3rver@<version>/node_modules/.bin/s3rver, as the install script has it.
std::filesystem::path s3rverBinary();

class S3Server {
public:
    static constexpr const char* kAccessKey = "S3RVER";
    static constexpr const char* kSecretKey = "S3RVER";

    //! Starts s3rver and waits until it answers; throws std::runtime_error saying what is
    //! missing (the package not installed, node absent) or what it printed.
    S3Server();
    ~S3Server();

    unsigned short port() const { return port_; }
    std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
    //! Settings for the s3 object store on `bucket` here (path style, s3rver's credentials,
    //! quick retries so failure tests stay short).
    S3Settings settings(const std::string& bucket) const;
    //! Creates `bucket` through the S3 API (CreateBucket).
    void createBucket(const std::string& bucket) const;

    void stop();   //!< the service goes away (connections are refused)
    void start();  //!< again, on the same port and data

    //! The file in which s3rver keeps the content of `key` (for damaging it behind its back).
    std::filesystem::path objectFile(const std::string& bucket, const std::string& key) const;
    std::string log() const;

    //! Key -> size of every object under `bucket/prefix`, listed by rclone (not by our code);
    //! throws std::runtime_error when rclone fails.
    std::map<std::string, std::uint64_t> rcloneList(const std::string& bucket,
                                                    const std::string& prefix = "") const;

private:
    TempDir dir_{"aw-s3"};
    std::unique_ptr<Subprocess> process_;
    unsigned short port_ = 0;
};

}  // namespace aw::test
