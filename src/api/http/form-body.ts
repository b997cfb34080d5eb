import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { InvalidRequestError } from './errors.js';

/** The one form type read here; a charset parameter or anything else goes to the fallback parser. */
const FORM_TYPE = 'application/x-www-form-urlencoded';

/**
 * A body every field of which reads the same however the form parser is set up: fields
 * `name=value` joined by `&`, names of letters, digits, `_`, `.`, `-` and `~`, values of
 * those and of `+`, `%`, `*`, `!`, `'`, `(`, `)`, `=`, `/` and `:`. No brackets (qs nests
 * or appends on them), no empty or bare fields, ASCII only (no byte-order mark to strip).
 */
const PLAIN_FORM = /^[\w.~-]+=[\w.~+%*!'()=/:-]*(?:&[\w.~-]+=[\w.~+%*!'()=/:-]*)*$/;

/** qs's decoding of a value (utf-8): `+` is a space; a malformed escape leaves the text as it is. */
const decodeValue = (text: string): string => {
  const spaced = text.includes('+') ? text.replace(/\+/g, ' ') : text;
  if (!spaced.includes('%')) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced;
  }
};

/** The fields of a plain form (PLAIN_FORM), or undefined if a name repeats or there are more than `parameterLimit` (the fallback's answers). */
export function plainFormFields(body: string, parameterLimit: number): Record<string, string> | undefined {
  if (body.length === 0) return {};
  if (!PLAIN_FORM.test(body)) return undefined;
  const fields: Record<string, string> = {};
  let count = 0;
  for (const part of body.split('&')) {
    if (++count > parameterLimit) return undefined;
    const equals = part.indexOf('=');
    const name = part.slice(0, equals);
    // A repeated name is an array to qs; __proto__ is dropped by it: both are the fallback's.
    if (Object.hasOwn(fields, name) || name === '__proto__') return undefined;
    fields[name] = decodeValue(part.slice(equals + 1));
  }
  return fields;
}

export interface FormReaderOptions {
  /** The largest body read here, in bytes (the fallback's limit: a larger Content-Length is the fallback's 413). */
  readonly limit: number;
  /** At most this many fields (the fallback's parameterLimit). */
  readonly parameterLimit: number;
  /**
   * The form parser this reader stands in front of (express.urlencoded with the same limit and
   * parameterLimit). It answers every request that is not plain: a charset parameter, chunked
   * encoding, a Content-Length over the limit; and it parses, from the bytes read here, every
   * body that is not a plain form (PLAIN_FORM), so that such bodies and their errors are
   * exactly what they were.
   */
  readonly fallback: RequestHandler;
}

/**
 * The lean path's form reader (token endpoint, introspection, userinfo): a form of known
 * length within the limit, read straight from the request's stream and, when plain
 * (PLAIN_FORM, which every OAuth client's form is: a token, a grant type, a client id),
 * split here; the same `req.body` as express.urlencoded gives, without its content-type
 * parsing, charset decoder, raw-body's stream wrapper and qs. Anything else is the
 * fallback's, with its answers: 413 for a body over the limit or too many fields, 415 for a
 * charset it cannot read, 400 for a body cut short.
 */
export function formReader(options: FormReaderOptions): RequestHandler {
  const { limit, parameterLimit, fallback } = options;

  /** The bytes read here, parsed by the fallback as if it had read them from the request. */
  const parseWithFallback = (req: Request, res: Response, next: NextFunction, bytes: Buffer) => {
    const replay = Object.assign(new Readable({ read() {} }), { headers: req.headers, body: undefined as unknown });
    replay.push(bytes);
    replay.push(null);
    void fallback(replay as unknown as Request, res, (error?: unknown) => {
      req.body = replay.body;
      next(error);
    });
  };

  return function readForm(req: Request, res: Response, next: NextFunction): void {
    const headers = (req as IncomingMessage).headers;
    const declared = headers['content-length'];
    // No body at all: nothing to read, as the fallback would say (it also leaves req.body undefined).
    if (headers['transfer-encoding'] === undefined && declared === undefined) {
      if (!('body' in req)) (req as { body?: unknown }).body = undefined;
      return next();
    }
    const length = declared !== undefined && /^\d{1,10}$/.test(declared) ? Number(declared) : NaN;
    const type = headers['content-type'];
    if (headers['transfer-encoding'] !== undefined || !(length <= limit) || type === undefined || type.toLowerCase() !== FORM_TYPE) {
      void fallback(req, res, next);
      return;
    }

    req.body = undefined;
    const chunks: Buffer[] = [];
    let received = 0;
    const detach = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('aborted', onCutShort);
      req.off('error', onCutShort);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      chunks.push(chunk);
    };
    const onEnd = () => {
      detach();
      // The HTTP parser ends the body at its Content-Length: fewer bytes is a body cut short.
      if (received !== length) return next(new InvalidRequestError('request body could not be read'));
      const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received);
      // latin1: one character per byte; any byte above ASCII fails PLAIN_FORM and goes to the fallback as bytes.
      const fields = plainFormFields(bytes.toString('latin1'), parameterLimit);
      if (!fields) return parseWithFallback(req, res, next, bytes);
      req.body = fields;
      next();
    };
    const onCutShort = () => {
      detach();
      next(new InvalidRequestError('request body could not be read'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('aborted', onCutShort);
    req.on('error', onCutShort);
  };
}
