// bench/peer.cpp: see peer.hpp.
#include "peer.hpp"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "bench.hpp"
#include "report.hpp"

extern char** environ;

namespace bench {

namespace {

bool executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) fail("cannot write " + path.string());
}

// field_value returns the value of "key=value" in a space-separated line.
std::string field_value(const std::string& line, const std::string& key) {
  std::istringstream in(line);
  for (std::string word; in >> word;) {
    if (word.rfind(key + "=", 0) == 0) return word.substr(key.size() + 1);
  }
  return "";
}

}  // namespace

bool Peer::start(const std::vector<std::string>& command, int reps, double target_seconds,
                 bool quick, bool wall_clock) {
  if (command.empty()) fail_with("no program to run");
  const std::string program = find_program(command[0]);
  if (program.empty()) {
    print_note(name_ + ": not found (no program " + command[0] + ")");
    return false;
  }
  for (std::size_t i = 1; i < command.size(); ++i) {  // a script it runs
    if (!std::filesystem::exists(command[i])) {
      print_note(name_ + ": not found (no " + command[i] + ")");
      return false;
    }
  }

  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
                      "/sanstls-bench-XXXXXX";
  std::vector<char> name(templ.begin(), templ.end());
  name.push_back('\0');
  if (::mkdtemp(name.data()) == nullptr) fail("mkdtemp: " + std::string(std::strerror(errno)));
  dir_ = name.data();
  write_credentials(dir_);

  std::vector<std::string> args = command;
  args[0] = program;
  for (std::string a : {std::string("--serve"), std::string("--dir"), dir_.string(),
                        std::string("--reps"), std::to_string(reps),
                        std::string("--target-seconds"), format(target_seconds, 3)}) {
    args.push_back(std::move(a));
  }
  if (quick) args.push_back("--quick");
  if (wall_clock) args.push_back("--wall-clock");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int in[2];   // parent writes, child reads (stdin)
  int out[2];  // child writes (stdout, stderr), parent reads
  if (::pipe(in) != 0 || ::pipe(out) != 0) fail("pipe: " + std::string(std::strerror(errno)));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, out[1], 2);
  for (int fd : {in[0], in[1], out[0], out[1]}) posix_spawn_file_actions_addclose(&actions, fd);
  std::fflush(stdout);
  int rc = ::posix_spawn(&pid_, program.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in[0]);
  ::close(out[1]);
  if (rc != 0) {
    ::close(in[1]);
    ::close(out[0]);
    pid_ = -1;
    fail_with("cannot start " + program + ": " + std::strerror(rc));
  }
  to_ = ::fdopen(in[1], "w");
  from_ = ::fdopen(out[0], "r");
  if (to_ == nullptr || from_ == nullptr) fail("fdopen: " + std::string(std::strerror(errno)));
  for (;;) {  // notes, perhaps the scenarios it runs, then READY
    std::string line = read_line();
    if (line == "READY") break;
    if (line.rfind("# ", 0) == 0) {
      print_note(name_ + ": " + line.substr(2));
    } else if (line.rfind("SCENARIOS ", 0) == 0) {
      std::stringstream names(line.substr(10));
      for (std::string scenario; std::getline(names, scenario, ',');) {
        if (!scenario.empty()) scenarios_.push_back(scenario);
      }
    } else {
      fail_with("did not start: " + line);
    }
  }
  return true;
}

Peer::~Peer() {
  if (to_ != nullptr) {
    std::fputs("quit\n", to_);
    std::fclose(to_);
  }
  if (from_ != nullptr) std::fclose(from_);
  if (pid_ > 0) {
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string Peer::read_line() {
  std::string line;
  for (int c; (c = std::fgetc(from_)) != EOF;) {
    if (c == '\n') return line;
    line += static_cast<char>(c);
  }
  fail_with("ended unexpectedly" + (line.empty() ? "" : ": " + line));
}

std::string Peer::command(const std::string& line) {
  if (std::fputs((line + "\n").c_str(), to_) < 0 || std::fflush(to_) != 0) {
    fail_with("cannot send " + line);
  }
  for (;;) {
    std::string answer = read_line();
    if (answer.rfind("# ", 0) == 0) {
      print_note(name_ + ": " + answer.substr(2));
    } else if (answer.rfind("ERROR", 0) == 0) {
      fail_with(answer);
    } else {
      return answer;
    }
  }
}

bool Peer::takes(const std::string& scenario, bool loopback) const {
  if (scenarios_.empty()) return !loopback;
  return std::find(scenarios_.begin(), scenarios_.end(), scenario) != scenarios_.end();
}

void Peer::fail_with(const std::string& what) const { fail(name_ + " peer: " + what); }

bool Peer::warm(const std::string& scenario) {
  std::string answer = command("warm " + scenario);
  if (answer.rfind("UNSUPPORTED", 0) == 0) {
    print_note(name_ + ": " + scenario + ": not run: " +
               (answer.size() > 12 ? answer.substr(12) : "unsupported"));
    return false;
  }
  if (answer != "OK") fail_with("warm " + scenario + ": " + answer);
  return true;
}

double Peer::run(const std::string& scenario) {
  std::string answer = command("run " + scenario);
  if (answer.rfind("REP ", 0) != 0) fail_with("run " + scenario + ": " + answer);
  return std::strtod(answer.c_str() + 4, nullptr);
}

Peer::Summary Peer::report(const std::string& scenario) {
  std::string answer = command("report " + scenario);
  if (answer.rfind("PEER ", 0) != 0 || field_value(answer, "scenario") != scenario) {
    fail_with("report " + scenario + ": " + answer);
  }
  return Summary{std::strtod(field_value(answer, "median").c_str(), nullptr),
                 field_value(answer, "unit")};
}

void write_credentials(const std::filesystem::path& dir) {
  for (auto [key, type] : {std::pair{"ecdsa", sanstls::testing::KeyType::ec_p256},
                           std::pair{"rsa2048", sanstls::testing::KeyType::rsa2048}}) {
    const Credentials& c = credentials(type);
    write_file(dir / (std::string(key) + "-ca.pem"), c.ca_pem);
    write_file(dir / (std::string(key) + "-cert.pem"), c.cert_pem);
    write_file(dir / (std::string(key) + "-key.pem"), c.key_pem);
  }
}

std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return executable(name) ? name : "";
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (!dir.empty() && executable(dir + "/" + name)) return dir + "/" + name;
  }
  return "";
}

}  // namespace bench
