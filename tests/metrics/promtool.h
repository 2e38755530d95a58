// Prometheus's own checker of the text exposition format (`promtool check metrics`, from
// Debian's `prometheus` package), for the suites that scrape /metrics.
#pragma once

#include <map>
#include <string>

namespace aw::test {

struct PromtoolVerdict {
    int exitCode = -1;
    std::string output;  //!< what promtool said (problems, lint warnings)
};

//! Runs `promtool check metrics` on `exposition`. Throws when promtool is not installed.
PromtoolVerdict promtoolCheck(const std::string& exposition);

//! The samples of an exposition: `name{labels}` (as written) -> value.
std::map<std::string, double> parseSamples(const std::string& exposition);

}  // namespace aw::test
