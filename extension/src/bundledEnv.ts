// The Python environment the extension makes for itself, in its global storage, from the wheels
// shipped inside the .vsix (no network): a venv without pip from a Python 3.10+ found on PATH,
// then pip run from its shipped wheel installs the server with --no-index.

import * as fs from 'fs';
import * as path from 'path';
import { run } from './common/process';
import { ServerNotFound } from './python';

export const BASE_PYTHONS =
    process.platform === 'win32'
        ? ['python3.14', 'python3.13', 'python3.12', 'python3.11', 'python3.10', 'python3', 'python', 'py']
        : ['python3.14', 'python3.13', 'python3.12', 'python3.11', 'python3.10', 'python3', 'python'];

const VERSION_CHECK = 'import sys; print("%d.%d" % sys.version_info[:2])';

export function venvPython(envDir: string): string {
    return process.platform === 'win32' ? path.join(envDir, 'Scripts', 'python.exe') : path.join(envDir, 'bin', 'python');
}

/** The first Python 3.10+ on PATH (the shipped wheels start at 3.10), with its version, or undefined. */
export async function findBasePython(log: (m: string) => void): Promise<{ python: string; version: string } | undefined> {
    for (const candidate of BASE_PYTHONS) {
        const result = await run(candidate, ['-c', VERSION_CHECK], 20_000);
        if (result.code !== 0) {
            continue;
        }
        const version = result.stdout.trim();
        const [major, minor] = version.split('.').map(Number);
        if (major === 3 && minor >= 10) {
            return { python: candidate, version };
        }
        log(`${candidate} is Python ${version}; the wheels shipped with Downstream Sync need 3.10 or newer.`);
    }
    return undefined;
}

/** Whether the environment of this version is already made (then ensureBundledEnvironment is quick). */
export function bundledEnvironmentMade(storageDir: string, extensionVersion: string): boolean {
    const envDir = path.join(storageDir, `python-env-${extensionVersion}`);
    return fs.existsSync(path.join(envDir, '.downstream-sync-installed')) && fs.existsSync(venvPython(envDir));
}

/** The Python of the bundled environment, created on first use (and after an upgrade of the extension). */
export async function ensureBundledEnvironment(
    storageDir: string,
    wheelsDir: string,
    extensionVersion: string,
    log: (m: string) => void,
    progress?: (m: string) => void,
): Promise<string> {
    const envDir = path.join(storageDir, `python-env-${extensionVersion}`);
    const stamp = path.join(envDir, '.downstream-sync-installed');
    const python = venvPython(envDir);
    if (bundledEnvironmentMade(storageDir, extensionVersion)) {
        return python;
    }
    const wheels = fs.existsSync(wheelsDir) ? fs.readdirSync(wheelsDir) : [];
    const pip = wheels.find((w) => /^pip-.*\.whl$/.test(w));
    if (!pip || !wheels.some((w) => w.startsWith('skaffold_downstream_sync-'))) {
        throw new ServerNotFound(
            'This build of the extension ships no Python wheels. Set downstreamSync.python to a Python with the package skaffold-downstream-sync, or downstreamSync.serverPath to its downstream-sync program.',
            'downstreamSync.python',
        );
    }
    const base = await findBasePython(log);
    if (!base) {
        throw new ServerNotFound(
            `No Python 3.10 or newer was found on PATH (tried ${BASE_PYTHONS.join(', ')}). Install one, or set downstreamSync.python to one.`,
            'downstreamSync.python',
        );
    }
    log(`Creating the Downstream Sync environment in ${envDir} with ${base.python} (Python ${base.version}).`);
    progress?.(`creating a Python ${base.version} environment`);
    fs.rmSync(envDir, { recursive: true, force: true });
    fs.mkdirSync(storageDir, { recursive: true });
    const venv = await run(base.python, ['-m', 'venv', '--without-pip', envDir], 120_000);
    if (venv.code !== 0) {
        log(venv.stderr || venv.error || '');
        throw new ServerNotFound(
            `${base.python} could not create a virtual environment in ${envDir}: ${lastLine(venv.stderr || venv.error)}`,
            'downstreamSync.python',
        );
    }
    progress?.('installing the server from the shipped wheels');
    const install = await run(
        python,
        [
            path.join(wheelsDir, pip, 'pip'),
            'install',
            '--no-index',
            '--find-links',
            wheelsDir,
            '--disable-pip-version-check',
            '--no-input',
            '--quiet',
            'skaffold-downstream-sync',
        ],
        600_000,
    );
    if (install.code !== 0) {
        log(install.stdout + install.stderr);
        throw new ServerNotFound(
            `The shipped wheels do not install into Python ${base.version} on this machine (${process.platform}-${process.arch}): ` +
                `${lastLine(install.stderr || install.error)}. Set downstreamSync.python to a Python with the package skaffold-downstream-sync.`,
            'downstreamSync.python',
        );
    }
    fs.writeFileSync(stamp, `${extensionVersion}\n`);
    log(`The Downstream Sync environment is ready: ${python}`);
    return python;
}

function lastLine(text: string | undefined): string {
    const lines = (text ?? '').trim().split(/\r?\n/).filter((l) => l.trim());
    return lines.length ? lines[lines.length - 1].trim() : 'no detail';
}
