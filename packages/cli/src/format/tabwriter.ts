// Column alignment as docker prints its tables: Go's text/tabwriter with
// minwidth 10, padding 3 and spaces, over tab-separated cells. The last cell
// of a line is not padded (tabwriter only aligns tab-terminated cells).

export interface TabwriterOptions {
  minWidth?: number;
  padding?: number;
}

const width = (s: string): number => [...s].length;

/** Aligns tab-separated lines into columns; returns the text with a trailing newline per line. */
export function tabulate(lines: string[], options: TabwriterOptions = {}): string {
  const minWidth = options.minWidth ?? 10;
  const padding = options.padding ?? 3;
  const rows = lines.map((l) => l.split('\t'));
  const widths: number[] = [];
  for (const cells of rows) {
    // Only cells followed by a tab take part in alignment.
    for (let i = 0; i < cells.length - 1; i++) {
      widths[i] = Math.max(widths[i] ?? 0, width(cells[i]!) + padding, minWidth);
    }
  }
  return rows
    .map((cells) =>
      cells.map((c, i) => (i < cells.length - 1 ? c + ' '.repeat((widths[i] ?? 0) - width(c)) : c)).join(''),
    )
    .map((l) => `${l}\n`)
    .join('');
}
