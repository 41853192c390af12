// The extension's settings (`downstreamSync.*`), read for one resource so that workspace and
// folder settings override user settings as VS Code resolves them, and what they turn into:
// the options of the server's startSession command.

import type { ConfigurationChangeEvent, ConfigurationScope } from 'vscode';
import { getConfiguration } from './common/vscodeapi';

export const SECTION = 'downstreamSync';

export type ConflictPolicy = 'safe' | 'remote-wins';

export interface Settings {
    kubeContext: string;
    kubeconfig: string;
    namespace: string;
    conflictPolicy: ConflictPolicy;
    connectCommand: string[];
    helperImage: string;
    python: string;
    serverPath: string;
    skaffoldPath: string;
}

/** Settings that, when changed, need a new language server. */
export const SERVER_SETTINGS = ['python', 'serverPath', 'trace.server'];

function text(value: unknown): string {
    return typeof value === 'string' ? value.trim() : '';
}

export function getSettings(scope?: ConfigurationScope): Settings {
    const config = getConfiguration(SECTION, scope);
    const policy = config.get<string>('conflictPolicy');
    const connect = config.get<unknown>('connectCommand');
    return {
        kubeContext: text(config.get('kubeContext')),
        kubeconfig: text(config.get('kubeconfig')),
        namespace: text(config.get('namespace')),
        conflictPolicy: policy === 'remote-wins' ? 'remote-wins' : 'safe',
        connectCommand: Array.isArray(connect) ? connect.filter((a): a is string => typeof a === 'string') : [],
        helperImage: text(config.get('helperImage')),
        python: text(config.get('python')),
        serverPath: text(config.get('serverPath')),
        skaffoldPath: text(config.get('skaffoldPath')) || 'skaffold',
    };
}

export function needsServerRestart(event: ConfigurationChangeEvent): boolean {
    return SERVER_SETTINGS.some((key) => event.affectsConfiguration(`${SECTION}.${key}`));
}

export interface StartChoice {
    configPath: string;
    profiles: string[];
    /** One artifact's image, or undefined for every artifact with a download stanza. */
    artifact?: string;
}

/** The argument of `downstreamSync.server.startSession` for one choice under these settings. */
export function startSessionArgs(choice: StartChoice, settings: Settings): Record<string, unknown> {
    const args: Record<string, unknown> = { configPath: choice.configPath, policy: settings.conflictPolicy };
    if (choice.profiles.length > 0) {
        args.profile = choice.profiles.join(',');
    }
    if (choice.artifact) {
        args.artifact = choice.artifact;
    }
    if (settings.namespace) {
        args.namespace = settings.namespace;
    }
    if (settings.kubeContext) {
        args.kubeContext = settings.kubeContext;
    }
    if (settings.kubeconfig) {
        args.kubeconfig = settings.kubeconfig;
    }
    if (settings.connectCommand.length > 0) {
        const image = choice.artifact ?? '';
        args.connectCommand = settings.connectCommand.map((word) => word.split('{image}').join(image));
    }
    return args;
}

/** The argument of `downstreamSync.server.showInjectedManifests`: the helper image and the
 * `skaffold` (for configs without rawYaml manifests) come from the settings. */
export function showInjectedArgs(configPath: string, profiles: string[], settings: Settings): Record<string, unknown> {
    const args: Record<string, unknown> = { configPath, skaffoldPath: settings.skaffoldPath };
    if (profiles.length > 0) {
        args.profile = profiles.join(',');
    }
    if (settings.helperImage) {
        args.helperImage = settings.helperImage;
    }
    return args;
}

/** The server's initializationOptions: the defaults of its commands (PROTOCOL.md). */
export function initializationOptions(settings: Settings): Record<string, string> {
    const options: Record<string, string> = { skaffoldPath: settings.skaffoldPath };
    if (settings.helperImage) {
        options.helperImage = settings.helperImage;
    }
    return options;
}
