/**
 * npm run audit:verify -- --data-dir DIR [--jwks FILE] [--tree-head FILE ...] [--threads N]
 * npm run audit:verify -- --export FILE.ndjson --jwks FILE --tree-head FILE [--tree-head FILE ...] [--any-positions]
 *
 * Checks a data directory offline (docs/ledger.md): every event of the log is
 * hashed again and compared, in order, with the Merkle tree kept beside it;
 * every tree head (those the service stored, and the ones you kept from
 * GET /api/v1/audit/tree-head, one JSON file each) is checked for its
 * signature and its root. Prints the first position where anything differs
 * and exits 1; exits 0 when everything holds. Use the JWKS you fetched and
 * kept (GET /oauth2/v2/jwks): without --jwks the keys are read from the data
 * directory, which whoever rewrote the log could have rewritten too.
 *
 * With --export, checks an NDJSON export of the whole log instead
 * (GET /api/v1/events?order=asc, Accept: application/x-ndjson): every line's
 * leaf hash again, the tree of the lines against each kept tree head, and
 * the heads' signatures under the JWKS (both required: nothing from the
 * service is trusted). --any-positions for an EventStoreDB log, whose
 * positions have gaps.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { type KeptTreeHead, verifyDataDirectory, verifyExport } from '../src/infra/ledger/verifier.js';

const keptTreeHeadSchema = z.object({ tree_size: z.number().int().min(0), root_hash: z.string(), timestamp: z.number(), signature: z.string() }).loose();

const readHead = (file: string): KeptTreeHead => {
  const parsed = keptTreeHeadSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) throw new Error(`${file} is not a tree head (the body of GET /api/v1/audit/tree-head): ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
};

async function verifyExportFile(file: string, values: { jwks?: string; 'tree-head'?: string[]; json?: boolean; 'any-positions'?: boolean }): Promise<number> {
  if (!values.jwks || !values['tree-head']?.length) {
    console.error('usage: npm run audit:verify -- --export FILE.ndjson --jwks FILE --tree-head FILE [--tree-head FILE ...] [--any-positions] [--json]');
    return 2;
  }
  const report = await verifyExport({
    file,
    jwks: JSON.parse(readFileSync(values.jwks, 'utf8')),
    keptHeads: values['tree-head'].map(readHead),
    embeddedPositions: !values['any-positions'],
  });
  if (values.json) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    console.log(`${report.lines} lines, ${report.leaves} leaves in ${report.seconds.toFixed(2)} s (${Math.round(report.lines / Math.max(report.seconds, 1e-9))} per second)`);
    console.log(`${report.recomputed} events hashed again; ${report.checkedByHashOnly} erased or encrypted, checked by hash only; ${report.tombstones} tombstones by the leaf hash they kept`);
    if (report.unverifiableTombstones > 0) console.log(`${report.unverifiableTombstones} tombstones kept no leaf hash: passed over`);
    for (const head of report.heads) console.log(`tree head of size ${head.treeSize}: signature ${head.signature ? 'valid' : 'NOT valid'}, root ${head.root ? 'matches' : 'DOES NOT match'}`);
    console.log(
      report.firstDifference
        ? `FAILED at position ${report.firstDifference.position}${report.firstDifference.line ? ` (line ${report.firstDifference.line})` : ''}: ${report.firstDifference.reason}`
        : report.ok
          ? 'OK: the export is the log that was signed'
          : 'FAILED: no tree head verified the export',
    );
  }
  return report.ok ? 0 : 1;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      'data-dir': { type: 'string' },
      export: { type: 'string' },
      jwks: { type: 'string' },
      'tree-head': { type: 'string', multiple: true },
      'any-positions': { type: 'boolean' },
      json: { type: 'boolean' },
      threads: { type: 'string' },
    },
    strict: true,
  });
  if (values.export) return verifyExportFile(values.export, values);
  const dataDir = values['data-dir'] ?? process.env['DATA_DIR'];
  if (!dataDir) {
    console.error('usage: npm run audit:verify -- --data-dir DIR [--jwks FILE] [--tree-head FILE ...] [--threads N] [--json]');
    console.error('   or: npm run audit:verify -- --export FILE.ndjson --jwks FILE --tree-head FILE [--tree-head FILE ...] [--any-positions] [--json]');
    return 2;
  }
  const threads = values.threads === undefined ? undefined : Number(values.threads);
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 0 && threads <= 64)) {
    console.error('--threads: a whole number from 0 (hash on the main thread) to 64');
    return 2;
  }
  const report = await verifyDataDirectory({
    dataDir,
    ...(threads !== undefined && { hashThreads: threads }),
    ...(values.jwks && { jwks: JSON.parse(readFileSync(values.jwks, 'utf8')) }),
    keptHeads: (values['tree-head'] ?? []).map(readHead),
  });
  if (values.json) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    console.log(`${report.events} events hashed in ${report.seconds.toFixed(2)} s (${Math.round(report.events / Math.max(report.seconds, 1e-9))} per second); the tree has ${report.treeSize} leaves`);
    for (const head of report.heads) {
      console.log(`tree head of size ${head.treeSize} (${head.source}): signature ${head.signature ? 'valid' : 'NOT valid'}, root ${head.root ? 'matches' : 'DOES NOT match'}`);
    }
    if (report.unverifiableTombstones > 0) console.log(`${report.unverifiableTombstones} events removed by retention before tombstones kept their leaf: taken from the tree, unchecked`);
    console.log(report.firstDifference ? `FAILED at position ${report.firstDifference.position}: ${report.firstDifference.reason}` : report.ok ? 'OK: the log is the log that was signed' : 'FAILED: a tree head did not verify');
  }
  return report.ok ? 0 : 1;
}

main().then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 2;
  },
);
