// The schema the YAML extension (redhat.vscode-yaml) uses for skaffold.yaml. The package contributes
// the shipped one (yamlValidation, made from the newest schema Skaffold publishes); where Skaffold
// is installed, the schema of the user's own version, from `skaffold schema get`, patched the same
// way, is handed to the YAML extension through its schema contributor API instead.

import * as fs from 'fs';
import * as path from 'path';
import type { ExtensionContext } from 'vscode';
import { describeError, traceInfo, traceWarn } from './common/log';
import { run } from './common/process';
import { getExtension, getWorkspaceFolders } from './common/vscodeapi';
import { addDownload, newestVersion } from './schemaPatch';
import { getSettings } from './settings';
import { isSkaffoldFileName } from './skaffoldFile';

const SCHEME = 'downstreamsync-schema';

/** The patched schema of the installed Skaffold, written to global storage; undefined without Skaffold. */
export async function schemaFromSkaffold(skaffold: string, storageDir: string): Promise<string | undefined> {
    const list = await run(skaffold, ['schema', 'list'], 30_000);
    if (list.code !== 0) {
        traceInfo(`No schema from "${skaffold}" (${list.error ?? list.stderr.trim()}): the shipped schema is used.`);
        return undefined;
    }
    const version = newestVersion(list.stdout.split(/\r?\n/));
    if (!version) {
        return undefined;
    }
    const got = await run(skaffold, ['schema', 'get', version], 30_000);
    if (got.code !== 0) {
        traceWarn(`"${skaffold} schema get ${version}" failed: ${got.stderr.trim()}`);
        return undefined;
    }
    const patched = addDownload(JSON.parse(got.stdout));
    fs.mkdirSync(storageDir, { recursive: true });
    const file = path.join(storageDir, `skaffold-${version.replace(/[^\w.-]/g, '_')}.schema.json`);
    fs.writeFileSync(file, JSON.stringify(patched));
    traceInfo(`Using the schema of ${version} from ${skaffold}, with download added (${file}).`);
    return file;
}

export async function provideSchema(context: ExtensionContext): Promise<void> {
    const yaml = getExtension('redhat.vscode-yaml');
    if (!yaml) {
        return; // without the YAML extension nobody validates against a schema
    }
    try {
        const settings = getSettings(getWorkspaceFolders()[0]?.uri);
        const file = await schemaFromSkaffold(settings.skaffoldPath, context.globalStorageUri.fsPath);
        if (!file) {
            return;
        }
        const api = yaml.isActive ? yaml.exports : await yaml.activate();
        api?.registerContributor?.(
            'downstreamsync',
            (resource: string) => (isSkaffoldFileName(resource) ? `${SCHEME}://schema/skaffold.json` : undefined),
            () => fs.readFileSync(file, 'utf8'),
        );
    } catch (error) {
        traceWarn(`The schema of the installed Skaffold is not used: ${describeError(error)}`);
    }
}
