// The real probes behind findServer (python.ts): files, child Pythons, the Python extension's
// API and the bundled environment.

import * as fs from 'fs';
import type { ExtensionContext } from 'vscode';
import { describeError } from './common/log';
import { run } from './common/process';
import { getExtension, getWorkspaceFolders, withProgress } from './common/vscodeapi';
import { bundledEnvironmentMade, ensureBundledEnvironment } from './bundledEnv';
import { IMPORT_CHECK, importFailure, ServerProbes } from './python';

export function realProbes(context: ExtensionContext, log: (m: string) => void): ServerProbes {
    return {
        async isExecutable(path) {
            try {
                await fs.promises.access(path, fs.constants.X_OK);
                return (await fs.promises.stat(path)).isFile();
            } catch {
                return false;
            }
        },
        async canImportServer(python) {
            const result = await run(python, ['-c', IMPORT_CHECK], 30_000);
            return result.code === 0 ? { ok: true } : { ok: false, reason: importFailure(result) };
        },
        async pythonExtensionInterpreter() {
            const extension = getExtension('ms-python.python');
            if (!extension) {
                return undefined;
            }
            try {
                const api = extension.isActive ? extension.exports : await extension.activate();
                const resource = getWorkspaceFolders()[0]?.uri;
                const environments = api?.environments;
                if (environments?.getActiveEnvironmentPath) {
                    const active = environments.getActiveEnvironmentPath(resource);
                    const resolved = await environments.resolveEnvironment(active);
                    const executable = resolved?.executable?.uri?.fsPath;
                    if (executable) {
                        return executable;
                    }
                }
                const command: string[] | undefined = api?.settings?.getExecutionDetails?.(resource)?.execCommand;
                return command && command.length === 1 ? command[0] : undefined;
            } catch (error) {
                log(`The Python extension did not name an interpreter: ${describeError(error)}`);
                return undefined;
            }
        },
        async bundledEnvironment() {
            const storage = context.globalStorageUri.fsPath;
            const version: string = context.extension.packageJSON.version;
            const make = (report?: (m: string) => void) =>
                ensureBundledEnvironment(storage, context.asAbsolutePath('wheels'), version, log, report);
            if (bundledEnvironmentMade(storage, version)) {
                return make();
            }
            // The first start: tell the user what takes these seconds.
            return withProgress('Downstream Sync: setting up its Python environment', (progress) =>
                make((message) => progress.report({ message })),
            );
        },
        log,
    };
}
