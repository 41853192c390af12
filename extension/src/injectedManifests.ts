// "Show Injected Manifests": the server's answer (showInjectedManifests) kept as two read-only
// virtual documents of our own scheme, the manifests as written and as injected, for a diff editor.

import type { Event, TextDocumentContentProvider, Uri } from 'vscode';

export const SCHEME = 'downstream-sync-manifests';

/** The result of `downstreamSync.server.showInjectedManifests` (PROTOCOL.md). */
export interface InjectedManifests {
    configPath: string;
    original: string;
    injected: string;
    files: string[];
    containers: string[];
    warnings: string[];
    renderer: string;
}

export function isInjectedManifests(value: unknown): value is InjectedManifests {
    const v = value as InjectedManifests;
    return !!v && typeof v.original === 'string' && typeof v.injected === 'string' && typeof v.configPath === 'string';
}

/** The paths of a config's two documents: they end in .yaml (YAML highlighting) and are not named
 * skaffold*.yaml (no Skaffold schema is applied to manifests). */
export function documentPaths(configPath: string): { original: string; injected: string } {
    const base = `${configPath.replace(/\\/g, '/')}.manifests`;
    return { original: `${base}/original.yaml`, injected: `${base}/injected.yaml` };
}

/** What a user reads beside the diff: how many containers were injected, and the warnings. */
export function summaryMessage(result: InjectedManifests): string {
    const n = result.containers.length;
    const head = `Downstream Sync: ${n} container${n === 1 ? '' : 's'} injected in ${result.files.join(', ')}`;
    const warnings = result.warnings.slice(0, 3).join('; ');
    const more = result.warnings.length > 3 ? ` (and ${result.warnings.length - 3} more)` : '';
    return warnings ? `${head}. Warnings: ${warnings}${more}` : `${head}.`;
}

export class ManifestDocuments implements TextDocumentContentProvider {
    private readonly texts = new Map<string, string>();
    private readonly listeners: Array<(uri: Uri) => unknown> = [];

    readonly onDidChange: Event<Uri> = (listener) => {
        this.listeners.push(listener);
        return { dispose: () => void this.listeners.splice(this.listeners.indexOf(listener), 1) };
    };

    /** Keeps the texts of one answer under their paths; a document already open is refreshed. */
    put(result: InjectedManifests, toUri: (path: string) => Uri): { original: Uri; injected: Uri } {
        const paths = documentPaths(result.configPath);
        const uris = { original: toUri(paths.original), injected: toUri(paths.injected) };
        this.texts.set(paths.original, result.original);
        this.texts.set(paths.injected, result.injected);
        for (const uri of [uris.original, uris.injected]) {
            this.listeners.forEach((l) => l(uri));
        }
        return uris;
    }

    provideTextDocumentContent(uri: Uri): string {
        return this.texts.get(uri.path) ?? '# Run "Show Injected Manifests" again: this document is no longer held.\n';
    }
}
