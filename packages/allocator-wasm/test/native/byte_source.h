// Reads decisions from a byte string (the fuzzer's input, or bytes from a seeded generator); once the
// bytes run out every read returns 0, so any input is a valid operation sequence.
#pragma once
#include <cstddef>
#include <cstdint>

class ByteSource {
 public:
  ByteSource(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return offset_ >= size_; }
  uint8_t byte() { return offset_ < size_ ? data_[offset_++] : 0; }
  // A value in [0, bound) (bound > 0).
  uint32_t below(uint32_t bound) {
    const uint32_t raw = static_cast<uint32_t>(byte()) << 8 | byte();
    return raw % bound;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t offset_ = 0;
};
