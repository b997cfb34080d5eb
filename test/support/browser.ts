import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

/** Debian's Chromium, when the machine has it. */
const SYSTEM_CHROMIUM = '/usr/bin/chromium';
const SYSTEM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

/** Which browser the tests drive, and why: a system Chromium, or the one the npm package ships. */
export async function chromiumExecutable(): Promise<{ executablePath: string; args: string[]; source: string }> {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) return { executablePath: fromEnv, args: SYSTEM_ARGS, source: `CHROMIUM_PATH (${fromEnv})` };
  if (existsSync(SYSTEM_CHROMIUM)) return { executablePath: SYSTEM_CHROMIUM, args: SYSTEM_ARGS, source: SYSTEM_CHROMIUM };
  // @sparticuz/chromium ships a headless Chromium inside the npm package, unpacked to /tmp on first use
  // (it skips the unpacking when the binary is already there, so concurrent test files share it).
  const { default: packaged } = await import('@sparticuz/chromium');
  packaged.setGraphicsMode = false;
  return { executablePath: await packaged.executablePath(), args: packaged.args, source: '@sparticuz/chromium' };
}

/** A headless Chromium under playwright-core; close it with `browser.close()`. */
export async function launchChromium(): Promise<Browser> {
  const { executablePath, args } = await chromiumExecutable();
  return chromium.launch({ executablePath, args, headless: true });
}
