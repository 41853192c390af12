// What the extension reads of a skaffold.yaml by itself, to ask the right questions before it
// calls the server: its profiles, the artifacts that have a download stanza, and how many download
// rules it holds. Pure; tolerant of broken YAML (the server's diagnostics say what is wrong).

import { parseAllDocuments } from 'yaml';

export interface SkaffoldSummary {
    profiles: string[];
    /** Images of the artifacts with a download stanza (in build.artifacts or a profile's). */
    downloadArtifacts: string[];
    /** The number of download.manual items. */
    downloadRules: number;
}

function asArray(value: unknown): unknown[] {
    return Array.isArray(value) ? value : [];
}

function record(value: unknown): Record<string, unknown> {
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

export function isSkaffoldFileName(path: string): boolean {
    return /(^|[\\/])skaffold[^\\/]*\.ya?ml$/i.test(path);
}

export function summarize(text: string): SkaffoldSummary {
    const profiles: string[] = [];
    const artifacts = new Set<string>();
    let rules = 0;
    const visitArtifacts = (build: unknown) => {
        for (const item of asArray(record(build).artifacts)) {
            const artifact = record(item);
            if ('download' in artifact) {
                if (typeof artifact.image === 'string') {
                    artifacts.add(artifact.image);
                }
                rules += asArray(record(artifact.download).manual).length;
            }
        }
    };
    let docs;
    try {
        docs = parseAllDocuments(text);
    } catch {
        return { profiles, downloadArtifacts: [], downloadRules: 0 };
    }
    for (const doc of Array.isArray(docs) ? docs : [docs]) {
        let value: unknown;
        try {
            value = doc.toJS();
        } catch {
            continue;
        }
        const config = record(value);
        visitArtifacts(config.build);
        for (const p of asArray(config.profiles)) {
            const profile = record(p);
            if (typeof profile.name === 'string') {
                profiles.push(profile.name);
            }
            visitArtifacts(profile.build);
        }
    }
    if (rules === 0 && /^\s*download\s*:/m.test(text)) {
        // Broken YAML around the stanza: still say that the file has one.
        rules = (text.match(/^\s*-?\s*remoteSrc\s*:/gm) ?? []).length;
    }
    return { profiles, downloadArtifacts: [...artifacts], downloadRules: rules };
}

/** The language status item's text for a Skaffold file. */
export function languageStatusText(summary: SkaffoldSummary, runningSessions: string[]): { text: string; detail: string } {
    const rules =
        summary.downloadRules === 0
            ? 'no download rules'
            : `${summary.downloadRules} download rule${summary.downloadRules > 1 ? 's' : ''}`;
    const running = runningSessions.length
        ? `syncing (${runningSessions.join(', ')})`
        : 'no session runs';
    return { text: `Downstream Sync: ${rules}`, detail: running };
}
