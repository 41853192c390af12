// What the status bar says, as a pure function of the sessions: idle, connecting, reconciling
// (files and bytes), syncing (the last file), conflict (count) or error, with a tooltip that names
// each session's pod and container.

import type { Session } from './sessionsModel';

export type StatusKind = 'idle' | 'connecting' | 'reconciling' | 'syncing' | 'conflict' | 'error';

export interface StatusText {
    kind: StatusKind;
    text: string;
    tooltip: string;
}

function baseName(path: string): string {
    const parts = path.split(/[\\/]/);
    return parts[parts.length - 1] || path;
}

function sessionLine(s: Session): string {
    const where = s.transport ? ` on ${s.transport}` : '';
    const detail = s.detail ? `: ${s.detail}` : '';
    const progress = s.progress ? ` (${s.progress})` : '';
    const conflicts = s.conflicts.size ? `, ${s.conflicts.size} conflict${s.conflicts.size > 1 ? 's' : ''}` : '';
    return `${s.name}${where}: ${s.state}${progress}${conflicts}${detail}`;
}

export function statusText(sessions: Iterable<Session>, serverError?: string): StatusText {
    const all = [...sessions];
    if (serverError) {
        return { kind: 'error', text: '$(error) Downstream Sync', tooltip: `Downstream Sync: ${serverError}` };
    }
    if (all.length === 0) {
        return { kind: 'idle', text: '$(cloud-download) Downstream Sync', tooltip: 'Downstream Sync: no session runs' };
    }
    const tooltip = ['Downstream Sync', ...all.map(sessionLine)].join('\n');
    const failed = all.filter((s) => s.state === 'failed');
    if (failed.length) {
        return { kind: 'error', text: `$(error) Sync failed: ${failed[0].name}`, tooltip };
    }
    const conflicts = all.reduce((n, s) => n + s.conflicts.size, 0);
    if (conflicts) {
        return { kind: 'conflict', text: `$(warning) ${conflicts} sync conflict${conflicts > 1 ? 's' : ''}`, tooltip };
    }
    const connecting = all.find((s) => s.state === 'starting' || s.state === 'connecting' || s.state === 'reconnecting');
    if (connecting) {
        const verb = connecting.state === 'reconnecting' ? 'Reconnecting' : 'Connecting';
        return { kind: 'connecting', text: `$(loading~spin) ${verb}: ${connecting.name}`, tooltip };
    }
    const reconciling = all.find((s) => s.state === 'reconciling');
    if (reconciling) {
        const progress = reconciling.progress ? ` ${reconciling.progress}` : '';
        return { kind: 'reconciling', text: `$(sync~spin) Reconciling${progress}`, tooltip };
    }
    const latest = all
        .map((s) => s.lastSynced)
        .filter((e) => e !== undefined)
        .sort((a, b) => b.time - a.time)[0];
    if (latest) {
        return { kind: 'syncing', text: `$(sync) Syncing ${baseName(latest.path ?? latest.remotePath ?? '')}`, tooltip };
    }
    return { kind: 'syncing', text: `$(sync) Syncing: ${all.map((s) => s.name).join(', ')}`, tooltip };
}
