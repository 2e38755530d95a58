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

std::string newRequestId() {
    // One OS read per thread instead of one per request: a request id only has to be
    // unique, and two draws of a 64-bit generator seeded with 256 OS bits per thread are.
    thread_local std::mt19937_64 engine = [] {
        std::random_device source;
        std::seed_seq seed{source(), source(), source(), source(),
                           source(), source(), source(), source()};
        return std::mt19937_64(seed);
    }();
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out(32, '0');
    for (std::size_t i = 0; i < out.size(); i += 16) {
        auto value = engine();
        for (std::size_t j = 0; j < 16; ++j, value >>= 4) out[i + j] = kHex[value & 0xf];
    }
    return out;
}

}  // namespace aw
