import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { chmod, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { constants as zlib, createGunzip, createGzip } from 'node:zlib';
import type { Logger } from 'pino';
import { comparePositions, type EventStore, parsePosition, positionToString } from '../../ports/event-store.js';
import type { Document } from '../../ports/read-models.js';
import type { Projection } from '../../projections/projection.js';
import type {
  ReadModelCut,
  ReadModelSnapshotSource,
  ReadModelSnapshotStatus,
  RestoredReadModels,
} from '../../projections/runner.js';
import { preparePrivateFile } from '../files/private-files.js';
import type { MemoryReadModelStore } from './memory-read-models.js';

/** The file in DATA_DIR. */
export const READ_MODEL_SNAPSHOT_FILE = 'read-models.snapshot';
const FORMAT = 'identity-read-models/1';
/** Documents per page: one page is serialized between two turns of the event loop. */
const PAGE = 500;
/** A load puts documents back for at most this long between two turns of the event loop (/healthz answers meanwhile). */
const LOAD_SLICE_MS = 8;
/** Read and inflate in large chunks: each chunk is a round trip to the thread pool and a turn of the stream machinery. */
const LOAD_CHUNK_BYTES = 1024 * 1024;
/** A snapshot file up to this size (gzipped; a few thousand documents) loads in tens of milliseconds: before the service answers. */
const QUICK_LOAD_BYTES = 1024 * 1024;

/**
 * What a projection's documents depend on: its name, collection, version,
 * indexes and its handlers' source. A snapshot is loaded only when every
 * projection's fingerprint is the one it was written with, so a deploy that
 * changes a handler folds the log again rather than serve documents the new
 * code would not have written. (A change in a helper a handler calls is not in
 * its source: that is what `version` is for.)
 */
export function projectionFingerprint(projection: Projection<any>): string {
  const handlers = Object.keys(projection.handlers)
    .sort()
    .map((type) => [type, String(projection.handlers[type])]);
  const described = JSON.stringify({
    name: projection.name,
    collection: projection.collection,
    version: projection.version ?? 1,
    indexes: projection.indexes,
    handlers,
  });
  return createHash('sha256').update(described).digest('hex');
}

/** The first line of the file. */
interface Header {
  readonly format: string;
  readonly writtenAt: string;
  /** Every projection stood here when the documents were copied. */
  readonly position: string;
  readonly eventId: string;
  readonly previous: string | null;
  /** Events before the position that the read models passed over (this version could not read them). */
  readonly skippedEvents: number;
  readonly projections: ReadonlyArray<{ readonly name: string; readonly collection: string; readonly version: number; readonly fingerprint: string }>;
}

/** Before each collection's documents. */
interface Section {
  readonly collection: string;
  readonly count: number;
}

/** The last line: without it the file was cut short. */
interface Trailer {
  readonly end: true;
  readonly documents: number;
}

class Unusable extends Error {}

export interface ReadModelSnapshotsOptions {
  readonly path: string;
  readonly store: MemoryReadModelStore;
  readonly events: EventStore;
  readonly projections: readonly Projection<any>[];
  readonly logger: Logger;
}

/** What the runner offers a snapshot: its consistent cuts. */
export interface CutSource {
  atConsistentCut<T>(capture: (cut: ReadModelCut) => T): Promise<T | undefined>;
  status(): { ready: boolean };
}

/**
 * The in-memory read models saved to a file in DATA_DIR with the position
 * they stand at, so that a start loads them and applies only the events after
 * it, instead of folding the whole log.
 *
 * The file is gzipped NDJSON: a header (format, position, the id of the event
 * there and the position before it, each projection's version and
 * fingerprint), then per collection a section line and its documents, one per
 * line, then a trailer with the count. It is written to a temporary file
 * (0600: the documents hold emails), synced, then renamed over the old one,
 * so a crash leaves the previous snapshot whole. Writing and loading go a page
 * of documents at a time with a turn of the event loop between pages, so
 * requests are answered meanwhile.
 *
 * A snapshot is a cache: one that cannot be used (none, another projection
 * set or version, a log that does not hold its event at its position, a
 * truncated or corrupt file) is ignored with a log line, and the log is
 * folded from the start.
 */
export class ReadModelSnapshots implements ReadModelSnapshotSource {
  private readonly fingerprints: Header['projections'];
  private readonly collections: readonly string[];
  private restored?: string;
  private reason?: string;
  /** The position of the newest snapshot on disk (loaded or written by this process). */
  private onDisk?: string;
  private savedByUs?: string;
  private saving?: Promise<boolean>;
  private timer?: NodeJS.Timeout;

  constructor(private readonly options: ReadModelSnapshotsOptions) {
    this.fingerprints = options.projections.map((p) => ({ name: p.name, collection: p.collection, version: p.version ?? 1, fingerprint: projectionFingerprint(p) }));
    this.collections = options.projections.map((p) => p.collection);
  }

  status(): ReadModelSnapshotStatus {
    return { restored: this.restored !== undefined, restoredPosition: this.restored, reason: this.reason, savedPosition: this.savedByUs };
  }

  loadsQuickly(): boolean {
    try {
      return statSync(this.options.path).size <= QUICK_LOAD_BYTES;
    } catch {
      return true; // none: nothing to load
    }
  }

  async restore(stopping: () => boolean): Promise<RestoredReadModels | undefined> {
    const { path, logger } = this.options;
    if (!existsSync(path)) {
      this.reason = 'no snapshot yet';
      logger.info({ path }, 'no read-model snapshot: folding the whole log');
      return undefined;
    }
    const startedAt = Date.now();
    try {
      preparePrivateFile(path);
      const { cut, documents } = await this.load(stopping);
      if (stopping()) return undefined;
      this.restored = this.onDisk = positionToString(cut.position);
      logger.info({ position: this.restored, documents, ms: Date.now() - startedAt }, 'read models loaded from their snapshot: applying only the events after it');
      return { cut };
    } catch (error) {
      // Whatever was put back is dropped: the projections start from zero.
      await this.options.store.clear(this.collections);
      if (stopping()) return undefined;
      this.reason = error instanceof Unusable ? error.message : `unreadable snapshot file: ${(error as Error).message}`;
      logger.warn({ path, reason: this.reason }, 'read-model snapshot ignored: folding the whole log');
      return undefined;
    }
  }

  private async load(stopping: () => boolean): Promise<{ cut: ReadModelCut; documents: number }> {
    const gunzip = createGunzip({ chunkSize: LOAD_CHUNK_BYTES });
    const file = createReadStream(this.options.path, { highWaterMark: LOAD_CHUNK_BYTES });
    file.on('error', (error) => gunzip.destroy(error));
    file.pipe(gunzip);
    gunzip.setEncoding('utf8');
    let header: Header | undefined;
    let cut: ReadModelCut | undefined;
    let section: Section | undefined;
    let inSection = 0;
    let documents = 0;
    let trailer: Trailer | undefined;
    let sinceYield = 0;
    let sliceStart = performance.now();
    let rest = '';
    const known = new Set(this.collections);
    const seen = new Set<string>();
    try {
      for await (const chunk of gunzip as AsyncIterable<string>) {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop()!;
        for (const line of lines) {
          if (trailer) throw new Unusable('unreadable snapshot file: data after its end');
          const value = JSON.parse(line) as unknown;
          if (!header) {
            header = this.checkHeader(value);
            cut = await this.checkLog(header);
          } else if (section && inSection < section.count) {
            const doc = value as Document;
            if (doc === null || typeof doc !== 'object' || typeof doc._id !== 'string') throw new Unusable('unreadable snapshot file: a document without an id');
            this.options.store.restore(section.collection, doc);
            inSection += 1;
            documents += 1;
          } else if (isSection(value)) {
            if (!known.has(value.collection) || seen.has(value.collection)) throw new Unusable(`unreadable snapshot file: unexpected collection ${value.collection}`);
            seen.add(value.collection);
            section = value;
            inSection = 0;
          } else if (isTrailer(value)) {
            trailer = value;
          } else {
            throw new Unusable('unreadable snapshot file: a line out of place');
          }
          // The clock is read every 64 lines, and a turn is given once a slice is over.
          if ((++sinceYield & 63) === 0 && performance.now() - sliceStart >= LOAD_SLICE_MS) {
            await nextTurn();
            sliceStart = performance.now();
            if (stopping()) throw new Unusable('the service is stopping');
          }
        }
      }
    } finally {
      file.destroy();
      gunzip.destroy();
    }
    if (rest !== '' || !header || !cut || !trailer) throw new Unusable('unreadable snapshot file: cut short');
    if (trailer.documents !== documents || (section && inSection !== section.count) || seen.size !== known.size) {
      throw new Unusable('unreadable snapshot file: documents missing');
    }
    return { cut, documents };
  }

  /** The same projections, at the same versions and fingerprints, as this code has. */
  private checkHeader(value: unknown): Header {
    const header = value as Header;
    if (header === null || typeof header !== 'object' || header.format !== FORMAT) throw new Unusable('a snapshot of another format');
    const theirs = new Map((header.projections ?? []).map((p) => [p.name, p]));
    const changed = this.fingerprints
      .filter((p) => {
        const saved = theirs.get(p.name);
        return !saved || saved.version !== p.version || saved.fingerprint !== p.fingerprint || saved.collection !== p.collection;
      })
      .map((p) => p.name);
    const gone = [...theirs.keys()].filter((name) => !this.fingerprints.some((p) => p.name === name));
    if (changed.length > 0 || gone.length > 0) {
      throw new Unusable(`the projections changed since the snapshot (${[...changed, ...gone].join(', ')})`);
    }
    // Events the writer could not read may be readable now (a newer version, an upcaster): fold them, never trust their absence.
    if (header.skippedEvents !== 0) {
      throw new Unusable(`the read models in the snapshot passed over ${header.skippedEvents} events their version could not read`);
    }
    return header;
  }

  /** The log must still hold the snapshot's event at its position: not so with another or a reset log. */
  private async checkLog(header: Header): Promise<ReadModelCut> {
    const position = parsePosition(header.position);
    const previous = header.previous === null ? undefined : parsePosition(header.previous);
    const [event] = await this.options.events.readAll({ after: previous, maxCount: 1 });
    if (!event || comparePositions(event.position, position) !== 0 || event.metadata.eventId !== header.eventId) {
      throw new Unusable(`the log does not hold the snapshot's event at ${header.position} (another or a reset log)`);
    }
    return { position, eventId: header.eventId, previous, skipped: 0 };
  }

  /**
   * Save the read models as they stand at the runner's next consistent cut,
   * unless they are where the snapshot on disk already is. Resolves true when
   * a file was written. One save at a time: a second call waits for the first.
   */
  save(runner: CutSource): Promise<boolean> {
    const next = (this.saving ?? Promise.resolve(false)).catch(() => false).then(() => this.saveNow(runner));
    this.saving = next;
    return next;
  }

  private async saveNow(runner: CutSource): Promise<boolean> {
    // Between two events: references to the documents (never changed in place) and the position they stand at.
    const captured = await runner.atConsistentCut((cut) => ({ cut, documents: this.options.store.documentsNow(this.collections) }));
    if (!captured) return false;
    const position = positionToString(captured.cut.position);
    if (position === this.onDisk) return false;
    const startedAt = Date.now();
    const written = await this.write(captured.cut, captured.documents);
    this.onDisk = this.savedByUs = position;
    this.options.logger.info({ position, documents: written, ms: Date.now() - startedAt }, 'read-model snapshot saved');
    return true;
  }

  private async write(cut: ReadModelCut, collections: Map<string, Document[]>): Promise<number> {
    const { path } = this.options;
    const temporary = `${path}.tmp`;
    const header: Header = {
      format: FORMAT,
      writtenAt: new Date().toISOString(),
      position: positionToString(cut.position),
      eventId: cut.eventId,
      previous: cut.previous === undefined ? null : positionToString(cut.previous),
      skippedEvents: cut.skipped,
      projections: this.fingerprints,
    };
    let total = 0;
    async function* lines(): AsyncGenerator<string> {
      yield `${JSON.stringify(header)}\n`;
      for (const [collection, documents] of collections) {
        yield `${JSON.stringify({ collection, count: documents.length } satisfies Section)}\n`;
        for (let from = 0; from < documents.length; from += PAGE) {
          let page = '';
          for (const doc of documents.slice(from, from + PAGE)) page += `${JSON.stringify(doc)}\n`;
          total += Math.min(PAGE, documents.length - from);
          yield page;
          await nextTurn();
        }
      }
      yield `${JSON.stringify({ end: true, documents: total } satisfies Trailer)}\n`;
    }
    // Created 0600 before anything is written into it; the documents hold emails.
    await rm(temporary, { force: true });
    preparePrivateFile(temporary);
    const handle = await open(temporary, 'w', 0o600);
    try {
      await pipeline(Readable.from(lines()), createGzip({ level: zlib.Z_BEST_SPEED }), async function (compressed: AsyncIterable<Buffer>) {
        for await (const chunk of compressed) await handle.write(chunk);
      });
      await handle.sync();
    } catch (error) {
      await handle.close().catch(() => {});
      await rm(temporary, { force: true });
      throw error;
    }
    await handle.close();
    await chmod(temporary, 0o600);
    await rename(temporary, path);
    // The rename itself is durable once the folder is synced.
    const folder = await open(dirname(path), 'r');
    try {
      await folder.sync();
    } catch {
      // Some file systems cannot sync a folder; the rename is still atomic.
    } finally {
      await folder.close();
    }
    return total;
  }

  /**
   * Save every `seconds` when the read models moved (never two saves at once);
   * failures are logged and tried again next time. Not while they catch up at
   * start: a save then would slow the catch-up (the shutdown save keeps its progress).
   */
  saveEvery(runner: CutSource, seconds: number): void {
    if (seconds <= 0) return;
    this.timer = setInterval(() => {
      if (!runner.status().ready) return;
      this.save(runner).catch((error: unknown) => this.options.logger.warn({ err: error }, 'could not save the read-model snapshot; will try again'));
    }, seconds * 1000);
    this.timer.unref();
  }

  /** At shutdown, once the runner has stopped: the last save, so the next start replays nothing. */
  async close(runner: CutSource): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    try {
      await this.save(runner);
    } catch (error) {
      this.options.logger.warn({ err: error }, 'could not save the read-model snapshot at shutdown; the next start folds more of the log');
    }
  }
}

const isSection = (value: unknown): value is Section =>
  value !== null && typeof value === 'object' && typeof (value as Section).collection === 'string' && Number.isInteger((value as Section).count) && !('_id' in value);

const isTrailer = (value: unknown): value is Trailer =>
  value !== null && typeof value === 'object' && (value as Trailer).end === true && Number.isInteger((value as Trailer).documents) && !('_id' in value);
