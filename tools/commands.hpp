// The subcommands of the sanstls tool; each takes the arguments after its name.
#ifndef SANSTLS_TOOLS_COMMANDS_HPP
#define SANSTLS_TOOLS_COMMANDS_HPP

int run_demo(int argc, char** argv);
int run_decode_cert(int argc, char** argv);

#endif  // SANSTLS_TOOLS_COMMANDS_HPP
