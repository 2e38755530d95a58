// Step 5 of a run: records in any order become whole lines in order; the exit waits for
// every line it counts.
#include <gtest/gtest.h>

#include "agent_worker/core/runs/output_assembly.h"

namespace aw {
namespace {

RawOutputRecord out(std::int64_t seq, std::string line, bool continued = false) {
    RawOutputRecord record;
    record.runId = "r";
    record.stream = "stdout";
    record.seq = seq;
    record.eventId = "r/stdout/" + std::to_string(seq);
    record.line = std::move(line);
    record.continued = continued;
    return record;
}

RawOutputRecord exitAfter(std::int64_t lines) {
    RawOutputRecord record;
    record.runId = "r";
    record.stream = "exit";
    record.seq = 1;
    record.eventId = "r/exit/1";
    record.line = nlohmann::json{{"exit_code", 0}, {"signal", nullptr}, {"stdout_lines", lines}}.dump();
    return record;
}

std::vector<std::string> texts(const std::vector<AssembledLine>& lines) {
    std::vector<std::string> found;
    for (const auto& line : lines) found.push_back(line.text);
    return found;
}

TEST(OutputAssembly, RecordsOutOfOrderComeOutInSeqOrderOnceTheGapFills) {
    OutputAssembler assembler;
    assembler.add(out(2, "b"));
    assembler.add(out(3, "c"));
    EXPECT_TRUE(assembler.takeReady().empty());
    assembler.add(out(1, "a"));
    EXPECT_EQ(texts(assembler.takeReady()), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_EQ(assembler.nextSeq(), 4);
}

TEST(OutputAssembly, DuplicatesAndRecordsAlreadyTakenAreIgnored) {
    OutputAssembler assembler;
    assembler.add(out(1, "a"));
    EXPECT_EQ(texts(assembler.takeReady()), std::vector<std::string>{"a"});
    assembler.add(out(1, "a"));
    assembler.add(out(2, "b"));
    assembler.add(out(2, "b"));
    EXPECT_EQ(texts(assembler.takeReady()), std::vector<std::string>{"b"});
}

TEST(OutputAssembly, PiecesOfALongLineAreJoinedWithEveryRawId) {
    OutputAssembler assembler;
    assembler.add(out(1, "{\"long\":", true));
    assembler.add(out(2, "\"x\"", true));
    assembler.add(out(3, "}"));
    const auto lines = assembler.takeReady();
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].text, "{\"long\":\"x\"}");
    EXPECT_EQ(lines[0].rawIds, (std::vector<std::string>{"r/stdout/1", "r/stdout/2", "r/stdout/3"}));
}

TEST(OutputAssembly, TheExitWaitsForEveryLineItCounts) {
    OutputAssembler assembler;
    assembler.add(exitAfter(2));
    assembler.add(out(2, "b"));
    EXPECT_FALSE(assembler.exitReady());
    assembler.add(out(1, "a"));
    assembler.takeReady();
    EXPECT_TRUE(assembler.exitReady());
}

TEST(OutputAssembly, AStreamThatEndsInsideALongLineLeavesItsPiecesForTheExit) {
    OutputAssembler assembler;
    assembler.add(out(1, "half", true));
    assembler.add(exitAfter(1));
    EXPECT_TRUE(assembler.takeReady().empty());
    EXPECT_TRUE(assembler.exitReady());
    const auto unfinished = assembler.takeUnfinishedLine();
    ASSERT_TRUE(unfinished);
    EXPECT_EQ(unfinished->text, "half");
    EXPECT_FALSE(assembler.takeUnfinishedLine());
}

TEST(OutputAssembly, TheExitDoesNotWaitForLinesTheExecutorGaveUp) {
    OutputAssembler assembler;
    RawOutputRecord exit = exitAfter(5);
    exit.line = nlohmann::json{{"exit_code", 0},         {"signal", nullptr},
                               {"stdout_lines", 5},      {"lost_stdout_lines", 3},
                               {"lost_stderr_lines", 1}, {"lost_reason", "refused"}}
                    .dump();
    assembler.add(exit);
    assembler.add(out(1, "a"));
    EXPECT_FALSE(assembler.exitReady());
    assembler.add(out(2, "b"));
    assembler.takeReady();
    EXPECT_TRUE(assembler.exitReady());
    const auto loss = parseOutputLoss(exit.line);
    EXPECT_EQ(loss.stdoutLines, 3);
    EXPECT_EQ(loss.stderrLines, 1);
    EXPECT_EQ(loss.reason, "refused");
    EXPECT_FALSE(parseOutputLoss(exitAfter(2).line).any());
}

TEST(OutputAssembly, AnExitBodyIsReadLeniently) {
    const auto exit = parseCliExit(R"({"exit_code":3,"signal":null,"stdout_lines":12})");
    EXPECT_EQ(exit.exitCode, 3);
    EXPECT_FALSE(exit.signal);
    EXPECT_EQ(exit.stdoutLines, 12);
    const auto garbage = parseCliExit("not json");
    EXPECT_FALSE(garbage.exitCode);
    EXPECT_EQ(garbage.stdoutLines, 0);
}

}  // namespace
}  // namespace aw
