#include "agent_worker/core/refusal.h"

namespace aw {

std::string_view toString(RefusalKind kind) {
    switch (kind) {
        case RefusalKind::InvalidInput: return "invalid_input";
        case RefusalKind::NotFound: return "not_found";
        case RefusalKind::Conflict: return "conflict";
        case RefusalKind::Unprocessable: return "unprocessable";
        case RefusalKind::Unavailable: return "unavailable";
    }
    return "invalid_input";
}

}  // namespace aw
