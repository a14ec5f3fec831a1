/** A possible merge of the adjacent symbols that start at positions `left` and `right` of a word. */
export interface MergeCandidate {
  /** Higher merges first: a SentencePiece score, or minus a BPE merge rank. */
  priority: number;
  left: number;
  right: number;
}

/**
 * A binary heap of merge candidates: highest priority first, then leftmost (the order llama2.c's and
 * llama.cpp's scans pick). Both tokenizers merge in O(n log n) with it.
 */
export class MergeQueue<C extends MergeCandidate> {
  private readonly heap: C[] = [];

  private static before(a: MergeCandidate, b: MergeCandidate): boolean {
    return a.priority > b.priority || (a.priority === b.priority && a.left < b.left);
  }

  push(candidate: C): void {
    const heap = this.heap;
    let i = heap.length;
    heap.push(candidate);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!MergeQueue.before(candidate, heap[parent]!)) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = candidate;
  }

  pop(): C | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= heap.length) break;
      if (child + 1 < heap.length && MergeQueue.before(heap[child + 1]!, heap[child]!)) child++;
      if (!MergeQueue.before(heap[child]!, last)) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
    return top;
  }
}
