// A temporary directory removed with everything in it when the test is done.
#pragma once

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

//! The whole content of a file ("" when missing).
std::string readText(const std::filesystem::path& path);

}  // namespace aw::test
