// The one log of the extension: the "Downstream Sync" output channel (a LogOutputChannel, so the
// user picks its level), shared with the language client for its own messages and the protocol trace.

import type { LogOutputChannel } from 'vscode';

let channel: LogOutputChannel | undefined;

export function registerLogger(output: LogOutputChannel): void {
    channel = output;
}

export function traceInfo(message: string): void {
    channel?.info(message);
}

export function traceWarn(message: string): void {
    channel?.warn(message);
}

export function traceError(message: string, error?: unknown): void {
    channel?.error(error === undefined ? message : `${message}: ${describeError(error)}`);
}

export function traceVerbose(message: string): void {
    channel?.debug(message);
}

export function showLog(): void {
    channel?.show(true);
}

/** A one-line description of a thrown value, for a log line or a message. */
export function describeError(error: unknown): string {
    if (error instanceof Error) {
        return error.message;
    }
    return String(error);
}
