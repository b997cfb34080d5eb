import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.js';

describe('configuration', () => {
  test('has defaults for everything', () => {
    const config = loadConfig({});
    assert.equal(config.PORT, 8080);
    assert.equal(config.DATA_DIR, './data');
    assert.equal(config.ISSUER, 'http://localhost:8080');
    assert.equal(config.LOG_LEVEL, 'info');
    assert.equal(config.EVENTSTORE_CONNECTION_STRING, undefined);
    assert.equal(config.MONGODB_URL, undefined);
    assert.equal(config.IDENTITY_BOOTSTRAP_TOKEN, undefined);
  });

  test('reads the environment', () => {
    const config = loadConfig({
      PORT: '9000',
      ISSUER: 'https://id.example.com/',
      EVENTSTORE_CONNECTION_STRING: 'esdb://localhost:2113?tls=false',
      MONGODB_URL: 'mongodb://localhost:27017',
      LOG_LEVEL: 'debug',
    });
    assert.equal(config.PORT, 9000);
    assert.equal(config.ISSUER, 'https://id.example.com');
    assert.equal(config.EVENTSTORE_CONNECTION_STRING, 'esdb://localhost:2113?tls=false');
  });

  test('a bad value stops the start with a message naming it', () => {
    assert.throws(() => loadConfig({ PORT: 'eighty' }), (e: unknown) => e instanceof ConfigError && /PORT/.test(e.message));
    assert.throws(() => loadConfig({ PORT: '70000' }), /PORT/);
    assert.throws(() => loadConfig({ LOG_LEVEL: 'loud' }), /LOG_LEVEL/);
    assert.throws(() => loadConfig({ ISSUER: 'not a url' }), /ISSUER/);
    assert.throws(() => loadConfig({ MONGODB_URL: 'postgres://x' }), /MONGODB_URL/);
    assert.throws(() => loadConfig({ EVENTSTORE_CONNECTION_STRING: 'http://x' }), /EVENTSTORE_CONNECTION_STRING/);
    assert.throws(() => loadConfig({ IDENTITY_BOOTSTRAP_TOKEN: 'short' }), /IDENTITY_BOOTSTRAP_TOKEN/);
  });

  test('read-your-writes, readiness lag and metrics settings', () => {
    const defaults = loadConfig({});
    assert.equal(defaults.READ_YOUR_WRITES_WAIT_MS, 5000);
    assert.equal(defaults.READY_MAX_LAG_EVENTS, 10_000);
    assert.equal(defaults.METRICS_TOKEN, undefined);
    assert.equal(defaults.METRICS_PORT, undefined);
    assert.equal(loadConfig({ METRICS_PORT: '' }).METRICS_PORT, undefined);
    const set = loadConfig({ READ_YOUR_WRITES_WAIT_MS: '250', READY_MAX_LAG_EVENTS: '0', METRICS_TOKEN: 'm'.repeat(32), METRICS_PORT: '9464' });
    assert.equal(set.READ_YOUR_WRITES_WAIT_MS, 250);
    assert.equal(set.READY_MAX_LAG_EVENTS, 0);
    assert.equal(set.METRICS_TOKEN, 'm'.repeat(32));
    assert.equal(set.METRICS_PORT, 9464);
    assert.throws(() => loadConfig({ METRICS_TOKEN: 'short' }), /METRICS_TOKEN/);
    assert.throws(() => loadConfig({ METRICS_PORT: 'nine' }), /METRICS_PORT/);
    assert.throws(() => loadConfig({ METRICS_PORT: '70000' }), /METRICS_PORT/);
    assert.throws(() => loadConfig({ READ_YOUR_WRITES_WAIT_MS: '-1' }), /READ_YOUR_WRITES_WAIT_MS/);
    assert.throws(() => loadConfig({ READY_MAX_LAG_EVENTS: 'many' }), /READY_MAX_LAG_EVENTS/);
  });
});
