/**
 * Figures and tables shared by the benchmarks: nearest-rank percentiles over
 * latency samples, number formatting, a plain-text table, and a small
 * command-line option reader.
 */

/** Nearest-rank percentile of an ascending-sorted sample, in the sample's unit. */
export const percentile = (sorted: Float64Array, p: number): number => {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
};

export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export const summariseLatencies = (latencies: readonly number[]): LatencySummary => {
  const sorted = Float64Array.from(latencies).sort();
  return { count: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN };
};

export const fmtInt = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');
export const fmtMs = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '-');

/** A left-aligned first column, right-aligned numbers. */
export function printTable(header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => (row[c] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
}

export interface NumberOption {
  readonly flag: string;
  readonly min: number;
  readonly max: number;
  readonly integer?: boolean;
}

/**
 * Read `--flag value` pairs into numbers within bounds (and `--log-level`),
 * rejecting anything unknown with the usage line.
 */
export function parseOptions<K extends string>(
  argv: readonly string[],
  specs: Readonly<Record<K, NumberOption>>,
  defaults: Readonly<Record<K, number>>,
  usage: string,
): Record<K, number> & { logLevel: string } {
  const values = { ...defaults, logLevel: 'info' } as Record<K, number> & { logLevel: string };
  const byFlag = new Map(Object.entries<NumberOption>(specs).map(([key, spec]) => [spec.flag, { key: key as K, spec }]));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      console.log(usage);
      process.exit(0);
    }
    if (arg === '--log-level') {
      const level = argv[++i];
      if (!level || !['fatal', 'error', 'warn', 'info', 'debug', 'silent'].includes(level)) throw new Error(`--log-level expects fatal|error|warn|info|debug|silent\n${usage}`);
      values.logLevel = level;
      continue;
    }
    const known = byFlag.get(arg);
    if (!known) throw new Error(`unknown argument ${arg}\n${usage}`);
    const text = argv[++i];
    const value = Number(text);
    const { min, max, integer } = known.spec;
    if (text === undefined || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
      throw new Error(`${arg} expects ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${String(text)}\n${usage}`);
    }
    (values as Record<K, number>)[known.key] = value;
  }
  return values;
}
