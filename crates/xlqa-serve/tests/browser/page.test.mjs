// The web page of `xlqa serve` in Debian's headless Chromium: type a
// question, submit, and check that the answer, its evidence and the ranked
// passages render; then "exclude my language" (an answer carried over from
// another language), and a right-to-left question. Phone-width viewport.
//
//   node page.test.mjs http://127.0.0.1:PORT SCREENSHOT_DIR
//
// Exit code 0 when every check holds; each failure is printed.

import { chromium } from "playwright-core";
import assert from "node:assert/strict";

const [base, shots] = process.argv.slice(2);
if (!base || !shots) {
  console.error("usage: node page.test.mjs BASE_URL SCREENSHOT_DIR");
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
const failures = [];
page.on("pageerror", (e) => failures.push(`script error on the page: ${e.message}`));
page.on("requestfailed", (r) => failures.push(`request failed: ${r.url()}`));

async function ask(question, { exclude = false } = {}) {
  await page.fill("#question", question);
  await page.setChecked("#exclude", exclude);
  const reply = page.waitForResponse((r) => r.url().endsWith("/v1/ask"));
  await page.click("#submit");
  const r = await reply;
  assert.equal(r.status(), 200, `POST /v1/ask answered ${r.status()}`);
  await page.waitForSelector("#answer-text");
  await page.waitForSelector("#passages li");
  return r.json();
}

async function check(name, fn) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    failures.push(`${name}: ${e.message}`);
    console.log(`FAIL ${name}: ${e.message}`);
  }
}

try {
  await page.goto(base);
  await check("the page loads the index summary and the readers", async () => {
    await page.waitForFunction(() => document.querySelectorAll("#reader option").length >= 2);
    assert.match(await page.textContent("#collection"), /passages in \d+ languages/);
  });

  await check("a question renders its answer, language and passages", async () => {
    const r = await ask("Wer hat die koreanische Schrift Hangul geschaffen?");
    assert.equal(await page.textContent("#answer-text"), r.answer ? r.answer.text : "No answer found");
    assert.match(await page.textContent("#question-lang"), /de/);
    const items = await page.$$("#passages li");
    assert.equal(items.length, r.passages.length);
    const badges = await page.$$eval("#passages li .badge.lang", (bs) => bs.map((b) => b.textContent));
    assert.deepEqual(badges, r.passages.map((p) => p.lang));
    const ranks = await page.textContent("#passages li:first-child");
    assert.match(ranks, /(dense|bm25) #\d+/, "per-retriever ranks are shown");
    await page.screenshot({ path: `${shots}/serve-page-phone.png`, fullPage: true });
  });

  await check("exclude my language: no passage in it, the carried answer is marked", async () => {
    const r = await ask("¿Quién diseñó la Ópera de Sídney?", { exclude: true });
    const langs = await page.$$eval("#passages li", (ls) => ls.map((l) => l.getAttribute("lang")));
    assert.ok(!langs.includes("es"), `passages: ${langs}`);
    if (r.answer && (r.answer.projected_from || r.answer.cross_lingual)) {
      assert.match(await page.textContent("#carried"), /Carried over from|not in the question's language/);
    }
    await page.screenshot({ path: `${shots}/serve-page-carried.png`, fullPage: true });
  });

  await check("right-to-left text is laid out right to left", async () => {
    await ask("لمن بُني الهرم الأكبر في الجيزة؟");
    const dirs = await page.$$eval("#passages li[lang=ar] .ptext, #passages li[lang=ar] .evidence",
      (ps) => ps.map((p) => getComputedStyle(p).direction));
    assert.ok(dirs.length > 0, "an Arabic passage is listed");
    assert.ok(dirs.every((d) => d === "rtl"), `directions: ${dirs}`);
    const q = await page.$eval("#question", (i) => getComputedStyle(i).direction);
    assert.equal(q, "rtl");
    await page.screenshot({ path: `${shots}/serve-page-rtl.png`, fullPage: true });
  });

  await check("a server error is shown, not swallowed", async () => {
    await page.fill("#question", "x".repeat(1990) + " ?");
    await page.evaluate(() => { document.getElementById("k").innerHTML = "<option>0</option>"; });
    await page.click("#submit");
    await page.waitForSelector("#error");
    assert.match(await page.textContent("#error"), /k is 0/);
  });
} finally {
  await browser.close();
}

if (failures.length) {
  console.error(`${failures.length} browser check(s) failed:\n` + failures.join("\n"));
  process.exit(1);
}
console.log("all browser checks passed");
