// A LLaMA-family decoder held in WASM memory (LLaMA and Qwen 2: optional Q/K/V biases, RoPE on adjacent
// or rotate-half pairs): its configuration, its tensors (each in its own format, uploaded once, read in
// place by the kernels), its RoPE tables and grow-only work buffers.
#pragma once
#include <cstddef>
#include <cstdint>

#include "../grow_array.h"
#include "../status.h"
#include "activations.h"
#include "matmul.h"

namespace adakv {
namespace engine {

struct ModelConfig {
  int32_t dim = 0;
  int32_t hiddenDim = 0;
  int32_t layers = 0;
  int32_t queryHeads = 0;
  int32_t kvHeads = 0;
  int32_t headDim = 0;
  int32_t vocabSize = 0;
  int32_t contextLength = 0;
  int32_t tiedClassifier = 0;  // 1: the classifier is the token embedding tensor
  int32_t ropeStyle = 0;       // kRopeAdjacent or kRopeNeox
  float normEps = 0.0f;

  int32_t qDim() const { return queryHeads * headDim; }
  int32_t kvDim() const { return kvHeads * headDim; }
};

// Which dimensions of a head RoPE rotates together; the tables hold one angle per pair j either way.
enum RopeStyle : int32_t {
  kRopeAdjacent = 0,  // pairs (2j, 2j + 1): llama2.c, GGUF llama (its converter permutes Q and K for it)
  kRopeNeox = 1,      // pairs (j, j + headDim / 2): rotate-half, GGUF qwen2 and Hugging Face checkpoints
};

// Tensor slots: whole-model ones, then per-layer ones (slot, layer).
enum Slot : int32_t {
  kSlotEmbedding = 0,    // [vocab][dim], any type
  kSlotFinalNorm = 1,    // [dim], f32
  kSlotClassifier = 2,   // [vocab][dim], any type; absent when tied
  kSlotRopeCos = 3,      // [contextLength][headDim / 2], f32
  kSlotRopeSin = 4,      // [contextLength][headDim / 2], f32
  kSlotAttentionNorm = 10,  // [dim], f32
  kSlotWq = 11,          // [qDim][dim]
  kSlotWk = 12,          // [kvDim][dim]
  kSlotWv = 13,          // [kvDim][dim]
  kSlotWo = 14,          // [dim][qDim]
  kSlotFfnNorm = 15,     // [dim], f32
  kSlotW1 = 16,          // gate, [hiddenDim][dim]
  kSlotW2 = 17,          // down, [dim][hiddenDim]
  kSlotW3 = 18,          // up, [hiddenDim][dim]
  kSlotBq = 19,          // query bias [qDim], f32, optional (Qwen 2)
  kSlotBk = 20,          // key bias [kvDim], f32, optional
  kSlotBv = 21,          // value bias [kvDim], f32, optional
};
constexpr int32_t kGlobalSlots = 5;
constexpr int32_t kLayerSlots = 12;

// Whether a forward pass runs without this slot (the biases: LLaMA has none).
inline bool isOptionalSlot(int32_t slot) { return slot == kSlotBq || slot == kSlotBk || slot == kSlotBv; }

struct Tensor {
  int32_t type = -1;  // -1: not uploaded
  int32_t rows = 0;
  int32_t cols = 0;
  size_t rowBytes = 0;
  size_t bytes = 0;
  uint8_t* data = nullptr;

  WeightView view() const { return WeightView{type, rows, cols, rowBytes, data}; }
  const float* f32() const { return reinterpret_cast<const float*>(data); }
};

// Work buffers for up to `capacity` token rows, grown (never shrunk) by the main thread.
struct Workspace {
  int32_t capacity = 0;
  float* x = nullptr;        // [n][dim] residual stream
  float* normed = nullptr;   // [n][dim]
  float* q = nullptr;        // [n][qDim]
  float* k = nullptr;        // [n][kvDim]
  float* v = nullptr;        // [n][kvDim]
  float* attention = nullptr;// [n][qDim]
  float* projected = nullptr;// [n][dim]
  float* gate = nullptr;     // [n][hiddenDim]
  float* up = nullptr;       // [n][hiddenDim]
  int16_t* q32 = nullptr;    // [n][maxIn]
  float* d32 = nullptr;      // [n][maxIn / 32]
  int16_t* q256 = nullptr;   // [n][maxIn]
  float* d256 = nullptr;     // [n][maxIn / 256 + 1]
  int32_t* sums = nullptr;   // [n][maxIn / 32]
  float* packed = nullptr;   // [maxIn / 4][n][4]: activations interleaved for float weights
  void* block = nullptr;     // the one allocation all of the above live in
};

struct ClassifierScreen;

struct Model {
  ModelConfig config;
  Tensor global[kGlobalSlots];
  Tensor* layers = nullptr;  // [layers][kLayerSlots]
  Workspace work;
  ClassifierScreen* screen = nullptr;  // greedy decode's q8_0 copy of an f32 classifier (classifier_screen.h)

  Tensor& layer(int32_t l, int32_t slot) { return layers[l * kLayerSlots + (slot - kSlotAttentionNorm)]; }
  const Tensor& layer(int32_t l, int32_t slot) const { return layers[l * kLayerSlots + (slot - kSlotAttentionNorm)]; }
  const Tensor& classifier() const { return config.tiedClassifier ? global[kSlotEmbedding] : global[kSlotClassifier]; }
  // The layer's bias of `slot` (kSlotBq/Bk/Bv), or null when the model has none there.
  const float* bias(int32_t l, int32_t slot) const {
    const Tensor& tensor = layer(l, slot);
    return tensor.data == nullptr ? nullptr : tensor.f32();
  }
};

// Checks the configuration; on success *out owns an empty model.
Status createModel(const ModelConfig& config, Model** out);
void destroyModel(Model* model);

// Reserves storage for one tensor of `type` and exactly `byteLength` bytes; *address is where the
// caller writes the raw bytes. Replaces a tensor already there. Errors leave the model unchanged.
Status reserveTensor(Model* model, int32_t slot, int32_t layer, int32_t type, size_t byteLength, uintptr_t* address);

// kOk when every tensor the forward pass reads is present, else kModelIncomplete.
Status checkComplete(const Model* model);
// Bytes of every uploaded tensor (a tied classifier counted once), and the parameters they hold.
double residentWeightBytes(const Model* model);
double parameterCount(const Model* model);

// Work buffers for `rows` token rows.
Status reserveWork(Model* model, int32_t rows);

// The f32 row of the token embedding for `token` (dequantized when the tensor is quantized).
void embeddingRow(const Model* model, int32_t token, float* out);

}  // namespace engine
}  // namespace adakv
