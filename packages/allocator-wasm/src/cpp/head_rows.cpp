#include "head_rows.h"

#include <cstring>

namespace adakv {

void readRow(const Pool* pool, const HeadList& head, int32_t row, int32_t kind, float* out) {
  const int32_t blockSize = pool->blockSize, d = pool->headDim;
  const size_t b = static_cast<size_t>(row / blockSize);
  const int32_t slot = row % blockSize;
  if (head.format == kFormatF32 || head.residualBlock(b)) {
    const float* base = head.residualBlock(b) ? head.residual : pool->blockBase[head.blocks[b]];
    const float* source = base + (static_cast<size_t>(kind) * blockSize + slot) * d;
    std::memcpy(out, source, static_cast<size_t>(d) * sizeof(float));
    return;
  }
  decodeRow(head.format, blockSize, d, pool->blockBytesAt(head.blocks[b]), kind, slot, out);
}

}  // namespace adakv
