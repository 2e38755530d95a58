#include "runtime/token_digest.h"

#include <Poco/SHA2Engine.h>

#include <algorithm>

namespace aw {

TokenDigest tokenDigest(const std::string& token) {
    Poco::SHA2Engine engine(Poco::SHA2Engine::SHA_256);
    engine.update(token);
    const auto& bytes = engine.digest();
    TokenDigest digest{};
    std::copy_n(bytes.begin(), digest.size(), digest.begin());
    return digest;
}

bool sameDigest(const TokenDigest& a, const TokenDigest& b) {
    unsigned char difference = 0;
    for (std::size_t i = 0; i < a.size(); ++i) difference |= a[i] ^ b[i];
    return difference == 0;
}

}  // namespace aw
