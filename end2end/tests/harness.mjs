// Starts a real `doppel serve` on a free port with a fresh data directory, and Chromium.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { before, after } from 'node:test';

const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(here, '..', '..');
export const SHARED = resolve(ROOT, '..', 'shared', 'data');

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
    srv.on('error', fail);
  });
}

/** A test file's server and browser, with the first admin made: started before its tests,
 *  stopped after them. Read `env.server` and `env.browser` inside the tests. */
export function withServer(options) {
  const env = {};
  before(async () => {
    env.server = await startServer(options);
    env.browser = await launchBrowser();
    await setupAdmin(env.browser, env.server);
  });
  after(async () => {
    await env.browser?.close();
    await env.server?.stop();
  });
  return env;
}

/** Runs the server until `stop()`; resolves once it printed its setup link. */
export async function startServer({ maxUpload } = {}) {
  const bin = process.env.DOPPEL_BIN;
  const site = process.env.DOPPEL_SITE_DIR ?? join(ROOT, 'site');
  if (!bin) throw new Error('DOPPEL_BIN must name the doppel binary (scripts/test.sh sets it)');
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'doppel-e2e-'));
  const args = ['serve', '--port', String(port), '--data-dir', dataDir, '--site-dir', site];
  if (maxUpload) args.push('--max-upload', String(maxUpload));
  // The face networks of the checkout, unless told otherwise (the server runs in end2end/).
  const models = process.env.DOPPEL_MODELS_DIR ?? join(ROOT, 'models');
  const env = { ...process.env, DOPPEL_LOG: 'warn', DOPPEL_MODELS_DIR: models };
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let output = '';
  const setupLink = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`no setup link within 30 s:\n${output}`)), 30_000);
    const onData = (chunk) => {
      output += chunk.toString();
      const m = output.match(/http:\/\/\S+\/setup\?token=[0-9a-f]+/);
      if (m) {
        clearTimeout(timer);
        ok(m[0]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (c) => { output += c.toString(); });
    child.on('exit', (code) => fail(new Error(`doppel exited with ${code}:\n${output}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  return {
    base,
    setupLink,
    dataDir,
    output: () => output,
    async stop() {
      // A server still busy with a job (an extraction) must not outlive its test file: the
      // next file's pages would compete with it for the CPU.
      if (child.exitCode === null) {
        const exited = new Promise((ok) => child.once('exit', ok));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}

/** Waits until the page's WASM has hydrated it (the bundle marks `<body data-hydrated>`). */
export async function waitHydrated(page) {
  watchErrors(page);
  try {
    await page.locator('body[data-hydrated]').waitFor({ state: 'attached', timeout: 20_000 });
  } catch (err) {
    // Say why: a panic in the wasm, a failed fetch of the bundle, ...
    const errors = page.__doppelErrors ?? [];
    err.message += `\npage ${page.url()}; browser errors:\n${errors.join('\n') || '(none)'}`;
    throw err;
  }
}

/** Keeps the page's uncaught errors and console errors, for failure messages. */
function watchErrors(page) {
  if (page.__doppelErrors) return;
  page.__doppelErrors = [];
  page.on('pageerror', (e) => page.__doppelErrors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') page.__doppelErrors.push(`console: ${m.text()}`); });
  page.on('requestfailed', (r) => page.__doppelErrors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
}

/** Creates the first admin through the setup link (in its own page). */
export async function setupAdmin(browser, server, username = 'admin', password = 'admin password') {
  const page = await browser.newPage();
  await page.goto(server.setupLink);
  await waitHydrated(page);
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL(`${server.base}/`), page.click('button:has-text("Create admin")')]);
  await page.close();
}

/** Calls a server function from the page, as its forms do; returns the HTTP status. */
export async function callServerFn(page, endpoint, fields) {
  return page.evaluate(async ([endpoint, fields]) => {
    const r = await fetch(`/api/${endpoint}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams(fields).toString(),
    });
    return r.status;
  }, [endpoint, fields]);
}

export async function login(page, base, username, password) {
  watchErrors(page);
  await page.goto(`${base}/login`);
  await waitHydrated(page);
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL(`${base}/`), page.click('button:has-text("Log in")')]);
}

/** Adds `username` to the project at `projectUrl` as a viewer (through the admin's page) and
 *  returns a logged-in page of theirs in a context of its own. */
export async function viewerPage(browser, server, projectUrl, username = 'vera') {
  const adminCtx = await browser.newContext();
  const admin = await adminCtx.newPage();
  await login(admin, server.base, 'admin', 'admin password');
  const projectId = projectUrl.split('/').pop();
  if (await callServerFn(admin, 'create_user', { username, password: `${username} password` }) !== 200) throw new Error('create_user failed');
  if (await callServerFn(admin, 'set_member', { id: projectId, username, role: 'viewer' }) !== 200) throw new Error('set_member failed');
  await adminCtx.close();
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await login(page, server.base, username, `${username} password`);
  return { ctx, page };
}

/** On a logged-in, hydrated home page: creates project `name`, uploads talk_woman_a.mp4 and
 *  talk_woman_b.mp4 and extracts small face sets "Woman A" and "Woman B" from them (frames 0-40,
 *  every 8th, 128 px) as the extraction form would. Returns the project's URL and id and the
 *  face sets' ids. */
export async function projectWithFaceSets(page, name) {
  await page.fill('input[name=name]', name);
  await page.click('button:has-text("Create project")');
  await page.locator('[data-testid=projects] a', { hasText: name }).click();
  await page.waitForURL(/\/projects\/\d+$/);
  const projectUrl = page.url();
  const projectId = projectUrl.split('/').pop();
  await waitHydrated(page);
  await page.setInputFiles('[data-testid=upload-input]', [
    resolve(SHARED, 'video', 'talk_woman_a.mp4'),
    resolve(SHARED, 'video', 'talk_woman_b.mp4'),
  ]);
  for (const [video, set] of [['talk_woman_a.mp4', 'Woman A'], ['talk_woman_b.mp4', 'Woman B']]) {
    const card = page.locator('.media-card[data-state=ready]', { hasText: video });
    await card.waitFor({ timeout: 60_000 });
    const media = await card.getAttribute('data-media-id');
    const fields = { project: projectId, media, name: set, every_n: '8', frame_from: '0', frame_to: '40', size: '128' };
    if (await callServerFn(page, 'start_extraction', fields) !== 200) throw new Error('start_extraction failed');
  }
  const sets = {};
  for (const set of ['Woman A', 'Woman B']) {
    const item = page.locator('[data-testid=face-sets] li[data-state=ready]', { hasText: set });
    await item.waitFor({ timeout: 180_000 });
    sets[set] = await item.getAttribute('data-face-set-id');
  }
  return { projectUrl, projectId, sets };
}
