// Frame and work times of the classroom playing group-rebalance at real-time speed (issue 7's
// frame budget), for one or more served bundles, interleaved over three rounds so that builds
// are compared on the same noisy machine. Usage, with each bundle served (python3 -m
// http.server in its web/dist):  node frames.mjs http://127.0.0.1:8101 http://127.0.0.1:8102
// It reports medians and the 95th percentile of the last 300 frames; it checks nothing, which is
// the end-to-end test's job (classroom.mjs).
import { chromium } from "playwright-core";
const urls = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
for (let round = 0; round < 3; round++) {
  for (const base of urls) {
    const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    await page.goto(`${base}/#scenario=group-rebalance&seed=1`);
    await page.waitForSelector(".partition", { timeout: 30000 });
    await page.selectOption("#speed", "1");
    await page.click("#play");
    await page.waitForTimeout(6000);
    const frames = await page.evaluate(() => Array.from(window.gregorFrameTimes ?? []));
    const work = await page.evaluate(() => Array.from(window.gregorWorkTimes ?? []));
    await page.close();
    const q = (a, p) => { const s = a.slice(-300).sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
    console.log(`${base} round ${round}: frames ${frames.length} frame median ${q(frames, .5)} p95 ${q(frames, .95)} over20 ${frames.slice(-300).filter(f => f > 20).length} work median ${q(work, .5)?.toFixed(2)} p95 ${q(work, .95)?.toFixed(2)}`);
  }
}
await browser.close();
