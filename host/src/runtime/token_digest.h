// Tokens the host hands out are kept as SHA-256 digests only, and a presented token is
// compared with every digest in full, so the time taken does not say which one matched
// (CallbackTokens). Tokens that every replica of a cluster must be able to present are
// derived from the cluster's secret instead of kept (derivedToken).
#pragma once

#include <array>
#include <string>

namespace aw {

using TokenDigest = std::array<unsigned char, 32>;

TokenDigest tokenDigest(const std::string& token);

//! Compares every byte, whatever the first difference.
bool sameDigest(const TokenDigest& a, const TokenDigest& b);

//! Lower-case hex, as digests are kept in the database.
std::string digestHex(const TokenDigest& digest);

//! HMAC-SHA-256 of `purpose` under `secret`, in lower-case hex: the same on every host that
//! holds the secret, and nothing without it leads from `purpose` to the token.
std::string derivedToken(const std::string& secret, const std::string& purpose);

}  // namespace aw
