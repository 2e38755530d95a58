// The executor's rules for delivering output to the host's callback URL, apart from the
// IO: how much of a line fits in one callback body, and what an answer means (delivered,
// too large, refused for good, or worth another try).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace aw {

//! What the executor does with a batch after the host's answer.
enum class CallbackOutcome {
    Delivered,  //!< 2xx: acknowledge it
    TooLarge,   //!< 413: send fewer records, or give the single record up
    Refused,    //!< another 4xx (not 408/429): the host will never take it; give the run's rest up
    Retry,      //!< 5xx, 408, 429, no answer: try again after a backoff
};

//! `status` 0 means no answer (a network error or a timeout).
CallbackOutcome classifyCallbackAnswer(int status);

//! The bytes `text` takes inside a JSON string as the executor writes it (nlohmann's dump,
//! UTF-8 kept, invalid bytes replaced by U+FFFD): quotes, backslashes and control
//! characters are escaped.
std::size_t jsonStringBytes(std::string_view text);

//! The length of the longest start of `text` that takes at most `maxJsonBytes` as a JSON
//! string, never cutting a UTF-8 character; at least one character when `text` is not
//! empty, so every call makes progress.
std::size_t fittingPrefix(std::string_view text, std::size_t maxJsonBytes);

//! The host's body limit for callbacks as the executor knows it (`--callback-max-body-bytes`,
//! lowered when the host answers 413), and what follows from it.
struct CallbackBodyLimit {
    //! The host's `http.max_body_bytes` default.
    static constexpr std::size_t kDefaultBytes = 1024 * 1024;
    static constexpr std::size_t kMinimumBytes = 16 * 1024;
    //! Room a single-record batch needs besides its line: the ids, the field names, the seq.
    static constexpr std::size_t kEnvelopeBytes = 4 * 1024;

    //! The largest piece of a line (in JSON string bytes) that fits one batch of its own.
    static std::size_t linePieceBytes(std::size_t bodyBytes) {
        return (bodyBytes < kMinimumBytes ? kMinimumBytes : bodyBytes) - kEnvelopeBytes;
    }
};

}  // namespace aw
