// Lookups of live handles across translation units (the engine's exports find pools by handle too).
#pragma once
#include <cstdint>

#include "pool.h"

namespace adakv {

// The live pool a handle names, or nullptr.
Pool* findPoolHandle(int32_t handle);

}  // namespace adakv
