// Activation: the log channel, the language server, the sessions model and everything that shows
// it (status bar, language status, view), the commands, and the schema for the YAML extension.

import type { ExtensionContext } from 'vscode';
import { registerLogger, showLog, traceInfo } from './common/log';
import {
    createFileSystemWatcher,
    createOutputChannel,
    createTreeView,
    executeCommand,
    onDidChangeConfiguration,
    registerCommand,
    registerTextDocumentContentProvider,
} from './common/vscodeapi';
import { SCHEME } from './injectedManifests';
import { Commands } from './commands';
import { provideSchema } from './schema';
import { ServerManager } from './server';
import { Node, SessionsView } from './sessionsView';
import { SessionsModel } from './sessionsModel';
import { needsServerRestart } from './settings';
import { FileStatus, StatusBar } from './status';

let server: ServerManager | undefined;

export async function activate(context: ExtensionContext): Promise<void> {
    const channel = createOutputChannel('Downstream Sync');
    context.subscriptions.push(channel);
    registerLogger(channel);
    traceInfo(`Downstream Sync ${context.extension.packageJSON.version} activated.`);

    const model = new SessionsModel();
    server = new ServerManager(context, channel, model);
    const commands = new Commands(context, server, model);
    const view = createTreeView<Node>('downstreamSync.sessions', new SessionsView(model));
    // A conflict is settled when the container's copy beside the file goes (Keep local from the
    // server's prompt, Take remote, or by hand): the server sends no event for Keep local.
    const copies = createFileSystemWatcher('**/*.downstream-conflict');
    copies.onDidDelete((uri) => model.copyGone(uri.fsPath));

    context.subscriptions.push(
        view,
        copies,
        new StatusBar(model, server),
        new FileStatus(model),
        registerCommand('downstreamSync.start', (uri) => commands.start(uri)),
        registerCommand('downstreamSync.stop', (arg) => commands.stop(arg)),
        registerCommand('downstreamSync.showLog', () => showLog()),
        registerCommand('downstreamSync.resolveConflict', (arg) => commands.resolveConflict(arg)),
        registerCommand('downstreamSync.keepLocal', (arg) => commands.resolveWith(arg, 'keep-local')),
        registerCommand('downstreamSync.takeRemote', (arg) => commands.resolveWith(arg, 'take-remote')),
        registerCommand('downstreamSync.openEvent', (node: Node) => commands.openEvent(node)),
        registerTextDocumentContentProvider(SCHEME, commands.manifests),
        registerCommand('downstreamSync.showInjectedManifests', (uri) => commands.showInjectedManifests(uri)),
        registerCommand('downstreamSync.restartServer', () => server?.restart()),
        registerCommand('downstreamSync.showSessions', () => executeCommand('downstreamSync.sessions.focus')),
        onDidChangeConfiguration((event) => {
            if (needsServerRestart(event)) {
                traceInfo('A server setting changed: restarting the language server.');
                void server?.restart();
            }
        }),
    );
    void provideSchema(context);
    await server.start();
}

export async function deactivate(): Promise<void> {
    await server?.stop();
}
