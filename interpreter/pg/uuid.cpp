// UUID version 5 with OpenSSL's SHA-1 (see uuid.hpp).
#include "pg/uuid.hpp"

#include <openssl/evp.h>

#include <cctype>
#include <stdexcept>

namespace weir::pg {

namespace {

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

std::string uuid_v5(const std::string& ns, const std::string& name) {
  unsigned char bytes[16];
  int n = 0;
  for (size_t i = 0; i < ns.size(); ++i) {
    if (ns[i] == '-') continue;
    int hi = hex(ns[i]), lo = i + 1 < ns.size() ? hex(ns[i + 1]) : -1;
    if (hi < 0 || lo < 0 || n == 16) throw std::invalid_argument("not a UUID: " + ns);
    bytes[n++] = static_cast<unsigned char>(hi * 16 + lo);
    ++i;
  }
  if (n != 16) throw std::invalid_argument("not a UUID: " + ns);

  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), nullptr) == 1 &&
            EVP_DigestUpdate(ctx, bytes, sizeof bytes) == 1 &&
            EVP_DigestUpdate(ctx, name.data(), name.size()) == 1 &&
            EVP_DigestFinal_ex(ctx, digest, &len) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok || len < 16) throw std::runtime_error("uuid_v5: SHA-1 failed");
  digest[6] = static_cast<unsigned char>((digest[6] & 0x0f) | 0x50);  // version 5
  digest[8] = static_cast<unsigned char>((digest[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

}  // namespace weir::pg
