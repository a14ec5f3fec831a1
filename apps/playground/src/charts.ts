/** Plain-SVG charts: no charting library, so the bundle stays small. */

const escape = (text: string) => text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

/** Layers x KV heads, one `rect.cell` per head, darker = more entries kept. */
export function budgetHeatmap(budgets: readonly (readonly number[])[], title: string): string {
  const cell = 34;
  const left = 62;
  const top = 26;
  const heads = budgets[0]?.length ?? 0;
  const width = left + heads * cell + 8;
  const height = top + budgets.length * cell + 8;
  const all = budgets.flat();
  const [min, max] = [Math.min(...all), Math.max(...all)];
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escape(title)}" class="heatmap">`];
  for (let h = 0; h < heads; h++) parts.push(`<text x="${left + h * cell + cell / 2}" y="${top - 8}" text-anchor="middle">h${h}</text>`);
  budgets.forEach((row, layer) => {
    parts.push(`<text x="${left - 8}" y="${top + layer * cell + cell / 2 + 4}" text-anchor="end">layer ${layer}</text>`);
    row.forEach((value, head) => {
      const t = max === min ? 0.5 : (value - min) / (max - min);
      const light = Math.round(92 - t * 62);
      parts.push(
        `<rect class="cell" x="${left + head * cell}" y="${top + layer * cell}" width="${cell - 2}" height="${cell - 2}" fill="hsl(215 70% ${light}%)"><title>layer ${layer}, head ${head}: ${value} entries</title></rect>`,
        `<text x="${left + head * cell + cell / 2 - 1}" y="${top + layer * cell + cell / 2 + 4}" text-anchor="middle" fill="${light < 55 ? '#fff' : '#111'}">${value}</text>`,
      );
    });
  });
  parts.push('</svg>');
  return parts.join('');
}

/** Attention mass reached vs share of the cache, one line per head (the paper's motivating figure). */
export function concentrationCurves(curves: readonly { label: string; massAt: ArrayLike<number> }[], title: string): string {
  const [w, h, pad] = [320, 220, 34];
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${w} ${h}" role="img" aria-label="${escape(title)}" class="curves">`];
  parts.push(`<line x1="${pad}" y1="${h - pad}" x2="${w - 8}" y2="${h - pad}" stroke="#555"/><line x1="${pad}" y1="8" x2="${pad}" y2="${h - pad}" stroke="#555"/>`);
  parts.push(`<text x="${(w + pad) / 2}" y="${h - 6}" text-anchor="middle">share of the cache kept (most attended first)</text>`);
  parts.push(`<text x="10" y="${(h - pad) / 2}" transform="rotate(-90 10 ${(h - pad) / 2})" text-anchor="middle">attention mass</text>`);
  curves.forEach((curve, i) => {
    const n = curve.massAt.length;
    const points = Array.from({ length: n }, (_, k) => `${(pad + ((k + 1) / n) * (w - pad - 8)).toFixed(1)},${(h - pad - Number(curve.massAt[k]) * (h - pad - 8)).toFixed(1)}`);
    parts.push(`<polyline class="curve" fill="none" stroke="hsl(${(i * 57) % 360} 65% 42%)" stroke-width="1.2" points="${points.join(' ')}"><title>${escape(curve.label)}</title></polyline>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

/** Retained attention mass per layer, uniform split vs Ada-KV, as paired bars. */
export function massBars(uniform: readonly number[], adaptive: readonly number[], title: string): string {
  const [w, h, pad] = [320, 200, 30];
  const band = (w - pad - 8) / uniform.length;
  const y = (v: number) => h - pad - v * (h - pad - 10);
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${w} ${h}" role="img" aria-label="${escape(title)}" class="bars">`];
  uniform.forEach((u, layer) => {
    const a = adaptive[layer]!;
    const x = pad + layer * band;
    parts.push(
      `<rect class="bar uniform" x="${x + 2}" y="${y(u)}" width="${band / 2 - 3}" height="${h - pad - y(u)}" fill="#8a8f98"><title>layer ${layer} uniform: ${u.toFixed(3)}</title></rect>`,
      `<rect class="bar adaptive" x="${x + band / 2}" y="${y(a)}" width="${band / 2 - 3}" height="${h - pad - y(a)}" fill="#1b6ac9"><title>layer ${layer} Ada-KV: ${a.toFixed(3)}</title></rect>`,
      `<text x="${x + band / 2}" y="${h - pad + 14}" text-anchor="middle">${layer}</text>`,
    );
  });
  parts.push(`<text x="${(w + pad) / 2}" y="${h - 2}" text-anchor="middle">layer (grey: uniform, blue: Ada-KV)</text></svg>`);
  return parts.join('');
}
