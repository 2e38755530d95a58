#include "agent_worker/core/lifecycle_ports.h"

#include <chrono>

#include "agent_worker/core/enum_names.h"

namespace aw {
namespace {

constexpr EnumNameTable<SandboxState, 3> kSandboxStateNames{{
    {SandboxState::Missing, "missing"},
    {SandboxState::Stopped, "stopped"},
    {SandboxState::Running, "running"},
}};

}  // namespace

std::string_view toString(SandboxState state) {
    return nameIn(kSandboxStateNames, state);
}
std::optional<SandboxState> parseSandboxState(std::string_view name) {
    return parseIn(kSandboxStateNames, name);
}

std::int64_t SystemClock::nowMs() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace aw
