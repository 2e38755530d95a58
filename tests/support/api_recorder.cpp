#include "support/api_recorder.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <set>
#include <stdexcept>

namespace aw::test::api_record {
namespace {

struct Recorder {
    std::mutex mutex;
    std::set<unsigned short> hostPorts;
    int fd = -1;
};

Recorder& recorder() {
    static Recorder instance;
    return instance;
}

//! The record file of this process, opened on first use while AW_API_RECORD_DIR is set;
//! -1 while it is not.
int recordFile(Recorder& r) {
    if (r.fd >= 0) return r.fd;
    const char* dir = std::getenv("AW_API_RECORD_DIR");
    if (!dir || !*dir) return -1;
    std::filesystem::create_directories(dir);
    std::error_code error;
    std::string program =
        std::filesystem::read_symlink("/proc/self/exe", error).filename().string();
    if (program.empty()) program = "tests";
    const auto path =
        std::filesystem::path(dir) / (program + "-" + std::to_string(::getpid()) + ".jsonl");
    r.fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    // A suite that cannot record would let the document drift unnoticed: fail loudly.
    if (r.fd < 0) {
        throw std::runtime_error("AW_API_RECORD_DIR is set but " + path.string() +
                                 " cannot be opened");
    }
    return r.fd;
}

std::string currentTest() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return info ? std::string(info->test_suite_name()) + "." + info->name() : std::string();
}

void append(unsigned short port, nlohmann::json record) {
    auto& r = recorder();
    std::lock_guard lock(r.mutex);
    if (!r.hostPorts.count(port)) return;
    const int fd = recordFile(r);
    if (fd < 0) return;
    record["test"] = currentTest();
    const std::string line =
        record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    // O_APPEND and one write per line: lines of concurrent processes do not interleave.
    if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
        throw std::runtime_error("cannot append to the API record in AW_API_RECORD_DIR");
    }
}

}  // namespace

void hostListening(unsigned short port) {
    auto& r = recorder();
    std::lock_guard lock(r.mutex);
    r.hostPorts.insert(port);
}

void hostStopped(unsigned short port) {
    auto& r = recorder();
    std::lock_guard lock(r.mutex);
    r.hostPorts.erase(port);
}

void response(unsigned short port, const std::string& method, const std::string& target, int status,
              const std::string& contentType, const std::string& body) {
    append(port, {{"kind", "response"},
                  {"method", method},
                  {"path", target},
                  {"status", status},
                  {"content_type", contentType},
                  {"body", body}});
}

void streamEvent(unsigned short port, const std::string& target, const std::string& id,
                 const std::string& event, const std::string& data) {
    append(port,
           {{"kind", "sse_event"}, {"path", target}, {"id", id}, {"event", event}, {"data", data}});
}

}  // namespace aw::test::api_record
