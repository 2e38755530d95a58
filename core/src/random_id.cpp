#include "agent_worker/core/random_id.h"

#include <random>

namespace aw {

std::string randomHex(std::size_t digits) {
    // random_device reads the kernel's source; a per-thread engine seeded from it would do
    // for ids but not for tokens, and one source for both keeps the rule simple.
    thread_local std::random_device source;
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(digits);
    while (out.size() < digits) {
        auto value = source();
        for (int i = 0; i < 8 && out.size() < digits; ++i, value >>= 4) out += kHex[value & 0xf];
    }
    return out;
}

std::string newRandomId(std::string_view prefix) { return std::string(prefix) + randomHex(32); }
std::string newToken() { return randomHex(64); }
std::string newTraceId() { return randomHex(32); }

}  // namespace aw
