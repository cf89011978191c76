// Shared fixtures for the tests: a CA, certificates for localhost, and
// contexts configured the usual way. Everything goes through the public API.
#ifndef SANSTLS_TEST_SUPPORT_HPP
#define SANSTLS_TEST_SUPPORT_HPP

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sanstls/sanstls.hpp>
#include <sanstls/testing/certificates.hpp>
#include <sanstls/testing/pipe.hpp>

namespace test {

// pki returns a CA (made once per test binary) with a server certificate for
// localhost / 127.0.0.1 / ::1 and a client certificate.
struct Pki {
  sanstls::testing::CertificateAuthority ca;
  sanstls::testing::Issued server;  // CN=localhost, DNS:localhost, IP:127.0.0.1, IP:::1
  sanstls::testing::Issued client;  // CN=client, clientAuth
};
const Pki& pki();

// server_context returns a tls_server context with pki().server loaded.
sanstls::Context server_context();

// client_context returns a tls_client context trusting pki().ca.
sanstls::Context client_context();

// Pair is a client and a server Object, each with its own MemoryBIOs.
struct Pair {
  sanstls::Object client;
  sanstls::Object server;
};
Pair make_pair(const sanstls::Context& client_ctx, const sanstls::Context& server_ctx,
               const std::string& server_hostname = "localhost");

// Handshake is a client and a server Object after a Pipe ran them against
// each other, with the last Result each side returned.
struct Handshake {
  sanstls::Object client;
  sanstls::Object server;
  bool ok;
  sanstls::Result client_result;
  sanstls::Result server_result;
};

// handshake wraps a client and a server and runs them to completion or
// failure.
Handshake handshake(const sanstls::Context& client_ctx, const sanstls::Context& server_ctx,
                    std::optional<std::string> server_hostname = "localhost");

// Resumption is a full handshake and a second one that offered the first's
// session (after the first handshake's tickets were read).
struct Resumption {
  Handshake first;
  Handshake second;
};

// resumption runs both; the first must complete and leave a session.
Resumption resumption(const sanstls::Context& client_ctx, const sanstls::Context& server_ctx,
                      std::optional<std::string> server_hostname = "localhost");

// describe says what a Result holds (status, error kind, reason, verify
// code and message), for failure messages.
std::string describe(const sanstls::Result& r);

// require_ok checks that both handshakes completed.
void require_ok(const Handshake& h);

// require_unknown_issuer checks that the client rejected the server's
// certificate because it does not trust its issuer, with Python's words.
void require_unknown_issuer(const Handshake& h);

// server_with loads |issued| (and |chain_pem| after it) into a new server
// context.
sanstls::Context server_with(const sanstls::testing::Issued& issued,
                             const std::string& chain_pem = {});

// client_trusting returns a tls_client context that trusts |ca_pem| only.
sanstls::Context client_trusting(const std::string& ca_pem);

// other_pki is a second CA, unrelated to pki().ca, with a localhost
// certificate of its own, so that a test can show which CA a side trusts.
struct OtherPki {
  sanstls::testing::CertificateAuthority ca;
  sanstls::testing::Issued server;  // CN=localhost, DNS:localhost
};
const OtherPki& other_pki();

// TempDir is a fresh directory under the system's temporary directory,
// removed with everything in it when the TempDir goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // path returns the path |name| would have inside the directory.
  std::string path(const std::string& name) const { return (path_ / name).string(); }

  // write creates |name| holding |contents| and returns its path.
  std::string write(const std::string& name, std::string_view contents) const;

 private:
  std::filesystem::path path_;
};

// data_path returns the path of a file in test/data.
std::string data_path(const std::string& name);

// python_data returns the path of one of CPython's test files (see
// test/data/README.md).
std::string python_data(const std::string& name);

// CommandResult is what run_command saw: the exit status (as pclose
// returns it) and everything the command wrote to its standard output.
struct CommandResult {
  int status;
  std::string out;
};
// run_command runs |command| through the shell.
CommandResult run_command(const std::string& command);

// python3 returns the Python interpreter to run as the oracle: $PYTHON3
// (Meson sets it to the real executable) or python3 on PATH.
const std::string& python3();

// shell_quote quotes |text| for a POSIX shell command line.
std::string shell_quote(std::string_view text);

// python_lines runs |script| in python3() with |args|, the command prefixed
// by |env| (such as "env -u SSL_CERT_FILE"), and returns its output lines.
// Throws std::runtime_error, with the output, when Python fails.
std::vector<std::string> python_lines(const std::string& script,
                                      const std::vector<std::string>& args = {},
                                      const std::string& env = {});

// pattern returns |size| deterministic pseudo-random bytes.
std::string pattern(std::size_t size, unsigned seed = 1);

}  // namespace test

#endif  // SANSTLS_TEST_SUPPORT_HPP
