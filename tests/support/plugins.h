// Where the test and shipped plugins are, and dropping them into a plugins directory the
// way operators are told to (copy to a hidden temp name, then rename).
#pragma once

#include <filesystem>
#include <string>

namespace aw::test {

//! build/tests/plugins/<file>.so (the SDK example and the misbehaving plugins).
std::filesystem::path testPlugin(const std::string& file);
//! build/plugins/<name>.so (claude-code, codex-cli, opencode).
std::filesystem::path shippedPlugin(const std::string& name);
//! build/bin/agent-provider-host.
std::string providerHostBinary();

//! Atomic drop: copies `plugin` to `dir/.<as>.tmp`, then renames it to `dir/<as>`.
std::filesystem::path dropPlugin(const std::filesystem::path& plugin,
                                 const std::filesystem::path& dir, const std::string& as);

}  // namespace aw::test
