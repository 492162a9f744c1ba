// Name-based UUIDs (RFC 4122 version 5: SHA-1 of a namespace UUID and a name), for mapping
// legacy ids to UUIDs deterministically: the same namespace and id give the same UUID on every
// run and every machine.
#pragma once

#include <string>

namespace weir::pg {

// `ns` is a UUID in text form; returns the version-5 UUID in text form (lowercase, hyphens).
// Throws std::invalid_argument when `ns` is not a UUID.
std::string uuid_v5(const std::string& ns, const std::string& name);

}  // namespace weir::pg
