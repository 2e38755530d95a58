// Checks on a run's event log as GET /v1/runs/{rid}/events returns it, and bounded polling:
// shared by every suite that drives runs through agent-host.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace aw::test {

using Json = nlohmann::json;

//! Polls `condition` every 50 ms until it holds or `timeout` passes; returns its last value.
bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::seconds(30));

bool isTerminalStatus(const std::string& status);  //!< completed, failed or stopped
bool isTerminalType(const std::string& type);      //!< run.completed, run.failed, run.stopped

std::vector<std::string> typesOf(const std::vector<Json>& events);
//! The data of the run's events of `type`, in order.
std::vector<Json> dataOf(const std::vector<Json>& events, const std::string& type);
int countType(const std::vector<Json>& events, const std::string& type);
//! Empty when seq is 1..n in order and event ids are unique; otherwise what is wrong.
std::string denseAndUnique(const std::vector<Json>& events);
//! The events as comparable values: {event_id with the run id replaced, type, data} where
//! the data of host events whose figures vary from run to run (durations, executor ids)
//! is reduced to what must not vary. workspace.sync events are left out: one sync covers
//! the messages of one batch of lines, so their number follows the batching.
Json comparable(const std::vector<Json>& events, const std::string& runId);
//! comparable() of the events the plugin made of the CLI's output: without the host's own
//! (run.*, workspace.*), so that two runs of the same output compare equal.
Json comparableTranslation(const std::vector<Json>& events, const std::string& runId);
//! The `id:` of each event frame of an SSE body, in the order they came.
std::vector<std::int64_t> sseEventIds(const std::string& body);
//! For failure messages: one line per event, clipped.
std::string describeEvents(const std::vector<Json>& events);

}  // namespace aw::test
