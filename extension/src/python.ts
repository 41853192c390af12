// Finding the language server, in this order: the `downstreamSync.serverPath` setting, the
// `downstreamSync.python` setting, the Python extension's active interpreter when the package is
// importable there, else the environment this extension makes from the wheels it ships.
// The order is pure logic over small probes (injected), so it is unit-tested without VS Code.

import type { Settings } from './settings';

export type ServerSource = 'serverPath' | 'python' | 'pythonExtension' | 'bundled';

export interface ServerCommand {
    command: string;
    args: string[];
    source: ServerSource;
}

/** No usable server: `message` says why and what to do; `setting` is the one to fix, if any. */
export class ServerNotFound extends Error {
    constructor(message: string, readonly setting?: string) {
        super(message);
        this.name = 'ServerNotFound';
    }
}

export type ImportProbe = { ok: true } | { ok: false; reason: string };

export interface ServerProbes {
    /** Whether `path` is a file this user may run. */
    isExecutable(path: string): Promise<boolean>;
    /** Whether `python` is 3.10+ and can import the server; else why not. */
    canImportServer(python: string): Promise<ImportProbe>;
    /** The Python extension's interpreter for the workspace, when that extension is installed. */
    pythonExtensionInterpreter(): Promise<string | undefined>;
    /** The Python of the bundled environment, made on first use; throws ServerNotFound. */
    bundledEnvironment(): Promise<string>;
    log(message: string): void;
}

export const PYTHON_MODULE_ARGS = ['-m', 'downstream_sync.lsp'];

export function describeServer(server: ServerCommand): string {
    const where: Record<ServerSource, string> = {
        serverPath: 'the downstreamSync.serverPath setting',
        python: 'the downstreamSync.python setting',
        pythonExtension: "the Python extension's interpreter",
        bundled: "the extension's own environment",
    };
    return `${[server.command, ...server.args].join(' ')} (from ${where[server.source]})`;
}

export async function findServer(settings: Pick<Settings, 'serverPath' | 'python'>, probes: ServerProbes): Promise<ServerCommand> {
    if (settings.serverPath) {
        if (!(await probes.isExecutable(settings.serverPath))) {
            throw new ServerNotFound(
                `The setting downstreamSync.serverPath is "${settings.serverPath}", which is not a program that can run. ` +
                    'Point it at the downstream-sync program, or clear it.',
                'downstreamSync.serverPath',
            );
        }
        return { command: settings.serverPath, args: ['lsp'], source: 'serverPath' };
    }
    if (settings.python) {
        const probe = await probes.canImportServer(settings.python);
        if (!probe.ok) {
            throw new ServerNotFound(
                `The setting downstreamSync.python is "${settings.python}", but ${probe.reason}. ` +
                    'Install the package there (pip install skaffold-downstream-sync), or clear the setting to use the environment the extension ships.',
                'downstreamSync.python',
            );
        }
        return { command: settings.python, args: PYTHON_MODULE_ARGS, source: 'python' };
    }
    const interpreter = await probes.pythonExtensionInterpreter();
    if (interpreter) {
        const probe = await probes.canImportServer(interpreter);
        if (probe.ok) {
            return { command: interpreter, args: PYTHON_MODULE_ARGS, source: 'pythonExtension' };
        }
        probes.log(`The Python extension's interpreter ${interpreter} is not used: ${probe.reason}.`);
    }
    const python = await probes.bundledEnvironment();
    return { command: python, args: PYTHON_MODULE_ARGS, source: 'bundled' };
}

/** The check run inside a candidate Python: its version, then the import. */
export const IMPORT_CHECK =
    'import sys\n' +
    'if sys.version_info < (3, 10):\n' +
    '    sys.exit("it is Python %d.%d; 3.10 or newer is needed" % sys.version_info[:2])\n' +
    'try:\n' +
    '    import downstream_sync.lsp.server\n' +
    'except ImportError as e:\n' +
    '    sys.exit("the package skaffold-downstream-sync is not importable there (%s)" % e)\n';

/** The reason for a failed import check, from what the check printed. */
export function importFailure(result: { code: number | undefined; stderr: string; error?: string }): string {
    if (result.error) {
        return `it cannot run (${result.error})`;
    }
    const lines = result.stderr.trim().split(/\r?\n/).filter((l) => l.trim());
    const last = lines.length ? lines[lines.length - 1] : `it exited with code ${result.code}`;
    return last;
}
