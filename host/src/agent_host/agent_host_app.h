// agent-host: the HTTP control plane. Reads its configuration, opens and migrates the
// database, serves the API until SIGINT/SIGTERM.
#pragma once

#include <Poco/Util/ServerApplication.h>

#include "config/host_config.h"

namespace aw {

class AgentHostApp : public Poco::Util::ServerApplication {
protected:
    void defineOptions(Poco::Util::OptionSet& options) override;
    void handleOption(const std::string& name, const std::string& value) override;
    int main(const std::vector<std::string>& args) override;

private:
    void printHelp() const;
    int serve(const HostConfig& config);

    bool helpRequested_ = false;
    std::string configFile_;
    std::map<std::string, std::string> flags_;
};

}  // namespace aw
