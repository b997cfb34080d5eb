import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import canonicalize from 'canonicalize';
import { canonicalJson } from '../../src/domain/ledger/canonical-json.js';
import { random } from '../support/random.js';

const KEYS = ['a', 'b', 'B', '_', 'é', 'ä', '€', '😀', '\u0000x', 'zz', 'aa', 'a\nb', '"q"', '\\', 'userId', 'metadata', '10', '9', '01', '__proto__', '-1', '1.5'];
const STRINGS = ['', 'plain', 'ünïcödé', '😀 emoji', '\u2028\u2029', 'tab\tnew\nline', 'quote " back \\', '\u0001\u001f\u007f', '日本語', 'a'.repeat(300)];
const NUMBERS = [0, -0, 1, -1, 0.1, 1e21, 1e-7, 5e-324, 2 ** 53, -(2 ** 53) + 1, 123456789.125, 1.7976931348623157e308, 33.3333333];

function value(next: () => number, depth: number): unknown {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!;
  const kind = depth >= 4 ? Math.floor(next() * 4) : Math.floor(next() * 6);
  switch (kind) {
    case 0:
      return pick(STRINGS);
    case 1:
      return pick(NUMBERS);
    case 2:
      return pick([true, false, null]);
    case 3:
      return Math.floor(next() * 1e6) / (next() < 0.5 ? 1 : 7);
    case 4:
      return Array.from({ length: Math.floor(next() * 4) }, () => value(next, depth + 1));
    default: {
      // Keys put in whatever order the generator picks, as JSON.parse would keep them.
      const object: Record<string, unknown> = {};
      const count = Math.floor(next() * 6);
      for (let i = 0; i < count; i += 1) Object.defineProperty(object, pick(KEYS), { value: value(next, depth + 1), enumerable: true, writable: true, configurable: true });
      return object;
    }
  }
}

describe('canonical JSON (RFC 8785), beside the canonicalize package', () => {
  test('given 20,000 generated JSON values, as parsed from text, when both serialize them, then the text is the same', () => {
    const next = random(8785);
    for (let i = 0; i < 20_000; i += 1) {
      const generated = value(next, 0);
      // Through text, as the ledger reads events: what JSON.parse makes of it (own "__proto__" keys included).
      const parsed: unknown = JSON.parse(JSON.stringify(generated));
      assert.equal(canonicalJson(parsed), canonicalize(parsed), `value ${i}: ${JSON.stringify(parsed)}`);
    }
  });

  test('given keys out of order at every level, then members come sorted by UTF-16 code units (😀 is D83D DE00, before FFFF)', () => {
    const parsed: unknown = JSON.parse('{"b":{"z":1,"a":[{"y":2,"x":1}]},"a":"1","😀":0,"\uffff":0,"B":null}');
    assert.equal(canonicalJson(parsed), '{"B":null,"a":"1","b":{"a":[{"x":1,"y":2}],"z":1},"😀":0,"\uffff":0}');
    assert.equal(canonicalJson(parsed), canonicalize(parsed));
  });

  test('given keys JavaScript lists first (array indexes) or cannot copy (__proto__), then the text is still the package\'s', () => {
    for (const text of ['{"10":1,"9":2,"a":3}', '{"b":{"2":0,"10":1}}', '{"__proto__":{"x":1},"a":1}', '[{"0":1}]']) {
      const parsed: unknown = JSON.parse(text);
      assert.equal(canonicalJson(parsed), canonicalize(parsed), text);
    }
    assert.equal(canonicalJson(JSON.parse('{"10":1,"9":2}')), '{"10":1,"9":2}');
  });

  test('given a lone surrogate in a string or a key (RFC 8785 has no form for it), then it is written escaped, as JSON.stringify does, and parses back the same', () => {
    for (const odd of [{ b: 'x\ud800', a: 1 }, { ['\udc00']: 1, a: [2] }, ['ok', 'x\udbff'], { '10': '\ud800', a: 1 }]) {
      assert.throws(() => canonicalize(odd)); // the package refuses it
      const text = canonicalJson(odd);
      assert.match(text, /\\ud[89a-f][0-9a-f]{2}/);
      assert.deepEqual(JSON.parse(text), odd);
      assert.equal(canonicalJson(JSON.parse(text)), text);
    }
    assert.equal(canonicalJson({ b: 'x\ud800', a: 1 }), '{"a":1,"b":"x\\ud800"}');
    assert.equal(canonicalJson({ '10': '\ud800', '9': 1 }), '{"10":"\\ud800","9":1}');
  });

  test('given values outside JSON (a Date, undefined members), then the package decides, so the text does not change', () => {
    const values: unknown[] = [{ at: new Date(Date.UTC(2026, 11, 7)) }, { a: undefined, b: 1 }, { n: 1, s: 'x', d: new Date(0), nested: { z: undefined } }];
    for (const v of values) assert.equal(canonicalJson(v), canonicalize(v));
    assert.throws(() => canonicalJson({ n: Number.NaN }));
  });

  test('given an object already in order, then it is serialized as it is (no copy changes a value)', () => {
    const inOrder = { a: 1, b: { c: [1, 2, { d: 'x' }] } };
    assert.equal(canonicalJson(inOrder), JSON.stringify(inOrder));
    assert.deepEqual(inOrder, { a: 1, b: { c: [1, 2, { d: 'x' }] } });
  });
});
