// Drives /verify in Debian's headless Chromium like a regulator would: type the key, choose the PDF, press Verify,
// then print what the page shows as JSON for the xUnit test to assert on.
// Usage: node verify-page.mjs <baseUrl> <apiKey|-> <pdfPath> [screenshot.png]   ("-": no key, as an anonymous visitor)
import { chromium } from 'playwright-core';

const [baseUrl, apiKey, pdfPath, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  headless: true,
  // The machine's network is closed: keep Chromium from calling home (see the dotnet machine notes).
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],  // Playwright gives Chromium a fresh empty profile itself.
});
try {
  const page = await browser.newPage();
  await page.goto(`${baseUrl}/verify`);
  if (apiKey !== '-') { await page.fill('#key', apiKey); }
  await page.setInputFiles('#file', pdfPath);
  await page.click('#verify');
  await page.waitForSelector('#result:not([hidden]), #error:not([hidden])', { timeout: 30000 });
  const shown = await page.evaluate(() => ({
    error: document.getElementById('error').hidden ? null : document.getElementById('error').textContent,
    valid: document.getElementById('verdict').dataset.valid ?? null,
    verdict: document.getElementById('verdict').textContent,
    checks: [...document.querySelectorAll('#checks tr[data-check]')].map(tr => ({
      name: tr.dataset.check, passed: tr.dataset.passed === 'true', text: tr.textContent })),
    claims: [...document.querySelectorAll('#claims tbody tr')].map(tr => [...tr.cells].map(c => c.textContent)),
  }));
  if (screenshot) { await page.screenshot({ path: screenshot, fullPage: true }); }
  console.log(JSON.stringify(shown));
} finally {
  await browser.close();
}
