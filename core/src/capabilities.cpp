#include "agent_worker/core/capabilities.h"

#include <array>
#include <utility>

#include "agent_worker/provider_abi.h"

namespace aw {
namespace {

constexpr std::array<std::pair<std::uint64_t, const char*>, 9> kCapabilities{{
    {AW_CAP_RUN, "run"},
    {AW_CAP_STREAM, "stream"},
    {AW_CAP_STOP, "stop"},
    {AW_CAP_RESUME, "resume"},
    {AW_CAP_HUMAN_LOOP, "human_loop"},
    {AW_CAP_TODO, "todo"},
    {AW_CAP_USAGE, "usage"},
    {AW_CAP_GRACEFUL_INTERRUPT, "graceful_interrupt"},
    {AW_CAP_LONG_PROMPT, "long_prompt"},
}};

}  // namespace

std::vector<std::string> capabilityNames(std::uint64_t capabilities) {
    std::vector<std::string> names;
    for (int bit = 0; bit < 64; ++bit) {
        const std::uint64_t mask = std::uint64_t{1} << bit;
        if (!(capabilities & mask)) continue;
        std::string name = "bit" + std::to_string(bit);
        for (const auto& [known, knownName] : kCapabilities) {
            if (known == mask) name = knownName;
        }
        names.push_back(name);
    }
    return names;
}

std::uint64_t capabilityBit(const std::string& name) {
    for (const auto& [bit, knownName] : kCapabilities) {
        if (name == knownName) return bit;
    }
    return 0;
}

}  // namespace aw
