// Ada-KV adaptive budget selection for one layer: the top (heads x selectable) scores across all heads
// decide how many tokens each head keeps, with the alpha safeguard
//   cap_h = roundHalfEven(c_h * (1 - alpha) + floor(selectable * alpha)),
// then each head keeps its own top cap_h tokens. Ties: higher score first, then lower head, then lower
// token index. Selection is a radix select on 32-bit score keys (radix_select.h), never a full sort.
#pragma once
#include <cstdint>

#include "status.h"

namespace adakv {

// scores: [heads][prefixLength]. Writes caps[heads] and the kept token indices, ascending per head,
// head after head, into keptIndices (room for heads * prefixLength). Returns the total kept.
int32_t selectAdaptive(const float* scores, int32_t heads, int32_t prefixLength, int32_t selectable, double alpha,
                       int32_t* caps, int32_t* keptIndices);

// Round half to even, as the reference (and numpy) rounds the safeguarded caps.
double roundHalfEven(double value);

}  // namespace adakv
