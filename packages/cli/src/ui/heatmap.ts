/** A rows x columns grid of values (e.g. layers x heads) with labels. */
export interface Grid {
  values: readonly (readonly number[])[];
  rowLabel: (row: number) => string;
  columnLabel: (column: number) => string;
}

const SHADES = [' ', '░', '▒', '▓', '█'];

function range(grid: Grid): [number, number] {
  const flat = grid.values.flat();
  return [Math.min(...flat), Math.max(...flat)];
}

function level(value: number, [min, max]: [number, number]): number {
  return max === min ? 0.5 : (value - min) / (max - min);
}

/**
 * A terminal heatmap: with colour, a 256-colour background ramp and the value printed in each cell;
 * without colour, shade characters so it still reads in logs.
 */
export function terminalHeatmap(grid: Grid, { color }: { color: boolean }): string {
  const bounds = range(grid);
  const cellWidth = Math.max(4, ...grid.values.flat().map((v) => String(Math.round(v)).length + 1));
  const rowLabelWidth = Math.max(...grid.values.map((_, r) => grid.rowLabel(r).length));
  const header =
    ' '.repeat(rowLabelWidth + 1) +
    (grid.values[0] ?? []).map((_, c) => grid.columnLabel(c).padStart(cellWidth)).join('');
  const lines = grid.values.map((row, r) => {
    const cells = row.map((value) => {
      const t = level(value, bounds);
      const text = String(Math.round(value)).padStart(cellWidth);
      if (!color) return SHADES[Math.min(SHADES.length - 1, Math.floor(t * SHADES.length))]!.repeat(2) + text.slice(2);
      const ramp = 232 + Math.round(t * 23); // grayscale 232..255
      const fg = t > 0.55 ? 16 : 231;
      return `\x1b[48;5;${ramp}m\x1b[38;5;${fg}m${text}\x1b[0m`;
    });
    return `${grid.rowLabel(r).padStart(rowLabelWidth)} ${cells.join('')}`;
  });
  return [header, ...lines, `min ${bounds[0].toFixed(1)}  max ${bounds[1].toFixed(1)}`].join('\n');
}

/** The same heatmap as a self-contained SVG, one <rect> per cell (with a <title> for hover). */
export function svgHeatmap(grid: Grid, title: string): string {
  const bounds = range(grid);
  const cell = 36;
  const left = 70;
  const top = 50;
  const columns = grid.values[0]?.length ?? 0;
  const width = left + columns * cell + 20;
  const height = top + grid.values.length * cell + 30;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${title.replace(/[<>&]/g, '')}</text>`,
  ];
  for (let c = 0; c < columns; c++) {
    parts.push(`<text x="${left + c * cell + cell / 2}" y="${top - 6}" text-anchor="middle">${grid.columnLabel(c)}</text>`);
  }
  grid.values.forEach((row, r) => {
    parts.push(`<text x="${left - 6}" y="${top + r * cell + cell / 2 + 4}" text-anchor="end">${grid.rowLabel(r)}</text>`);
    row.forEach((value, c) => {
      const t = level(value, bounds);
      const shade = Math.round(255 - t * 200);
      const fill = `rgb(${shade},${Math.round(shade * 0.9 + 25)},255)`;
      const x = left + c * cell;
      const y = top + r * cell;
      parts.push(
        `<rect class="cell" x="${x}" y="${y}" width="${cell - 2}" height="${cell - 2}" fill="${fill}"><title>${grid.rowLabel(r)} ${grid.columnLabel(c)}: ${value.toFixed(2)}</title></rect>`,
        `<text x="${x + cell / 2 - 1}" y="${y + cell / 2 + 3}" text-anchor="middle" fill="${t > 0.6 ? 'white' : 'black'}">${Math.round(value)}</text>`,
      );
    });
  });
  parts.push('</svg>');
  return parts.join('\n');
}
