import { describe, expect, it } from 'vitest';
import { budgetHeatmap, concentrationCurves, massBars } from '../src/charts.js';

describe('charts', () => {
  it('draws one cell per (layer, head)', () => {
    const svg = budgetHeatmap([[1, 2, 3], [4, 5, 6]], 'kept <per> head');
    expect(svg.match(/class="cell"/g)).toHaveLength(6);
    expect(svg).toContain('aria-label="kept &lt;per&gt; head"');
    expect(svg).toContain('layer 1, head 2: 6 entries');
  });

  it('draws one curve per head and paired bars per layer', () => {
    expect(concentrationCurves([{ label: 'a', massAt: [0.5, 1] }, { label: 'b', massAt: [0.9, 1] }], 't').match(/<polyline/g)).toHaveLength(2);
    const bars = massBars([0.5, 0.6], [0.7, 0.8], 't');
    expect(bars.match(/class="bar uniform"/g)).toHaveLength(2);
    expect(bars.match(/class="bar adaptive"/g)).toHaveLength(2);
  });
});
