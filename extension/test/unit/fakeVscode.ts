// Small fakes of the few `vscode` API pieces the extension's logic touches, so that the unit tests
// run that logic (through src/common/vscodeapi.ts) in plain Node. The fakes only record and
// return; they decide nothing. setup.ts makes `require('vscode')` return this module.

export interface FakeState {
    configuration: Record<string, Record<string, unknown>>;
    messages: Array<{ kind: 'error' | 'warning' | 'info'; message: string; items: string[] }>;
    answers: Array<string | undefined>;
    /** What each showQuickPick call answers: a function of the items offered. */
    picks: Array<(items: any[], options: any) => any>;
    quickPicks: Array<{ items: any[]; options: any }>;
    commands: Array<{ command: string; args: unknown[] }>;
}

export const fake: FakeState = { configuration: {}, messages: [], answers: [], commands: [], picks: [], quickPicks: [] };

export function resetFake(): void {
    window.activeTextEditor = undefined;
    fake.configuration = {};
    fake.messages = [];
    fake.answers = [];
    fake.commands = [];
    fake.picks = [];
    fake.quickPicks = [];
}

/** Configuration per scope key ('' for none): the value of the scope, else of the user. */
function getConfiguration(section: string, scope?: { fsPath?: string }) {
    const scoped = fake.configuration[scope?.fsPath ?? ''] ?? {};
    const user = fake.configuration[''] ?? {};
    return {
        get<T>(key: string, defaultValue?: T): T | undefined {
            const full = `${section}.${key}`;
            if (full in scoped) return scoped[full] as T;
            if (full in user) return user[full] as T;
            return defaultValue;
        },
    };
}

function message(kind: 'error' | 'warning' | 'info') {
    return (text: string, ...items: string[]) => {
        fake.messages.push({ kind, message: text, items });
        return Promise.resolve(fake.answers.shift());
    };
}

export const workspace = {
    getConfiguration,
    workspaceFolders: undefined,
    onDidChangeConfiguration: () => ({ dispose() {} }),
    files: [] as Array<{ fsPath: string }>,
    findFiles() {
        return Promise.resolve(workspace.files);
    },
    textDocuments: [],
    asRelativePath: (uri: { fsPath: string }) => uri.fsPath,
};

export const window = {
    showErrorMessage: message('error'),
    showWarningMessage: message('warning'),
    showInformationMessage: message('info'),
    activeTextEditor: undefined as any,
    showQuickPick(items: any[], options: any) {
        fake.quickPicks.push({ items, options });
        const answer = fake.picks.shift();
        return Promise.resolve(answer ? answer(items, options) : undefined);
    },
};

export const commands = {
    executeCommand(command: string, ...args: unknown[]) {
        fake.commands.push({ command, args });
        return Promise.resolve(undefined);
    },
    registerCommand: () => ({ dispose() {} }),
};

export const extensions = { getExtension: () => undefined };

export const Uri = {
    from({ scheme, path }: { scheme: string; path: string }) {
        return { scheme, path, fsPath: path, toString: () => `${scheme}:${path}` };
    },
};

export class ThemeColor {
    constructor(readonly id: string) {}
}

export enum LanguageStatusSeverity {
    Information = 0,
    Warning = 1,
    Error = 2,
}
