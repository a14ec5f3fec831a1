// A growable array of trivially copyable values whose growth reports failure instead of throwing or
// aborting, so running out of WASM heap becomes a status code and the caller's state stays intact.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>

namespace adakv {

template <typename T>
class GrowArray {
  static_assert(std::is_trivially_copyable<T>::value, "GrowArray holds plain values only");

 public:
  constexpr GrowArray() = default;
  GrowArray(const GrowArray&) = delete;
  GrowArray& operator=(const GrowArray&) = delete;
  ~GrowArray() { std::free(data_); }

  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  T* data() { return data_; }
  const T* data() const { return data_; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  T& back() { return data_[size_ - 1]; }

  // Makes room for `wanted` elements; false (and unchanged) when the heap cannot provide it.
  bool reserve(size_t wanted) {
    if (wanted <= capacity_) return true;
    size_t next = capacity_ < 8 ? 8 : capacity_ * 2;
    if (next < wanted) next = wanted;
    if (next > SIZE_MAX / sizeof(T)) return false;
    void* grown = std::realloc(data_, next * sizeof(T));
    if (grown == nullptr) return false;
    data_ = static_cast<T*>(grown);
    capacity_ = next;
    return true;
  }

  bool push(const T& value) {
    if (!reserve(size_ + 1)) return false;
    data_[size_++] = value;
    return true;
  }

  // Only after a successful reserve: cannot fail.
  void pushReserved(const T& value) { data_[size_++] = value; }
  T pop() { return data_[--size_]; }
  void shrinkTo(size_t size) { size_ = size; }

  bool resize(size_t size, const T& fill) {
    if (!reserve(size)) return false;
    for (size_t i = size_; i < size; i++) data_[i] = fill;
    size_ = size;
    return true;
  }

  void release() {
    std::free(data_);
    data_ = nullptr;
    size_ = capacity_ = 0;
  }

  size_t bytes() const { return capacity_ * sizeof(T); }

 private:
  T* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace adakv
