// libFuzzer target: any byte string is an operation sequence for one pool (see operation_driver.h).
#include <cstddef>
#include <cstdint>

#include "operation_driver.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteSource in(data, size);
  OperationDriver(in).run(200);
  return 0;
}
