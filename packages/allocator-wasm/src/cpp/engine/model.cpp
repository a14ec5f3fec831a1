#include "model.h"

#include <cmath>
#include <cstdlib>
#include <new>

#include "classifier_screen.h"
#include "formats.h"

namespace adakv {
namespace engine {

namespace {

constexpr int32_t kMaxSize = 1 << 24;
constexpr int32_t kMaxLayers = 4096;

bool isLayerSlot(int32_t slot) { return slot >= kSlotAttentionNorm && slot <= kSlotBv; }
bool isVectorSlot(int32_t slot) {
  return slot == kSlotFinalNorm || slot == kSlotRopeCos || slot == kSlotRopeSin || slot == kSlotAttentionNorm ||
         slot == kSlotFfnNorm || isOptionalSlot(slot);
}

// Shape [rows][cols] of a slot.
void slotShape(const ModelConfig& c, int32_t slot, int32_t* rows, int32_t* cols) {
  switch (slot) {
    case kSlotEmbedding: case kSlotClassifier: *rows = c.vocabSize; *cols = c.dim; return;
    case kSlotFinalNorm: case kSlotAttentionNorm: case kSlotFfnNorm: *rows = 1; *cols = c.dim; return;
    case kSlotRopeCos: case kSlotRopeSin: *rows = c.contextLength; *cols = c.headDim / 2; return;
    case kSlotWq: *rows = c.qDim(); *cols = c.dim; return;
    case kSlotWk: case kSlotWv: *rows = c.kvDim(); *cols = c.dim; return;
    case kSlotWo: *rows = c.dim; *cols = c.qDim(); return;
    case kSlotW1: case kSlotW3: *rows = c.hiddenDim; *cols = c.dim; return;
    case kSlotW2: *rows = c.dim; *cols = c.hiddenDim; return;
    case kSlotBq: *rows = 1; *cols = c.qDim(); return;
    case kSlotBk: case kSlotBv: *rows = 1; *cols = c.kvDim(); return;
    default: *rows = 0; *cols = 0; return;
  }
}

void freeTensor(Tensor& tensor) {
  std::free(tensor.data);
  tensor = Tensor();
}

}  // namespace

Status createModel(const ModelConfig& config, Model** out) {
  const int32_t sizes[] = {config.dim, config.hiddenDim, config.queryHeads, config.kvHeads, config.headDim,
                           config.vocabSize, config.contextLength};
  for (int32_t size : sizes) {
    if (size <= 0 || size > kMaxSize) return kInvalidArgument;
  }
  if (config.layers <= 0 || config.layers > kMaxLayers) return kInvalidArgument;
  if (config.headDim % 2 != 0 || config.queryHeads % config.kvHeads != 0) return kInvalidArgument;
  if (static_cast<int64_t>(config.queryHeads) * config.headDim > kMaxSize) return kInvalidArgument;
  if (!(config.normEps > 0.0f) || !std::isfinite(config.normEps)) return kInvalidArgument;
  if (config.tiedClassifier != 0 && config.tiedClassifier != 1) return kInvalidArgument;
  if (config.ropeStyle != kRopeAdjacent && config.ropeStyle != kRopeNeox) return kInvalidArgument;
  Model* model = new (std::nothrow) Model();
  if (model == nullptr) return kOutOfMemory;
  model->config = config;
  model->screen = new (std::nothrow) ClassifierScreen();
  model->layers = new (std::nothrow) Tensor[static_cast<size_t>(config.layers) * kLayerSlots];
  if (model->layers == nullptr || model->screen == nullptr) {
    delete[] model->layers;
    delete model->screen;
    delete model;
    return kOutOfMemory;
  }
  *out = model;
  return kOk;
}

void destroyModel(Model* model) {
  for (Tensor& tensor : model->global) freeTensor(tensor);
  for (int32_t i = 0; i < model->config.layers * kLayerSlots; i++) freeTensor(model->layers[i]);
  delete[] model->layers;
  delete model->screen;
  std::free(model->work.block);
  delete model;
}

Status reserveTensor(Model* model, int32_t slot, int32_t layer, int32_t type, size_t byteLength, uintptr_t* address) {
  const ModelConfig& c = model->config;
  Tensor* tensor;
  if (isLayerSlot(slot)) {
    if (layer < 0 || layer >= c.layers) return kOutOfRange;
    tensor = &model->layer(layer, slot);
  } else if (slot >= 0 && slot < kGlobalSlots) {
    if (layer != 0) return kOutOfRange;
    if (slot == kSlotClassifier && c.tiedClassifier) return kInvalidArgument;
    tensor = &model->global[slot];
  } else {
    return kInvalidArgument;
  }
  if (!isKnownType(type)) return kUnsupportedType;
  if (isVectorSlot(slot) && type != kF32) return kUnsupportedType;
  int32_t rows, cols;
  slotShape(c, slot, &rows, &cols);
  const size_t row = rowBytes(type, cols);
  if (row == 0) return kInvalidArgument;  // cols not a whole number of blocks
  const uint64_t expected = static_cast<uint64_t>(row) * static_cast<uint64_t>(rows);
  if (expected != byteLength) return kInvalidArgument;
  if (expected > SIZE_MAX - 16) return kOutOfMemory;
  uint8_t* data = static_cast<uint8_t*>(std::malloc(static_cast<size_t>(expected) + 16));
  if (data == nullptr) return kOutOfMemory;
  freeTensor(*tensor);
  // the screen copies the classifier: a new classifier needs a new screen
  if (slot == kSlotClassifier || (slot == kSlotEmbedding && c.tiedClassifier)) dropClassifierScreen(model->screen);
  tensor->type = type;
  tensor->rows = rows;
  tensor->cols = cols;
  tensor->rowBytes = row;
  tensor->bytes = static_cast<size_t>(expected);
  tensor->data = data;
  *address = reinterpret_cast<uintptr_t>(data);
  return kOk;
}

Status checkComplete(const Model* model) {
  for (int32_t slot = 0; slot < kGlobalSlots; slot++) {
    if (slot == kSlotClassifier && model->config.tiedClassifier) continue;
    if (model->global[slot].data == nullptr) return kModelIncomplete;
  }
  for (int32_t l = 0; l < model->config.layers; l++) {
    for (int32_t slot = kSlotAttentionNorm; slot <= kSlotBv; slot++) {
      if (!isOptionalSlot(slot) && model->layer(l, slot).data == nullptr) return kModelIncomplete;
    }
  }
  return kOk;
}

double residentWeightBytes(const Model* model) {
  double total = 0;
  for (const Tensor& tensor : model->global) total += static_cast<double>(tensor.bytes);
  for (int32_t i = 0; i < model->config.layers * kLayerSlots; i++) total += static_cast<double>(model->layers[i].bytes);
  return total;
}

double parameterCount(const Model* model) {
  double total = 0;
  for (int32_t slot = 0; slot < kGlobalSlots; slot++) {
    if (slot == kSlotRopeCos || slot == kSlotRopeSin) continue;  // tables, not parameters
    const Tensor& tensor = model->global[slot];
    if (tensor.data != nullptr) total += static_cast<double>(tensor.rows) * tensor.cols;
  }
  for (int32_t i = 0; i < model->config.layers * kLayerSlots; i++) {
    const Tensor& tensor = model->layers[i];
    if (tensor.data != nullptr) total += static_cast<double>(tensor.rows) * tensor.cols;
  }
  return total;
}

Status reserveWork(Model* model, int32_t rows) {
  Workspace& w = model->work;
  if (rows <= w.capacity) return kOk;
  const ModelConfig& c = model->config;
  int32_t maxIn = c.dim;
  if (c.qDim() > maxIn) maxIn = c.qDim();
  if (c.hiddenDim > maxIn) maxIn = c.hiddenDim;
  const uint64_t n = static_cast<uint64_t>(rows);
  // Every region rounded to 16 bytes.
  auto floats = [](uint64_t count) { return (count * 4 + 15) & ~static_cast<uint64_t>(15); };
  auto shorts = [](uint64_t count) { return (count * 2 + 15) & ~static_cast<uint64_t>(15); };
  const uint64_t sizes[] = {
      floats(n * c.dim), floats(n * c.dim), floats(n * c.qDim()), floats(n * c.kvDim()), floats(n * c.kvDim()),
      floats(n * c.qDim()), floats(n * c.dim), floats(n * c.hiddenDim), floats(n * c.hiddenDim),
      shorts(n * maxIn), floats(n * (maxIn / 32 + 1)), shorts(n * maxIn), floats(n * (maxIn / 256 + 1)),
      floats(n * (maxIn / 32 + 1)), floats(n * maxIn)};
  uint64_t total = 16;
  for (uint64_t size : sizes) total += size;
  if (total > SIZE_MAX) return kOutOfMemory;
  void* block = std::malloc(static_cast<size_t>(total));
  if (block == nullptr) return kOutOfMemory;
  std::free(w.block);
  w.block = block;
  uint8_t* p = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(block) + 15) & ~static_cast<uintptr_t>(15));
  void** targets[] = {reinterpret_cast<void**>(&w.x),        reinterpret_cast<void**>(&w.normed),
                      reinterpret_cast<void**>(&w.q),        reinterpret_cast<void**>(&w.k),
                      reinterpret_cast<void**>(&w.v),        reinterpret_cast<void**>(&w.attention),
                      reinterpret_cast<void**>(&w.projected), reinterpret_cast<void**>(&w.gate),
                      reinterpret_cast<void**>(&w.up),       reinterpret_cast<void**>(&w.q32),
                      reinterpret_cast<void**>(&w.d32),      reinterpret_cast<void**>(&w.q256),
                      reinterpret_cast<void**>(&w.d256),     reinterpret_cast<void**>(&w.sums),
                      reinterpret_cast<void**>(&w.packed)};
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    *targets[i] = p;
    p += sizes[i];
  }
  w.capacity = rows;
  return kOk;
}

void embeddingRow(const Model* model, int32_t token, float* out) {
  const Tensor& e = model->global[kSlotEmbedding];
  dequantizeRow(e.type, e.data + static_cast<size_t>(token) * e.rowBytes, e.cols, out);
}

}  // namespace engine
}  // namespace adakv
