// Training from the browser: an editor picks two face sets and a model on the project's
// training page, watches iterations, losses, the graph, the preview and the timelapse arrive
// live, stops a run (it saves first) and resumes it; a viewer sees the models but no form or
// buttons.
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

/** The number in a "12 of 40 iterations" label. */
function iterationsOf(label) {
  const m = label.match(/^(\d+)/);
  return m ? Number(m[1]) : NaN;
}

test('an editor trains a model and sees its progress, graph, preview and timelapse live', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await login(page, server.base, 'admin', 'admin password');
  await waitHydrated(page);
  ({ projectUrl } = await projectWithFaceSets(page, 'Training'));
  await page.getByTestId('train-link').click();
  await page.waitForURL(/\/projects\/\d+\/train$/);
  await waitHydrated(page);
  await page.getByText('No models yet.').waitFor();
  const form = page.getByTestId('train-form');
  for (const [select, name] of [['face_set_a', 'Woman A'], ['face_set_b', 'Woman B']]) {
    const option = form.locator(`select[name=${select}] option`, { hasText: name });
    assert.match(await option.innerText(), /^Woman . \(6 faces\)$/, 'the sets are offered with their face counts');
    await form.locator(`select[name=${select}]`).selectOption(await option.getAttribute('value'));
  }
  assert.equal(await form.locator('input[name=name]').getAttribute('placeholder'), 'Woman A to Woman B', 'the name defaults to the people');
  // A bad value is refused by the server with a message.
  await form.locator('input[name=batch]').evaluate((el) => { el.removeAttribute('min'); el.removeAttribute('max'); el.value = '0'; });
  await form.getByRole('button', { name: 'Start training' }).click();
  await page.getByRole('alert').filter({ hasText: /batch/ }).waitFor();

  await page.evaluate(() => { window.__noReload = 'still here'; });
  await form.locator('select[name=kind]').selectOption('lightweight');
  await form.locator('input[name=batch]').fill('2');
  await form.locator('input[name=iterations]').fill('6');
  await form.locator('input[name=save_every]').fill('2');
  await form.getByRole('button', { name: 'Start training' }).click();
  await page.waitForURL(/\/projects\/\d+\/train\?model=\d+$/);

  const view = page.getByTestId('model-view');
  await view.getByTestId('model-name').filter({ hasText: 'Woman A to Woman B' }).waitFor();
  // Live: the iteration count moves while the run goes on, and the run ends done.
  await view.getByTestId('model-state').filter({ hasText: 'done' }).waitFor({ timeout: 300_000 });
  assert.equal(await view.getByTestId('model-iteration').innerText(), '6 of 6 iterations');
  assert.match(await view.getByTestId('loss-a').innerText(), /^\d+\.\d{5}$/);
  assert.match(await view.getByTestId('loss-b').innerText(), /^\d+\.\d{5}$/);
  assert.match(await view.getByTestId('model-message').innerText(), /^done at iteration 6, loss A \d/);

  // The graph has every iteration, both lines drawn.
  const graph = view.getByTestId('loss-graph');
  await page.waitForFunction((el) => el.dataset.points === '6', await graph.elementHandle());
  assert.ok((await graph.getByTestId('line-a').getAttribute('d')).length > 10);
  assert.ok((await graph.getByTestId('line-b').getAttribute('d')).length > 10);
  // Smoothing changes the smooth line, not the data.
  const before = await graph.getByTestId('line-a').getAttribute('d');
  await graph.getByTestId('smoothing').fill('0');
  await page.waitForFunction((el) => el.querySelector('[data-testid=line-a]').getAttribute('d') !== el.dataset.before,
    await graph.evaluateHandle((el, b) => { el.dataset.before = b; return el; }, before));

  // The newest save's preview is a real image; the timelapse has a frame per save.
  const preview = view.getByTestId('model-preview');
  await page.waitForFunction((el) => el.dataset.iteration === '6' && el.complete && el.naturalWidth > 0, await preview.elementHandle());
  const timelapse = view.getByTestId('timelapse');
  await page.waitForFunction((el) => el.dataset.frames === '3', await timelapse.elementHandle());
  const frames = timelapse.locator('img');
  assert.equal(await frames.count(), 3);
  // The strip's images load lazily: bring it into view.
  await timelapse.scrollIntoViewIfNeeded();
  await page.waitForFunction((el) => [...el.querySelectorAll('img')].every((i) => i.complete && i.naturalWidth > 0), await timelapse.elementHandle());
  assert.equal(await page.evaluate(() => window.__noReload), 'still here', 'the page was never reloaded');
  if (process.env.DOPPEL_SCREENSHOTS) await page.screenshot({ path: join(process.env.DOPPEL_SCREENSHOTS, 'training.png'), fullPage: true });

  // Train more, then stop it while it runs: it saves first, and resumes from there.
  const item = page.locator('[data-testid=models] li').first();
  await item.locator('input[name=iterations]').fill('100000');
  await item.getByTestId('train-more').click();
  await view.getByTestId('model-state').filter({ hasText: 'training' }).waitFor({ timeout: 60_000 });
  await page.waitForFunction((el) => Number.parseInt(el.innerText, 10) >= 8, await view.getByTestId('model-iteration').elementHandle(), { timeout: 120_000 });
  await item.getByTestId('stop').click();
  await view.getByTestId('model-state').filter({ hasText: 'stopped' }).waitFor({ timeout: 120_000 });
  const stoppedAt = iterationsOf(await view.getByTestId('model-iteration').innerText());
  assert.ok(stoppedAt >= 8, `stopped at ${stoppedAt}`);
  assert.match(await view.getByTestId('model-message').innerText(), new RegExp(`^stopped at iteration ${stoppedAt}`));
  await page.waitForFunction(([el, n]) => el.dataset.iteration === String(n), [await preview.elementHandle(), stoppedAt]);

  await item.getByTestId('resume').click();
  await view.getByTestId('model-state').filter({ hasText: 'training' }).waitFor({ timeout: 60_000 });
  await page.waitForFunction(([el, n]) => Number.parseInt(el.innerText, 10) > n, [await view.getByTestId('model-iteration').elementHandle(), stoppedAt], { timeout: 120_000 });
  await item.getByTestId('stop').click();
  await view.getByTestId('model-state').filter({ hasText: 'stopped' }).waitFor({ timeout: 120_000 });

  // A reload shows the same, from the server.
  await page.reload();
  await waitHydrated(page);
  assert.equal(await view.getByTestId('model-state').innerText(), 'stopped');
  assert.ok(iterationsOf(await view.getByTestId('model-iteration').innerText()) > stoppedAt);
  await ctx.close();
});

test('a viewer sees the models but cannot start, stop or resume training', async () => {
  const projectId = projectUrl.split('/').pop();
  const { ctx: veraCtx, page: vera } = await viewerPage(browser, server, projectUrl);
  await vera.goto(`${projectUrl}/train`);
  await waitHydrated(vera);
  const item = vera.locator('[data-testid=models] li', { hasText: 'Woman A to Woman B' });
  await item.waitFor();
  assert.equal(await item.getAttribute('data-state'), 'stopped');
  assert.equal(await vera.getByTestId('train-form').count(), 0);
  assert.equal(await vera.getByTestId('resume').count(), 0);
  const preview = vera.getByTestId('model-preview');
  await vera.waitForFunction((el) => el.complete && el.naturalWidth > 0, await preview.elementHandle());
  assert.equal(await callServerFn(vera, 'start_training', { project: projectId, face_set_a: '1', face_set_b: '2', kind: 'lightweight', batch: '2' }), 403);
  await veraCtx.close();
});
