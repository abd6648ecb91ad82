// Renders rows the way docker's formatter does: `table ...` formats get a
// header row and tabwriter alignment; other formats print one line per row.
import { parseTemplate } from './go-template.js';
import { tabulate } from './tabwriter.js';

export interface ListFormatOptions {
  /** The --format value; "" means the default table. */
  format: string;
  /** The default format, e.g. "table {{.ID}}\t{{.Image}}". */
  defaultFormat: string;
  /** Header text per field name ("ID" -> "CONTAINER ID"). */
  headers: Record<string, string>;
  /** With -q: the format used instead (ignored when --format is given). */
  quiet?: boolean;
  quietFormat?: string;
}

/**
 * Renders `rows` as text (each line ending in "\n").
 * Throws TemplateError when the format is not a valid template.
 */
export function renderList(rows: object[], options: ListFormatOptions): string {
  let format = options.format;
  if (format === '') format = options.quiet && options.quietFormat ? options.quietFormat : options.defaultFormat;
  if (format === 'json') format = '{{json .}}';
  const table = format.startsWith('table');
  if (table) format = format.slice('table'.length);
  format = format.replace(/^ +| +$/g, '').replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  const tmpl = parseTemplate(format);
  const lines: string[] = [];
  if (table) {
    const header: Record<string, unknown> = { ...options.headers, Label: () => 'LABEL' };
    lines.push(tmpl.execute(header));
  }
  for (const row of rows) lines.push(tmpl.execute(row));
  if (!table) return lines.map((l) => `${l}\n`).join('');
  // A row may itself contain newlines; tabwriter aligns across all of them.
  return tabulate(lines.join('\n').split('\n'));
}
