// The engine's C ABI (engine.h): models by handle, the forward pass over pools, threads, kernels.
#include <cstdint>

#include "../handles.h"
#include "../registry.h"
#include "../sequence.h"
#include "classifier_screen.h"
#include "engine.h"
#include "formats.h"
#include "forward.h"
#include "model.h"
#include "ops.h"
#include "threads.h"

#define ADAKV_EXPORT extern "C" __attribute__((used, visibility("default")))

namespace {

using adakv::engine::Model;

adakv::GrowArray<Model*> models;
adakv::GrowArray<uint32_t> modelGenerations;
adakv::GrowArray<adakv::Sequence*> batchSequences;

Model* findModel(int32_t handle) {
  const int32_t slot = adakv::liveSlot(models, modelGenerations, handle);
  return slot < 0 ? nullptr : models[slot];
}

}  // namespace

ADAKV_EXPORT int32_t adakv_model_create(const int32_t* config, float normEps) {
  if (config == nullptr) return adakv::kInvalidArgument;
  adakv::engine::ModelConfig c;
  c.dim = config[0];
  c.hiddenDim = config[1];
  c.layers = config[2];
  c.queryHeads = config[3];
  c.kvHeads = config[4];
  c.headDim = config[5];
  c.vocabSize = config[6];
  c.contextLength = config[7];
  c.tiedClassifier = config[8];
  c.ropeStyle = config[9];
  c.normEps = normEps;
  const int32_t slot = adakv::claimSlot(models, modelGenerations);
  if (slot < 0) return adakv::kOutOfMemory;
  Model* model = nullptr;
  const adakv::Status status = adakv::engine::createModel(c, &model);
  if (status != adakv::kOk) return status;
  models[slot] = model;
  return adakv::makeHandle(slot, modelGenerations[slot]);
}

ADAKV_EXPORT int32_t adakv_model_destroy(int32_t handle) {
  const int32_t slot = adakv::liveSlot(models, modelGenerations, handle);
  if (slot < 0) return adakv::kInvalidHandle;
  adakv::engine::destroyModel(models[slot]);
  models[slot] = nullptr;
  modelGenerations[slot]++;
  return adakv::kOk;
}

ADAKV_EXPORT int32_t adakv_model_tensor(int32_t handle, int32_t slot, int32_t layer, int32_t type, uint32_t byteLength,
                                        uintptr_t* address) {
  Model* model = findModel(handle);
  if (model == nullptr) return adakv::kInvalidHandle;
  if (address == nullptr) return adakv::kInvalidArgument;
  uintptr_t where = 0;
  const adakv::Status status = adakv::engine::reserveTensor(model, slot, layer, type, byteLength, &where);
  if (status == adakv::kOk) *address = where;
  return status;
}

ADAKV_EXPORT int32_t adakv_model_ready(int32_t handle) {
  Model* model = findModel(handle);
  return model == nullptr ? adakv::kInvalidHandle : adakv::engine::checkComplete(model);
}

ADAKV_EXPORT int32_t adakv_model_screen(int32_t handle) {
  Model* model = findModel(handle);
  if (model == nullptr) return adakv::kInvalidHandle;
  adakv::Status status = adakv::engine::checkComplete(model);
  if (status != adakv::kOk) return status;
  status = adakv::engine::buildClassifierScreen(model->classifier(), model->screen);
  return status != adakv::kOk ? status : model->screen->built() ? 1 : 0;
}

ADAKV_EXPORT int32_t adakv_model_stats(int32_t handle, double* out) {
  Model* model = findModel(handle);
  if (model == nullptr) return adakv::kInvalidHandle;
  if (out == nullptr) return adakv::kInvalidArgument;
  out[0] = adakv::engine::residentWeightBytes(model);
  out[1] = adakv::engine::parameterCount(model);
  out[2] = static_cast<double>(model->screen->bytes());
  return 3;
}

ADAKV_EXPORT int32_t adakv_prefill(int32_t modelHandle, int32_t poolHandle, int32_t sequenceHandle,
                                   const int32_t* tokens, int32_t count, int32_t start, float* logits, float* queries,
                                   float* keys, float* values) {
  Model* model = findModel(modelHandle);
  adakv::Pool* pool = adakv::findPoolHandle(poolHandle);
  if (model == nullptr || pool == nullptr) return adakv::kInvalidHandle;
  adakv::Sequence* sequence = adakv::findSequence(pool, sequenceHandle);
  if (sequence == nullptr) return adakv::kInvalidHandle;
  return adakv::engine::prefill(model, pool, sequence, tokens, count, start, logits, queries, keys, values);
}

ADAKV_EXPORT int32_t adakv_decode(int32_t modelHandle, int32_t poolHandle, int32_t batch, const int32_t* sequences,
                                  const int32_t* tokens, const int32_t* positions, float* logits, int32_t* argmaxOut,
                                  float* queriesOut) {
  Model* model = findModel(modelHandle);
  adakv::Pool* pool = adakv::findPoolHandle(poolHandle);
  if (model == nullptr || pool == nullptr) return adakv::kInvalidHandle;
  if (batch <= 0 || sequences == nullptr) return adakv::kInvalidArgument;
  if (!batchSequences.resize(static_cast<size_t>(batch), nullptr)) return adakv::kOutOfMemory;
  for (int32_t i = 0; i < batch; i++) {
    batchSequences[i] = adakv::findSequence(pool, sequences[i]);
    if (batchSequences[i] == nullptr) return adakv::kInvalidHandle;
  }
  return adakv::engine::decode(model, pool, batchSequences.data(), tokens, positions, batch, logits, argmaxOut, queriesOut);
}

ADAKV_EXPORT int32_t adakv_argmax(const float* values, int32_t count) {
  if (values == nullptr || count <= 0) return adakv::kInvalidArgument;
  return adakv::engine::argmax(values, count);
}

ADAKV_EXPORT int32_t adakv_threads_configure(int32_t threads, int32_t stackBytes) {
  return adakv::engine::configureThreads(threads, stackBytes);
}
ADAKV_EXPORT uintptr_t adakv_thread_stack_top(int32_t index) { return adakv::engine::workerStackTop(index); }
ADAKV_EXPORT int32_t adakv_thread_worker(int32_t index) { return adakv::engine::workerMain(index); }
ADAKV_EXPORT void adakv_threads_stop(void) { adakv::engine::stopThreads(); }
ADAKV_EXPORT uintptr_t adakv_threads_failed_flag(void) { return reinterpret_cast<uintptr_t>(adakv::engine::failedFlag()); }
ADAKV_EXPORT int32_t adakv_threads_active(void) { return adakv::engine::activeThreads(); }
ADAKV_EXPORT int32_t adakv_threads_task_counts(int32_t* out, int32_t capacity) {
  if (out == nullptr || capacity <= 0) return adakv::kInvalidArgument;
  return adakv::engine::takeTaskCounts(out, capacity);
}

ADAKV_EXPORT int32_t adakv_build_features(void) {
  int32_t features = 0;
#ifdef __wasm_atomics__
  features |= 1;
#endif
#ifdef __wasm_relaxed_simd__
  features |= 2;
#endif
#ifdef __wasm_simd128__
  features |= 4;
#endif
  return features;
}

ADAKV_EXPORT int32_t adakv_kernel_matmul(int32_t type, const uint8_t* weights, int32_t rows, int32_t cols,
                                         const float* x, int32_t tokens, float* out) {
  if (!adakv::engine::isKnownType(type)) return adakv::kUnsupportedType;
  const size_t rowBytes = adakv::engine::rowBytes(type, cols);
  if (rowBytes == 0 || rows <= 0) return adakv::kInvalidArgument;
  const adakv::engine::WeightView w{type, rows, cols, rowBytes, weights};
  return adakv::engine::matmulStandalone(w, x, tokens, out);
}

ADAKV_EXPORT int32_t adakv_kernel_dequantize(int32_t type, const uint8_t* row, int32_t cols, float* out) {
  if (!adakv::engine::isKnownType(type)) return adakv::kUnsupportedType;
  if (adakv::engine::rowBytes(type, cols) == 0 || row == nullptr || out == nullptr) return adakv::kInvalidArgument;
  adakv::engine::dequantizeRow(type, row, cols, out);
  return adakv::kOk;
}

ADAKV_EXPORT int32_t adakv_kernel_rmsnorm(float* out, const float* x, const float* weight, int32_t rows, int32_t dim,
                                          float eps) {
  if (out == nullptr || x == nullptr || weight == nullptr || rows < 0 || dim <= 0) return adakv::kInvalidArgument;
  adakv::engine::rmsnorm(out, x, weight, rows, dim, eps);
  return adakv::kOk;
}

ADAKV_EXPORT int32_t adakv_kernel_rope(float* vector, int32_t heads, int32_t headDim, const float* cos, const float* sin,
                                       int32_t style) {
  if (vector == nullptr || cos == nullptr || sin == nullptr || heads <= 0 || headDim <= 0 || headDim % 2 != 0) {
    return adakv::kInvalidArgument;
  }
  if (style == adakv::engine::kRopeNeox) {
    adakv::engine::ropeNeox(vector, heads, headDim, cos, sin);
    return adakv::kOk;
  }
  if (style != adakv::engine::kRopeAdjacent) return adakv::kInvalidArgument;
  adakv::engine::rope(vector, heads, headDim, cos, sin);
  return adakv::kOk;
}

ADAKV_EXPORT int32_t adakv_kernel_swiglu(float* gate, const float* up, int32_t count) {
  if (gate == nullptr || up == nullptr || count < 0) return adakv::kInvalidArgument;
  adakv::engine::swiglu(gate, up, count);
  return adakv::kOk;
}

ADAKV_EXPORT int32_t adakv_kernel_softmax(float* values, int32_t count) {
  if (values == nullptr || count < 0) return adakv::kInvalidArgument;
  adakv::engine::softmax(values, count);
  return adakv::kOk;
}

ADAKV_EXPORT int32_t adakv_kernel_quantize(int32_t kind, const float* x, int32_t cols, int16_t* q, float* d,
                                           int32_t* sums) {
  if (x == nullptr || q == nullptr || d == nullptr || cols <= 0) return adakv::kInvalidArgument;
  if (kind == 1 && cols % 32 == 0) {
    adakv::engine::quantizeRowQ8(x, cols, q, d);
    return adakv::kOk;
  }
  if (kind == 2 && cols % 256 == 0 && sums != nullptr) {
    adakv::engine::quantizeRowQ8K(x, cols, q, d, sums);
    return adakv::kOk;
  }
  return adakv::kInvalidArgument;
}
