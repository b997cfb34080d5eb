/**
 * npm run keys:rotate: make a new current signing key in SHARED_SECRETS_DIR (default DATA_DIR). The old
 * current key stays published in the JWKS as the previous one, so tokens it
 * signed keep verifying until they expire; the key before it is dropped.
 */
import { loadConfig } from '../src/config.js';
import { SigningKeys } from '../src/infra/keys/signing-keys.js';
import { sharedSecretsDir } from '../src/service.js';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const keys = await SigningKeys.open(sharedSecretsDir(config));
  const kid = await keys.rotate();
  const published = (await keys.jwks()).keys.map((key) => key.kid);
  console.log(`new signing key: ${kid}`);
  console.log(`published in the JWKS: ${published.join(', ')}`);
  console.log(`file: ${SigningKeys.fileIn(sharedSecretsDir(config))}`);
  console.log('Every running instance sharing this folder re-reads it and signs with the new key within a few seconds; no restart needed.');
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
