// Status codes every exported function returns: zero or a count on success, a negative code on error.
// The JS wrapper turns each negative code into a typed error; nothing here ever aborts on bad input.
#pragma once
#include <cstdint>

namespace adakv {

enum Status : int32_t {
  kOk = 0,
  kInvalidArgument = -1,  // a size, block size, count or option outside its documented range
  kInvalidHandle = -2,    // a pool or sequence handle that does not exist (or was already released)
  kPoolExhausted = -3,    // not enough free blocks and the pool may not grow further
  kOutOfMemory = -4,      // the WASM heap could not grow
  kInvalidPlan = -5,      // a compaction plan with out-of-range, duplicate or unordered indices
  kInvalidNumber = -6,    // NaN or infinity where finite numbers are required
  kOutOfRange = -7,       // a layer or head index outside the sequence's shape
  kInvariantBroken = -8,  // the pool's own consistency check failed (a bug, reported, not aborted)
  kUnsupportedType = -9,  // a tensor type the engine does not know, or not allowed for that tensor
  kModelIncomplete = -10, // a forward pass on a model whose tensors are not all uploaded
  kWorkerFailed = -11,    // a worker thread trapped; the engine cannot run further jobs
};

}  // namespace adakv
