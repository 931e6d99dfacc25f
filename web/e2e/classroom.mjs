// The classroom end to end, used the way a learner uses it, in headless Chromium (Debian's, at
// /usr/bin/chromium, driven by playwright-core: no browser is downloaded).
//
//   node web/e2e/classroom.mjs BASE_URL TRACE_FILE OUT_DIR
//
// BASE_URL serves the bundle, TRACE_FILE is a trace written by `gregor run --trace`, and OUT_DIR
// receives the screenshots and `measurements.json` (first render and frame times, reported, not
// asserted: timing on a shared machine is a measurement, not a test). Every check that fails is
// printed; the exit code is 1 if any did.

import { chromium } from "playwright-core";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [base, tracePath, out] = process.argv.slice(2);
if (!base || !tracePath || !out) {
  console.error("usage: node classroom.mjs BASE_URL TRACE_FILE OUT_DIR");
  process.exit(2);
}
mkdirSync(out, { recursive: true });

const failures = [];
function check(ok, what) {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
  if (!ok) failures.push(what);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
    "--no-first-run", "--disable-background-networking", "--disable-component-update",
    "--disable-sync",
  ],
});

async function open(url) {
  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  page.on("pageerror", (e) => failures.push(`page error at ${url}: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") failures.push(`console error at ${url}: ${m.text()}`);
  });
  await page.goto(url);
  await page.waitForSelector(".partition", { timeout: 30000 });
  return page;
}

/** The view of a partition card: leader, ISR and epoch as the page shows them. */
async function partition(page, tp) {
  return page.$eval(`.partition[data-partition="${tp}"]`, (e) => ({
    leader: e.dataset.leader,
    isr: e.dataset.isr,
    epoch: Number(e.dataset.epoch),
  }));
}

const clock = (page) => page.$eval("#clock", (e) => Number(e.dataset.time));

/** Plays at `speed` until `done()` holds, or fails after `seconds` of real time. */
async function playUntil(page, speed, done, seconds = 60) {
  await page.selectOption("#speed", String(speed));
  await page.click("#play");
  const deadline = Date.now() + seconds * 1000;
  let ok = false;
  while (Date.now() < deadline) {
    if (await done()) { ok = true; break; }
    await page.waitForTimeout(50);
  }
  await page.click("#play"); // pause
  return ok;
}

/** Moves the time bar to `ms`, as dragging it does. */
async function scrub(page, ms) {
  await page.$eval("#scrubber", (e, v) => {
    e.value = String(v);
    e.dispatchEvent(new Event("input", { bubbles: true }));
  }, ms);
  await page.waitForFunction((v) => Number(document.querySelector("#clock").dataset.time) === v, ms);
}

const measurements = {};

// 1. The default scenario opens; when its first view was on screen is measured.
let page = await open(`${base}/`);
measurements.first_render_ms = await page.evaluate(() => window.gregorFirstRender);
check((await page.$eval("#scenario", (e) => e.value)) === "leader-failover", "the default scenario is leader-failover");

// 2. Start it, then crash the leader of orders/1 (the scenario itself only touches orders/0).
check(await playUntil(page, 4, async () => (await clock(page)) >= 2000), "play runs the clock to 2 s");
const before = await partition(page, "orders/1");
check(before.isr.split(",").length === 3, `orders/1 starts with a full ISR (${before.isr})`);
const crashedAt = await clock(page);
await page.click(`.broker[data-broker="${before.leader}"] button.crash`);
check(
  (await page.$eval(`.broker[data-broker="${before.leader}"]`, (e) => e.dataset.status)) === "crashed",
  `broker ${before.leader} shows as crashed`,
);

// 3. The controller fences it after broker.session.timeout.ms and elects another leader from
//    the ISR, which shrinks.
const failedOver = await playUntil(page, 16, async () => {
  const p = await partition(page, "orders/1");
  return p.leader !== "" && p.leader !== before.leader;
});
check(failedOver, "a new leader of orders/1 is shown");
const after = await partition(page, "orders/1");
check(!after.isr.split(",").includes(before.leader), `the ISR of orders/1 shrank without broker ${before.leader} (${after.isr})`);
check(after.epoch > before.epoch, `the leader epoch went up (${before.epoch} -> ${after.epoch})`);
await page.screenshot({ path: join(out, "failover.png"), fullPage: true });
const afterClock = await clock(page);
const shared = page.url();

// 4. Rewind to before the crash: the old leader and the full ISR are back.
await scrub(page, crashedAt - 500);
const rewound = await partition(page, "orders/1");
check(rewound.leader === before.leader && rewound.isr === before.isr, `a rewind shows the old state again (leader ${rewound.leader}, ISR ${rewound.isr})`);
check(
  (await page.$eval(`.broker[data-broker="${before.leader}"]`, (e) => e.dataset.status)) === "running",
  `broker ${before.leader} runs again after the rewind`,
);

// 5. The link of the failover moment, opened in a new page, shows the same state.
const second = await open(shared);
check((await clock(second)) === afterClock, `the shared link opens at the same moment (${afterClock} ms)`);
const again = await partition(second, "orders/1");
check(JSON.stringify(again) === JSON.stringify(after), `the shared link shows the same partition (${JSON.stringify(again)})`);

// 6. Produce a record with a key and acks=1, and add a consumer.
await second.fill("#produce-key", "k7");
await second.fill("#produce-value", "hello");
await second.selectOption("#produce-acks", "1");
await second.click("#produce-send");
await second.click(".add-member");
// The strip is looked at at the moment the record was acknowledged: later, the records p1 still
// retries may land after it and push it out of the strip's window. Playing in real time stops
// a frame or more after that moment, so the moment is found by rewinding, which is exact.
const ackedAt = async () =>
  (await second.$eval('[data-producer="console-1"]', (e) => Number(e.dataset.acked)).catch(() => 0)) === 1;
const acknowledged = await playUntil(second, 1, ackedAt);
check(acknowledged, "the typed record is acknowledged");
if (acknowledged) {
  let [lo, hi] = [afterClock, await clock(second)];
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    await scrub(second, mid);
    if (await ackedAt()) hi = mid; else lo = mid;
  }
  await scrub(second, hi);
}
const strip = await second.$$eval(".cell", (cs) => cs.map((c) => c.title).filter((t) => t.includes("key k7")));
check(strip.some((t) => t.includes("value console-1-0:hello")), "the record shows on a log strip with its key and value");
const read = await playUntil(second, 4, async () => {
  const processed = await second.$$eval("[data-consumer]", (es) => es.map((e) => Number(e.dataset.processed)));
  return processed.length === 1 && processed[0] > 0;
});
check(read, "the added consumer reads");
await second.screenshot({ path: join(out, "produce-and-consume.png"), fullPage: true });
await second.close();

// 7. A trace file opens and can be stepped through.
await page.setInputFiles("#trace", tracePath);
// The notice of the learner's last action is still there: wait for the trace's own.
const opened = await page
  .waitForFunction(() => document.querySelector(".notice")?.textContent.startsWith("Opened"), null, { timeout: 30000 })
  .then(() => true, () => false);
const notice = await page.$eval(".notice", (e) => e.textContent);
check(opened, "the trace's notice appears");
check(/^Opened .*under seed/.test(notice), `the trace opens (${notice})`);
const t0 = await clock(page);
for (let i = 0; i < 20; i++) await page.click("#step");
check((await clock(page)) >= t0, "stepping through the trace moves forward");
check(await playUntil(page, 16, async () => (await partition(page, "orders/0")).leader === "2"), "the trace replays its failover (broker 2 leads orders/0)");
await page.screenshot({ path: join(out, "trace.png"), fullPage: true });
await page.close();

// 8. A lesson, completed by pressing "show me" at every step.
const lesson = await open(`${base}/#lesson=why-a-log`);
await lesson.selectOption("#speed", "16");
const steps = await lesson.$$eval(".stepper li", (ls) => ls.length);
check(steps >= 3, `the lesson has its steps (${steps})`);
for (let i = 1; i <= steps; i++) {
  const at = await lesson.$eval("#lessons", (e) => Number(e.dataset.step));
  check(at === i, `the lesson is at step ${i}`);
  await lesson.click("#show-me");
  const held = await lesson.waitForSelector('#step[data-holds="true"]', { timeout: 60000 }).then(() => true, () => false);
  check(held, `step ${i}'s check holds after "show me"`);
  if (i < steps) await lesson.click("#next-step");
}
check(await lesson.$("#remember") !== null, "the last step done shows what to remember");
const stored = await lesson.evaluate(() => localStorage.getItem("gregor.lessons.progress"));
check(stored === `why-a-log:${[...Array(steps).keys()].join(",")}`, `progress is kept in local storage (${stored})`);
await lesson.screenshot({ path: join(out, "lesson.png"), fullPage: true });
await lesson.close();

// 9. Frame times with 3 brokers, 6 partitions and 3 consumers at 100 records a second.
const busy = await open(`${base}/#scenario=group-rebalance&seed=1`);
await busy.selectOption("#speed", "1");
await busy.click("#play");
await busy.waitForTimeout(5000);
const frames = await busy.evaluate(() => Array.from(window.gregorFrameTimes ?? []));
// The page's own work per frame (model, view, charts), apart from the browser's painting.
const work = await busy.evaluate(() => Array.from(window.gregorWorkTimes ?? []));
await busy.click("#play");
check(frames.length > 100, `the page animates while playing (${frames.length} frames in 5 s)`);
const sorted = frames.slice(-250).sort((a, b) => a - b);
const pick = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
measurements.frames = sorted.length;
measurements.frame_ms_median = pick(0.5);
measurements.frame_ms_p95 = pick(0.95);
measurements.frame_ms_max = sorted[sorted.length - 1];
measurements.frames_over_20ms = sorted.filter((f) => f > 20).length;
const worked = work.slice(-250).sort((a, b) => a - b);
check(worked.length > 100, `the page times its work per frame (${worked.length} frames)`);
const pickWork = (q) => worked[Math.min(worked.length - 1, Math.floor(q * worked.length))];
measurements.work_ms_median = pickWork(0.5);
measurements.work_ms_p95 = pickWork(0.95);
measurements.work_ms_max = worked[worked.length - 1];
await busy.screenshot({ path: join(out, "group-rebalance.png"), fullPage: true });

await browser.close();
writeFileSync(join(out, "measurements.json"), JSON.stringify(measurements, null, 2));
console.log(`measurements: ${JSON.stringify(measurements)}`);
if (failures.length) {
  console.error(`\n${failures.length} check(s) failed:\n  ${failures.join("\n  ")}`);
  process.exit(1);
}
console.log("\nthe classroom passed every end-to-end check");
