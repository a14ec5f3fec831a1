// Prelude for kernels of 64-thread workgroups: the sum (or the max) of one value per thread,
// returned to every thread. Call it from uniform control flow (it holds barriers).
const WORKGROUP: u32 = 64u;
var<workgroup> partial: array<f32, 64>;

fn reduce(t: u32, value: f32, takeMax: bool) -> f32 {
  partial[t] = value;
  workgroupBarrier();
  for (var width = WORKGROUP / 2u; width > 0u; width /= 2u) {
    if (t < width) {
      partial[t] = select(partial[t] + partial[t + width], max(partial[t], partial[t + width]), takeMax);
    }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier(); // every thread has read the total before `partial` is reused
  return total;
}

