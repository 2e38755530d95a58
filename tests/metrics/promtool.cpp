#include "metrics/promtool.h"

#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "support/temp_dir.h"

namespace aw::test {

PromtoolVerdict promtoolCheck(const std::string& exposition) {
    if (std::system("command -v promtool > /dev/null 2>&1") != 0) {
        throw std::runtime_error(
            "promtool is not installed: these tests need it to check the /metrics output "
            "(scripts/install-deps.sh test installs it: Debian package prometheus)");
    }
    TempDir dir("aw-promtool");
    const auto input = dir.write("metrics.txt", exposition);
    const auto output = dir / "promtool.out";
    const std::string command =
        "promtool check metrics < '" + input.string() + "' > '" + output.string() + "' 2>&1";
    const int status = std::system(command.c_str());
    PromtoolVerdict verdict;
    verdict.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream in(output);
    std::ostringstream text;
    text << in.rdbuf();
    verdict.output = text.str();
    return verdict;
}

std::map<std::string, double> parseSamples(const std::string& exposition) {
    std::map<std::string, double> samples;
    std::istringstream in(exposition);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        const auto space = line.rfind(' ');
        if (space == std::string::npos) continue;
        const std::string value = line.substr(space + 1);
        samples[line.substr(0, space)] = value == "+Inf" ? HUGE_VAL : std::stod(value);
    }
    return samples;
}

}  // namespace aw::test
