// Wire names of the restore enums, shared by the manifest and the plan readers so both
// accept and print exactly the same names.
#pragma once

#include "agent_worker/core/enum_names.h"
#include "agent_worker/core/runtime_manifest.h"

namespace aw {

inline constexpr EnumNameTable<RestoreLevel, 5> kRestoreLevelNames{{
    {RestoreLevel::None, "none"},
    {RestoreLevel::Workspace, "workspace"},
    {RestoreLevel::AgentState, "agent_state"},
    {RestoreLevel::Caches, "caches"},
    {RestoreLevel::Full, "full"},
}};

inline constexpr EnumNameTable<RestoreMode, 2> kRestoreModeNames{{
    {RestoreMode::Copy, "copy"},
    {RestoreMode::Link, "link"},
}};

inline constexpr EnumNameTable<ConflictPolicy, 3> kConflictPolicyNames{{
    {ConflictPolicy::KeepSession, "keep_session"},
    {ConflictPolicy::PreferSnapshot, "prefer_snapshot"},
    {ConflictPolicy::Fail, "fail"},
}};

}  // namespace aw
