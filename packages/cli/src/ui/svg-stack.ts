const size = (svg: string, attribute: 'width' | 'height'): number => Number(new RegExp(`<svg[^>]*\\s${attribute}="(\\d+(?:\\.\\d+)?)"`).exec(svg)?.[1] ?? 0);

/** Puts SVG documents one under the other in a single SVG (nested `<svg>` elements keep their own viewBox). */
export function stackSvg(svgs: readonly string[]): string {
  const width = Math.max(...svgs.map((s) => size(s, 'width')));
  let y = 0;
  const parts = svgs.map((svg) => {
    const placed = svg.replace('<svg ', `<svg y="${y}" `);
    y += size(svg, 'height');
    return placed;
  });
  return [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}">`, ...parts, '</svg>'].join('\n');
}
