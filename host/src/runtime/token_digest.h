// Tokens the host hands out are kept as SHA-256 digests only, and a presented token is
// compared with every digest in full, so the time taken does not say which one matched
// (CallbackTokens, ExecutorBootstraps).
#pragma once

#include <array>
#include <string>

namespace aw {

using TokenDigest = std::array<unsigned char, 32>;

TokenDigest tokenDigest(const std::string& token);

//! Compares every byte, whatever the first difference.
bool sameDigest(const TokenDigest& a, const TokenDigest& b);

}  // namespace aw
