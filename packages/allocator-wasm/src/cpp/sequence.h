// Sequences: a (layers x KV heads) set of head lists in one pool; added empty, removed with every block
// going back to the pool.
#pragma once
#include <cstdint>

#include "pool.h"

namespace adakv {

// Returns a sequence handle (>= 0) or a negative status.
int32_t addSequence(Pool* pool, int32_t layers, int32_t kvHeads);
Status removeSequence(Pool* pool, int32_t handle);
// The live sequence a handle names, or nullptr.
Sequence* findSequence(Pool* pool, int32_t handle);
// Gives every block of `head` back to the pool from index `keepBlocks` on (with the residual, if its
// block goes).
void releaseBlocksFrom(Pool* pool, HeadList& head, size_t keepBlocks);
// Frees the head's residual rows (its last block is then read as encoded).
void dropResidual(HeadList& head);

}  // namespace adakv
