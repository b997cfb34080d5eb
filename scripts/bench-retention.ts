/**
 * npm run bench:retention [-- --refreshes N]: how much the log grows per
 * 1,000,000 refresh-token rotations, before and after retention.
 *
 * Writes realistic session traffic into a fresh embedded store: sessions of
 * REFRESHES_PER_SESSION rotations each (a day of a 10-minute access token), a
 * thousand sessions at a time with their events interleaved in the log as
 * concurrent traffic interleaves them, with real-sized data (UUID ids, a
 * SHA-256 per token, the full metadata), dated a month ago; then every
 * generation is superseded by a new login (so every rotation has ended),
 * and the scavenger runs (tombstones, then incremental vacuum). It measures
 * the file (events.sqlite with its WAL checkpointed) and the rows, and
 * extrapolates linearly to 1,000,000 refreshes when run with fewer.
 */
import { rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { v4 as uuidv4 } from 'uuid';
import { toNewEvent } from '../src/commands/pipeline.js';
import { retentionPolicy } from '../src/domain/retention.js';
import type { SessionEvent } from '../src/domain/session/events.js';
import type { CommandMetadata } from '../src/domain/shared/decider.js';
import { EvolvingEventStore } from '../src/infra/events/evolving-event-store.js';
import { SqliteEventStore } from '../src/infra/sqlite/sqlite-event-store.js';
import Database from 'better-sqlite3';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const REFRESHES_PER_SESSION = 144;
const SESSIONS_AT_ONCE = 1000;
const DAY = 86_400_000;
const MIB = 1024 * 1024;

interface Measure {
  bytes: number;
  rows: number;
  live: number;
}

function measure(file: string): Measure {
  const db = new Database(file);
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
    const rows = Number((db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n);
    const live = Number((db.prepare("SELECT COUNT(*) AS n FROM events WHERE type <> '$tombstone'").get() as { n: number }).n);
    return { bytes: statSync(file).size, rows, live };
  } finally {
    db.close();
  }
}

export async function retentionBench(refreshes: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-retention-'));
  const file = join(dir, 'events.sqlite');
  const raw = new SqliteEventStore(file);
  const store = new EvolvingEventStore(raw);
  try {
    const organizationId = uuidv4();
    const clientId = uuidv4();
    const sessions = Math.max(1, Math.ceil(refreshes / REFRESHES_PER_SESSION));
    const start = Date.now() - 30 * DAY;
    const metaAt = (at: number, userId: string): CommandMetadata => {
      const correlationId = uuidv4();
      return { now: new Date(at), actor: { subject: userId, kind: 'user' }, correlationId, causationId: correlationId };
    };
    let written = 0;
    const writeStartedAt = Date.now();
    for (let first = 0; first < sessions; first += SESSIONS_AT_ONCE) {
      const group = Array.from({ length: Math.min(SESSIONS_AT_ONCE, sessions - first) }, () => ({ userId: uuidv4(), sessionId: uuidv4() }));
      const base = start + (first / sessions) * 20 * DAY;
      const facts = (s: { userId: string; sessionId: string }, refreshCount: number) => ({
        sessionId: s.sessionId,
        clientId,
        subjectId: s.userId,
        subjectKind: 'user' as const,
        organizationId,
        scope: 'openid email profile offline_access',
        authTime: Math.floor(base / 1000),
        refreshCount,
        refreshTokenSha256: uuidv4().replace(/-/g, '') + uuidv4().replace(/-/g, ''),
      });
      // Round by round, every session of the group appends its next event: interleaved in the log, one transaction a round.
      for (let round = 0; round <= REFRESHES_PER_SESSION; round++) {
        await Promise.all(
          group.map((s) => {
            if (round > 0 && written >= refreshes) return undefined;
            const event: SessionEvent = round === 0 ? { type: 'session.started', data: facts(s, 0) } : { type: 'session.refreshed', data: facts(s, round) };
            if (round > 0) written++;
            return store.appendToStream(`session-${clientId}-${s.userId}`, [toNewEvent(event, metaAt(base + round * 600_000, s.userId))], { expectedRevision: 'any' });
          }),
        );
      }
      // The next login supersedes each generation (every rotation of it has now ended).
      await Promise.all(
        group.map((s) =>
          store.appendToStream(`session-${clientId}-${s.userId}`, [toNewEvent({ type: 'session.started', data: facts({ ...s, sessionId: uuidv4() }, 0) }, metaAt(base + DAY, s.userId))], {
            expectedRevision: 'any',
          }),
        ),
      );
    }
    const writeSeconds = (Date.now() - writeStartedAt) / 1000;
    const before = measure(file);

    const policy = retentionPolicy({ sessionEventRetentionMs: 7 * DAY, userActivityRetentionMs: DAY, refreshAbsoluteLifetimeMs: 90 * DAY, refreshIdleLifetimeMs: 30 * DAY });
    const scavengeStartedAt = Date.now();
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const report = await store.scavenge!(policy);
    delay.disable();
    const scavengeSeconds = (Date.now() - scavengeStartedAt) / 1000;
    const after = measure(file);

    const scale = 1_000_000 / written;
    const perMillion = (value: number) => value * scale;
    const row = (label: string, b: number, a: number, unit: (v: number) => string) => `| ${label} | ${unit(b)} | ${unit(a)} |`;
    const mib = (v: number) => `${(v / MIB).toFixed(0)} MiB`;
    const count = (v: number) => Math.round(v).toLocaleString('en-US');
    console.log(
      `\n### Log growth per 1,000,000 refreshes (${written.toLocaleString('en-US')} written${written < 1_000_000 ? ', extrapolated linearly' : ''}; ` +
        `${sessions.toLocaleString('en-US')} sessions of ${REFRESHES_PER_SESSION} rotations, each superseded by a new login; ${cpus().length} × ${cpus()[0]?.model.trim()})\n`,
    );
    console.log('| per 1,000,000 refreshes | before retention | after (scavenge + incremental vacuum) |');
    console.log('| --- | ---: | ---: |');
    console.log(row('events.sqlite', perMillion(before.bytes), perMillion(after.bytes), mib));
    console.log(row('bytes per refresh', before.bytes / written, after.bytes / written, (v) => `${v.toFixed(0)} B`));
    console.log(row('rows (events + tombstones)', perMillion(before.rows), perMillion(after.rows), count));
    console.log(row('events a reader sees', perMillion(before.live), perMillion(after.live), count));
    console.log(
      `\nwrote ${written.toLocaleString('en-US')} refreshes in ${writeSeconds.toFixed(1)} s; the scavenge examined ${report.streams.toLocaleString('en-US')} streams, ` +
        `tombstoned ${report.removed.toLocaleString('en-US')} events and gave back ${mib(report.bytesFreed ?? 0)} in ${scavengeSeconds.toFixed(1)} s ` +
        `(the event loop's longest wait meanwhile: ${(delay.max / 1e6).toFixed(0)} ms, transactions of at most 128 tombstones, vacuum steps of 256 pages)`,
    );
  } finally {
    await raw.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const index = args.indexOf('--refreshes');
  const refreshes = index >= 0 ? Number(args[index + 1]) : 100_000;
  if (!Number.isInteger(refreshes) || refreshes < 1) throw new Error('--refreshes: a positive integer');
  await retentionBench(refreshes);
}
