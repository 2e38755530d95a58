#include "agent_worker/core/callback_delivery.h"

namespace aw {
namespace {

constexpr std::size_t kReplacementBytes = 3;  // U+FFFD in UTF-8

//! The length of the valid UTF-8 sequence at `text[at]` (strict, as nlohmann reads it:
//! no overlong forms, no surrogates, nothing above U+10FFFF); 0 when it is not one.
std::size_t validSequenceAt(std::string_view text, std::size_t at) {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[at + i]); };
    const unsigned char lead = byte(0);
    std::size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;  // the range of the second byte
    if (lead < 0x80) return 1;
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        if (lead == 0xE0) low = 0xA0;
        if (lead == 0xED) high = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        if (lead == 0xF0) low = 0x90;
        if (lead == 0xF4) high = 0x8F;
    } else {
        return 0;
    }
    if (at + length > text.size()) return 0;
    if (byte(1) < low || byte(1) > high) return 0;
    for (std::size_t i = 2; i < length; ++i) {
        if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
    }
    return length;
}

//! One character at `text[at]`: its length in `text` and its bytes in a JSON string.
struct Unit {
    std::size_t length;
    std::size_t jsonBytes;
};

Unit unitAt(std::string_view text, std::size_t at) {
    const auto c = static_cast<unsigned char>(text[at]);
    if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
        return {1, 2};
    if (c < 0x20) return {1, 6};  // \u00XX
    const std::size_t length = validSequenceAt(text, at);
    if (length == 0) return {1, kReplacementBytes};
    return {length, length};
}

}  // namespace

CallbackOutcome classifyCallbackAnswer(int status) {
    if (status >= 200 && status < 300) return CallbackOutcome::Delivered;
    if (status == 413) return CallbackOutcome::TooLarge;
    if (status == 408 || status == 429) return CallbackOutcome::Retry;
    if (status >= 400 && status < 500) return CallbackOutcome::Refused;
    return CallbackOutcome::Retry;
}

std::size_t jsonStringBytes(std::string_view text) {
    std::size_t bytes = 0;
    for (std::size_t at = 0; at < text.size();) {
        const Unit unit = unitAt(text, at);
        bytes += unit.jsonBytes;
        at += unit.length;
    }
    return bytes;
}

std::size_t fittingPrefix(std::string_view text, std::size_t maxJsonBytes) {
    std::size_t bytes = 0;
    std::size_t at = 0;
    while (at < text.size()) {
        const Unit unit = unitAt(text, at);
        if (bytes + unit.jsonBytes > maxJsonBytes && at > 0) break;
        bytes += unit.jsonBytes;
        at += unit.length;
    }
    return at;
}

}  // namespace aw
