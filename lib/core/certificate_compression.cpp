// Certificate compression (RFC 8879) with zlib and brotli: the SSL_CTX
// callbacks BoringSSL calls to compress a server's Certificate message and
// to decompress the one a client receives.
//
// A client decompresses what a server it does not trust yet sent, before
// any signature is checked, so decompression is bounded three ways:
// BoringSSL refuses a declared length over max_cert_list (100 KiB) before
// asking; the output buffer is exactly the declared length, and a stream
// that would write one byte more fails; and the brotli decoder's own
// memory (its window can be 16 MiB) is capped by an allocator with a
// budget. zlib's window is 32 KiB at most.
#include <brotli/decode.h>
#include <brotli/encode.h>
#include <openssl/bytestring.h>
#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "internal.hpp"
#include "object_state.hpp"

namespace sanstls {

std::string_view certificate_compression_name(CertificateCompression algorithm) noexcept {
  switch (algorithm) {
    case CertificateCompression::zlib: return "zlib";
    case CertificateCompression::brotli: return "brotli";
  }
  return "unknown";
}

namespace {

constexpr bool known(CertificateCompression algorithm) noexcept {
  return algorithm == CertificateCompression::zlib || algorithm == CertificateCompression::brotli;
}

constexpr unsigned bit(CertificateCompression algorithm) noexcept {
  return 1u << static_cast<unsigned>(algorithm);
}

// Compression runs once per certificate and algorithm (the Context keeps
// the result), so both use their strongest setting.
bool compress(CertificateCompression algorithm, const std::uint8_t* in, std::size_t len, std::string& out) {
  if (algorithm == CertificateCompression::zlib) {
    uLongf size = compressBound(static_cast<uLong>(len));
    out.resize(size);
    if (compress2(reinterpret_cast<Bytef*>(out.data()), &size, in, static_cast<uLong>(len), Z_BEST_COMPRESSION) !=
        Z_OK) {
      return false;
    }
    out.resize(size);
    return true;
  }
  std::size_t size = BrotliEncoderMaxCompressedSize(len);
  if (size == 0) return false;
  out.resize(size);
  if (!BrotliEncoderCompress(BROTLI_MAX_QUALITY, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC, len, in, &size,
                             reinterpret_cast<std::uint8_t*>(out.data()))) {
    return false;
  }
  out.resize(size);
  return true;
}

// kBrotliBudget bounds the brotli decoder's memory for one certificate. A
// certificate of up to 100 KiB needs a window of 128 KiB, and the decoder's
// tables take at most about 1.5 MiB for the most complex legitimate stream;
// a hostile stream that announces a 16 MiB block is refused instead of
// served.
constexpr std::size_t kBrotliBudget = 4u << 20;

struct Budget {
  std::size_t left = kBrotliBudget;
};

// Each allocation carries its size in front of it, so that freeing it
// gives the budget back.
constexpr std::size_t kHeader = alignof(std::max_align_t);

void* budget_alloc(void* opaque, std::size_t size) {
  auto* budget = static_cast<Budget*>(opaque);
  if (size > budget->left) return nullptr;
  auto* base = static_cast<unsigned char*>(std::malloc(size + kHeader));
  if (base == nullptr) return nullptr;
  std::memcpy(base, &size, sizeof size);
  budget->left -= size;
  return base + kHeader;
}

void budget_free(void* opaque, void* address) {
  if (address == nullptr) return;
  auto* base = static_cast<unsigned char*>(address) - kHeader;
  std::size_t size = 0;
  std::memcpy(&size, base, sizeof size);
  static_cast<Budget*>(opaque)->left += size;
  std::free(base);
}

// at_end checks a stream that ended: it must have filled the declared
// length and used all of its input.
std::optional<std::string> at_end(std::size_t out_len, std::size_t out_left, std::size_t in_left,
                                  const char* format) {
  if (out_left != 0) {
    return "decompresses to " + std::to_string(out_len - out_left) + " bytes, fewer than the " +
           std::to_string(out_len) + " it declared";
  }
  if (in_left != 0) return "has " + std::to_string(in_left) + " bytes after the end of its " + format + " stream";
  return std::nullopt;
}

// decompress fills |out| exactly from |in|; on failure it returns why, in
// words that follow "the server's <algorithm>-compressed certificate".
std::optional<std::string> decompress(CertificateCompression algorithm, const std::uint8_t* in, std::size_t len,
                                      std::uint8_t* out, std::size_t out_len) {
  const std::string declared = std::to_string(out_len);
  if (algorithm == CertificateCompression::zlib) {
    z_stream z{};
    if (inflateInit(&z) != Z_OK) return "could not be decompressed (zlib could not start)";
    z.next_in = const_cast<Bytef*>(in);
    z.avail_in = static_cast<uInt>(len);
    z.next_out = out;
    z.avail_out = static_cast<uInt>(out_len);
    const int ret = inflate(&z, Z_FINISH);
    const uInt in_left = z.avail_in;
    const uInt out_left = z.avail_out;
    inflateEnd(&z);
    switch (ret) {
      case Z_STREAM_END:
        return at_end(out_len, out_left, in_left, "zlib");
      case Z_BUF_ERROR:
        // Out of input, or out of room with input left.
        if (in_left == 0) return "is cut short: its zlib stream ends early";
        return "decompresses to more than the " + declared + " bytes it declared";
      case Z_NEED_DICT:
        return "needs a preset zlib dictionary";
      default:
        return "is not a valid zlib stream";
    }
  }
  Budget budget;
  BrotliDecoderState* state = BrotliDecoderCreateInstance(&budget_alloc, &budget_free, &budget);
  if (state == nullptr) return "could not be decompressed (brotli could not start)";
  std::size_t in_left = len;
  const std::uint8_t* next_in = in;
  std::size_t out_left = out_len;
  std::uint8_t* next_out = out;
  const BrotliDecoderResult ret =
      BrotliDecoderDecompressStream(state, &in_left, &next_in, &out_left, &next_out, nullptr);
  const BrotliDecoderErrorCode code = BrotliDecoderGetErrorCode(state);
  BrotliDecoderDestroyInstance(state);
  switch (ret) {
    case BROTLI_DECODER_RESULT_SUCCESS:
      return at_end(out_len, out_left, in_left, "brotli");
    case BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT:
      return "decompresses to more than the " + declared + " bytes it declared";
    case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT:
      return "is cut short: its brotli stream ends early";
    case BROTLI_DECODER_RESULT_ERROR:
      break;
  }
  if (code <= BROTLI_DECODER_ERROR_ALLOC_CONTEXT_MODES && code >= BROTLI_DECODER_ERROR_ALLOC_BLOCK_TYPE_TREES) {
    return "needs more than the " + std::to_string(kBrotliBudget >> 20) +
           " MiB the brotli decoder may use for a certificate";
  }
  return std::string("is not a valid brotli stream (") + BrotliDecoderErrorString(code) + ")";
}

// The BoringSSL callbacks, one pair per algorithm, as they are not told
// which algorithm they serve.
template <CertificateCompression Algorithm>
int compress_certificate(SSL* ssl, CBB* out, const std::uint8_t* in, std::size_t len) {
  ContextAccess::State* context = ContextAccess::state_of(SSL_get_SSL_CTX(ssl));
  if (context == nullptr) return 0;
  auto& cache = context->compressed_certificates;
  const std::string_view input(reinterpret_cast<const char*>(in), len);
  {
    std::lock_guard lock(cache.mutex);
    for (const auto& entry : cache.entries) {
      if (entry.algorithm == Algorithm && entry.input == input) {
        if (!CBB_add_bytes(out, reinterpret_cast<const std::uint8_t*>(entry.output.data()), entry.output.size())) {
          return 0;
        }
        if (auto* s = ObjectAccess::state_of(ssl)) s->certificate_compression = static_cast<std::uint16_t>(Algorithm);
        return 1;
      }
    }
  }
  // Compressed outside the lock: brotli's best quality takes a few
  // milliseconds, and other handshakes should not wait for it.
  std::string output;
  if (!compress(Algorithm, in, len, output)) return 0;
  if (!CBB_add_bytes(out, reinterpret_cast<const std::uint8_t*>(output.data()), output.size())) return 0;
  {
    std::lock_guard lock(cache.mutex);
    const bool present = std::any_of(cache.entries.begin(), cache.entries.end(), [&](const auto& entry) {
      return entry.algorithm == Algorithm && entry.input == input;
    });
    if (!present) {
      ContextAccess::State::CompressedCertificates::Entry entry{Algorithm, std::string(input), std::move(output)};
      if (cache.entries.size() < cache.kCapacity) {
        cache.entries.push_back(std::move(entry));
      } else {
        cache.entries[cache.next_victim] = std::move(entry);
        cache.next_victim = (cache.next_victim + 1) % cache.kCapacity;
      }
    }
  }
  if (auto* s = ObjectAccess::state_of(ssl)) s->certificate_compression = static_cast<std::uint16_t>(Algorithm);
  return 1;
}

template <CertificateCompression Algorithm>
int decompress_certificate(SSL* ssl, CRYPTO_BUFFER** out, std::size_t uncompressed_len, const std::uint8_t* in,
                           std::size_t in_len) {
  std::uint8_t* data = nullptr;
  bssl::UniquePtr<CRYPTO_BUFFER> buffer(CRYPTO_BUFFER_alloc(&data, uncompressed_len));
  if (!buffer) return 0;
  ObjectAccess::State* s = ObjectAccess::state_of(ssl);
  if (auto why = decompress(Algorithm, in, in_len, data, uncompressed_len)) {
    if (s != nullptr && s->callback_error.empty()) {
      s->callback_error =
          "the server's " + std::string(certificate_compression_name(Algorithm)) + "-compressed certificate " + *why;
    }
    return 0;
  }
  if (s != nullptr) s->certificate_compression = static_cast<std::uint16_t>(Algorithm);
  *out = buffer.release();
  return 1;
}

}  // namespace

void Context::set_certificate_compression(std::vector<CertificateCompression> algorithms) {
  for (std::size_t i = 0; i < algorithms.size(); ++i) {
    if (!known(algorithms[i])) {
      throw std::invalid_argument("set_certificate_compression: unknown algorithm " +
                                  std::to_string(static_cast<unsigned>(algorithms[i])));
    }
    if (std::find(algorithms.begin(), algorithms.begin() + static_cast<std::ptrdiff_t>(i), algorithms[i]) !=
        algorithms.begin() + static_cast<std::ptrdiff_t>(i)) {
      throw std::invalid_argument("set_certificate_compression: " +
                                  std::string(certificate_compression_name(algorithms[i])) + " is given twice");
    }
  }
  State& s = *state_;
  if (algorithms == s.compression) return;
  if (!s.compression.empty()) {
    throw std::logic_error(
        "set_certificate_compression: the algorithms are already set and BoringSSL cannot take one back; "
        "use a new Context for another list");
  }
  ErrorGuard guard;
  for (CertificateCompression algorithm : algorithms) {
    const auto id = static_cast<std::uint16_t>(algorithm);
    const int ok = algorithm == CertificateCompression::zlib
                       ? SSL_CTX_add_cert_compression_alg(s.ctx.get(), id,
                                                          &compress_certificate<CertificateCompression::zlib>,
                                                          &decompress_certificate<CertificateCompression::zlib>)
                       : SSL_CTX_add_cert_compression_alg(s.ctx.get(), id,
                                                          &compress_certificate<CertificateCompression::brotli>,
                                                          &decompress_certificate<CertificateCompression::brotli>);
    if (!ok) throw_from_queue("cannot add a certificate compression algorithm");
    s.compression.push_back(algorithm);
  }
}

const std::vector<CertificateCompression>& Context::certificate_compression() const noexcept {
  return state_->compression;
}

std::optional<CertificateCompression> Object::certificate_compression() const noexcept {
  const std::uint16_t id = state_->certificate_compression;
  if (id == 0) return std::nullopt;
  return static_cast<CertificateCompression>(id);
}

unsigned compression_offered(const std::uint8_t* data, std::size_t size) noexcept {
  CBS body, ids;
  CBS_init(&body, data, size);
  unsigned offered = 0;
  if (!CBS_get_u8_length_prefixed(&body, &ids)) return 0;
  std::uint16_t id = 0;
  while (CBS_get_u16(&ids, &id)) {
    const auto algorithm = static_cast<CertificateCompression>(id);
    if (known(algorithm)) offered |= bit(algorithm);
  }
  return offered;
}

std::optional<CertificateCompression> negotiated_compression(const ContextAccess::State& context,
                                                             unsigned offered) noexcept {
  // BoringSSL's choice: the server's order decides.
  for (CertificateCompression algorithm : context.compression) {
    if ((offered & bit(algorithm)) != 0) return algorithm;
  }
  return std::nullopt;
}

}  // namespace sanstls
