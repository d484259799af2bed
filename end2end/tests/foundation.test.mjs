// The foundation, as a new team would use it: setup link, admin, projects, uploads with
// progress, probe facts and thumbnails, a broken upload, and who may see and change what.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer, launchBrowser, waitHydrated, login, SHARED } from './harness.mjs';

let server;
let browser;
let projectUrl;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the setup link creates the admin, who lands on the projects page', async () => {
  const page = await browser.newPage();
  await page.goto(server.setupLink);
  await waitHydrated(page);
  await page.fill('input[name=username]', 'admin');
  await page.fill('input[name=password]', 'admin password');
  await Promise.all([page.waitForURL(`${server.base}/`), page.click('button:has-text("Create admin")')]);
  await page.getByRole('heading', { name: 'Projects' }).waitFor();
  // The top bar follows the new session (its user is fetched again after the navigation).
  await page.locator('.topbar', { hasText: 'admin' }).waitFor({ timeout: 10_000 });
  // The link is one-time: opening it again says setup is done.
  const again = await browser.newPage();
  await again.goto(server.setupLink);
  await again.getByText('Setup is done').waitFor();
  await again.close();
  await page.close();
});

test('creating a project happens in place (the page is hydrated) and uploads show progress and facts', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await login(page, server.base, 'admin', 'admin password');
  await waitHydrated(page);
  // A marker on window survives only if no full page load happens.
  await page.evaluate(() => { window.__noReload = 'still here'; });
  await page.fill('input[name=name]', 'Woman A to B');
  await page.click('button:has-text("Create project")');
  const link = page.locator('[data-testid=projects] a', { hasText: 'Woman A to B' });
  await link.waitFor();
  assert.equal(await page.evaluate(() => window.__noReload), 'still here', 'the form was handled without a reload');

  await link.click();
  await page.waitForURL(/\/projects\/\d+$/);
  projectUrl = page.url();
  await page.getByTestId('project-name').waitFor();
  await waitHydrated(page);

  await page.setInputFiles('[data-testid=upload-input]', [
    join(SHARED, 'video', 'tiny_5frames.mp4'),
    join(SHARED, 'video', 'talk_woman_a.mp4'),
  ]);
  for (const name of ['tiny_5frames.mp4', 'talk_woman_a.mp4']) {
    const row = page.locator(`[data-upload="${name}"]`);
    await row.waitFor();
    assert.equal(await row.locator('.progress').count(), 1, `${name} has a progress bar`);
    await row.locator('.status', { hasText: 'uploaded' }).waitFor({ timeout: 30_000 });
    assert.equal(await row.locator('[role=progressbar]').getAttribute('aria-valuenow'), '100');
  }

  // Probing runs as a job; the card turns ready by itself (live events, no reload).
  const card = page.locator('.media-card', { hasText: 'talk_woman_a.mp4' });
  await card.and(page.locator('[data-state=ready]')).waitFor({ timeout: 60_000 });
  assert.equal(await card.locator('[data-fact=frames]').innerText(), '354');
  assert.equal(await card.locator('[data-fact=fps]').innerText(), '30 fps');
  assert.equal(await card.locator('[data-fact=audio]').innerText(), 'yes');
  assert.equal(await card.locator('[data-fact=size]').innerText(), '512 × 512');
  const thumb = card.locator('img.thumb');
  await thumb.waitFor();
  await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await thumb.elementHandle());

  const tiny = page.locator('.media-card', { hasText: 'tiny_5frames.mp4' });
  await tiny.and(page.locator('[data-state=ready]')).waitFor({ timeout: 60_000 });
  assert.equal(await tiny.locator('[data-fact=frames]').innerText(), '5');
  assert.equal(await tiny.locator('[data-fact=audio]').innerText(), 'no');
  assert.equal(await page.evaluate(() => window.__noReload), 'still here');

  // The jobs list shows the finished probe jobs.
  await page.locator('[data-testid=jobs] .job.done').first().waitFor();
  await ctx.close();
});

test('a truncated upload is refused with the file name and the reason, nothing else changes', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await login(page, server.base, 'admin', 'admin password');
  await page.goto(projectUrl);
  await waitHydrated(page);
  const readyBefore = await page.locator('.media-card[data-state=ready]').count();
  await page.setInputFiles('[data-testid=upload-input]', join(SHARED, 'video', 'truncated.mp4'));
  const refusal = page.locator('[data-testid=rejected] li', { hasText: 'truncated.mp4' });
  await refusal.waitFor({ timeout: 60_000 });
  assert.match(await refusal.innerText(), /truncated\.mp4 was not added: .*(truncated|damaged)/);
  assert.equal(await page.locator('.media-card', { hasText: 'truncated.mp4' }).count(), 0);
  assert.equal(await page.locator('.media-card[data-state=ready]').count(), readyBefore);
  await ctx.close();
});

test('a user without a role gets 404 and a viewer cannot delete', async () => {
  const ctx = await browser.newContext();
  const admin = await ctx.newPage();
  await login(admin, server.base, 'admin', 'admin password');
  for (const name of ['bob', 'vera']) {
    await admin.goto(`${server.base}/admin`);
    await waitHydrated(admin);
    await admin.fill('input[name=username]', name);
    await admin.fill('input[name=password]', `${name} password`);
    await admin.click('button:has-text("Create user")');
    await admin.locator('[data-testid=users] li', { hasText: name }).waitFor();
  }
  await admin.goto(projectUrl);
  await waitHydrated(admin);
  await admin.click('summary:has-text("Project settings")');
  await admin.fill('.owner-tools input[name=username]', 'vera');
  await admin.selectOption('.owner-tools select[name=role]', 'viewer');
  await admin.click('button:has-text("Invite")');
  await admin.locator('[data-testid=members] li', { hasText: 'vera' }).waitFor();
  await ctx.close();

  const bobCtx = await browser.newContext();
  const bob = await bobCtx.newPage();
  await login(bob, server.base, 'bob', 'bob password');
  const res = await bob.goto(projectUrl);
  assert.equal(res.status(), 404);
  await bob.getByRole('heading', { name: 'Not found' }).waitFor();
  assert.equal(await bob.getByText('Woman A to B').count(), 0, 'the project name does not leak');
  await bobCtx.close();

  const veraCtx = await browser.newContext();
  const vera = await veraCtx.newPage();
  await login(vera, server.base, 'vera', 'vera password');
  await vera.goto(projectUrl);
  await waitHydrated(vera);
  assert.equal(await vera.getByTestId('my-role').innerText(), 'viewer');
  assert.equal(await vera.locator('button:has-text("Move project to trash")').count(), 0);
  assert.equal(await vera.locator('[data-testid=upload-input]').count(), 0);
  // Even a hand-made request is refused by the server.
  const projectId = projectUrl.split('/').pop();
  const status = await vera.evaluate(async (id) => {
    const r = await fetch('/api/trash_project', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: `id=${id}`,
    });
    return r.status;
  }, projectId);
  assert.equal(status, 403);
  await vera.reload();
  await vera.getByTestId('project-name').waitFor();
  await veraCtx.close();
});
