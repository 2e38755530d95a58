// Provider capability flags by name: the one table mapping the ABI's AW_CAP_* bits to the
// names shown in /admin/providers and used in error hints.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace aw {

//! Names of the set bits, in bit order (`run`, `stream`, ..., `long_prompt`);
//! unknown bits show as `bit<N>` so a newer plugin's flags are never hidden.
std::vector<std::string> capabilityNames(std::uint64_t capabilities);

//! The bit of a capability name, or 0 when the name is unknown.
std::uint64_t capabilityBit(const std::string& name);

}  // namespace aw
