import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { eventSchemas } from '../../src/domain/events.js';
import { NOT_PERSONAL, PERSONAL_DATA } from '../../src/domain/personal-data/map.js';

/** A field named like a person's data. */
const PERSONAL_NAME = /email|name|username|subject|claims|description|address|agent|phone/i;

/** Every field path of a zod (v4) schema, `[]` for array elements. */
function fieldPaths(schema: unknown, prefix = '', depth = 0): string[] {
  const def = (schema as { _zod?: { def?: Record<string, unknown> } })._zod?.def;
  if (!def || depth > 8) return [];
  switch (def.type) {
    case 'object':
      return Object.entries(def.shape as Record<string, unknown>).flatMap(([key, child]) => {
        const path = prefix ? `${prefix}.${key}` : key;
        return [path, ...fieldPaths(child, path, depth + 1)];
      });
    case 'array':
      return fieldPaths(def.element, `${prefix}[]`, depth + 1).map((path) => path);
    case 'optional':
    case 'nullable':
    case 'default':
    case 'readonly':
      return fieldPaths(def.innerType, prefix, depth + 1);
    case 'lazy':
      return fieldPaths((def.getter as () => unknown)(), prefix, depth + 1);
    case 'union':
      return (def.options as unknown[]).flatMap((option) => fieldPaths(option, prefix, depth + 1));
    case 'pipe':
      return fieldPaths(def.in, prefix, depth + 1);
    default:
      return [];
  }
}
/** `identities[]` from an array of objects reads `identities[].subject`. */
const normalise = (path: string) => path.replace(/\[\]\./g, '[].');

describe('the personal-data map', () => {
  test('every field of every registered event named like personal data is mapped or exempted with a reason', () => {
    const forgotten: string[] = [];
    for (const [type, schema] of Object.entries(eventSchemas)) {
      for (const path of new Set(fieldPaths(schema).map(normalise))) {
        const last = path.split('.').pop()!.replace('[]', '');
        if (!PERSONAL_NAME.test(last)) continue;
        if (PERSONAL_DATA[type]?.fields.includes(path)) continue;
        if (NOT_PERSONAL[`${type}:${path}`]) continue;
        forgotten.push(`${type}:${path}`);
      }
    }
    assert.deepEqual(forgotten, [], 'map these in src/domain/personal-data/map.ts (PERSONAL_DATA, or NOT_PERSONAL with a reason)');
  });

  test('the walker sees nested and array fields (the check above cannot pass vacuously)', () => {
    const paths = fieldPaths(eventSchemas['user.created']).map(normalise);
    assert.ok(paths.includes('subject'));
    assert.ok(paths.includes('identities[].subject'), paths.join(', '));
    assert.ok(paths.includes('tags[].value'), paths.join(', '));
  });

  test('every mapped event type is registered, and every mapped field exists in its schema', () => {
    for (const [type, entry] of Object.entries(PERSONAL_DATA)) {
      assert.ok(eventSchemas[type], `${type} is not a registered event type`);
      const paths = fieldPaths(eventSchemas[type]).map(normalise);
      for (const path of [entry.person, ...entry.fields]) assert.ok(paths.includes(path), `${type}: no field ${path}`);
    }
  });
});
