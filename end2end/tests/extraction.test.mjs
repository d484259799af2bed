// Face extraction from the browser: an editor starts it from a video's card, lands on the new
// face set's page and watches the thumbnails arrive; a viewer sees the set but cannot start one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer, launchBrowser, waitHydrated, login, setupAdmin, callServerFn, viewerPage, SHARED } from './harness.mjs';

let server;
let browser;
let projectUrl;
let faceSetUrl;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  await setupAdmin(browser, server);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('an editor extracts faces from a video and sees them appear on the face set page', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await login(page, server.base, 'admin', 'admin password');
  await waitHydrated(page);
  await page.fill('input[name=name]', 'Extraction');
  await page.click('button:has-text("Create project")');
  const link = page.locator('[data-testid=projects] a', { hasText: 'Extraction' });
  await link.waitFor();
  await link.click();
  await page.waitForURL(/\/projects\/\d+$/);
  projectUrl = page.url();
  await waitHydrated(page);

  await page.setInputFiles('[data-testid=upload-input]', [
    join(SHARED, 'video', 'talk_woman_a.mp4'),
    join(SHARED, 'images', 'obama.jpg'),
  ]);
  const card = page.locator('.media-card', { hasText: 'talk_woman_a.mp4' });
  await card.and(page.locator('[data-state=ready]')).waitFor({ timeout: 60_000 });
  await page.locator('.media-card[data-state=ready]', { hasText: 'obama.jpg' }).waitFor({ timeout: 60_000 });
  await page.getByText('No face sets yet').waitFor();

  await card.getByRole('button', { name: 'Extract faces' }).click();
  const form = page.getByTestId('extract-form');
  await form.waitFor();
  assert.match(await form.locator('h3').innerText(), /talk_woman_a\.mp4/);
  assert.equal(await form.locator('input[name=size]').inputValue(), '512', 'defaults are filled in');
  // The photo is offered as a reference for the identity filter.
  assert.equal(await form.locator('fieldset.identity', { hasText: 'obama.jpg' }).count(), 1);
  // A bad value is refused by the server with a message (the browser's own check is bypassed).
  await form.locator('input[name=size]').evaluate((el) => { el.removeAttribute('min'); el.value = '32'; });
  await form.getByRole('button', { name: 'Start extraction' }).click();
  await page.getByRole('alert').filter({ hasText: 'face size must be a whole number from 64 to 2048' }).waitFor();

  await page.evaluate(() => { window.__noReload = 'still here'; });
  await form.locator('input[name=size]').fill('64');
  await form.locator('input[name=frame_from]').fill('0');
  await form.locator('input[name=frame_to]').fill('29');
  await form.locator('input[name=name]').fill('Woman A');
  await form.getByRole('button', { name: 'Start extraction' }).click();

  await page.waitForURL(/\/projects\/\d+\/facesets\/\d+$/);
  faceSetUrl = page.url();
  await page.getByTestId('face-set-name').filter({ hasText: 'Woman A' }).waitFor();
  const first = page.locator('[data-testid=faces] img').first();
  await first.waitFor({ timeout: 60_000 });
  await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await first.elementHandle());
  await page.getByTestId('face-set-state').filter({ hasText: 'ready' }).waitFor({ timeout: 120_000 });
  await page.locator('[data-testid=faces] img').nth(29).waitFor();
  assert.equal(await page.locator('[data-testid=faces] img').count(), 30);
  assert.equal(await page.getByTestId('face-count').innerText(), '30 faces');
  assert.equal(await page.getByTestId('face-set-summary').innerText(), '30 faces in 30 frames (30 written now)');
  assert.equal(await page.evaluate(() => window.__noReload), 'still here', 'the page was never reloaded');

  // The project page lists the set, and the job with its summary.
  await page.goto(projectUrl);
  await waitHydrated(page);
  const set = page.locator('[data-testid=face-sets] li', { hasText: 'Woman A' });
  await set.waitFor();
  assert.equal(await set.locator('.state').innerText(), 'ready');
  assert.equal(await set.getByTestId('face-count').innerText(), '30 faces');
  await page.locator('[data-testid=jobs] .job.done', { hasText: 'extract faces from talk_woman_a.mp4' }).waitFor();
  await ctx.close();
});

test('a viewer sees face sets and faces but cannot start an extraction', async () => {
  const projectId = projectUrl.split('/').pop();
  const { ctx: veraCtx, page: vera } = await viewerPage(browser, server, projectUrl);
  await vera.goto(projectUrl);
  await waitHydrated(vera);
  await vera.locator('[data-testid=face-sets] li', { hasText: 'Woman A' }).waitFor();
  await vera.locator('.media-card[data-state=ready]').first().waitFor();
  assert.equal(await vera.getByRole('button', { name: 'Extract faces' }).count(), 0);
  const mediaId = await vera.locator('.media-card', { hasText: 'talk_woman_a.mp4' }).getAttribute('data-media-id');
  assert.equal(await callServerFn(vera, 'start_extraction', { project: projectId, media: mediaId }), 403);
  await vera.goto(faceSetUrl);
  await waitHydrated(vera);
  await vera.locator('[data-testid=faces] img').nth(29).waitFor();
  assert.equal(await vera.getByRole('button', { name: 'Stop extraction' }).count(), 0);
  await veraCtx.close();
});
