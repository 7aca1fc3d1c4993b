// The demo page in a browser: node demo.mjs BASE SCREENSHOT
//
// Opens BASE/ (pushwire's own demo page), waits until its four panels are
// subscribed, publishes three messages from the page (the "Publish over
// HTTP" button twice, then the WebSocket button), waits until every panel
// shows them, and reports the ids and data each panel shows. With a
// SCREENSHOT path it also saves a picture of the page.
import { withUrl } from './chromium.mjs';

const [base, screenshot] = process.argv.slice(2);
if (!base) {
  console.error('usage: node demo.mjs BASE [SCREENSHOT]');
  process.exit(2);
}
const PANELS = ['poll', 'longpoll', 'sse', 'ws'];

await withUrl(`${base}/`, 60_000, async (page) => {
  await page.setViewportSize({ width: 1400, height: 760 });
  await page.waitForSelector('body[data-ready="1"]');
  // SSE and WebSocket are subscribed once their connection counters move.
  await page.waitForFunction(() =>
    ['sse', 'ws'].every((p) => document.querySelector(`#${p} [data-stat="connections"]`).textContent === '1'));
  // Publish over HTTP and wait for the answer's id, so the order is known.
  const publish = async (text) => {
    const before = await page.evaluate(() => document.querySelector('#pub-status').dataset.id || '');
    await page.fill('#message', text);
    await page.click('#pub-http');
    await page.waitForFunction((b) => (document.querySelector('#pub-status').dataset.id || '') !== b, before);
  };
  await publish('hello from the page');
  await publish('second, ünïcödé ✓');
  await page.fill('#message', 'over the WebSocket');
  await page.click('#pub-ws');
  await page.waitForFunction((panels) => panels.every((p) => document.querySelectorAll(`#${p} li`).length >= 3), PANELS);
  const result = await page.evaluate((panels) => {
    const out = {};
    for (const p of panels) {
      out[p] = [...document.querySelectorAll(`#${p} li`)].map((li) => ({ id: Number(li.dataset.id), data: li.dataset.data }));
      out[p].reverse(); // the page shows the newest first
      out[`${p}_stats`] = Object.fromEntries(
        [...document.querySelectorAll(`#${p} dd`)].map((dd) => [dd.dataset.stat, Number(dd.textContent)]));
    }
    return out;
  }, PANELS);
  // Let the poller show a few empty answers, the point of the demo.
  await page.waitForTimeout(1200);
  if (screenshot) await page.screenshot({ path: screenshot });
  return result;
});
