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

std::string digestHex(const TokenDigest& digest) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string text;
    text.reserve(digest.size() * 2);
    for (const unsigned char byte : digest) {
        text += kDigits[byte >> 4];
        text += kDigits[byte & 0x0f];
    }
    return text;
}

std::string derivedToken(const std::string& secret, const std::string& purpose) {
    // RFC 2104 over SHA-256 (64-byte blocks); a longer key is hashed first.
    constexpr std::size_t kBlock = 64;
    std::string key = secret.size() > kBlock ? std::string(reinterpret_cast<const char*>(
                                                               tokenDigest(secret).data()),
                                                           32)
                                             : secret;
    key.resize(kBlock, '\0');
    std::string inner(kBlock, '\0'), outer(kBlock, '\0');
    for (std::size_t i = 0; i < kBlock; ++i) {
        inner[i] = static_cast<char>(key[i] ^ 0x36);
        outer[i] = static_cast<char>(key[i] ^ 0x5c);
    }
    const auto innerDigest = tokenDigest(inner + purpose);
    outer.append(reinterpret_cast<const char*>(innerDigest.data()), innerDigest.size());
    return digestHex(tokenDigest(outer));
}

bool sameDigest(const TokenDigest& a, const TokenDigest& b) {
    unsigned char difference = 0;
    for (std::size_t i = 0; i < a.size(); ++i) difference |= a[i] ^ b[i];
    return difference == 0;
}

}  // namespace aw
