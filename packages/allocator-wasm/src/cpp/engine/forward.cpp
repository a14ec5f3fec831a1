#include "forward.h"

#include <cmath>
#include <cstring>
#include <initializer_list>
#include <utility>

#include "../attention.h"
#include "../cache_ops.h"
#include "../residuals.h"
#include "classifier_screen.h"
#include "formats.h"
#include "ops.h"
#include "threads.h"

namespace adakv {
namespace engine {

namespace {

// Output rows per task: fixed, so how rows are grouped never depends on the thread count.
constexpr int32_t kRowsPerTask = 16;
// Greedy batches of up to this many rows read the classifier screen. Larger ones are bound by
// arithmetic, not by reading weights, and there the f32 tiles (each weight load shared by 4 tokens)
// beat the q8 screen's integer products (stories15M, batches of 8 and 12: 1.0-1.2x slower screened).
constexpr int32_t kScreenMaxRows = 4;
// KV heads one attention call walks together.
constexpr int32_t kMaxHeadsPerCall = 64;

struct MatmulOp {
  WeightView w;
  const Activations* x = nullptr;
  float* out = nullptr;
  int32_t outStride = 0;
  int32_t tasks = 0;
};

struct MatmulJob {
  MatmulOp ops[3];
  int32_t count = 0;
};

void runMatmul(void* context, int32_t begin, int32_t end, int32_t) {
  const MatmulJob* job = static_cast<const MatmulJob*>(context);
  int32_t first = 0;
  for (int32_t i = 0; i < job->count && begin < end; i++) {
    const MatmulOp& op = job->ops[i];
    const int32_t last = first + op.tasks;
    if (begin < last) {
      const int32_t stop = end < last ? end : last;
      const int32_t rowBegin = (begin - first) * kRowsPerTask;
      int32_t rowEnd = (stop - first) * kRowsPerTask;
      if (rowEnd > op.w.rows) rowEnd = op.w.rows;
      matmulRows(op.w, *op.x, op.out, op.outStride, rowBegin, rowEnd);
      begin = stop;
    }
    first = last;
  }
}

class Pass {
 public:
  Pass(Model* model) : model_(model), c_(model->config), w_(model->work) {}

  // Quantizes `rows` rows of `values` for the weight types that will read them.
  Activations prepare(const float* values, int32_t rows, int32_t cols, const Tensor* const* readers, int32_t readerCount) {
    Activations a;
    a.values = values;
    a.rows = rows;
    a.cols = cols;
    a.packed = values;
    bool f32 = false, q8 = false, q8k = false;
    for (int32_t i = 0; i < readerCount; i++) {
      const int32_t kind = activationKind(readers[i]->type);
      f32 = f32 || kind == 0;
      q8 = q8 || kind == 1;
      q8k = q8k || kind == 2;
    }
    if (f32 && rows > 1) {
      packRows(values, rows, cols, w_.packed);
      a.packed = w_.packed;
    }
    if (q8) {
      a.q32 = w_.q32;
      a.d32 = w_.d32;
      for (int32_t t = 0; t < rows; t++) {
        quantizeRowQ8(values + static_cast<size_t>(t) * cols, cols, a.q32 + static_cast<size_t>(t) * cols,
                      a.d32 + static_cast<size_t>(t) * (cols / 32));
      }
    }
    if (q8k) {
      a.q256 = w_.q256;
      a.d256 = w_.d256;
      a.sums = w_.sums;
      for (int32_t t = 0; t < rows; t++) {
        quantizeRowQ8K(values + static_cast<size_t>(t) * cols, cols, a.q256 + static_cast<size_t>(t) * cols,
                       a.d256 + static_cast<size_t>(t) * (cols / 256), a.sums + static_cast<size_t>(t) * (cols / 32));
      }
    }
    return a;
  }

  // Up to three products sharing one input, as one job: out_i[t][o] = w_i[o] . x[t].
  Status matmul(const Activations& x, std::initializer_list<std::pair<const Tensor*, float*>> products) {
    MatmulJob job;
    int32_t tasks = 0;
    for (const auto& product : products) {
      MatmulOp& op = job.ops[job.count++];
      op.w = product.first->view();
      op.x = &x;
      op.out = product.second;
      op.outStride = op.w.rows;
      op.tasks = (op.w.rows + kRowsPerTask - 1) / kRowsPerTask;
      tasks += op.tasks;
    }
    return parallelFor(tasks, runMatmul, &job);
  }

  // The feed-forward half and the attention output projection, shared by prefill and decode.
  Status attentionOutputAndFeedForward(int32_t layer, int32_t rows) {
    const Tensor& wo = model_->layer(layer, kSlotWo);
    const Tensor* woReaders[] = {&wo};
    Activations a = prepare(w_.attention, rows, c_.qDim(), woReaders, 1);
    Status status = matmul(a, {{&wo, w_.projected}});
    if (status != kOk) return status;
    for (int32_t t = 0; t < rows; t++) {
      addInPlace(w_.x + static_cast<size_t>(t) * c_.dim, w_.projected + static_cast<size_t>(t) * c_.dim, c_.dim);
    }
    rmsnorm(w_.normed, w_.x, model_->layer(layer, kSlotFfnNorm).f32(), rows, c_.dim, c_.normEps);
    const Tensor& w1 = model_->layer(layer, kSlotW1);
    const Tensor& w3 = model_->layer(layer, kSlotW3);
    const Tensor* upReaders[] = {&w1, &w3};
    a = prepare(w_.normed, rows, c_.dim, upReaders, 2);
    status = matmul(a, {{&w1, w_.gate}, {&w3, w_.up}});
    if (status != kOk) return status;
    for (int32_t t = 0; t < rows; t++) {
      swiglu(w_.gate + static_cast<size_t>(t) * c_.hiddenDim, w_.up + static_cast<size_t>(t) * c_.hiddenDim, c_.hiddenDim);
    }
    const Tensor& w2 = model_->layer(layer, kSlotW2);
    const Tensor* downReaders[] = {&w2};
    a = prepare(w_.gate, rows, c_.hiddenDim, downReaders, 1);
    status = matmul(a, {{&w2, w_.projected}});
    if (status != kOk) return status;
    for (int32_t t = 0; t < rows; t++) {
      addInPlace(w_.x + static_cast<size_t>(t) * c_.dim, w_.projected + static_cast<size_t>(t) * c_.dim, c_.dim);
    }
    return kOk;
  }

  Status queryKeyValue(int32_t layer, int32_t rows) {
    rmsnorm(w_.normed, w_.x, model_->layer(layer, kSlotAttentionNorm).f32(), rows, c_.dim, c_.normEps);
    const Tensor& wq = model_->layer(layer, kSlotWq);
    const Tensor& wk = model_->layer(layer, kSlotWk);
    const Tensor& wv = model_->layer(layer, kSlotWv);
    const Tensor* readers[] = {&wq, &wk, &wv};
    const Activations a = prepare(w_.normed, rows, c_.dim, readers, 3);
    const Status status = matmul(a, {{&wq, w_.q}, {&wk, w_.k}, {&wv, w_.v}});
    if (status != kOk) return status;
    // Qwen 2's biases, added after the products (before RoPE), row by row.
    addBias(w_.q, model_->bias(layer, kSlotBq), rows, c_.qDim());
    addBias(w_.k, model_->bias(layer, kSlotBk), rows, c_.kvDim());
    addBias(w_.v, model_->bias(layer, kSlotBv), rows, c_.kvDim());
    return kOk;
  }

  static void addBias(float* rows, const float* bias, int32_t count, int32_t width) {
    if (bias == nullptr) return;
    for (int32_t t = 0; t < count; t++) addInPlace(rows + static_cast<size_t>(t) * width, bias, width);
  }

  void rotate(int32_t row, int32_t position) {
    const int32_t half = c_.headDim / 2;
    const float* cos = model_->global[kSlotRopeCos].f32() + static_cast<size_t>(position) * half;
    const float* sin = model_->global[kSlotRopeSin].f32() + static_cast<size_t>(position) * half;
    auto rotation = c_.ropeStyle == kRopeNeox ? ropeNeox : rope;
    rotation(w_.q + static_cast<size_t>(row) * c_.qDim(), c_.queryHeads, c_.headDim, cos, sin);
    rotation(w_.k + static_cast<size_t>(row) * c_.kvDim(), c_.kvHeads, c_.headDim, cos, sin);
  }

  // Final norm of `row` and the classifier into logits [vocab].
  Status classify(int32_t firstRow, int32_t rows, float* logits) {
    finalNorm(firstRow, rows);
    const Tensor& classifier = model_->classifier();
    const Tensor* readers[] = {&classifier};
    const Activations a = prepare(w_.normed, rows, c_.dim, readers, 1);
    return matmul(a, {{&classifier, logits}});
  }

  // Each row's argmax token (-1 where a logit is not finite). With logits, over them; without, through
  // the classifier screen when the model has one and the batch is small (exactly the same tokens),
  // else over work logits.
  Status pickGreedy(int32_t rows, float* logits, int32_t* tokens) {
    ClassifierScreen& screen = *model_->screen;
    const int32_t vocab = c_.vocabSize;
    if (logits == nullptr) {
      if (!screen.scores.resize(static_cast<size_t>(rows) * vocab, 0.0f)) return kOutOfMemory;
      if (screen.built() && rows <= kScreenMaxRows) return pickScreened(rows, tokens);
      logits = screen.scores.data();
    }
    const Status status = classify(0, rows, logits);
    if (status != kOk) return status;
    for (int32_t t = 0; t < rows; t++) tokens[t] = finiteArgmax(logits + static_cast<size_t>(t) * vocab, vocab);
    return kOk;
  }

 private:
  void finalNorm(int32_t firstRow, int32_t rows) {
    rmsnorm(w_.normed, w_.x + static_cast<size_t>(firstRow) * c_.dim, model_->global[kSlotFinalNorm].f32(), rows,
            c_.dim, c_.normEps);
  }

  // Screened logits for every row, then each row's argmax from them (rows split over the threads).
  Status pickScreened(int32_t rows, int32_t* tokens) {
    ClassifierScreen& screen = *model_->screen;
    finalNorm(0, rows);
    const Tensor* readers[] = {&screen.weights};
    const Activations a = prepare(w_.normed, rows, c_.dim, readers, 1);
    const Status status = matmul(a, {{&screen.weights, screen.scores.data()}});
    if (status != kOk) return status;
    return screenedTokens(&screen, model_->classifier().view(), a, tokens);
  }

  Model* model_;
  const ModelConfig& c_;
  Workspace& w_;
};

bool shapeMatches(const Model* model, const Pool* pool, const Sequence* sequence) {
  return sequence->layers == model->config.layers && sequence->kvHeads == model->config.kvHeads &&
         pool->headDim == model->config.headDim;
}

// Whether the head holds exactly the rows of positions 0 .. start-1, in order (what earlier chunks of a
// prompt leave; a compacted or foreign sequence does not).
bool holdsPrefix(Pool* pool, const HeadList& head, int32_t start) {
  if (head.length != start) return false;
  for (int32_t i = 0; i < start; i++) {
    if (pool->position(head.blocks[static_cast<size_t>(i / pool->blockSize)], i % pool->blockSize) != i) return false;
  }
  return true;
}

// Decode attention: (batch item, KV head) per task, over the sequence's blocks in place.
struct DecodeAttentionJob {
  const ModelConfig* config;
  const Pool* pool;
  Sequence* const* sequences;
  int32_t layer;
  const float* queries;
  float* out;
};

void runDecodeAttention(void* context, int32_t begin, int32_t end, int32_t thread) {
  const DecodeAttentionJob& job = *static_cast<const DecodeAttentionJob*>(context);
  const ModelConfig& c = *job.config;
  const int32_t group = c.queryHeads / c.kvHeads;
  const size_t groupFloats = static_cast<size_t>(group) * c.headDim;
  const HeadList* heads[kMaxHeadsPerCall];
  // Consecutive KV heads of one sequence go together (block-major over them).
  while (begin < end) {
    const int32_t i = begin / c.kvHeads, h = begin % c.kvHeads;
    int32_t count = c.kvHeads - h;
    if (count > end - begin) count = end - begin;
    if (count > kMaxHeadsPerCall) count = kMaxHeadsPerCall;
    for (int32_t k = 0; k < count; k++) heads[k] = &job.sequences[i]->head(job.layer, h + k);
    const size_t offset = static_cast<size_t>(i) * c.qDim() + h * groupFloats;
    attendHeads(job.pool, heads, count, group, job.queries + offset, job.out + offset, scratch(thread));
    begin += count;
  }
}

}  // namespace

Status prefill(Model* model, Pool* pool, Sequence* sequence, const int32_t* tokens, int32_t n, int32_t start,
               float* logits, float* queries, float* keys, float* values) {
  const ModelConfig& c = model->config;
  Status status = checkComplete(model);
  if (status != kOk) return status;
  if (!shapeMatches(model, pool, sequence)) return kInvalidArgument;
  if (n <= 0 || start < 0 || tokens == nullptr || logits == nullptr) return kInvalidArgument;
  if (static_cast<int64_t>(start) + n > c.contextLength) return kOutOfRange;
  for (int32_t t = 0; t < n; t++) {
    if (tokens[t] < 0 || tokens[t] >= c.vocabSize) return kOutOfRange;
  }
  // The chunk continues exactly what the sequence holds: positions 0 .. start-1 in every head.
  for (int32_t i = 0; i < c.layers * c.kvHeads; i++) {
    if (!holdsPrefix(pool, sequence->heads[i], start)) return kInvalidArgument;
  }
  const int64_t blocksAfter = (static_cast<int64_t>(start) + n + pool->blockSize - 1) / pool->blockSize;
  BlockNeeds needed;
  for (int32_t i = 0; i < c.layers * c.kvHeads; i++) {
    const int64_t held = static_cast<int64_t>(sequence->heads[i].blocks.size());
    if (blocksAfter > held) needed.blocks[sequence->heads[i].format] += blocksAfter - held;
  }
  if (!poolCanHold(pool, needed)) return kPoolExhausted;
  for (int32_t i = 0; i < c.layers * c.kvHeads; i++) {
    if (!sequence->heads[i].blocks.reserve(static_cast<size_t>(blocksAfter))) return kOutOfMemory;
  }
  if ((status = reserveResiduals(pool, sequence->heads, c.layers * c.kvHeads)) != kOk) return status;
  status = ensureFree(pool, needed);
  if (status != kOk) return status;
  // Work memory for the chunk's rows only; attention reads earlier chunks from the blocks.
  status = reserveWork(model, n);
  if (status != kOk) return status;
  status = reserveScratch(attendScratchFloats(pool, c.queryHeads / c.kvHeads, 1));
  if (status != kOk) return status;

  Workspace& w = model->work;
  Pass pass(model);
  GrowArray<int32_t> positions;
  if (!positions.resize(static_cast<size_t>(n), 0)) return kOutOfMemory;
  for (int32_t t = 0; t < n; t++) {
    positions[t] = start + t;
    embeddingRow(model, tokens[t], w.x + static_cast<size_t>(t) * c.dim);
  }
  for (int32_t layer = 0; layer < c.layers; layer++) {
    if ((status = pass.queryKeyValue(layer, n)) != kOk) return status;
    for (int32_t t = 0; t < n; t++) pass.rotate(t, start + t);
    const size_t qFloats = static_cast<size_t>(n) * c.qDim(), kvFloats = static_cast<size_t>(n) * c.kvDim();
    if (queries != nullptr) std::memcpy(queries + layer * qFloats, w.q, qFloats * sizeof(float));
    if (keys != nullptr) std::memcpy(keys + layer * kvFloats, w.k, kvFloats * sizeof(float));
    if (values != nullptr) std::memcpy(values + layer * kvFloats, w.v, kvFloats * sizeof(float));
    status = appendRows(pool, sequence, layer, n, w.k, w.v, positions.data());
    if (status != kOk) return status;  // cannot happen: blocks were secured above
    // Row t over the head's rows 0 .. start + t, in place in the blocks: as a decode step at its position.
    if ((status = attendCausal(pool, sequence, layer, c.queryHeads, n, start, w.q, w.attention)) != kOk) return status;
    if ((status = pass.attentionOutputAndFeedForward(layer, n)) != kOk) return status;
  }
  return pass.classify(n - 1, 1, logits);
}

Status decode(Model* model, Pool* pool, Sequence* const* sequences, const int32_t* tokens, const int32_t* positions,
              int32_t batch, float* logits, int32_t* argmax, float* queries) {
  const ModelConfig& c = model->config;
  Status status = checkComplete(model);
  if (status != kOk) return status;
  if (batch <= 0 || sequences == nullptr || tokens == nullptr || positions == nullptr || (logits == nullptr && argmax == nullptr)) {
    return kInvalidArgument;
  }
  BlockNeeds needed;
  for (int32_t i = 0; i < batch; i++) {
    if (!shapeMatches(model, pool, sequences[i])) return kInvalidArgument;
    for (int32_t j = 0; j < i; j++) {
      if (sequences[j] == sequences[i]) return kInvalidArgument;  // one token per sequence per step
    }
    if (tokens[i] < 0 || tokens[i] >= c.vocabSize) return kOutOfRange;
    if (positions[i] < 0 || positions[i] >= c.contextLength) return kOutOfRange;
    for (int32_t h = 0; h < c.layers * c.kvHeads; h++) {
      const HeadList& head = sequences[i]->heads[h];
      if (head.length == INT32_MAX) return kInvalidArgument;
      needed.blocks[head.format] += head.length % pool->blockSize == 0;
    }
  }
  if (!poolCanHold(pool, needed)) return kPoolExhausted;
  for (int32_t i = 0; i < batch; i++) {
    for (int32_t h = 0; h < c.layers * c.kvHeads; h++) {
      HeadList& head = sequences[i]->heads[h];
      if (head.length % pool->blockSize == 0 && !head.blocks.reserve(head.blocks.size() + 1)) return kOutOfMemory;
    }
    if ((status = reserveResiduals(pool, sequences[i]->heads, c.layers * c.kvHeads)) != kOk) return status;
  }
  status = ensureFree(pool, needed);
  if (status != kOk) return status;
  status = reserveWork(model, batch);
  if (status != kOk) return status;
  const int32_t group = c.queryHeads / c.kvHeads;
  status = reserveScratch(attendScratchFloats(pool, group, c.kvHeads < kMaxHeadsPerCall ? c.kvHeads : kMaxHeadsPerCall));
  if (status != kOk) return status;

  Workspace& w = model->work;
  Pass pass(model);
  for (int32_t i = 0; i < batch; i++) embeddingRow(model, tokens[i], w.x + static_cast<size_t>(i) * c.dim);
  for (int32_t layer = 0; layer < c.layers; layer++) {
    if ((status = pass.queryKeyValue(layer, batch)) != kOk) return status;
    for (int32_t i = 0; i < batch; i++) {
      pass.rotate(i, positions[i]);
      status = appendRows(pool, sequences[i], layer, 1, w.k + static_cast<size_t>(i) * c.kvDim(),
                          w.v + static_cast<size_t>(i) * c.kvDim(), positions + i);
      if (status != kOk) return status;  // cannot happen: blocks were secured above
    }
    if (queries != nullptr) {
      const size_t qFloats = static_cast<size_t>(batch) * c.qDim();
      std::memcpy(queries + layer * qFloats, w.q, qFloats * sizeof(float));
    }
    DecodeAttentionJob job{&c, pool, sequences, layer, w.q, w.attention};
    if ((status = parallelFor(batch * c.kvHeads, runDecodeAttention, &job)) != kOk) return status;
    if ((status = pass.attentionOutputAndFeedForward(layer, batch)) != kOk) return status;
  }
  return argmax != nullptr ? pass.pickGreedy(batch, logits, argmax) : pass.classify(0, batch, logits);
}

}  // namespace engine
}  // namespace adakv

namespace adakv {
namespace engine {

Status matmulStandalone(const WeightView& w, const float* x, int32_t tokens, float* out) {
  if (tokens <= 0 || w.rows <= 0 || x == nullptr || out == nullptr || w.data == nullptr) return kInvalidArgument;
  const size_t n = static_cast<size_t>(tokens) * w.cols;
  Activations a;
  a.values = x;
  a.rows = tokens;
  a.cols = w.cols;
  a.packed = x;
  GrowArray<int16_t> q;
  GrowArray<float> d;
  GrowArray<int32_t> sums;
  GrowArray<float> packed;
  const int32_t kind = activationKind(w.type);
  if (kind == 0 && tokens > 1) {
    if (!packed.resize(n, 0.0f)) return kOutOfMemory;
    packRows(x, tokens, w.cols, packed.data());
    a.packed = packed.data();
  }
  if (kind != 0) {
    if (!q.resize(n, 0) || !d.resize(n / 32 + 1, 0.0f) || !sums.resize(n / 32 + 1, 0)) return kOutOfMemory;
  }
  for (int32_t t = 0; t < tokens; t++) {
    const float* row = x + static_cast<size_t>(t) * w.cols;
    if (kind == 1) quantizeRowQ8(row, w.cols, q.data() + static_cast<size_t>(t) * w.cols, d.data() + static_cast<size_t>(t) * (w.cols / 32));
    if (kind == 2) {
      quantizeRowQ8K(row, w.cols, q.data() + static_cast<size_t>(t) * w.cols, d.data() + static_cast<size_t>(t) * (w.cols / 256),
                     sums.data() + static_cast<size_t>(t) * (w.cols / 32));
    }
  }
  if (kind == 1) {
    a.q32 = q.data();
    a.d32 = d.data();
  } else if (kind == 2) {
    a.q256 = q.data();
    a.d256 = d.data();
    a.sums = sums.data();
  }
  MatmulJob job;
  MatmulOp& op = job.ops[job.count++];
  op.w = w;
  op.x = &a;
  op.out = out;
  op.outStride = w.rows;
  op.tasks = (w.rows + kRowsPerTask - 1) / kRowsPerTask;
  return parallelFor(op.tasks, runMatmul, &job);
}

}  // namespace engine
}  // namespace adakv
