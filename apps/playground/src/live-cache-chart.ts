import type { CacheFrame } from './cache-frames.js';
import { svgOpen } from './charts.js';

/** Outline of a head that lost entries since the previous frame: orange, apart from the blue cells. */
export const EVICTED_COLOUR = '#c2410c';

/**
 * One frame of the cache as it decodes: layers x KV heads, darker = more entries held, on a scale
 * fixed by the limit (so frames compare; a head above it stretches the scale), heads that lost
 * entries since the previous frame outlined in orange; right of each row, the layer's entries per
 * head and what it lost.
 */
export function liveCacheHeatmap(frame: CacheFrame, limit: number, title: string): string {
  const heads = frame.held[0]?.length ?? 0;
  const cell = heads > 16 ? 16 : 34;
  const labelled = cell >= 30;
  const [left, top, right, legend] = [62, 26, 100, 22];
  const width = left + heads * cell + right;
  const height = top + frame.held.length * cell + legend;
  const scale = Math.max(1, limit, ...frame.held.flat());
  const label = `${title}, step ${frame.step}: ${frame.heldTotal} entries held, ${frame.evictedSoFar} evicted so far, ${frame.evictedSinceTotal} since the previous frame`;
  const parts = [svgOpen(width, height, label, 'heatmap live')];
  for (let h = 0; h < heads; h++) if (labelled || h % 4 === 0) parts.push(`<text x="${left + h * cell + cell / 2}" y="${top - 8}" text-anchor="middle">h${h}</text>`);
  parts.push(`<text x="${left + heads * cell + 6}" y="${top - 8}">per head</text>`);
  frame.held.forEach((row, layer) => {
    const y = top + layer * cell;
    if (labelled || layer % 4 === 0) parts.push(`<text x="${left - 8}" y="${y + cell / 2 + 4}" text-anchor="end">layer ${layer}</text>`);
    row.forEach((held, head) => {
      const evicted = frame.evictedSince[layer]![head]!;
      const light = Math.round(92 - (held / scale) * 62);
      const outline = evicted > 0 ? ` stroke="${EVICTED_COLOUR}" stroke-width="2.5"` : '';
      const lost = evicted > 0 ? `, ${evicted} evicted since the previous frame` : '';
      parts.push(
        `<rect class="cell${evicted > 0 ? ' evicted' : ''}" x="${left + head * cell + 1}" y="${y + 1}" width="${cell - 4}" height="${cell - 4}" fill="hsl(215 70% ${light}%)"${outline}><title>layer ${layer}, head ${head}: ${held} entries${lost}</title></rect>`,
      );
      if (labelled) parts.push(`<text x="${left + head * cell + cell / 2 - 1}" y="${y + cell / 2 + 3}" text-anchor="middle" fill="${light < 55 ? '#fff' : '#111'}">${held}</text>`);
    });
    const lost = row.reduce((sum, _, head) => sum + frame.evictedSince[layer]![head]!, 0);
    if (labelled || layer % 4 === 0 || lost > 0) {
      parts.push(`<text x="${left + heads * cell + 6}" y="${y + cell / 2 + 4}">${frame.layerMeans[layer]!.toFixed(1)}${lost > 0 ? ` <tspan class="lost" fill="#9a3412">−${lost}</tspan>` : ''}</text>`);
    }
  });
  const legendY = height - 12;
  parts.push(
    `<rect x="${left}" y="${legendY}" width="10" height="10" fill="hsl(215 70% 92%)" stroke="${EVICTED_COLOUR}" stroke-width="2.5"/>`,
    `<text x="${left + 16}" y="${legendY + 9}">evicted since the previous frame (limit ${limit} per head)</text>`,
    '</svg>',
  );
  return parts.join('');
}
