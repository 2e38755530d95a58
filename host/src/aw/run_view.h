// How `aw send` and `aw watch` show a run's events in a terminal: assistant text as it is
// written, tool calls with a short summary of their input and how they ended, the todo list
// each time it changes, what a human must answer, and the run's outcome and usage.
#pragma once

#include <nlohmann/json.hpp>

#include <ostream>
#include <set>
#include <string>

namespace aw::cli {

class RunView {
public:
    explicit RunView(std::ostream& out) : out_(out) {}

    void show(const nlohmann::json& event);

    //! The run's terminal event type once it arrived (run.completed...), else empty.
    const std::string& outcome() const { return outcome_; }

    //! The usage line printed at the end ("usage: 1,234 in · 56 out ...").
    static std::string usageLine(const nlohmann::json& usage);
    //! A tool input in one short line: its command, path, pattern... or compact JSON.
    static std::string inputSummary(const nlohmann::json& input);

private:
    void showUnflushed(const nlohmann::json& event);
    void messageDelta(const nlohmann::json& data);
    void messageStop(const nlohmann::json& data);
    void todos(const nlohmann::json& data);
    void humanRequest(const std::string& runId, const nlohmann::json& data);
    void terminal(const std::string& type, const nlohmann::json& data);
    //! Ends a line of streamed text before anything else is printed.
    void endText();
    std::ostream& line();

    std::ostream& out_;
    bool midLine_ = false;            //!< streamed text left without its newline
    std::set<std::string> streamed_;  //!< messages whose deltas were printed
    std::string lastTodos_;           //!< the last checklist shown, to skip repeats
    nlohmann::json lastUsage_;
    std::string outcome_;
};

}  // namespace aw::cli
