import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { formReader, plainFormFields } from '../../src/api/http/form-body.js';
import { toErrorResponse } from '../../src/api/http/errors.js';

const LIMIT = 1024 * 1024;
const PARAMETERS = 100;
const FORM = 'application/x-www-form-urlencoded';

interface Answer {
  readonly status: number;
  readonly text: string;
}

/** A server that answers what its form parser made of the body (or its error, as the service renders it). */
async function serve(parser: RequestHandler): Promise<{ url: string; server: Server; errors: string[] }> {
  const errors: string[] = [];
  const app = express();
  app.post('/', parser, (req: Request, res: Response) => {
    const body = req.body as unknown;
    res.json({ body: body === undefined ? 'undefined' : body, plainObject: body !== undefined && Object.getPrototypeOf(body) === Object.prototype });
  });
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const { status, body } = toErrorResponse(error);
    errors.push(`${status} ${body.error}: ${body.error_description}`);
    res.status(status).json(body);
  });
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server, errors };
}

const post = (url: string, body: Buffer | string, headers: Record<string, string> = { 'content-type': FORM }): Promise<Answer> =>
  new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });

/**
 * The lean path's form reader (src/api/http/form-body.ts) against the form parser it stands in
 * front of (express.urlencoded with the service's settings), over HTTP: every body gives the
 * same req.body or the same error, and only the bodies that are not plain reach the parser.
 */
describe('the form reader gives the bodies and errors of express.urlencoded', () => {
  const settings = { limit: LIMIT, extended: false, parameterLimit: PARAMETERS } as const;
  let reference: Awaited<ReturnType<typeof serve>>;
  let reader: Awaited<ReturnType<typeof serve>>;
  let fallbacks = 0;

  before(async () => {
    reference = await serve(express.urlencoded(settings));
    const parser = express.urlencoded(settings);
    const counted: RequestHandler = (req, res, next) => {
      fallbacks += 1;
      return parser(req, res, next);
    };
    reader = await serve(formReader({ limit: LIMIT, parameterLimit: PARAMETERS, fallback: counted }));
  });
  after(() => {
    reference.server.close();
    reader.server.close();
  });

  const same = async (body: Buffer | string, headers?: Record<string, string>): Promise<Answer> => {
    const expected = await post(reference.url, body, headers);
    const actual = await post(reader.url, body, headers);
    assert.deepEqual(actual, expected, `body ${JSON.stringify(String(body).slice(0, 80))}`);
    return actual;
  };

  test('plain forms are read without the parser, to the same fields', async () => {
    const plain = [
      '',
      'token=eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln',
      'grant_type=client_credentials',
      'grant_type=refresh_token&refresh_token=abc-DEF_123.~&scope=openid+email+profile',
      'redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb%3Fa%3D1&code=x',
      'redirect_uri=https://app.example.com/cb&state=a=b=c',
      'name=%E2%82%AC%20euro&bad=%zz&half=%E2%82&plus=a+b%2Bc',
      'constructor=1&toString=2&hasOwnProperty=3',
      'empty=&x=1',
      Array.from({ length: PARAMETERS }, (_, i) => `p${i}=${i}`).join('&'),
    ];
    for (const body of plain) {
      const before = fallbacks;
      const answer = await same(body);
      assert.equal(answer.status, 200);
      assert.equal(fallbacks, before, `read without the parser: ${body.slice(0, 60)}`);
    }
  });

  test('forms that are not plain are parsed by the parser, from the bytes read', async () => {
    const other = [
      'a=1&a=2',
      'a[]=1&a[]=2',
      'a[b]=1',
      'x=1]=2',
      '__proto__=1&b=2',
      'a&b=1',
      'a=1&&b=2',
      'a=1&',
      '=1',
      'n%61me=1',
      'na+me=1',
      'a=1;b=2',
      'a="quoted"',
      Array.from({ length: PARAMETERS + 1 }, (_, i) => `p${i}=${i}`).join('&'),
    ];
    for (const body of other) {
      const before = fallbacks;
      await same(body);
      assert.equal(fallbacks, before + 1, `parsed by the parser: ${body.slice(0, 60)}`);
    }
    // Not ASCII: a byte-order mark (which the parser strips), UTF-8 text, a byte that is no UTF-8.
    for (const bytes of [Buffer.from('\uFEFFtoken=a', 'utf8'), Buffer.from('name=é', 'utf8'), Buffer.from([0x61, 0x3d, 0xff])]) {
      const before = fallbacks;
      await same(bytes);
      assert.equal(fallbacks, before + 1);
    }
  });

  test('limits and types: the same 413, 415 and skipped bodies', async () => {
    assert.equal((await same(`x=${'a'.repeat(LIMIT)}`)).status, 413);
    assert.equal((await same(Array.from({ length: PARAMETERS + 1 }, (_, i) => `p${i}=1`).join('&'))).status, 413);
    assert.equal((await same('a=1', { 'content-type': `${FORM}; charset=koi8-r` })).status, 415);
    assert.equal((await same('a=1', { 'content-type': `${FORM}; charset=utf-8` })).status, 200);
    assert.equal((await same('a=1', { 'content-type': `${FORM}; charset=iso-8859-1` })).status, 200);
    assert.equal((await same('a=1', { 'content-type': 'Application/X-WWW-Form-Urlencoded' })).status, 200);
    // No form type: the body is not read, req.body stays undefined.
    assert.deepEqual(JSON.parse((await same('a=1', { 'content-type': 'text/plain' })).text).body, 'undefined');
    assert.deepEqual(JSON.parse((await same('a=1', {})).text).body, 'undefined');
  });

  test('a body cut short is a 400 invalid_request, as the parser says', async () => {
    /** The client sends part of its body and gives up: what the server's error handler was given. */
    const cutShort = async (served: Awaited<ReturnType<typeof serve>>) => {
      const before = served.errors.length;
      const req = request(served.url, { method: 'POST', headers: { 'content-type': FORM, 'content-length': '100' } });
      req.on('error', () => {});
      req.write('token=abc');
      await new Promise((resolve) => setTimeout(resolve, 50));
      req.destroy();
      for (let i = 0; i < 100 && served.errors.length === before; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      return served.errors.slice(before);
    };
    const expected = await cutShort(reference);
    assert.equal(expected.length, 1);
    assert.match(expected[0]!, /^400 invalid_request/);
    assert.deepEqual(await cutShort(reader), expected);
  });

  test('plainFormFields: exactly the plain forms, within the field limit', () => {
    assert.deepEqual(plainFormFields('a=1&b=x+y', 2), { a: '1', b: 'x y' });
    assert.equal(plainFormFields('a=1&b=2&c=3', 2), undefined);
    assert.equal(plainFormFields('a=1&a=2', 10), undefined);
    assert.equal(plainFormFields('__proto__=x', 10), undefined);
    assert.equal(plainFormFields('a[b]=1', 10), undefined);
    assert.deepEqual(plainFormFields('', 1), {});
  });
});
