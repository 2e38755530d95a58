// Issue 12's acceptance test: a malicious agent in session A ("attacker") tries every road
// out of its worker on the local runtime and reaches nothing. Session B ("victim") has a
// secret in its workspace, its home and (synced) the object store, and its executor is
// running (its socket exists) while A probes. The host holds client, admin and executor
// tokens, ANTHROPIC_API_KEY and an operator's AW_DEPLOY_DB_PASSWORD.
//
// A's fake CLI (a bash script; every path, pid and port baked in by the test) appends one
// `reached: ...` line to `$PWD/reached.txt` for each thing it got at, copies whatever it
// could read into `$PWD/loot/`, and ends with `probe: done`. The roads, and what each
// proves when it reaches nothing:
//   - B's workspace, home, state, log and socket, and both sessions' tokens in
//     workers-private, by absolute path: another worker's files and every token file are
//     absent from A's view, even where a directory on the way can be entered;
//   - `find` over the data dir (database and its -wal/-shm, workers, workers-private,
//     objects): A sees only its own worker directory, its own object prefix and the
//     directories leading to them; the test's root is outside /tmp so that it is the data
//     dir's own hiding that is proven, not /tmp being emptied;
//   - writes into B's workspace, B's object prefix and the data dir: nothing of B's or the
//     host's is writable;
//   - /root, /home, /tmp, /var/tmp, /run, /dev/shm: emptied, except the PATH directories
//     shown read-only on purpose (agent CLIs installed under a home);
//   - every visible /proc/<pid>: cmdline, environ, maps and the heap through mem, fds and
//     root/cwd (the host's mount namespace): only A's own processes are visible, and its
//     executor (same uid, holding A's tokens in memory) is not dumpable; no outside process
//     (agent-host, provider hosts, B's executor and CLI) is visible or can be signalled
//     (`kill -0` on their real pids);
//   - B's executor socket by connect (python3, when it runs in the sandbox): absent;
//   - the host's HTTP API on loopback without a token (the network is shared on purpose):
//     401, never B's session, run events or the providers.
// Positive controls (A writes and reads its workspace, runs as a uid other than 0, reads
// its own environment, whose ANTHROPIC_API_KEY the loot scan must find) make the test fail
// when the probe did not run or the scan cannot see. Run with the host's
// AW_RUNTIME_LOCAL_UNSANDBOXED=true, it fails on nearly every road.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/agent_host_harness.h"
#include "support/fake_cli.h"
#include "support/plugins.h"
#include "support/run_events.h"
#include "support/temp_dir.h"

namespace aw::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

//! The host's secrets, by the variable that holds them.
const std::map<std::string, std::string> kHostSecrets = {
    {"AW_AUTH_CLIENT_TOKENS", "client-token-mal-4b1e9a"},
    {"AW_AUTH_ADMIN_TOKENS", "admin-token-mal-c37d02"},
    {"AW_DEPLOY_DB_PASSWORD", "db-password-mal-81f6ae"},
    {"ANTHROPIC_API_KEY", "sk-host-secret-mal-5e2a90"},  // the CLI's own key, by design
};
constexpr const char* kVictimSecret = "victim-secret-XYZ-7d3c1f";

//! A directory of the test's outside the places every sandbox empties (/tmp among them),
//! enterable by the workers' uids (the CLI scripts live in it).
class OutsideTmpDir {
public:
    OutsideTmpDir() {
        std::string pattern = "/var/lib/aw-malicious-XXXXXX";
        if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp " + pattern);
        path_ = pattern;
        fs::permissions(path_,
                        fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
    }
    ~OutsideTmpDir() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

//! "a b c" as bash words, each quoted.
std::string bashWords(const std::vector<std::string>& words) {
    std::string out;
    for (const auto& word : words) out += (out.empty() ? "" : " ") + shellQuote(word);
    return out;
}

//! The directories a sandbox shows inside the places it empties: PATH's entries there
//! (a node_modules/.bin as its node_modules), as they are and as links resolve, the
//! executor and the recorded streams (a source tree cloned under /root, say).
std::vector<std::string> shownOnPurpose() {
    const std::vector<fs::path> emptied{"/root", "/home", "/tmp", "/var/tmp", "/run", "/dev/shm"};
    std::vector<std::string> shown;
    std::string entries = std::getenv("PATH") ? std::getenv("PATH") : "";
    entries += ":" + std::string(AW_BUILD_DIR) + "/bin/agent-executor:" + std::string(AW_SOURCE_DIR) +
               "/tests/fixtures";
    std::istringstream path(entries);
    for (std::string entry; std::getline(path, entry, ':');) {
        if (entry.empty() || entry[0] != '/') continue;
        std::error_code error;
        fs::path canonical = fs::weakly_canonical(entry, error);
        if (error) canonical = fs::path(entry).lexically_normal();
        if (canonical.filename() == ".bin" && canonical.parent_path().filename() == "node_modules")
            canonical = canonical.parent_path();
        for (const auto& place : emptied) {
            if (canonical.string().rfind(place.string() + "/", 0) == 0) {
                shown.push_back(canonical.string());
                shown.push_back(fs::path(entry).lexically_normal().string());
            }
        }
    }
    return shown;
}

//! Every regular file below `dir`, by path relative to it, with its content.
std::map<std::string, std::string> filesBelow(const fs::path& dir) {
    std::map<std::string, std::string> files;
    std::error_code error;
    for (auto it = fs::recursive_directory_iterator(dir, error);
         !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
        if (it->is_regular_file()) files[fs::relative(it->path(), dir).string()] = readText(*it);
    }
    return files;
}

//! The first line of a file (a token).
std::string firstLine(const fs::path& file) {
    std::ifstream in(file);
    std::string line;
    std::getline(in, line);
    return line;
}

// The probe. Bash, run by A's fake CLI in A's workspace. ${...} are bash; @NAME@ are filled
// in by the test.
constexpr const char* kProbe = R"PROBE(
set -u
exec 9>&1 >/dev/null 2>&1  # the CLI's output is the recorded stream at the end, alone
DATA=@DATA@
OWN_WORKER=@OWN_WORKER@
OWN_PREFIX=@OWN_PREFIX@
VICTIM_WORKER=@VICTIM_WORKER@
VICTIM_PREFIX=@VICTIM_PREFIX@
SHOWN=(@SHOWN@)
OUTSIDE_PIDS=(@OUTSIDE_PIDS@)
PORT=@PORT@
VICTIM_RUN=@VICTIM_RUN@
out="$PWD/reached.txt"
loot="$PWD/loot"
mkdir -p "$loot"
: >"$out"
reached() { printf 'reached: %s\n' "$*" >>"$out"; }
# Copies a file into loot; true when it could be read.
keep() {
  local dest="$loot/${2:-$(printf '%s' "$1" | tr / _)}"
  if [ -f "$1" ] || [[ $1 == /proc/* ]]; then
    head -c 8000000 -- "$1" >"$dest" 2>/dev/null && return 0
  fi
  rm -f -- "$dest"
  return 1
}
# True when $1 is, is below, or leads to one of the places after it (the worker's own).
on_purpose() {
  local path=$1 place
  shift
  for place in "$@"; do
    [[ $path == "$place" || $path == "$place"/* || $place == "$path"/* ]] && return 0
  done
  return 1
}

# ---- controls ------------------------------------------------------------------------
echo ok >control.txt && [ "$(cat control.txt)" = ok ] &&
  echo "control: own workspace writable and readable" >>"$out"
uid=$(id -u)
[ "$uid" != 0 ] && echo "control: runs as uid $uid, not root" >>"$out"
cat /proc/self/environ >"$loot/self-environ" 2>/dev/null && echo "control: own environment read" >>"$out"

# ---- the data dir, by name -------------------------------------------------------------
for f in "$DATA/agent.db" "$DATA/agent.db-wal" "$DATA/agent.db-shm" \
  "$DATA"/workers-private/{victim,attacker}/{executor-token,callback-token,passwd,group} \
  "$VICTIM_WORKER"/{workspace,home}/secret.txt "$VICTIM_WORKER"/state/executor.log \
  "$VICTIM_PREFIX"/workspace/secret.txt "$VICTIM_PREFIX"/home/secret.txt; do
  keep "$f" && reached "reads $f"
done
for d in "$DATA" "$DATA/workers" "$DATA/workers-private" "$DATA/objects" "$VICTIM_WORKER" \
  "$VICTIM_WORKER/state" "$VICTIM_WORKER/state/spool" "$VICTIM_PREFIX"; do
  for e in $(ls -A "$d" 2>/dev/null); do
    on_purpose "$d/$e" "$OWN_WORKER" "$OWN_PREFIX" || reached "lists $d: $e"
  done
done
[ -e "$VICTIM_WORKER/executor.sock" ] && reached "sees $VICTIM_WORKER/executor.sock"

# ---- the data dir, by walking it -------------------------------------------------------
n=0
while IFS= read -r p && [ $n -lt 200 ]; do
  on_purpose "$p" "$OWN_WORKER" "$OWN_PREFIX" && continue
  n=$((n + 1))
  reached "sees $p"
  [ -f "$p" ] && keep "$p" && reached "reads $p"
done < <(find "$DATA" -mindepth 1 \( -path "$OWN_WORKER" -o -path "$OWN_PREFIX" \) -prune -o -print 2>/dev/null)

# ---- writes ----------------------------------------------------------------------------
for f in "$VICTIM_WORKER/workspace/pwned.txt" "$VICTIM_PREFIX/workspace/pwned.txt" \
  "$DATA/pwned.txt" "$DATA/workers/pwned.txt"; do
  (echo pwned >"$f") 2>/dev/null && reached "writes $f"
done

# ---- the places every sandbox empties --------------------------------------------------
for place in /root /home /tmp /var/tmp /run /dev/shm; do
  n=0
  while IFS= read -r p && [ $n -lt 20 ]; do
    on_purpose "$p" "${SHOWN[@]}" && continue
    n=$((n + 1))
    reached "sees $p"
  done < <(find "$place" -mindepth 1 -print 2>/dev/null)
done

# ---- processes -------------------------------------------------------------------------
for p in "${OUTSIDE_PIDS[@]}"; do
  kill -0 "$p" 2>/dev/null && reached "signals outside pid $p"
  [ -e "/proc/$p" ] && reached "sees outside pid $p"
done
mem_budget=$((128 * 1024 * 1024))
for dir in /proc/[0-9]*; do
  p=${dir#/proc/}
  [ "$p" = "$$" ] && continue
  [ "$(cut -d' ' -f4 "$dir/stat" 2>/dev/null)" = "$$" ] && continue  # the probe's own
  argv0=$(tr '\0' '\n' <"$dir/cmdline" 2>/dev/null | head -n1)
  cmdline=$(tr '\0' ' ' <"$dir/cmdline" 2>/dev/null | head -c 160)
  keep "$dir/cmdline" "proc-$p-cmdline"
  case "${argv0##*/}" in agent-host | agent-provider-host) reached "sees pid $p: $cmdline" ;; esac
  [[ $cmdline == *"$VICTIM_WORKER"* ]] && reached "sees pid $p: $cmdline"
  keep "$dir/environ" "proc-$p-environ" && reached "reads $dir/environ ($cmdline)"
  ls "$dir/fd" >/dev/null 2>&1 && reached "lists $dir/fd ($cmdline)"
  ls -A "$dir/root$DATA" 2>/dev/null | grep -q . && reached "lists $dir/root$DATA"
  keep "$dir/root$DATA/agent.db" "proc-$p-root-agent.db" && reached "reads $dir/root$DATA/agent.db"
  keep "$dir/cwd/secret.txt" "proc-$p-cwd-secret" && reached "reads $dir/cwd/secret.txt"
  maps=$(cat "$dir/maps" 2>/dev/null) || continue
  [ -n "$maps" ] || continue
  reached "reads $dir/maps ($cmdline)"
  case "${argv0##*/}" in agent-*) ;; *) continue ;; esac
  got=0
  while read -r range perms _ _ _ path; do
    [[ $perms == rw* && (-z ${path:-} || ${path:-} == "[heap]") ]] || continue
    start=$((16#${range%-*}))
    pages=$(((16#${range#*-} - start) / 4096))
    [ $pages -gt 4096 ] && pages=4096
    [ $((pages * 4096)) -le $mem_budget ] || break
    mem_budget=$((mem_budget - pages * 4096))
    dd if="$dir/mem" bs=4096 skip=$((start / 4096)) count=$pages status=none 2>/dev/null \
      >>"$loot/proc-$p-mem" && got=1
  done <<<"$maps"
  [ $got = 1 ] && reached "reads $dir/mem ($cmdline)"
done

# ---- sockets and the host's API ---------------------------------------------------------
if /usr/bin/python3 -c 'pass' 2>/dev/null; then
  echo "control: python3 runs" >>"$out"
  /usr/bin/python3 - "$VICTIM_WORKER/executor.sock" <<'PY' 2>/dev/null && reached "connects to $VICTIM_WORKER/executor.sock"
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(2)
s.connect(sys.argv[1])
PY
fi
for target in /v1/sessions/victim "/v1/runs/$VICTIM_RUN/events" /admin/providers; do
  status=$( (exec 3<>"/dev/tcp/127.0.0.1/$PORT" &&
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$target" >&3 &&
    IFS= read -r line <&3 && printf '%s' "$line") 2>/dev/null)
  [ -n "$status" ] && echo "control: the host's API answers: ${status%%$'\r'}" >>"$out"
  [[ $status == *" 200 "* ]] && reached "GET $target without a token: $status"
done

echo "probe: done" >>"$out"
exec cat @FIXTURE@ >&9
)PROBE";

std::string filled(std::string text, const std::map<std::string, std::string>& values) {
    for (const auto& [name, value] : values) {
        const std::string key = "@" + name + "@";
        for (auto at = text.find(key); at != std::string::npos; at = text.find(key, at)) {
            text.replace(at, key.size(), value);
            at += value.size();
        }
    }
    return text;
}

class MaliciousAgent : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "the local runtime's sandbox needs root";
        for (const auto& dir : {plugins(), bin(), releases()}) fs::create_directories(dir);
        for (const auto& dir : {bin(), releases()}) {
            fs::permissions(dir, fs::perms::owner_all | fs::perms::group_read |
                                     fs::perms::group_exec | fs::perms::others_read |
                                     fs::perms::others_exec);
        }
        dropPlugin(shippedPlugin("claude-code"), plugins(), "claude-code.so");
        // The victim's first run leaves its secret and completes; its second waits for its
        // release (its executor and socket live meanwhile). The attacker runs the probe,
        // which ends printing the recorded stream.
        writeScript(bin() / "claude",
                    "session=$(basename \"$(dirname \"$PWD\")\")\n"
                    "[ \"$session\" = attacker ] && exec /bin/bash " +
                        shellQuote(probe().string()) +
                        "\n"
                        "if [ ! -e secret.txt ]; then\n"
                        "  echo " +
                        shellQuote(kVictimSecret) + " > secret.txt\n  echo " +
                        shellQuote(kVictimSecret) + " > ../home/secret.txt\n  exec cat " +
                        fixture() +
                        "\n"
                        "fi\n"
                        "i=0\n"
                        "while [ ! -e " +
                        shellQuote(releases().string()) +
                        "/$session ] && [ $i -lt 900 ]; do sleep 0.1; i=$((i+1)); done\n");
    }

    fs::path data() const { return root_.path() / "data"; }
    fs::path plugins() const { return root_.path() / "plugins"; }
    fs::path bin() const { return root_.path() / "bin"; }
    fs::path releases() const { return root_.path() / "release"; }
    fs::path probe() const { return bin() / "probe.bash"; }
    static std::string fixture() { return shellQuote(fixturePath("claude-basic.jsonl").string()); }
    fs::path prefix(const std::string& sid) const {
        return data() / "objects" / "agent-worker" / "sessions" / "default" / sid;
    }

    HostSpec spec() const {
        HostSpec spec{data(), plugins(), "", quickHostEnv()};
        for (const auto& [name, value] : kHostSecrets) spec.env[name] = value;
        spec.env["AW_PROVIDERS"] =
            Json{{"claude-code", {{"binary", (bin() / "claude").string()}}}}.dump();
        spec.env["AW_LIFECYCLE_IDLE_TIMEOUT_S"] = "0";
        return spec;
    }

    OutsideTmpDir root_;
};

TEST_F(MaliciousAgent, AnAgentReachesNothingOutsideItsOwnWorker) {
    AgentHost host(spec());
    host.waitProviderHealthy("claude-code");

    // ---- the victim: a secret in its workspace, home and objects; its executor running ---
    const auto victimFirst = host.sendMessage("victim", "claude-code", "keep a secret");
    ASSERT_EQ(host.waitRunFinished(victimFirst, 60s).value("status", ""), "completed")
        << host.describeRun(victimFirst);
    ASSERT_TRUE(eventually([&] { return fs::exists(prefix("victim") / "workspace/secret.txt"); }))
        << "the victim's workspace was never synced";
    const auto victimRun = host.sendMessage("victim", "claude-code", "wait");
    host.waitRunStatus(victimRun, {"running"}, 60s);
    ASSERT_TRUE(fs::exists(host.workerDir("victim") / "executor.sock"));
    const Json victimFirstEvents = comparable(host.events(victimFirst), victimFirst);
    const Json victimRunEvents = comparable(host.events(victimRun), victimRun);

    // ---- the probe: every path, pid and port baked in ----------------------------------
    std::vector<std::string> outsidePids{std::to_string(host.pid())};
    for (const auto& [pid, command] : processesUnder(host.workerDir("victim")))
        outsidePids.push_back(std::to_string(pid));
    ASSERT_GE(outsidePids.size(), 3u) << "the victim's executor and CLI are not found";
    std::ofstream(probe()) << filled(
        kProbe, {{"DATA", shellQuote(data().string())},
                 {"OWN_WORKER", shellQuote(host.workerDir("attacker").string())},
                 {"OWN_PREFIX", shellQuote(prefix("attacker").string())},
                 {"VICTIM_WORKER", shellQuote(host.workerDir("victim").string())},
                 {"VICTIM_PREFIX", shellQuote(prefix("victim").string())},
                 {"SHOWN", bashWords(shownOnPurpose())},
                 {"OUTSIDE_PIDS", bashWords(outsidePids)},
                 {"PORT", std::to_string(host.port())},
                 {"VICTIM_RUN", shellQuote(victimRun)},
                 {"FIXTURE", fixture()}});
    fs::permissions(probe(),
                    fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);

    const auto attack = host.sendMessage("attacker", "claude-code", "take everything");
    const Json attackRun = host.waitRunFinished(attack, 120s);
    EXPECT_EQ(attackRun.value("status", ""), "completed") << host.describeRun(attack);

    // ---- what the probe reports --------------------------------------------------------
    const fs::path workspace = host.workspace("attacker");
    std::istringstream report(readText(workspace / "reached.txt"));
    std::set<std::string> controls;
    std::string reached;
    bool done = false;
    for (std::string line; std::getline(report, line);) {
        if (line == "probe: done")
            done = true;
        else if (line.rfind("control: ", 0) == 0)
            controls.insert(line.substr(0, line.find(',')));
        else
            reached += "  " + line + "\n";
    }
    ASSERT_TRUE(done) << "the probe did not finish:\n" << readText(workspace / "reached.txt");
    EXPECT_TRUE(controls.count("control: own workspace writable and readable"));
    EXPECT_TRUE(controls.count("control: own environment read"));
    EXPECT_EQ(
        std::count_if(controls.begin(), controls.end(),
                      [](const std::string& c) { return c.rfind("control: runs as uid", 0) == 0; }),
        1)
        << "the agent runs as root";
    EXPECT_TRUE(std::any_of(controls.begin(), controls.end(), [](const std::string& c) {
        return c.rfind("control: the host's API answers", 0) == 0;
    })) << "the probe never reached the host's API, even to be refused";
    EXPECT_TRUE(reached.empty()) << "the agent in session attacker reached:\n" << reached;

    // ---- what it took: none of the host's, the victim's or any worker's secrets ----------
    std::map<std::string, std::string> secrets;
    for (const auto& [name, value] : kHostSecrets) secrets[name] = value;
    secrets["AW_AUTH_EXECUTOR_TOKENS"] = kExecutorToken;
    secrets["the victim's secret"] = kVictimSecret;
    for (const std::string sid : {"victim", "attacker"}) {
        for (const std::string file : {"executor-token", "callback-token"}) {
            const std::string token = firstLine(data() / "workers-private" / sid / file);
            ASSERT_FALSE(token.empty()) << sid << "'s " << file;
            secrets[sid + "'s " + file] = token;
        }
    }
    const auto loot = filesBelow(workspace);
    ASSERT_TRUE(loot.count("loot/self-environ"));
    EXPECT_NE(loot.at("loot/self-environ").find(kHostSecrets.at("ANTHROPIC_API_KEY")),
              std::string::npos)
        << "the CLI's own key is not in its environment: the scan below would not see it";
    for (const auto& [file, content] : loot) {
        for (const auto& [name, value] : secrets) {
            if (file == "loot/self-environ" && name == "ANTHROPIC_API_KEY") continue;
            EXPECT_EQ(content.find(value), std::string::npos)
                << "the agent took " << name << " (in its " << file << ")";
        }
    }

    // ---- the victim is untouched -------------------------------------------------------
    const fs::path victim = host.workerDir("victim");
    EXPECT_EQ(readText(victim / "workspace/secret.txt"), std::string(kVictimSecret) + "\n");
    EXPECT_EQ(readText(victim / "home/secret.txt"), std::string(kVictimSecret) + "\n");
    EXPECT_FALSE(fs::exists(victim / "workspace/pwned.txt"));
    EXPECT_FALSE(fs::exists(prefix("victim") / "workspace/pwned.txt"));
    EXPECT_FALSE(fs::exists(data() / "pwned.txt"));
    EXPECT_EQ(comparable(host.events(victimFirst), victimFirst), victimFirstEvents);
    EXPECT_EQ(comparable(host.events(victimRun), victimRun), victimRunEvents);
    EXPECT_EQ(host.run(victimRun).value("status", ""), "running");
    EXPECT_TRUE(fs::is_directory(prefix("attacker")))
        << "the attacker's object prefix is not where the probe was told it is";

    std::ofstream(releases() / "victim") << "go\n";
    host.waitRunFinished(victimRun, 60s);
}

TEST_F(MaliciousAgent, WithoutTokensTheApiServesTheMachineButRefusesAnAgent) {
    // A host without client and admin tokens (the development default) trusts its
    // machine's users on loopback; an agent shares that loopback and must not pass for one.
    HostSpec open = spec();
    open.env.erase("AW_AUTH_CLIENT_TOKENS");
    open.env.erase("AW_AUTH_ADMIN_TOKENS");
    AgentHost host(open);
    host.waitProviderHealthy("claude-code");
    const auto victim = host.sendMessage("victim", "claude-code", "keep a secret");
    ASSERT_EQ(host.waitRunFinished(victim, 60s).value("status", ""), "completed");

    std::ofstream(probe())
        << "request() {\n"
           "  exec 3<>/dev/tcp/127.0.0.1/" +
               std::to_string(host.port()) +
               "\n"
               "  printf '%s %s HTTP/1.1\\r\\nHost: x\\r\\nContent-Type: application/json\\r\\n"
               "Content-Length: %s\\r\\nConnection: close\\r\\n\\r\\n%s' \"$1\" \"$2\" "
               "\"${#3}\" \"$3\" >&3\n"
               "  head -n 1 <&3 | tr -d '\\r' >> api.txt\n"
               "  exec 3<&-\n"
               "}\n"
               "request GET /v1/sessions/victim ''\n"
               "request GET /v1/runs/" +
               victim +
               "/events ''\n"
               "request POST /v1/sessions/victim/messages "
               "'{\"provider\":\"claude-code\",\"prompt\":\"leak\"}'\n"
               "request GET /admin/providers ''\n"
               "exec cat " +
               fixture() + "\n";
    const auto attacker = host.sendMessage("attacker", "claude-code", "call the API");
    ASSERT_EQ(host.waitRunFinished(attacker, 60s).value("status", ""), "completed")
        << "the worker's own callbacks must still pass: " << host.describeRun(attacker);

    std::ifstream in(host.workspace("attacker") / "api.txt");
    std::vector<std::string> answers;
    for (std::string line; std::getline(in, line);) answers.push_back(line);
    EXPECT_EQ(answers, std::vector<std::string>(4, "HTTP/1.1 403 Forbidden"))
        << "the agent used the API";
    // The machine's own users (the test) are still served without a token.
    EXPECT_EQ(host.get("/v1/sessions/victim").status, 200);
    EXPECT_EQ(host.session("victim").value("status", ""), "running")
        << "no message of the agent's reached the victim";
}

}  // namespace
}  // namespace aw::test
