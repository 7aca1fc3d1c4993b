// Shared by the headless-Chromium scripts run by tests/browser.rs: launch
// the system Chromium (no browser download: playwright-core only drives
// it) and serve one test page from 127.0.0.1, so that the page and the
// pushwire server under test share the loopback address space and only
// CORS (Access-Control-Allow-Origin: *) stands between them.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.PUSHWIRE_CHROMIUM || '/usr/bin/chromium';

// Without the background-networking flags Chromium phones home at start
// and, on a closed network, has its connections refused.
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
// HTTPS tests (tests/browser.rs, --features tls) need no flag: they run
// this script with a HOME whose NSS database ($HOME/.pki/nssdb) trusts the
// test CA, and Chromium, which inherits our environment, verifies the
// server's certificate against it as it would any site's.

/// Serves `html` at http://127.0.0.1:PORT/ and returns { url, close }.
function servePage(html) {
  return new Promise((resolve, reject) => {
    const server = createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(html);
    });
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({ url: `http://127.0.0.1:${port}/`, close: () => server.close() });
    });
  });
}

/// Opens `html` in a fresh headless Chromium, runs `body(page)` and prints
/// its result as one JSON line on stdout. Everything is torn down after,
/// and a run that outlives `timeoutMs` fails.
export async function withPage(html, timeoutMs, body) {
  return withSite(await servePage(html), timeoutMs, body);
}

/// Like withPage, but opens a page the server under test serves itself
/// (pushwire's demo page at `/`).
export async function withUrl(url, timeoutMs, body) {
  return withSite({ url, close: () => {} }, timeoutMs, body);
}

async function withSite(site, timeoutMs, body) {
  const profile = mkdtempSync(join(tmpdir(), 'pushwire-chromium-'));
  const timer = setTimeout(() => {
    console.error(`browser test timed out after ${timeoutMs} ms`);
    process.exit(3);
  }, timeoutMs);
  let context;
  // The Rust test stops a run it gave up on with SIGTERM: close Chromium
  // (it must not outlive us; its profile may, on that failure path).
  process.once('SIGTERM', async () => {
    if (context) await context.close().catch(() => {});
    removeProfile(profile);
    process.exit(143);
  });
  try {
    // A persistent context is how playwright takes a --user-data-dir: a
    // fresh one per run, so no state leaks between tests.
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      handleSIGTERM: false,
      args: ARGS,
    });
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (msg) => console.error(`[page] ${msg.text()}`));
    page.on('pageerror', (err) => console.error(`[page error] ${err}`));
    await page.goto(site.url);
    const result = await body(page);
    result.userAgent = await page.evaluate(() => navigator.userAgent);
    process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    clearTimeout(timer);
    if (context) await context.close();
    site.close();
    removeProfile(profile);
  }
}

/// Removes a profile directory. Chromium may still be writing to it when
/// a run is stopped during the launch (no context to close yet), and a
/// file it adds makes the removal fail with ENOTEMPTY: try again a few
/// times, then leave it rather than turn a stopped run into a crash.
function removeProfile(profile) {
  try {
    rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  } catch (err) {
    console.error(`profile ${profile} left behind: ${err.message}`);
  }
}
