/**
 * npm run audit:verify -- --data-dir DIR [--jwks FILE] [--tree-head FILE ...]
 *
 * Checks a data directory offline (docs/ledger.md): every event of the log is
 * hashed again and compared, in order, with the Merkle tree kept beside it;
 * every tree head (those the service stored, and the ones you kept from
 * GET /api/v1/audit/tree-head, one JSON file each) is checked for its
 * signature and its root. Prints the first position where anything differs
 * and exits 1; exits 0 when everything holds. Use the JWKS you fetched and
 * kept (GET /oauth2/v2/jwks): without --jwks the keys are read from the data
 * directory, which whoever rewrote the log could have rewritten too.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type KeptTreeHead, verifyDataDirectory } from '../src/infra/ledger/verifier.js';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { 'data-dir': { type: 'string' }, jwks: { type: 'string' }, 'tree-head': { type: 'string', multiple: true }, json: { type: 'boolean' } },
    strict: true,
  });
  const dataDir = values['data-dir'] ?? process.env['DATA_DIR'];
  if (!dataDir) {
    console.error('usage: npm run audit:verify -- --data-dir DIR [--jwks FILE] [--tree-head FILE ...] [--json]');
    return 2;
  }
  const report = await verifyDataDirectory({
    dataDir,
    ...(values.jwks && { jwks: JSON.parse(readFileSync(values.jwks, 'utf8')) }),
    keptHeads: (values['tree-head'] ?? []).map((file) => JSON.parse(readFileSync(file, 'utf8')) as KeptTreeHead),
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
