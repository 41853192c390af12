// The thin wrapper over the `vscode` API that the extension's logic goes through, so that the
// logic can be unit-tested with small fakes of these functions (test/unit/fakeVscode.ts).
// Nothing here decides anything: each function hands its arguments to VS Code.

import * as vscode from 'vscode';

export function createOutputChannel(name: string): vscode.LogOutputChannel {
    return vscode.window.createOutputChannel(name, { log: true });
}

export function getConfiguration(section: string, scope?: vscode.ConfigurationScope): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration(section, scope);
}

export function onDidChangeConfiguration(
    listener: (e: vscode.ConfigurationChangeEvent) => unknown,
): vscode.Disposable {
    return vscode.workspace.onDidChangeConfiguration(listener);
}

export function registerCommand(command: string, callback: (...args: any[]) => unknown): vscode.Disposable {
    return vscode.commands.registerCommand(command, callback);
}

export function executeCommand<T = unknown>(command: string, ...rest: unknown[]): Thenable<T> {
    return vscode.commands.executeCommand<T>(command, ...rest);
}

export function getWorkspaceFolders(): readonly vscode.WorkspaceFolder[] {
    return vscode.workspace.workspaceFolders ?? [];
}

export function findFiles(include: string, exclude: string): Thenable<vscode.Uri[]> {
    return vscode.workspace.findFiles(include, exclude);
}

export function asRelativePath(uri: vscode.Uri): string {
    return vscode.workspace.asRelativePath(uri);
}

export function textDocuments(): readonly vscode.TextDocument[] {
    return vscode.workspace.textDocuments;
}

export function getExtension(id: string): vscode.Extension<any> | undefined {
    return vscode.extensions.getExtension(id);
}

export function showErrorMessage(message: string, ...items: string[]): Thenable<string | undefined> {
    return vscode.window.showErrorMessage(message, ...items);
}

export function showWarningMessage(message: string, ...items: string[]): Thenable<string | undefined> {
    return vscode.window.showWarningMessage(message, ...items);
}

export function showInformationMessage(message: string, ...items: string[]): Thenable<string | undefined> {
    return vscode.window.showInformationMessage(message, ...items);
}

export function showQuickPick<T extends vscode.QuickPickItem>(
    items: readonly T[],
    options: vscode.QuickPickOptions & { canPickMany?: false },
): Thenable<T | undefined>;
export function showQuickPick<T extends vscode.QuickPickItem>(
    items: readonly T[],
    options: vscode.QuickPickOptions & { canPickMany: true },
): Thenable<T[] | undefined>;
export function showQuickPick<T extends vscode.QuickPickItem>(items: readonly T[], options: vscode.QuickPickOptions): Thenable<any> {
    return vscode.window.showQuickPick(items, options);
}

export function withProgress<R>(
    title: string,
    task: (progress: vscode.Progress<{ message?: string }>) => Thenable<R>,
): Thenable<R> {
    return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title }, task);
}

export function createStatusBarItem(id: string, priority: number): vscode.StatusBarItem {
    return vscode.window.createStatusBarItem(id, vscode.StatusBarAlignment.Left, priority);
}

export function createLanguageStatusItem(id: string, selector: vscode.DocumentSelector): vscode.LanguageStatusItem {
    return vscode.languages.createLanguageStatusItem(id, selector);
}

export function createTreeView<T>(id: string, provider: vscode.TreeDataProvider<T>): vscode.TreeView<T> {
    return vscode.window.createTreeView(id, { treeDataProvider: provider, showCollapseAll: true });
}

export function onDidChangeActiveTextEditor(listener: (e: vscode.TextEditor | undefined) => unknown): vscode.Disposable {
    return vscode.window.onDidChangeActiveTextEditor(listener);
}

export function activeTextEditor(): vscode.TextEditor | undefined {
    return vscode.window.activeTextEditor;
}

export function onDidChangeTextDocument(listener: (e: vscode.TextDocumentChangeEvent) => unknown): vscode.Disposable {
    return vscode.workspace.onDidChangeTextDocument(listener);
}

export function fileUri(path: string): vscode.Uri {
    return vscode.Uri.file(path);
}

export function schemeUri(scheme: string, path: string): vscode.Uri {
    return vscode.Uri.from({ scheme, path });
}

export function registerTextDocumentContentProvider(scheme: string, provider: vscode.TextDocumentContentProvider): vscode.Disposable {
    return vscode.workspace.registerTextDocumentContentProvider(scheme, provider);
}

export function parseUri(uri: string): vscode.Uri {
    return vscode.Uri.parse(uri);
}

export function openSettings(setting: string): Thenable<unknown> {
    return vscode.commands.executeCommand('workbench.action.openSettings', setting);
}

export async function showUntitled(content: string, language: string): Promise<void> {
    const document = await vscode.workspace.openTextDocument({ content, language });
    await vscode.window.showTextDocument(document);
}

export function createFileSystemWatcher(glob: string): vscode.FileSystemWatcher {
    return vscode.workspace.createFileSystemWatcher(glob);
}

/** Closes the diff editors whose right side is `fsPath`. */
export async function closeDiffsOf(fsPath: string): Promise<void> {
    const tabs = vscode.window.tabGroups.all
        .flatMap((group) => group.tabs)
        .filter((tab) => tab.input instanceof vscode.TabInputTextDiff && tab.input.modified.fsPath === fsPath);
    if (tabs.length) {
        await vscode.window.tabGroups.close(tabs);
    }
}
