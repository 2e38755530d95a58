// Step 5 of a run: the executor's records arrive at least once and in any order; the
// assembler puts stdout back in seq order, joins the pieces of long lines, and says when
// the CLI's exit can be settled (every stdout line it reported has been taken).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent_worker/core/run_store.h"

namespace aw {

//! One whole line of CLI stdout and the raw records it was delivered in.
struct AssembledLine {
    std::vector<std::string> rawIds;
    std::string text;
    std::int64_t lastSeq = 0;  //!< the stdout seq of its last record
};

class OutputAssembler {
public:
    //! Starts after the stdout records before `nextSeq` (1: from the beginning).
    explicit OutputAssembler(std::int64_t nextSeq = 1) : nextSeq_(nextSeq) {}

    //! A stdout or exit record; stderr and records already taken are ignored.
    void add(RawOutputRecord record);
    //! The lines complete and in order since the last call.
    std::vector<AssembledLine> takeReady();
    //! True once the exit record arrived and every stdout line it counts was taken (but
    //! those it reports lost).
    bool exitReady() const;
    //! The pieces of a line the stream ended inside, joined; empty when none.
    std::optional<AssembledLine> takeUnfinishedLine();

    const std::optional<RawOutputRecord>& exitRecord() const { return exit_; }
    bool exitArrived() const { return exit_.has_value(); }
    //! The seq of the next stdout record to take: every record before it was taken.
    std::int64_t nextSeq() const { return nextSeq_; }

private:
    std::map<std::int64_t, RawOutputRecord> waiting_;  //!< by seq, until the gap before fills
    std::vector<RawOutputRecord> pieces_;              //!< of a long line, `continued`
    std::optional<RawOutputRecord> exit_;
    std::int64_t nextSeq_;
};

//! The fields of an exit record's body (the executor's JSON, as stored in its line).
struct CliExit {
    std::optional<int> exitCode;
    std::optional<int> signal;
    std::int64_t stdoutLines = 0;  //!< how many stdout records the run produced
};
CliExit parseCliExit(const std::string& body);

//! The output the executor gave up, as its exit record reports it (`lost_*`, absent when
//! none was): the last records of their streams, which the host refused for good, so the
//! run delivers `stdoutLines - stdoutLines lost` stdout records.
struct OutputLoss {
    std::int64_t stdoutLines = 0;
    std::int64_t stderrLines = 0;
    std::string reason;

    bool any() const { return stdoutLines > 0 || stderrLines > 0; }
};
OutputLoss parseOutputLoss(const std::string& exitBody);

}  // namespace aw
