// A temporary directory removed with everything in it when the test is done, and a umask
// set for a while.
#pragma once

#include <sys/stat.h>

#include <filesystem>
#include <string>

namespace aw::test {

class TempDir {
public:
    explicit TempDir(const std::string& prefix = "aw-test");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
    //! Writes `text` to `name` inside the directory and returns its path.
    std::filesystem::path write(const std::string& name, const std::string& text) const;

private:
    std::filesystem::path path_;
};

//! The process's umask set to `mask` for the object's lifetime: for tests showing that a
//! mode comes from the code, not from the umask (children started meanwhile inherit it).
class ScopedUmask {
public:
    explicit ScopedUmask(mode_t mask) : previous_(::umask(mask)) {}
    ~ScopedUmask() { ::umask(previous_); }
    ScopedUmask(const ScopedUmask&) = delete;
    ScopedUmask& operator=(const ScopedUmask&) = delete;

private:
    mode_t previous_;
};

//! The whole content of a file ("" when missing).
std::string readText(const std::filesystem::path& path);

}  // namespace aw::test
