#include "agent_worker/core/runs/output_assembly.h"

#include "agent_worker/core/json_access.h"

#include <algorithm>

namespace aw {
namespace {

AssembledLine join(std::vector<RawOutputRecord>& pieces) {
    AssembledLine line;
    for (auto& piece : pieces) {
        line.rawIds.push_back(piece.eventId);
        line.text += piece.line;
        line.lastSeq = piece.seq;
    }
    pieces.clear();
    return line;
}

}  // namespace

void OutputAssembler::add(RawOutputRecord record) {
    if (record.stream == "stdout") {
        if (record.seq >= nextSeq_) waiting_.emplace(record.seq, std::move(record));
    } else if (record.stream == "exit") {
        exit_ = std::move(record);
    }
}

std::vector<AssembledLine> OutputAssembler::takeReady() {
    std::vector<AssembledLine> ready;
    for (auto it = waiting_.find(nextSeq_); it != waiting_.end(); it = waiting_.find(nextSeq_)) {
        RawOutputRecord record = std::move(it->second);
        waiting_.erase(it);
        ++nextSeq_;
        const bool continued = record.continued;
        pieces_.push_back(std::move(record));
        if (!continued) ready.push_back(join(pieces_));
    }
    return ready;
}

bool OutputAssembler::exitReady() const {
    if (!exit_) return false;
    return nextSeq_ >
           parseCliExit(exit_->line).stdoutLines - parseOutputLoss(exit_->line).stdoutLines;
}

std::optional<AssembledLine> OutputAssembler::takeUnfinishedLine() {
    if (pieces_.empty()) return std::nullopt;
    return join(pieces_);
}

CliExit parseCliExit(const std::string& body) {
    const auto json = nlohmann::json::parse(body, nullptr, false);
    CliExit exit;
    if (!json.is_object()) return exit;
    if (auto code = integerAt(json, "exit_code")) exit.exitCode = static_cast<int>(*code);
    if (auto signal = integerAt(json, "signal")) exit.signal = static_cast<int>(*signal);
    exit.stdoutLines = integerAt(json, "stdout_lines").value_or(0);
    return exit;
}

OutputLoss parseOutputLoss(const std::string& exitBody) {
    const auto json = nlohmann::json::parse(exitBody, nullptr, false);
    OutputLoss loss;
    if (!json.is_object()) return loss;
    loss.stdoutLines = std::max<std::int64_t>(0, integerAt(json, "lost_stdout_lines").value_or(0));
    loss.stderrLines = std::max<std::int64_t>(0, integerAt(json, "lost_stderr_lines").value_or(0));
    if (json.contains("lost_reason") && json["lost_reason"].is_string()) {
        loss.reason = json["lost_reason"].get<std::string>();
    }
    return loss;
}

}  // namespace aw
