// Converting from the browser: an editor picks a video and a model on the project's convert
// page, watches the before/after preview follow a settings change and a new frame, starts the
// conversion, and plays and downloads the result; a viewer sees it but no form.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer, launchBrowser, waitHydrated, login, setupAdmin, callServerFn, projectWithFaceSets, viewerPage } from './harness.mjs';

let server;
let browser;
let projectUrl;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  await setupAdmin(browser, server);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Waits until `locator`'s image has loaded `src` (the whole URL) and returns its pixels' sum. */
async function loaded(page, locator) {
  await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await locator.elementHandle(), { timeout: 60_000 });
  return locator.getAttribute('src');
}

test('an editor previews, converts, plays and downloads a video', async () => {
  const ctx = await browser.newContext({ acceptDownloads: true });
  const page = await ctx.newPage();
  await login(page, server.base, 'admin', 'admin password');
  await waitHydrated(page);
  const made = await projectWithFaceSets(page, 'Conversion');
  projectUrl = made.projectUrl;
  const { projectId, sets } = made;
  const training = { project: projectId, face_set_a: sets['Woman A'], face_set_b: sets['Woman B'], kind: 'lightweight', batch: '2', iterations: '2', save_every: '2' };
  assert.equal(await callServerFn(page, 'start_training', training), 200);
  await page.locator('[data-testid=jobs] .job.done', { hasText: 'train Woman A to Woman B' }).waitFor({ timeout: 300_000 });

  await page.getByTestId('convert-link').click();
  await page.waitForURL(/\/projects\/\d+\/convert$/);
  await waitHydrated(page);
  await page.getByText('No conversions yet.').waitFor();
  const form = page.getByTestId('convert-form');
  assert.match(await form.locator('select[name=model] option').first().innerText(), /^Woman A to Woman B \(lightweight, iteration 2\)$/);
  assert.equal(await form.locator('select[name=faces]').inputValue(), sets['Woman A'], "the video's own face set is the default");

  // The preview: frame 8 has a face; the "after" image follows a settings change.
  const afterImg = page.getByTestId('preview-after');
  const beforeImg = page.getByTestId('preview-before');
  await page.getByTestId('preview-frame').fill('8');
  await page.getByTestId('preview-frame-number').filter({ hasText: /^8$/ }).waitFor();
  await page.getByTestId('preview-state').filter({ hasText: 'ready' }).waitFor({ timeout: 60_000 });
  const first = await loaded(page, afterImg);
  assert.match(first, /frame=8/);
  assert.match(await loaded(page, beforeImg), /side=before/);
  await form.locator('select[name=mask]').selectOption('none');
  await page.waitForFunction(([el, old]) => el.getAttribute('src') !== old, [await afterImg.elementHandle(), first]);
  const started = Date.now();
  await page.getByTestId('preview-state').filter({ hasText: 'ready' }).waitFor({ timeout: 30_000 });
  const took = Date.now() - started;
  assert.match(await afterImg.getAttribute('src'), /mask=none/);
  console.log(`# preview after a settings change: ${took} ms`);
  // The split slider moves the line between before and after.
  await page.getByTestId('preview-split').fill('20');
  assert.match(await beforeImg.getAttribute('style'), /inset\(0(px)? 80%/);
  // A bad value: the server's message is shown.
  await form.locator('input[name=erode]').evaluate((el) => { el.removeAttribute('min'); el.removeAttribute('max'); });
  await form.locator('input[name=erode]').fill('99');
  await form.locator('input[name=erode]').dispatchEvent('change');
  await page.getByRole('alert').filter({ hasText: 'erode must be a number from -50 to 50' }).waitFor();
  await form.locator('input[name=erode]').fill('0');
  await form.locator('input[name=erode]').dispatchEvent('change');
  await page.getByTestId('preview-state').filter({ hasText: 'ready' }).waitFor({ timeout: 30_000 });
  if (process.env.DOPPEL_SCREENSHOTS) await page.screenshot({ path: join(process.env.DOPPEL_SCREENSHOTS, 'convert.png'), fullPage: true });

  // Convert frames 0-16 (3 faces); live progress, then the video plays and downloads.
  await form.locator('select[name=mask]').selectOption('extended');
  await form.locator('input[name=frames]').fill('0-16');
  await form.locator('input[name=crf]').fill('30');
  await form.getByRole('button', { name: 'Convert' }).click();
  const item = page.locator('[data-testid=conversions] li').first();
  await item.waitFor();
  assert.match(await item.innerText(), /talk_woman_a \(Woman A to Woman B\)\.mp4/);
  await page.locator('[data-testid=conversions] li[data-state=done]').waitFor({ timeout: 300_000 });
  assert.match(await item.getByTestId('conversion-summary').innerText(), /3 faces swapped.*audio copied \(aac\)/);
  const video = item.getByTestId('conversion-video');
  await page.waitForFunction((el) => el.readyState >= 1 && el.duration > 5, await video.elementHandle(), { timeout: 30_000 });
  const [download] = await Promise.all([page.waitForEvent('download'), item.getByTestId('conversion-download').click()]);
  assert.equal(download.suggestedFilename(), 'talk_woman_a (Woman A to Woman B).mp4');
  if (process.env.DOPPEL_SCREENSHOTS) await page.screenshot({ path: join(process.env.DOPPEL_SCREENSHOTS, 'converted.png'), fullPage: true });
  await ctx.close();
});

test('a viewer sees and plays conversions but cannot start one', async () => {
  const projectId = projectUrl.split('/').pop();
  const { ctx: veraCtx, page: vera } = await viewerPage(browser, server, projectUrl);
  await vera.goto(`${projectUrl}/convert`);
  await waitHydrated(vera);
  await vera.locator('[data-testid=conversions] li[data-state=done]').waitFor();
  assert.equal(await vera.getByTestId('convert-form').count(), 0);
  assert.equal(await vera.getByRole('button', { name: 'Move to trash' }).count(), 0);
  const video = vera.getByTestId('conversion-video');
  await vera.waitForFunction((el) => el.readyState >= 1, await video.elementHandle(), { timeout: 30_000 });
  assert.equal(await callServerFn(vera, 'start_conversion', { project: projectId, media: '1', model: '1' }), 403);
  await veraCtx.close();
});
