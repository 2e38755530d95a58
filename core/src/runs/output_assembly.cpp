#include "agent_worker/core/runs/output_assembly.h"

#include "agent_worker/core/json_access.h"

namespace aw {
namespace {

AssembledLine join(std::vector<RawOutputRecord>& pieces) {
    AssembledLine line;
    for (auto& piece : pieces) {
        line.rawIds.push_back(piece.eventId);
        line.text += piece.line;
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
    return exit_ && nextSeq_ > parseCliExit(exit_->line).stdoutLines;
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

}  // namespace aw
