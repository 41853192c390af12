// The language server's lifetime: find it (python.ts), start it with one LanguageClient whose
// output and protocol trace go to the one log channel, restart it on a command or a settings
// change, and turn a server that cannot be found or that stops into a message with a button.

import type { ExtensionContext, LogOutputChannel } from 'vscode';
import {
    CloseAction,
    ErrorAction,
    ExecuteCommandRequest,
    LanguageClient,
    LanguageClientOptions,
    RevealOutputChannelOn,
    ServerOptions,
    State,
} from 'vscode-languageclient/node';

const SHOW_LOG = 'Show Log';
const OPEN_SETTING = 'Open Setting';
import { describeError, traceError, traceInfo, traceWarn } from './common/log';
import { executeCommand, getWorkspaceFolders, openSettings, showErrorMessage } from './common/vscodeapi';
import { describeServer, findServer, ServerCommand, ServerNotFound } from './python';
import { CommandFailed, SERVER_COMMANDS } from './serverCommands';
import { realProbes } from './serverProbes';
import { FileEventParams, SessionsModel, SessionStateParams } from './sessionsModel';
import { getSettings, initializationOptions } from './settings';

export class ServerManager {
    client: LanguageClient | undefined;
    server: ServerCommand | undefined;
    /** Why no server runs, while none does (for the status bar). */
    problem: string | undefined;
    private starting: Promise<void> | undefined;
    private listeners: Array<() => void> = [];

    constructor(
        private readonly context: ExtensionContext,
        private readonly channel: LogOutputChannel,
        private readonly model: SessionsModel,
    ) {}

    onDidChange(listener: () => void): void {
        this.listeners.push(listener);
    }

    private changed(): void {
        this.listeners.forEach((l) => l());
    }

    /** Starts the server unless one runs or is starting. */
    start(): Promise<void> {
        this.starting ??= this.doStart().finally(() => (this.starting = undefined));
        return this.starting;
    }

    async restart(): Promise<void> {
        await this.starting;
        await this.stop();
        await this.start();
    }

    async stop(): Promise<void> {
        const client = this.client;
        this.client = undefined;
        this.model.clear();
        if (client) {
            try {
                await client.stop(5000);
            } catch (error) {
                traceWarn(`The language server did not stop cleanly: ${describeError(error)}`);
            }
            await client.dispose();
        }
        this.changed();
    }

    private async doStart(): Promise<void> {
        this.problem = undefined;
        const settings = getSettings(getWorkspaceFolders()[0]?.uri);
        let server: ServerCommand;
        try {
            server = await findServer(settings, realProbes(this.context, traceInfo));
        } catch (error) {
            const setting = error instanceof ServerNotFound ? error.setting : undefined;
            this.fail(`Downstream Sync cannot start its language server: ${describeError(error)}`, setting);
            return;
        }
        this.server = server;
        traceInfo(`Starting the language server: ${describeServer(server)}`);
        const serverOptions: ServerOptions = { command: server.command, args: server.args, options: { env: { ...process.env } } };
        const model = this.model;
        let startedAt = Date.now();
        let running = false;
        const setting = server.source === 'serverPath' ? 'downstreamSync.serverPath' : server.source === 'python' ? 'downstreamSync.python' : undefined;
        const clientOptions: LanguageClientOptions = {
            documentSelector: [
                { scheme: 'file', language: 'yaml' },
                { scheme: 'untitled', language: 'yaml' },
            ],
            outputChannel: this.channel,
            traceOutputChannel: this.channel,
            revealOutputChannelOn: RevealOutputChannelOn.Never,
            initializationOptions: initializationOptions(settings),
            middleware: {
                handleWorkDoneProgress(token, params, next) {
                    model.applyProgress(token, params.kind, 'message' in params ? params.message : undefined);
                    next(token, params);
                },
            },
            errorHandler: {
                error: (error) => {
                    traceError('The connection to the language server failed', error);
                    return { action: running ? ErrorAction.Continue : ErrorAction.Shutdown, handled: true };
                },
                closed: () => {
                    if (!running) {
                        return { action: CloseAction.DoNotRestart, handled: true }; // start() says why
                    }
                    // A server that dies soon after its start would only die again: say so, once.
                    if (Date.now() - startedAt < 15_000) {
                        this.fail(`The Downstream Sync language server stopped soon after it started (${describeServer(server)}). Its output is in the log.`, setting);
                        return { action: CloseAction.DoNotRestart, handled: true };
                    }
                    traceWarn('The language server stopped; starting it again.');
                    startedAt = Date.now();
                    model.clear();
                    return { action: CloseAction.Restart };
                },
            },
            // start() turns a failed start into one message of ours.
            initializationFailedHandler: () => false,
        };
        const client = new LanguageClient('downstreamSync', 'Downstream Sync', serverOptions, clientOptions);
        client.onNotification('downstreamSync/sessionState', (params: SessionStateParams) => model.applyState(params));
        client.onNotification('downstreamSync/fileEvent', (params: FileEventParams) => model.applyFileEvent(params));
        client.onDidChangeState((e) => {
            if (e.newState === State.Stopped) {
                model.clear();
            }
            this.changed();
        });
        this.client = client;
        try {
            await client.start();
        } catch (error) {
            this.client = undefined;
            this.fail(
                `The Downstream Sync language server stopped at start (${describeServer(server)}): ${describeError(error)}. Its output is in the log.`,
                setting,
            );
            return;
        }
        running = true;
        startedAt = Date.now();
        traceInfo(`The language server runs (${client.initializeResult?.serverInfo?.name ?? 'downstream-sync'} ${client.initializeResult?.serverInfo?.version ?? ''}).`);
        const offered = client.initializeResult?.capabilities.executeCommandProvider?.commands ?? [];
        this.injectedManifestsCommand = offered.includes(SERVER_COMMANDS.showInjected) ? SERVER_COMMANDS.showInjected : undefined;
        await executeCommand('setContext', 'downstreamSync.offersInjectedManifests', !!this.injectedManifestsCommand);
        await this.refreshSessions();
        this.changed();
    }

    injectedManifestsCommand: string | undefined;

    private fail(message: string, setting?: string): void {
        this.problem = message;
        traceError(message);
        this.changed();
        const buttons = setting ? [OPEN_SETTING, SHOW_LOG] : [SHOW_LOG];
        void showErrorMessage(message, ...buttons).then((choice) => {
            if (choice === SHOW_LOG) {
                this.channel.show(true);
            } else if (choice === OPEN_SETTING && setting) {
                void openSettings(setting);
            }
        });
    }

    isRunning(): boolean {
        return this.client?.state === State.Running;
    }

    /** The running client, starting the server when none runs; undefined (and a message shown) when it cannot. */
    async ready(): Promise<LanguageClient | undefined> {
        if (!this.isRunning()) {
            await this.start();
        }
        return this.isRunning() ? this.client : undefined;
    }

    /** Runs one of the server's commands; a refusal becomes a CommandFailed with the server's message. */
    async execute<T>(command: string, args?: unknown): Promise<T> {
        const client = await this.ready();
        if (!client) {
            throw new CommandFailed(this.problem ?? 'the Downstream Sync language server does not run');
        }
        try {
            return (await client.sendRequest(ExecuteCommandRequest.type, {
                command,
                arguments: args === undefined ? [] : [args],
            })) as T;
        } catch (error) {
            throw new CommandFailed(describeError(error));
        }
    }

    async refreshSessions(): Promise<void> {
        try {
            const result = await this.execute<{ sessions: any[] }>(SERVER_COMMANDS.list);
            for (const info of result?.sessions ?? []) {
                this.model.updateInfo(info);
            }
        } catch (error) {
            traceWarn(`Could not list the sessions: ${describeError(error)}`);
        }
    }
}
