// The palette commands (category "Skaffold") and the view's item commands. Each calls one of the
// server's commands through ServerManager.execute (the server's own ids are registered by the
// language client; ours are different ids that call them).

import * as fs from 'fs';
import * as path from 'path';
import type { ExtensionContext, QuickPickItem, Uri } from 'vscode';
import { describeError, traceError, traceInfo } from './common/log';
import {
    activeTextEditor,
    asRelativePath,
    closeDiffsOf,
    executeCommand,
    fileUri,
    findFiles,
    openSettings,
    showErrorMessage,
    showInformationMessage,
    showQuickPick,
    schemeUri,
    showWarningMessage,
    textDocuments,
} from './common/vscodeapi';
import type { ServerManager } from './server';
import { CommandFailed, SERVER_COMMANDS } from './serverCommands';
import { eventFile, Node } from './sessionsView';
import { Conflict, SessionsModel } from './sessionsModel';
import { getSettings, showInjectedArgs, startSessionArgs } from './settings';
import { isSkaffoldFileName, summarize } from './skaffoldFile';
import { isInjectedManifests, ManifestDocuments, SCHEME, summaryMessage } from './injectedManifests';

const LAST_START = 'downstreamSync.lastStart';
export const KEEP_LOCAL = 'Keep local';
export const TAKE_REMOTE = 'Take remote';
const SHOW_DIFF = 'Show diff';
const SHOW_LOG = 'Show Log';

interface LastStart {
    configPath: string;
    profile?: string;
    artifacts?: string[];
}

/** Items with the remembered one first and marked. */
export function rememberedFirst<T extends QuickPickItem>(items: T[], isLast: (item: T) => boolean): T[] {
    const last = items.filter(isLast).map((item) => ({ ...item, description: item.description ? `${item.description} (last used)` : 'last used' }));
    return [...last, ...items.filter((item) => !isLast(item))];
}

export class Commands {
    constructor(
        private readonly context: ExtensionContext,
        private readonly server: ServerManager,
        private readonly model: SessionsModel,
        readonly manifests: ManifestDocuments = new ManifestDocuments(),
    ) {}

    private async failed(what: string, error: unknown): Promise<void> {
        const message = `${what}: ${describeError(error)}`;
        traceError(message);
        const buttons = error instanceof CommandFailed ? [SHOW_LOG, 'Open Settings'] : [SHOW_LOG];
        const choice = await showErrorMessage(message, ...buttons);
        if (choice === SHOW_LOG) {
            await executeCommand('downstreamSync.showLog');
        } else if (choice === 'Open Settings') {
            await openSettings('downstreamSync');
        }
    }

    /** The skaffold.yaml to act on: `target`, else the only one, else the user's pick (the last
     * used first); undefined when there is none (said, with buttons) or the pick was cancelled. */
    private async pickConfig(title: string, target?: Uri): Promise<Uri | undefined> {
        const configs = target?.fsPath
            ? [target]
            : await findFiles('**/skaffold*.{yaml,yml}', '**/{node_modules,.git,.downstream-sync}/**');
        if (configs.length === 0) {
            const choice = await showErrorMessage(
                'Downstream Sync: this workspace has no skaffold.yaml. Open the folder that holds it, or add one with a download stanza under build.artifacts.',
                'Open Folder',
                SHOW_LOG,
            );
            if (choice === 'Open Folder') {
                await executeCommand('workbench.action.files.openFolder');
            } else if (choice === SHOW_LOG) {
                await executeCommand('downstreamSync.showLog');
            }
            return undefined;
        }
        if (configs.length === 1) {
            return configs[0];
        }
        const last = this.context.workspaceState.get<LastStart>(LAST_START);
        const items = configs
            .map((uri) => ({ label: asRelativePath(uri), uri }))
            .sort((a, b) => a.label.localeCompare(b.label));
        const picked = await showQuickPick(
            rememberedFirst(items, (i) => i.uri.fsPath === last?.configPath),
            { title, placeHolder: 'The skaffold.yaml to use' },
        );
        return picked?.uri;
    }

    /** [] for no profile, [name] for one; undefined when the pick was cancelled. */
    private async pickProfile(title: string, profiles: string[], remembered?: LastStart): Promise<string[] | undefined> {
        if (profiles.length === 0) {
            return [];
        }
        const none = { label: '(no profile)', profile: undefined as string | undefined };
        const items = [none, ...profiles.map((p) => ({ label: p, profile: p as string | undefined }))];
        const picked = await showQuickPick(
            rememberedFirst(items, (i) => remembered !== undefined && i.profile === remembered.profile),
            { title: `${title}: profile`, placeHolder: 'The Skaffold profile to use' },
        );
        return picked ? (picked.profile ? [picked.profile] : []) : undefined;
    }

    async start(target?: Uri): Promise<void> {
        const config = await this.pickConfig('Start Downstream Sync', target);
        if (!config) {
            return;
        }
        const last = this.context.workspaceState.get<LastStart>(LAST_START);
        const configPath = config.fsPath;
        const remembered = last?.configPath === configPath ? last : undefined;
        const summary = summarize(this.readText(configPath));
        const profiles = await this.pickProfile('Start Downstream Sync', summary.profiles, remembered);
        if (!profiles) {
            return;
        }
        const profile = profiles[0];

        let artifacts: Array<string | undefined> = [undefined];
        if (summary.downloadArtifacts.length > 1) {
            const items = summary.downloadArtifacts.map((image) => ({
                label: image,
                picked: !remembered?.artifacts || remembered.artifacts.includes(image),
            }));
            const picked = await showQuickPick(items, {
                title: 'Start Downstream Sync: artifacts',
                placeHolder: 'The artifacts to sync',
                canPickMany: true,
            });
            if (!picked || picked.length === 0) {
                return;
            }
            artifacts = picked.map((p) => p.label);
        } else if (summary.downloadArtifacts.length === 1) {
            artifacts = [summary.downloadArtifacts[0]];
        }
        await this.context.workspaceState.update(LAST_START, {
            configPath,
            profile,
            artifacts: artifacts.filter((a): a is string => !!a),
        } satisfies LastStart);

        const settings = getSettings(config);
        for (const artifact of artifacts) {
            const args = startSessionArgs({ configPath, profiles: profile ? [profile] : [], artifact }, settings);
            traceInfo(`Starting sessions: ${JSON.stringify(args)}`);
            try {
                const result = await this.server.execute<{ sessions: any[] }>(SERVER_COMMANDS.start, args);
                for (const info of result?.sessions ?? []) {
                    this.model.updateInfo(info);
                    traceInfo(`Session ${info.name}${info.alreadyRunning ? ' already runs' : ' started'}: ${info.transport}`);
                }
            } catch (error) {
                await this.failed(`Downstream Sync could not start${artifact ? ` for ${artifact}` : ''}`, error);
                return;
            }
        }
    }

    private readText(configPath: string): string {
        const open = textDocuments().find((d) => d.uri.fsPath === configPath);
        if (open) {
            return open.getText();
        }
        try {
            return fs.readFileSync(configPath, 'utf8');
        } catch {
            return '';
        }
    }

    async stop(arg?: { configPath?: string; name?: string } | Node): Promise<void> {
        let payload: Record<string, string> = {};
        if (arg && 'type' in arg) {
            payload = { name: arg.session.name };
        } else if (arg?.configPath || arg?.name) {
            payload = arg.name ? { name: arg.name } : { configPath: arg.configPath! };
        } else {
            const running = [...this.model.sessions.values()];
            if (running.length === 0) {
                await showInformationMessage('No Downstream Sync session runs.');
                return;
            }
            if (running.length > 1) {
                const all = { label: 'All sessions', name: undefined as string | undefined };
                const picked = await showQuickPick([all, ...running.map((s) => ({ label: s.name, description: s.transport, name: s.name as string | undefined }))], {
                    title: 'Stop Downstream Sync',
                });
                if (!picked) {
                    return;
                }
                payload = picked.name ? { name: picked.name } : {};
            }
        }
        try {
            const result = await this.server.execute<{ stopped: string[] }>(SERVER_COMMANDS.stop, payload);
            traceInfo(`Stopped: ${(result?.stopped ?? []).join(', ') || 'none'}`);
            this.model.forget(result?.stopped ?? []);
        } catch (error) {
            await this.failed('Downstream Sync could not stop', error);
        }
    }

    /** The conflict an item of the view or a diff editor (the container's copy) stands for. */
    private conflictOf(arg: unknown): Conflict | undefined {
        if (arg && typeof arg === 'object' && 'type' in arg) {
            const node = arg as Node;
            return node.type === 'event' ? node.session.conflicts.get(node.event.path ?? '') : undefined;
        }
        if (arg && typeof arg === 'object' && 'fsPath' in arg) {
            const file = (arg as Uri).fsPath;
            return this.model.findConflict((c, s) => eventFile(s, c.remoteCopy) === file || eventFile(s, c.path) === file);
        }
        if (arg && typeof arg === 'object' && 'session' in arg && 'path' in arg) {
            return arg as Conflict;
        }
        return undefined;
    }

    private async pickConflict(): Promise<Conflict | undefined> {
        const open = this.model.conflicts();
        if (open.length === 0) {
            await showInformationMessage('Downstream Sync has no open conflict.');
            return undefined;
        }
        if (open.length === 1) {
            return open[0];
        }
        const picked = await showQuickPick(
            open.map((c) => ({ label: c.path, description: c.session, detail: c.reason, conflict: c })),
            { title: 'Resolve Downstream Sync Conflict' },
        );
        return picked?.conflict;
    }

    async resolveConflict(arg?: unknown): Promise<void> {
        const conflict = this.conflictOf(arg) ?? (await this.pickConflict());
        if (!conflict) {
            return;
        }
        const picked = await showQuickPick(
            [
                { label: KEEP_LOCAL, detail: 'Keep the file on your disk; the container\'s copy is dropped.' },
                { label: TAKE_REMOTE, detail: 'Take the container\'s copy; yours is kept beside it.' },
                { label: SHOW_DIFF, detail: 'Compare the two first.' },
            ],
            { title: `Resolve ${conflict.path}` },
        );
        if (picked?.label === SHOW_DIFF) {
            await this.showConflict(conflict);
        } else if (picked) {
            await this.resolve(conflict, picked.label === KEEP_LOCAL ? 'keep-local' : 'take-remote');
        }
    }

    async resolveWith(arg: unknown, choice: 'keep-local' | 'take-remote'): Promise<void> {
        const conflict = this.conflictOf(arg) ?? (await this.pickConflict());
        if (conflict) {
            await this.resolve(conflict, choice);
        }
    }

    private async resolve(conflict: Conflict, choice: 'keep-local' | 'take-remote'): Promise<void> {
        const session = this.model.sessions.get(conflict.session);
        if (!session?.conflicts.has(conflict.path)) {
            return; // settled meanwhile (the other button, or the server's prompt)
        }
        const copy = conflict.remoteCopy ? eventFile(session, conflict.remoteCopy) : undefined;
        try {
            await this.server.execute(SERVER_COMMANDS.resolve, { session: conflict.session, path: conflict.path, choice });
            this.model.resolved(conflict.session, conflict.path);
            traceInfo(`Conflict on ${conflict.path} resolved: ${choice}`);
            if (copy) {
                await closeDiffsOf(copy);
            }
        } catch (error) {
            await this.failed(`Downstream Sync could not resolve ${conflict.path}`, error);
        }
    }

    /** A diff of the local file (left) against the container's copy (right); its title bar has
     * Keep local and Take remote (package.json, menus.editor/title). */
    async showConflict(conflict: Conflict): Promise<void> {
        const session = this.model.sessions.get(conflict.session);
        const local = session && eventFile(session, conflict.path);
        const remote = session && eventFile(session, conflict.remoteCopy);
        if (!local || !remote || !fs.existsSync(remote)) {
            await showWarningMessage(`Downstream Sync: the container's copy of ${conflict.path} is not on disk; resolve it from the palette.`);
            return;
        }
        await executeCommand(
            'vscode.diff',
            fileUri(local),
            fileUri(remote),
            `${path.basename(conflict.path)}: local ↔ container`,
        );
    }

    async openEvent(node: Node): Promise<void> {
        const conflict = this.conflictOf(node);
        if (conflict) {
            await this.showConflict(conflict);
            return;
        }
        const file = node.type === 'event' ? eventFile(node.session, node.event.path) : undefined;
        if (file) {
            await executeCommand('vscode.open', fileUri(file));
        }
    }

    /** The config's manifests as written beside them injected, in a diff editor (read-only
     * virtual documents); the config is the active editor's skaffold.yaml, else picked. */
    async showInjectedManifests(target?: Uri): Promise<void> {
        const command = this.server.injectedManifestsCommand;
        if (!command) {
            await showInformationMessage('This version of the Downstream Sync server does not show injected manifests.');
            return;
        }
        const active = activeTextEditor()?.document.uri;
        const config = target?.fsPath ? target : active?.scheme === 'file' && isSkaffoldFileName(active.fsPath) ? active : await this.pickConfig('Show Injected Manifests');
        if (!config) {
            return;
        }
        const last = this.context.workspaceState.get<LastStart>(LAST_START);
        const remembered = last?.configPath === config.fsPath ? last : undefined;
        const profiles = await this.pickProfile('Show Injected Manifests', summarize(this.readText(config.fsPath)).profiles, remembered);
        if (!profiles) {
            return;
        }
        const args = showInjectedArgs(config.fsPath, profiles, getSettings(config));
        traceInfo(`Showing the injected manifests: ${JSON.stringify(args)}`);
        let result: unknown;
        try {
            result = await this.server.execute<unknown>(command, args);
        } catch (error) {
            await this.failed('Downstream Sync could not show the injected manifests', error);
            return;
        }
        if (!isInjectedManifests(result)) {
            await this.failed('Downstream Sync could not show the injected manifests', new Error(`the server answered ${JSON.stringify(result)?.slice(0, 200)}`));
            return;
        }
        const uris = this.manifests.put(result, (p) => schemeUri(SCHEME, p));
        await executeCommand('vscode.diff', uris.original, uris.injected, `${asRelativePath(config)}: manifests ↔ injected`, { preview: false });
        const summary = summaryMessage(result);
        traceInfo(summary);
        if (result.warnings.length > 0) {
            await showWarningMessage(summary);
        }
    }
}
