// A browser's EventSource against pushwire: node sse.mjs BASE CHANNEL COUNT
//
// Subscribes to BASE/sse/CHANNEL?since=0 and collects message events until
// COUNT have arrived, while the server ends the stream (--sse-max-age) and
// EventSource reconnects by itself with Last-Event-ID. Prints one JSON
// line: { opens, errors, events: [{ id, data }], gaps, ... }. The Rust test
// (tests/browser.rs) publishes and judges.
import { withPage } from './chromium.mjs';

const [base, channel, countText] = process.argv.slice(2);
const count = Number(countText);
if (!base || !channel || !(count > 0)) {
  console.error('usage: node sse.mjs BASE CHANNEL COUNT');
  process.exit(2);
}

await withPage('<!doctype html><title>pushwire SSE</title>', 60_000, async (page) => {
  await page.evaluate(({ url }) => {
    const r = { opens: 0, errors: 0, events: [], gaps: [] };
    window.results = r;
    const source = new EventSource(url);
    window.source = source;
    source.onopen = () => r.opens++;
    // Fired each time the server ends the stream; EventSource then waits
    // `retry` ms and reconnects on its own.
    source.onerror = () => r.errors++;
    source.onmessage = (e) => r.events.push({ id: e.lastEventId, data: e.data });
    source.addEventListener('gap', (e) => r.gaps.push(e.data));
  }, { url: `${base}/sse/${channel}?since=0` });
  await page.waitForFunction((n) => window.results.events.length >= n, count, {
    timeout: 45_000,
    polling: 50,
  });
  // A little longer, so that a duplicate sent after the last message would
  // still be seen.
  await page.waitForTimeout(300);
  return page.evaluate(() => {
    window.source.close();
    return window.results;
  });
});
