// Sequences: a (layers x KV heads) set of head lists in one pool, each head in its own format; added empty, removed with every block
// going back to the pool.
#pragma once
#include <cstdint>

#include "pool.h"

namespace adakv {

// Returns a sequence handle (>= 0) or a negative status. `formats` (layers x kvHeads, layer-major) gives
// each head's KvFormat; nullptr: the pool's format for every head.
int32_t addSequence(Pool* pool, int32_t layers, int32_t kvHeads, const int32_t* formats = nullptr);
Status removeSequence(Pool* pool, int32_t handle);
// The live sequence a handle names, or nullptr.
Sequence* findSequence(Pool* pool, int32_t handle);
// Gives every block of `head` back to the pool from index `keepBlocks` on (with the residual, if its
// block goes).
void releaseBlocksFrom(Pool* pool, HeadList& head, size_t keepBlocks);
// Frees the head's residual rows (its last block is then read as encoded).
void dropResidual(HeadList& head);

}  // namespace adakv
