import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { z } from 'zod';
import { runRecordingWrites, type WrittenPositions } from '../../infra/events/written-positions.js';
import { comparePositions, type GlobalPosition, parsePosition, positionToString } from '../../ports/event-store.js';
import { HttpError, InvalidRequestError } from '../http/errors.js';

/** On the answer to every request whose appends reached the log: the position of the last of them (opaque). */
export const LOG_POSITION_HEADER = 'X-Log-Position';
/** On a request: answer only once this instance's read models have applied this position (an X-Log-Position value). */
export const MIN_LOG_POSITION_HEADER = 'X-Min-Log-Position';

/** A log position as the headers carry it: the store's own form, two decimal numbers; nothing longer than a 64-bit pair. */
export const logPositionHeaderSchema = z
  .string()
  .regex(/^\d{1,20}\/\d{1,20}$/)
  .meta({ description: `Opaque: a value of an ${LOG_POSITION_HEADER} header, from any instance on the same log.` });

/** The read models did not reach the position asked for within READ_YOUR_WRITES_WAIT_MS: try again (or another instance). */
export class ReadModelsBehindError extends HttpError {
  constructor(waitMs: number) {
    super(
      503,
      'temporarily_unavailable',
      `this instance's read models have not reached the ${MIN_LOG_POSITION_HEADER} position within ${waitMs} ms; try again in a moment`,
      { 'Retry-After': '1' },
    );
  }
}

export interface ReadModelProgress {
  /** Whether every read model has applied the event at `position` already. */
  hasApplied(position: GlobalPosition): boolean;
  /** Resolves true once they have, false after `timeoutMs`. */
  waitFor(position: GlobalPosition, timeoutMs: number): Promise<boolean>;
}

/** Notes the highest position a request's appends reached in its answer's header, until the headers are sent. */
class ResponsePositions implements WrittenPositions {
  highest?: GlobalPosition;
  constructor(private readonly res: Response) {}
  reached(position: GlobalPosition): void {
    if (!this.res.headersSent) this.res.setHeader(LOG_POSITION_HEADER, positionToString(position));
  }
}

/**
 * Read-your-writes across instances (docs/operations.md). Every request runs
 * in a record of the positions its appends reach, and its answer carries the
 * highest in X-Log-Position. A request with X-Min-Log-Position (a value from
 * that header, from any instance on the same log) waits at most `waitMs` for
 * this instance's read models to apply it; past that it is a 503 with
 * Retry-After, never an answer from read models that may miss the write. A
 * value that is not a position, or a position beyond the log's head, is a 400.
 */
export function readYourWrites(deps: {
  readonly progress: ReadModelProgress;
  readonly head: () => Promise<GlobalPosition | undefined>;
  readonly waitMs: number;
}): RequestHandler {
  return async function readYourOwnWrites(req: Request, res: Response, next: NextFunction) {
    try {
      const asked = req.get(MIN_LOG_POSITION_HEADER);
      if (asked !== undefined) {
        if (!logPositionHeaderSchema.safeParse(asked).success) {
          throw new InvalidRequestError(`${MIN_LOG_POSITION_HEADER} must be a value of an ${LOG_POSITION_HEADER} header`);
        }
        const position = parsePosition(asked);
        if (!deps.progress.hasApplied(position)) {
          // A made-up position far ahead would otherwise hold the request for the whole wait.
          const head = await deps.head();
          if (head === undefined || comparePositions(position, head) > 0) {
            throw new InvalidRequestError(`${MIN_LOG_POSITION_HEADER} names a position the log has not reached`);
          }
          if (!(await deps.progress.waitFor(position, deps.waitMs))) throw new ReadModelsBehindError(deps.waitMs);
        }
      }
    } catch (error) {
      next(error);
      return;
    }
    runRecordingWrites(new ResponsePositions(res), next);
  };
}
