// A browser's WebSocket against pushwire: node ws.mjs BASE CHANNEL COUNT
//
// Opens two sockets on BASE/ws/CHANNEL: a plain one (each frame is the
// message's data) and one offering the subprotocol pushwire.json (each
// frame is {"id":N,"data":"..."}). Once the test has published COUNT
// messages and both sockets hold them, the plain socket publishes one text
// frame of its own, which both must then receive. Then both close with
// 1000, and a third socket sends a binary frame, which the server refuses
// with 1003. Prints one JSON line; tests/browser.rs publishes and judges.
import { withPage } from './chromium.mjs';

const [base, channel, countText] = process.argv.slice(2);
const count = Number(countText);
if (!base || !channel || !(count > 0)) {
  console.error('usage: node ws.mjs BASE CHANNEL COUNT');
  process.exit(2);
}
const url = `${base.replace(/^http(s?):/, 'ws$1:')}/ws/${channel}`;
const FROM_BROWSER = 'from the browser ✓ 😀';

await withPage('<!doctype html><title>pushwire WebSocket</title>', 60_000, async (page) => {
  await page.evaluate((url) => {
    const r = { opens: 0, protocols: [], plain: [], json: [], closes: [], errors: 0 };
    window.results = r;
    const open = (protocols, sink) => {
      const ws = new WebSocket(url, protocols);
      ws.onopen = () => { r.opens++; };
      ws.onerror = () => { r.errors++; };
      ws.onmessage = (e) => sink.push(typeof e.data === 'string' ? e.data : `<binary ${e.data}>`);
      ws.onclose = (e) => r.closes.push({ code: e.code, wasClean: e.wasClean });
      return ws;
    };
    window.plain = open([], r.plain);
    window.json = open(['pushwire.json'], r.json);
  }, url);
  await page.waitForFunction(() => window.results.opens === 2, null, { timeout: 20_000, polling: 20 });
  await page.evaluate(() => {
    window.results.protocols = [window.plain.protocol, window.json.protocol];
  });
  // The test sees two WebSocket subscribers now and publishes COUNT.
  const holding = (n) => page.waitForFunction(
    (n) => window.results.plain.length >= n && window.results.json.length >= n,
    n,
    { timeout: 30_000, polling: 20 },
  );
  await holding(count);
  await page.evaluate((text) => window.plain.send(text), FROM_BROWSER);
  await holding(count + 1);
  await page.waitForTimeout(200); // a duplicate would show up now
  await page.evaluate(() => {
    window.plain.close(1000);
    window.json.close(1000);
  });
  await page.waitForFunction(() => window.results.closes.length === 2, null, { timeout: 10_000 });
  // A binary frame on /ws/: refused with 1003 (unsupported data).
  const refused = await page.evaluate((url) => new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => ws.send(new Uint8Array([0, 1, 2, 3]).buffer);
    ws.onclose = (e) => resolve({ code: e.code, wasClean: e.wasClean });
  }), url);
  const results = await page.evaluate(() => window.results);
  results.refused = refused;
  return results;
});
