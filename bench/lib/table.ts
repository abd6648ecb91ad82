// Plain aligned text tables for bench output: numbers right-aligned, text left.

export type Cell = string | number | undefined;

/** Formats a duration in ms with one decimal, or "-" when missing. */
export function ms(v: number | undefined): string {
  return v === undefined ? '-' : v.toFixed(1);
}

/** Renders rows under headers; numeric-looking columns (by the header's `align`) are right-aligned. */
export function renderTable(headers: readonly string[], rows: readonly Cell[][], rightAligned: readonly boolean[]): string {
  const text = rows.map((r) => headers.map((_, i) => cellText(r[i])));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => r[i]?.length ?? 0)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (rightAligned[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...text.map(line)].join('\n');
}

function cellText(c: Cell): string {
  if (c === undefined) return '';
  return typeof c === 'number' ? ms(c) : c;
}
