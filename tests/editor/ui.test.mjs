// The UI test: the built .vsix installed into a real code-server, driven through Chromium by
// Playwright as a person would use it. A real app-server plays the container (reached through the
// connectCommand setting, no cluster), and the language server is the one the extension sets up
// itself from the wheels inside the .vsix (only a Python on PATH, no network).
//
// Steps, each with a screenshot in $UI_SCREENSHOTS (default tests/editor/out/screenshots):
// a broken download stanza shows a squiggle and a Problems count; the quick fix repairs it;
// "Start Downstream Sync" from the palette starts a session; a file the container writes appears
// in the Explorer and the status bar says syncing; a conflict is made and resolved with Keep local
// on its notification; a second one is opened from the view as a diff and resolved with the diff's
// Take remote button; Stop ends the session; "Show Injected Manifests" opens the rawYaml manifests
// and their injected form in a diff; a server that exits at start gives a message with
// buttons to the setting and the log (changing the setting restarts the server).
//
// Run by scripts/test-extension.sh (after scripts/build-extension.sh), with Node 24.

import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const vsix = path.join(root, 'extension', 'out', 'downstream-sync.vsix');
const codeServer = path.join(here, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
const appServer = path.join(root, '.venv', 'bin', 'app-server');
const appConnect = path.join(root, '.venv', 'bin', 'app-connect');
const shots = process.env.UI_SCREENSHOTS ?? path.join(here, 'out', 'screenshots');
const WAIT = 120_000; // the most any step may take (the first start sets up the Python environment)

const BROKEN = `apiVersion: skaffold/v4beta14
kind: Config
metadata:
  name: ui-test
build:
  artifacts:
  - image: generator
    context: .
    download:
      manual:
      - remoteSrcc: generated
        localDst: synced
manifests:
  rawYaml: [k8s/*.yaml]
`;

// What "Show Injected Manifests" rewrites (command, workingDir and TMPDIR given: no image config is looked up).
const MANIFEST = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: generator
spec:
  template:
    spec:
      containers:
      - name: app
        image: generator
        command: [python3, generator.py]
        workingDir: /app
        env: [{name: TMPDIR, value: /tmp}]
`;

let tmp, workspace, container, socket, codeServerProc, appServerProc, browser, page, port;
let step = 0;

function log(message) {
    process.stdout.write(`ui: ${message}\n`);
}

async function freePort() {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.listen(0, '127.0.0.1', () => {
            const { port } = server.address();
            server.close(() => resolve(port));
        });
        server.on('error', reject);
    });
}

async function until(what, check, timeout = WAIT) {
    const deadline = Date.now() + timeout;
    let last;
    while (Date.now() < deadline) {
        try {
            const value = await check();
            if (value) {
                return value;
            }
        } catch (error) {
            last = error;
        }
        await new Promise((r) => setTimeout(r, 250));
    }
    await shot(`timeout-${what.replace(/\W+/g, '-')}`);
    throw new Error(`waited ${timeout / 1000}s for ${what}${last ? ` (last error: ${last.message})` : ''}`);
}

async function shot(name) {
    step += 1;
    const file = path.join(shots, `${String(step).padStart(2, '0')}-${name}.png`);
    await page.screenshot({ path: file });
    log(`screenshot ${file}`);
    return file;
}

/** What a part of the page shows, with the editor's non-breaking spaces as spaces. */
async function textOf(locator) {
    return (await locator.innerText()).replace(/\u00a0/g, ' ');
}

function statusBarText() {
    return page.locator('.part.statusbar').innerText();
}

async function palette(command) {
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible' });
    await input.fill(`>${command}`);
    const row = page.locator('.quick-input-list .monaco-list-row', { hasText: command }).first();
    await row.waitFor({ state: 'visible' });
    await page.keyboard.press('Enter');
}

before(async () => {
    for (const needed of [vsix, codeServer, appServer, '/usr/bin/chromium']) {
        assert.ok(fs.existsSync(needed), `${needed} is missing: run scripts/build-extension.sh and scripts/test-extension.sh`);
    }
    fs.rmSync(shots, { recursive: true, force: true });
    fs.mkdirSync(shots, { recursive: true });
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ds-ui-'));
    workspace = path.join(tmp, 'project');
    container = path.join(tmp, 'container');
    socket = path.join(tmp, 'helper.sock');
    const userData = path.join(tmp, 'user-data');
    const extensions = path.join(tmp, 'extensions');
    fs.mkdirSync(workspace);
    fs.mkdirSync(path.join(container, 'generated'), { recursive: true });
    fs.mkdirSync(path.join(userData, 'User'), { recursive: true });
    fs.writeFileSync(path.join(workspace, 'skaffold.yaml'), BROKEN);
    fs.mkdirSync(path.join(workspace, 'k8s'));
    fs.writeFileSync(path.join(workspace, 'k8s', 'app.yaml'), MANIFEST);
    fs.writeFileSync(
        path.join(userData, 'User', 'settings.json'),
        JSON.stringify(
            {
                'downstreamSync.connectCommand': [appConnect, '--socket', socket],
                'downstreamSync.trace.server': 'messages',
                'workbench.startupEditor': 'none',
                'workbench.tips.enabled': false,
                'security.workspace.trust.enabled': false,
                'telemetry.telemetryLevel': 'off',
                'extensions.autoCheckUpdates': false,
                'extensions.autoUpdate': false,
                'update.mode': 'none',
                'files.autoSave': 'off',
                'editor.hover.enabled': false,
                'chat.disableAIFeatures': true,
                'workbench.secondarySideBar.defaultVisibility': 'hidden',
            },
            null,
            2,
        ),
    );
    const env = { ...process.env, XDG_CONFIG_HOME: path.join(tmp, 'config'), XDG_DATA_HOME: path.join(tmp, 'data') };
    const common = ['--user-data-dir', userData, '--extensions-dir', extensions];
    log(`installing ${vsix} into code-server`);
    execFileSync(process.execPath, [codeServer, ...common, '--install-extension', vsix], { env, stdio: 'inherit' });

    // The "container": a real helper watching generated/ below its working folder.
    appServerProc = spawn(appServer, ['--targets', 'generated', '--socket', socket], { cwd: container, stdio: 'inherit' });
    await until('the helper socket', () => fs.existsSync(socket));

    port = await freePort();
    const codeServerLog = fs.openSync(path.join(tmp, 'code-server.log'), 'w');
    codeServerProc = spawn(
        process.execPath,
        [codeServer, ...common, '--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, '--disable-telemetry',
            '--disable-update-check', '--disable-workspace-trust', '--disable-getting-started-override', workspace],
        { env, stdio: ['ignore', codeServerLog, codeServerLog] },
    );
    await until('code-server to listen', async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok);
    browser = await chromium.launch({
        executablePath: '/usr/bin/chromium',
        args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync',
            '--disable-default-apps', '--no-first-run', '--disable-features=Translate,MediaRouter'],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 850 } });
    await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`);
    await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: WAIT });
});

after(async () => {
    await browser?.close();
    for (const proc of [codeServerProc, appServerProc]) {
        if (proc && proc.exitCode === null) {
            proc.kill('SIGTERM');
            await new Promise((r) => proc.once('exit', r));
        }
    }
    if (tmp && fs.existsSync(path.join(tmp, 'code-server.log')) && process.env.UI_KEEP !== '1') {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
});

test('a broken download stanza is squiggled, counted in Problems, and fixed by its quick fix', async () => {
    await palette('Go to File');
    await page.keyboard.type('skaffold.yaml');
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'skaffold.yaml' }).first().waitFor();
    await page.keyboard.press('Enter');
    const editor = page.locator('.editor-instance .monaco-editor').first();
    await editor.waitFor({ state: 'visible' });
    // The server is set up and started by the extension on activation; its diagnostic appears.
    await until('the red squiggle', () => page.locator('.monaco-editor .squiggly-error').count());
    const problems = page.locator('#status\\.problems');
    const errors = async () => Number(/\d+/.exec(await problems.innerText())?.[0]);
    await until('a Problems count of errors', async () => (await errors()) >= 1);
    log(`Problems in the status bar: ${(await problems.innerText()).replace(/\s+/g, ' ')}`);
    await shot('squiggle-and-problems');

    await editor.click();
    await page.keyboard.press('F8'); // to the problem
    await page.keyboard.press('Escape');
    await page.keyboard.press('Control+.');
    const fix = page.locator('.action-widget .monaco-list-row', { hasText: "Change to 'remoteSrc'" });
    await fix.waitFor({ state: 'visible', timeout: WAIT });
    await shot('quick-fix-menu');
    await fix.click();
    await until('no squiggle', async () => (await page.locator('.monaco-editor .squiggly-error').count()) === 0);
    await page.keyboard.press('Control+S');
    await until('the fix on disk', () => fs.readFileSync(path.join(workspace, 'skaffold.yaml'), 'utf8').includes('- remoteSrc: generated'));
    await until('no errors in Problems', async () => (await errors()) === 0);
    // The language status item of the Skaffold file says what it holds.
    await page.locator('#status\\.languageStatus').click();
    const hover = page.locator('.monaco-hover, .context-view', { hasText: 'Downstream Sync: 1 download rule' }).first();
    await until('the language status item', () => hover.isVisible());
    await shot('fixed-with-language-status');
    await page.keyboard.press('Escape');
});

test('Start Downstream Sync from the palette brings a file the container writes into the Explorer', async () => {
    await palette('Skaffold: Start Downstream Sync');
    fs.writeFileSync(path.join(container, 'generated', 'hello.txt'), 'hello from the container\n');
    const local = path.join(workspace, 'synced', 'hello.txt');
    await until('the synced file on disk', () => fs.existsSync(local));
    assert.equal(fs.readFileSync(local, 'utf8'), 'hello from the container\n');
    await until('the status bar saying syncing', async () => /Syncing hello\.txt/.test(await statusBarText()));

    const explorer = page.locator('.explorer-folders-view');
    const folder = explorer.locator('.monaco-list-row', { hasText: 'synced' }).first();
    await until('the synced folder in the Explorer', () => folder.isVisible());
    if ((await folder.getAttribute('aria-expanded')) !== 'true') {
        await folder.click();
    }
    await until('hello.txt in the Explorer', () => explorer.locator('.monaco-list-row', { hasText: 'hello.txt' }).first().isVisible());
    // A click on the status-bar item shows the sessions view, with the session and its file event.
    await page.locator('.part.statusbar .statusbar-item', { hasText: 'Syncing hello.txt' }).click();
    const view = page.locator('.pane', { has: page.locator('.pane-header', { hasText: 'Downstream Sync' }) });
    await until('the session and its event in the Downstream Sync view', async () => {
        const text = await view.innerText();
        return /generator/.test(text) && /hello\.txt/.test(text);
    });
    await shot('synced-file-in-explorer');
});

test('a conflict is shown and resolved with Keep local', async () => {
    const local = path.join(workspace, 'synced', 'hello.txt');
    // Edit the synced file in the editor, as a person would, and save it.
    await page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'hello.txt' }).first().click();
    const editor = page.locator('.editor-instance .monaco-editor', { hasText: 'hello from the container' });
    await until('hello.txt open', () => editor.isVisible());
    await editor.click();
    await page.keyboard.press('Control+End');
    await page.keyboard.type('my local line\n');
    await page.keyboard.press('Control+S');
    await until('the local edit on disk', () => fs.readFileSync(local, 'utf8').includes('my local line'));

    // The container changes the same file: a conflict.
    fs.writeFileSync(path.join(container, 'generated', 'hello.txt'), 'the container changed it\n');
    const prompt = page.locator('.notification-toast', { hasText: 'hello.txt' });
    await prompt.waitFor({ state: 'visible', timeout: WAIT });
    await until('the status bar counting the conflict', async () => /1 sync conflict/.test(await statusBarText()));
    await until('the prompt in full view', async () => {
        const box = await prompt.boundingBox();
        return box && box.y + box.height <= page.viewportSize().height;
    });
    await shot('conflict');
    await prompt.locator('.monaco-button', { hasText: 'Keep local' }).click();
    await until('the conflict resolved', async () => !/sync conflict/.test(await statusBarText()));
    assert.match(fs.readFileSync(local, 'utf8'), /my local line/);
    assert.ok(!fs.existsSync(`${local}.downstream-conflict`), 'the container copy is gone after Keep local');
    await until('the copy gone from the Explorer', async () =>
        (await page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'downstream-conflict' }).count()) === 0);
    await shot('kept-local');
});

test('a conflict opened from the view is a diff whose title bar takes the remote copy', async () => {
    const local = path.join(workspace, 'synced', 'hello.txt');
    // The kept local version still differs from what was synced: the container's next change conflicts again.
    fs.writeFileSync(path.join(container, 'generated', 'hello.txt'), 'the second container version\n');
    await until('the status bar counting the conflict', async () => /1 sync conflict/.test(await statusBarText()));
    const view = page.locator('.pane', { has: page.locator('.pane-header', { hasText: 'Downstream Sync' }) });
    const row = view.locator('.monaco-list-row', { hasText: 'conflict' }).first();
    await row.click();
    const diff = page.locator('.monaco-diff-editor');
    await until('the diff of the local file against the container copy', () => diff.isVisible());
    await until('both versions in the diff', async () => {
        const text = await textOf(diff);
        return text.includes('my local line') && text.includes('the second container version');
    });
    const takeRemote = page.locator('.editor-actions .action-item a[aria-label="Take remote"]');
    await takeRemote.waitFor({ state: 'visible' });
    await page.locator('.editor-actions .action-item a[aria-label="Keep local"]').waitFor({ state: 'visible' });
    await shot('conflict-diff');
    await takeRemote.click();
    await until('the container version in place', () => fs.readFileSync(local, 'utf8') === 'the second container version\n');
    await until('the conflict resolved', async () => !/sync conflict/.test(await statusBarText()));
    assert.ok(!fs.existsSync(`${local}.downstream-conflict`));
    await until('the copy gone from the Explorer', async () =>
        (await page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'downstream-conflict' }).count()) === 0);
    await shot('took-remote');
});

test('Stop Downstream Sync from the palette ends the session', async () => {
    await palette('Skaffold: Stop Downstream Sync');
    await until('the status bar idle', async () => !/Syncing/.test(await statusBarText()));
    const view = page.locator('.pane', { has: page.locator('.pane-header', { hasText: 'Downstream Sync' }) });
    await until('the view empty', async () => /No sync session runs/.test(await view.innerText()));
    await shot('stopped');
});

test('Show Injected Manifests opens the manifests beside them injected, in a diff', async () => {
    await palette('Skaffold: Show Injected Manifests');
    const tab = page.locator('.tabs-container .tab', { hasText: 'manifests ↔ injected' }).first();
    await until('the diff editor of the manifests', () => tab.isVisible());
    const diff = page.locator('.monaco-diff-editor').first();
    await until('the injected command on the right', async () => (await textOf(diff.locator('.editor.modified'))).includes('/sync-helper/app-server'));
    await until('the original command on the left', async () => (await textOf(diff.locator('.editor.original'))).includes('python3, generator.py'));
    await shot('injected-manifests');
    await page.keyboard.press('Control+W');
});

test('a server that exits at start is a message with buttons to the setting and the log', async () => {
    // A workspace setting of the server restarts the server; this "server" exits at once.
    fs.mkdirSync(path.join(workspace, '.vscode'), { recursive: true });
    fs.writeFileSync(path.join(workspace, '.vscode', 'settings.json'), JSON.stringify({ 'downstreamSync.serverPath': '/bin/false' }));
    const toast = page.locator('.notification-toast', { hasText: 'language server' }).filter({ hasText: '/bin/false' }).first();
    await until('the message that the server stopped', () => toast.isVisible());
    await until('its buttons', async () =>
        (await toast.locator('.monaco-button', { hasText: 'Open Setting' }).isVisible()) &&
        (await toast.locator('.monaco-button', { hasText: 'Show Log' }).isVisible()));
    await until('the status bar showing the error', async () => (await page.locator('.part.statusbar .statusbar-item', { has: page.locator('.codicon-error') }).count()) > 0);
    await shot('server-exits-at-start');
    await toast.locator('.monaco-button', { hasText: 'Show Log' }).click();
    await until('the log open', async () =>
        (await textOf(page.locator('.part.panel'))).replace(/\s+/g, ' ').includes('stopped at start (/bin/false lsp (from the downstreamSync.serverPath setting))'));
    await shot('log');
});
