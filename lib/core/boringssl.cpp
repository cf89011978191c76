#include <sanstls/boringssl.hpp>

#include "internal.hpp"

namespace sanstls {

SSL_CTX* native_handle(const Context& context) noexcept { return ContextAccess::native(context); }

SSL* native_handle(const Object& object) noexcept { return ObjectAccess::native(object); }

X509_STORE* native_cert_store(const Context& context) noexcept {
  return ContextAccess::state(context).store.get();
}

}  // namespace sanstls
