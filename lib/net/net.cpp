// sanstls_net: the socket adapters (blocking Socket, non-blocking loops)
// that put the core's Object on file descriptors. They arrive with the
// adapters issue; the target exists now so that embedders and packagers
// can already link against the final library layout.
namespace sanstls::net {

// abi_tag marks the library as the socket-adapter half of sanstls.
extern const char abi_tag[];
const char abi_tag[] = "sanstls_net";

}  // namespace sanstls::net
