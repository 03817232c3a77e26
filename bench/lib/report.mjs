// Report helpers shared by the benchmarks: the machine line and Markdown tables.
import os from 'node:os';

/** One line naming the machine, runtime and date, printed above every table. */
export function machineLine() {
  const cpus = os.cpus();
  const model = cpus[0]?.model?.trim() ?? 'unknown CPU';
  const memGiB = (os.totalmem() / 2 ** 30).toFixed(0);
  const date = new Date().toISOString().slice(0, 10);
  return `Machine: ${model}, ${cpus.length} cores, ${memGiB} GiB RAM; Node ${process.version}, ${os.platform()} ${os.arch()}; ${date}`;
}

/** A Markdown table; `align` holds 'l' or 'r' per column. */
export function markdownTable(header, rows, align = []) {
  const sep = header.map((_, i) => (align[i] === 'r' ? '---:' : '---'));
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(sep), ...rows.map(line)].join('\n');
}

/** A number with thousands separators and `digits` decimals. */
export function fmt(value, digits = 0) {
  if (!Number.isFinite(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
