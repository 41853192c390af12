// The status-bar item (statusText.ts says what it shows; a click shows the sessions view) and the
// language status item on Skaffold YAML files (download rules, and whether a session runs for it).

import type { Disposable, LanguageStatusItem, StatusBarItem, TextDocument } from 'vscode';
import { LanguageStatusSeverity, ThemeColor } from 'vscode';
import {
    activeTextEditor,
    createLanguageStatusItem,
    createStatusBarItem,
    onDidChangeActiveTextEditor,
    onDidChangeTextDocument,
} from './common/vscodeapi';
import type { ServerManager } from './server';
import { SessionsModel } from './sessionsModel';
import { isSkaffoldFileName, languageStatusText, summarize } from './skaffoldFile';
import { statusText } from './statusText';

export class StatusBar implements Disposable {
    readonly item: StatusBarItem;

    constructor(private readonly model: SessionsModel, private readonly server: ServerManager) {
        this.item = createStatusBarItem('downstreamSync.status', 50);
        this.item.name = 'Downstream Sync';
        this.item.command = 'downstreamSync.showSessions';
        model.onDidChange(() => this.update());
        server.onDidChange(() => this.update());
        this.update();
        this.item.show();
    }

    update(): void {
        const status = statusText(this.model.sessions.values(), this.server.problem);
        this.item.text = status.text;
        this.item.tooltip = status.tooltip;
        this.item.backgroundColor =
            status.kind === 'error'
                ? new ThemeColor('statusBarItem.errorBackground')
                : status.kind === 'conflict'
                  ? new ThemeColor('statusBarItem.warningBackground')
                  : undefined;
    }

    dispose(): void {
        this.item.dispose();
    }
}

export class FileStatus implements Disposable {
    private readonly item: LanguageStatusItem;
    private readonly subscriptions: Disposable[] = [];

    constructor(private readonly model: SessionsModel) {
        this.item = createLanguageStatusItem('downstreamSync.file', [
            { language: 'yaml', pattern: '**/skaffold*.yaml' },
            { language: 'yaml', pattern: '**/skaffold*.yml' },
        ]);
        this.item.name = 'Downstream Sync';
        this.item.command = { title: 'Start', command: 'downstreamSync.start' };
        model.onDidChange(() => this.update());
        this.subscriptions.push(onDidChangeActiveTextEditor(() => this.update()));
        this.subscriptions.push(
            onDidChangeTextDocument((e) => e.document === activeTextEditor()?.document && this.update()),
        );
        this.update();
    }

    update(): void {
        const document: TextDocument | undefined = activeTextEditor()?.document;
        if (!document || !isSkaffoldFileName(document.fileName)) {
            return;
        }
        const summary = summarize(document.getText());
        const running = this.model.sessionsFor(document.uri.fsPath).map((s) => s.name);
        const { text, detail } = languageStatusText(summary, running);
        this.item.text = text;
        this.item.detail = detail;
        this.item.severity = LanguageStatusSeverity.Information;
        this.item.command = running.length
            ? { title: 'Stop', command: 'downstreamSync.stop', arguments: [{ configPath: document.uri.fsPath }] }
            : { title: 'Start', command: 'downstreamSync.start', arguments: [document.uri] };
    }

    dispose(): void {
        this.item.dispose();
        this.subscriptions.forEach((d) => d.dispose());
    }
}
