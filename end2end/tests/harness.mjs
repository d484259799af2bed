// Starts a real `doppel serve` on a free port with a fresh data directory, and Chromium.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

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
