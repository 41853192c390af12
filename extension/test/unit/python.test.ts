// Finding the language server: the order of the settings, the Python extension and the bundled
// environment (findServer with small probes), and the real probes against real Pythons.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { ensureBundledEnvironment } from '../../src/bundledEnv';
import { run } from '../../src/common/process';
import { findServer, ImportProbe, ServerNotFound, ServerProbes } from '../../src/python';
import { realProbes } from '../../src/serverProbes';

const ROOT = path.resolve(__dirname, '../../../..');
const VENV_PYTHON = path.join(ROOT, '.venv', 'bin', 'python');
const WHEELS = path.resolve(__dirname, '../../../wheels');

function probes(over: Partial<ServerProbes> & { importable?: Record<string, ImportProbe> }): ServerProbes & { logged: string[] } {
    const logged: string[] = [];
    return {
        isExecutable: async (p) => p === '/opt/ds/bin/downstream-sync',
        canImportServer: async (p) => over.importable?.[p] ?? { ok: false, reason: 'the package is not importable there' },
        pythonExtensionInterpreter: async () => undefined,
        bundledEnvironment: async () => '/storage/python-env/bin/python',
        log: (m) => logged.push(m),
        logged,
        ...over,
    };
}

test('serverPath comes first and runs `downstream-sync lsp`', async () => {
    const found = await findServer({ serverPath: '/opt/ds/bin/downstream-sync', python: '/usr/bin/python3' }, probes({}));
    assert.deepEqual(found, { command: '/opt/ds/bin/downstream-sync', args: ['lsp'], source: 'serverPath' });
});

test('a serverPath that cannot run is an error naming the setting, not a fallback', async () => {
    await assert.rejects(findServer({ serverPath: '/nowhere/ds', python: '' }, probes({})), (e: unknown) => {
        assert.ok(e instanceof ServerNotFound);
        assert.equal(e.setting, 'downstreamSync.serverPath');
        assert.match(e.message, /"\/nowhere\/ds", which is not a program that can run/);
        return true;
    });
});

test('the python setting runs the module when the package imports there', async () => {
    const found = await findServer({ serverPath: '', python: '/venv/bin/python' }, probes({ importable: { '/venv/bin/python': { ok: true } } }));
    assert.deepEqual(found, { command: '/venv/bin/python', args: ['-m', 'downstream_sync.lsp'], source: 'python' });
});

test('a python setting without the package says so and how to fix it', async () => {
    await assert.rejects(findServer({ serverPath: '', python: '/usr/bin/python3' }, probes({})), (e: unknown) => {
        assert.ok(e instanceof ServerNotFound);
        assert.equal(e.setting, 'downstreamSync.python');
        assert.match(e.message, /but the package is not importable there\. Install the package there \(pip install skaffold-downstream-sync\)/);
        return true;
    });
});

test("the Python extension's interpreter is used only when the package imports there", async () => {
    const withPackage = probes({ pythonExtensionInterpreter: async () => '/ext/python', importable: { '/ext/python': { ok: true } } });
    assert.equal((await findServer({ serverPath: '', python: '' }, withPackage)).source, 'pythonExtension');

    const without = probes({ pythonExtensionInterpreter: async () => '/ext/python' });
    const found = await findServer({ serverPath: '', python: '' }, without);
    assert.deepEqual(found, { command: '/storage/python-env/bin/python', args: ['-m', 'downstream_sync.lsp'], source: 'bundled' });
    assert.match(without.logged.join('\n'), /\/ext\/python is not used: the package is not importable there/);
});

test('the real import probe accepts the project venv and names the reason for other Pythons', async () => {
    const real = realProbes({} as any, () => undefined);
    assert.deepEqual(await real.canImportServer(VENV_PYTHON), { ok: true });
    const bare = await real.canImportServer('/usr/bin/python3');
    assert.equal(bare.ok, false);
    assert.match((bare as { reason: string }).reason, /the package skaffold-downstream-sync is not importable there/);
    const missing = await real.canImportServer('/no/such/python');
    assert.match((missing as { reason: string }).reason, /it cannot run \(.*ENOENT/);
    assert.equal(await real.isExecutable(VENV_PYTHON), true);
    assert.equal(await real.isExecutable(path.join(ROOT, 'README.md')), false);
});

test('the bundled environment installs from the shipped wheels without network, and its server answers', async () => {
    assert.ok(fs.existsSync(WHEELS), `the wheels are built by scripts/build-extension.sh into ${WHEELS}`);
    const storage = fs.mkdtempSync(path.join(os.tmpdir(), 'ds-env-'));
    try {
        const logged: string[] = [];
        const python = await ensureBundledEnvironment(storage, WHEELS, '0.0.0-test', (m) => logged.push(m));
        assert.ok(python.startsWith(storage));
        const check = await run(python, ['-m', 'downstream_sync.cli', '--help'], 60_000);
        assert.equal(check.code, 0, check.stderr);
        assert.match(check.stdout, /lsp/);
        // A second call finds it made.
        assert.equal(await ensureBundledEnvironment(storage, WHEELS, '0.0.0-test', (m) => logged.push(m)), python);
        assert.equal(logged.filter((m) => m.startsWith('Creating')).length, 1);
    } finally {
        fs.rmSync(storage, { recursive: true, force: true });
    }
});

/** A CPython 3.10: on PATH, or one of pyenv's (CI's image has it; scripts/build-extension.sh needs it too). */
function python310(): string {
    const pyenv = path.join(process.env.PYENV_ROOT ?? path.join(os.homedir(), '.pyenv'), 'versions');
    const found = fs.existsSync(pyenv) ? fs.readdirSync(pyenv).filter((v) => v.startsWith('3.10.')).sort() : [];
    const candidates = [...found.reverse().map((v) => path.join(pyenv, v, 'bin', 'python3.10'))];
    const onPath = (process.env.PATH ?? '').split(path.delimiter).map((d) => path.join(d, 'python3.10'));
    const python = [...candidates, ...onPath].find((p) => fs.existsSync(p) && !p.includes(`${path.sep}shims${path.sep}`));
    assert.ok(python, 'no CPython 3.10 here (on PATH or in pyenv)');
    return python;
}

test('with only a Python 3.10 on PATH, the bundled environment installs from the shipped wheels and its server answers', async () => {
    const storage = fs.mkdtempSync(path.join(os.tmpdir(), 'ds-env310-'));
    const bin = path.join(storage, 'bin');
    fs.mkdirSync(bin);
    fs.symlinkSync(python310(), path.join(bin, 'python3.10'));
    const savedPath = process.env.PATH;
    process.env.PATH = bin; // no other Python
    try {
        const logged: string[] = [];
        const python = await ensureBundledEnvironment(path.join(storage, 'store'), WHEELS, '0.0.0-test', (m) => logged.push(m));
        assert.ok(logged.some((m) => /with python3\.10 \(Python 3\.10\)/.test(m)), logged.join('\n'));
        const version = await run(python, ['-c', 'import sys, downstream_sync.lsp.server; print(sys.version_info[:2])'], 60_000);
        assert.equal(version.code, 0, version.stderr);
        assert.equal(version.stdout.trim(), '(3, 10)');
        // The language server answers initialize and offers its commands.
        const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { processId: null, rootUri: null, capabilities: {} } });
        const answer = spawnSync(python, ['-m', 'downstream_sync.lsp'], {
            input: `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
            encoding: 'utf8',
            timeout: 60_000,
        });
        assert.match(answer.stdout, /"serverInfo"/, answer.stderr);
        assert.match(answer.stdout, /downstreamSync\.server\.showInjectedManifests/);
    } finally {
        process.env.PATH = savedPath;
        fs.rmSync(storage, { recursive: true, force: true });
    }
});

test('a build without wheels says what to set instead', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'ds-nowheels-'));
    try {
        await assert.rejects(ensureBundledEnvironment(empty, path.join(empty, 'wheels'), '1', () => undefined), (e: unknown) => {
            assert.ok(e instanceof ServerNotFound);
            assert.match(e.message, /ships no Python wheels\. Set downstreamSync\.python/);
            return true;
        });
    } finally {
        fs.rmSync(empty, { recursive: true, force: true });
    }
});

test('no Python 3.10+ on PATH: the bundled environment says which names it tried and what to set', async () => {
    const storage = fs.mkdtempSync(path.join(os.tmpdir(), 'ds-nopython-'));
    const savedPath = process.env.PATH;
    process.env.PATH = storage; // a folder with no Python in it
    try {
        await assert.rejects(ensureBundledEnvironment(storage, WHEELS, '1', () => undefined), (e: unknown) => {
            assert.ok(e instanceof ServerNotFound);
            assert.equal(e.setting, 'downstreamSync.python');
            assert.match(e.message, /^No Python 3\.10 or newer was found on PATH \(tried python3\.14, .*python3, python\)\. Install one, or set downstreamSync\.python to one\.$/);
            return true;
        });
    } finally {
        process.env.PATH = savedPath;
        fs.rmSync(storage, { recursive: true, force: true });
    }
});
