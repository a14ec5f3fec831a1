/** Plain-SVG charts: no charting library, so the bundle stays small. */

const escape = (text: string) => text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
const percent = (value: number) => `${Math.round(value * 100)}%`;
const mean = (values: readonly number[]) => values.reduce((sum, v) => sum + v, 0) / Math.max(1, values.length);

/** A colour per layer, dark blue (first) to orange (last): ordered, and distinct for the colour-blind. */
export function layerColour(layer: number, layers: number): string {
  const t = layers > 1 ? layer / (layers - 1) : 0;
  return `hsl(${Math.round(225 - t * 195)} 75% ${Math.round(32 + t * 14)}%)`;
}

/** An SVG root with an accessible name (`role="img"` + `aria-label`). */
export function svgOpen(width: number, height: number, label: string, className: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escape(label)}" class="${className}">`;
}

/** Layers x KV heads, one `rect.cell` per head, darker = more entries kept. */
export function budgetHeatmap(budgets: readonly (readonly number[])[], title: string): string {
  const heads = budgets[0]?.length ?? 0;
  const cell = heads > 16 ? 16 : 34;
  const labelled = cell >= 30;
  const left = 62;
  const top = 26;
  const width = left + heads * cell + 8;
  const height = top + budgets.length * cell + 8;
  const all = budgets.flat();
  const [min, max] = [Math.min(...all), Math.max(...all)];
  const parts = [svgOpen(width, height, `${title}: from ${min} to ${max} entries per head`, 'heatmap')];
  for (let h = 0; h < heads; h++) if (labelled || h % 4 === 0) parts.push(`<text x="${left + h * cell + cell / 2}" y="${top - 8}" text-anchor="middle">h${h}</text>`);
  budgets.forEach((row, layer) => {
    if (labelled || layer % 4 === 0) parts.push(`<text x="${left - 8}" y="${top + layer * cell + cell / 2 + 4}" text-anchor="end">layer ${layer}</text>`);
    row.forEach((value, head) => {
      const t = max === min ? 0.5 : (value - min) / (max - min);
      const light = Math.round(92 - t * 62);
      parts.push(
        `<rect class="cell" x="${left + head * cell}" y="${top + layer * cell}" width="${cell - 2}" height="${cell - 2}" fill="hsl(215 70% ${light}%)"><title>layer ${layer}, head ${head}: ${value} entries</title></rect>`,
      );
      if (labelled) parts.push(`<text x="${left + head * cell + cell / 2 - 1}" y="${top + layer * cell + cell / 2 + 4}" text-anchor="middle" fill="${light < 55 ? '#fff' : '#111'}">${value}</text>`);
    });
  });
  parts.push('</svg>');
  return parts.join('');
}

export interface HeadCurve {
  readonly layer: number;
  readonly head: number;
  /** `massAt[k - 1]`: attention mass reached by the k most attended entries. */
  readonly massAt: ArrayLike<number>;
  /** Share of the cache that holds 90% of the attention. */
  readonly fractionFor90: number;
}

/**
 * Attention mass reached vs share of the cache, one line per head coloured by layer (the Ada-KV
 * paper's motivating figure): the further up-left a curve, the fewer entries the head needs.
 */
export function concentrationCurves(curves: readonly HeadCurve[], title: string): string {
  const [w, h, left, bottom, top, right] = [340, 250, 40, 42, 10, 18];
  const x = (share: number) => left + share * (w - left - right);
  const y = (mass: number) => h - bottom - mass * (h - bottom - top);
  const layers = Math.max(0, ...curves.map((c) => c.layer)) + 1;
  const shares = curves.map((c) => c.fractionFor90);
  const summary = `${title}: 90% of a head's attention lies in ${percent(Math.min(...shares))} to ${percent(Math.max(...shares))} of its cache`;
  const parts = [svgOpen(w, h, summary, 'curves')];
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    parts.push(
      `<line x1="${x(tick)}" y1="${y(0)}" x2="${x(tick)}" y2="${y(0) + 4}" stroke="#555"/><text x="${x(tick)}" y="${y(0) + 15}" text-anchor="middle">${percent(tick)}</text>`,
      `<line x1="${x(0) - 4}" y1="${y(tick)}" x2="${x(0)}" y2="${y(tick)}" stroke="#555"/><text x="${x(0) - 6}" y="${y(tick) + 4}" text-anchor="end">${tick}</text>`,
    );
  }
  parts.push(
    `<line x1="${x(0)}" y1="${y(0.9)}" x2="${x(1)}" y2="${y(0.9)}" stroke="#767d8a" stroke-dasharray="4 3"/><text x="${x(1)}" y="${y(0.9) + 12}" text-anchor="end" fill="#4a505b">90%</text>`,
    `<line x1="${x(0)}" y1="${y(0)}" x2="${x(1)}" y2="${y(1)}" stroke="#b5bac3" stroke-dasharray="2 3"><title>a head that attends evenly</title></line>`,
    `<line x1="${x(0)}" y1="${y(0)}" x2="${x(1)}" y2="${y(0)}" stroke="#555"/><line x1="${x(0)}" y1="${y(0)}" x2="${x(0)}" y2="${y(1)}" stroke="#555"/>`,
    `<text x="${(x(0) + x(1)) / 2}" y="${h - 6}" text-anchor="middle">share of the cache, most attended first</text>`,
    `<text x="11" y="${y(0.5)}" transform="rotate(-90 11 ${y(0.5)})" text-anchor="middle">attention mass</text>`,
  );
  for (const curve of curves) {
    const n = curve.massAt.length;
    const points = Array.from({ length: n + 1 }, (_, k) => `${x(k / n).toFixed(1)},${y(k === 0 ? 0 : Number(curve.massAt[k - 1])).toFixed(1)}`);
    const label = `layer ${curve.layer}, head ${curve.head}: 90% of its attention in ${percent(curve.fractionFor90)} of the cache`;
    parts.push(`<polyline class="curve" fill="none" stroke="${layerColour(curve.layer, layers)}" stroke-width="1.3" points="${points.join(' ')}"><title>${escape(label)}</title></polyline>`);
  }
  parts.push(`<text x="${x(1)}" y="${y(0.3)}" text-anchor="end">colour: layer</text>`);
  for (const [i, layer] of [0, layers - 1].entries()) {
    parts.push(`<rect x="${x(1) - 64 + i * 36}" y="${y(0.3) + 8}" width="10" height="10" fill="${layerColour(layer, layers)}"/><text x="${x(1) - 51 + i * 36}" y="${y(0.3) + 17}">${layer}</text>`);
  }
  parts.push('</svg>');
  return parts.join('');
}

/** Retained attention mass per layer, uniform split vs Ada-KV, as paired bars on a 0..1 axis. */
export function massBars(uniform: readonly number[], adaptive: readonly number[], title: string): string {
  const [w, h, left, bottom, top, right] = [340, 230, 36, 44, 14, 8];
  const band = (w - left - right) / Math.max(1, uniform.length);
  const y = (v: number) => h - bottom - v * (h - bottom - top);
  const labelled = uniform.length <= 12;
  const summary = `${title}: on average ${mean(adaptive).toFixed(3)} with Ada-KV, ${mean(uniform).toFixed(3)} with the uniform split`;
  const parts = [svgOpen(w, h, summary, 'bars')];
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    parts.push(`<line x1="${left}" y1="${y(tick)}" x2="${w - right}" y2="${y(tick)}" stroke="#e1e4e9"/><text x="${left - 5}" y="${y(tick) + 4}" text-anchor="end">${tick}</text>`);
  }
  uniform.forEach((u, layer) => {
    const a = adaptive[layer]!;
    const x = left + layer * band;
    parts.push(
      `<rect class="bar uniform" x="${x + 2}" y="${y(u)}" width="${band / 2 - 3}" height="${y(0) - y(u)}" fill="#6b717c"><title>layer ${layer}, uniform split: ${u.toFixed(3)}</title></rect>`,
      `<rect class="bar adaptive" x="${x + band / 2}" y="${y(a)}" width="${band / 2 - 3}" height="${y(0) - y(a)}" fill="#1b6ac9"><title>layer ${layer}, Ada-KV: ${a.toFixed(3)}</title></rect>`,
    );
    if (labelled) {
      parts.push(
        `<text x="${x + band / 2}" y="${y(0) + 14}" text-anchor="middle">${layer}</text>`,
        `<text class="gain" x="${x + band / 2}" y="${y(Math.max(u, a)) - 3}" text-anchor="middle">${a >= u ? '+' : '−'}${Math.abs(a - u).toFixed(2)}</text>`,
      );
    }
  });
  parts.push(
    `<line x1="${left}" y1="${y(0)}" x2="${w - right}" y2="${y(0)}" stroke="#555"/>`,
    `<rect x="${left}" y="${h - 14}" width="10" height="10" fill="#6b717c"/><text x="${left + 14}" y="${h - 5}">uniform split</text>`,
    `<rect x="${left + 110}" y="${h - 14}" width="10" height="10" fill="#1b6ac9"/><text x="${left + 124}" y="${h - 5}">Ada-KV (per layer: gain)</text>`,
    '</svg>',
  );
  return parts.join('');
}
