// Skaffold's JSON schema with the `download` stanza added to every artifact variant, so that the
// YAML extension stops flagging it. One function for both the shipped schema (built from the
// schemas Skaffold publishes) and the one made at run time from `skaffold schema get`. Pure.

export const DOWNLOAD_DEFINITION = {
    type: 'object',
    description: 'Downstream Sync: files the running container creates or changes, brought back to your disk.',
    'x-intellij-html-description': 'Downstream Sync: files the running container creates or changes, brought back to your disk.',
    properties: {
        manual: {
            type: 'array',
            description: 'Folders in the container and where their files go on your disk.',
            items: {
                type: 'object',
                required: ['remoteSrc', 'localDst'],
                properties: {
                    remoteSrc: {
                        type: 'string',
                        description: "A folder in the container, relative to its working directory, or absolute. No glob characters.",
                    },
                    localDst: {
                        type: 'string',
                        description: 'The local folder, relative to the folder of skaffold.yaml.',
                    },
                },
                preferredOrder: ['remoteSrc', 'localDst'],
                additionalProperties: false,
            },
        },
        excludes: {
            type: 'array',
            description: 'Doublestar globs of files that are never brought back.',
            items: { type: 'string' },
        },
    },
    preferredOrder: ['manual', 'excludes'],
    additionalProperties: false,
};

type Json = Record<string, any>;

/** A copy of `schema` where every variant of definitions.Artifact accepts `download`. */
export function addDownload(schema: Json): Json {
    const patched: Json = JSON.parse(JSON.stringify(schema));
    const definitions: Json | undefined = patched.definitions;
    const artifact: Json | undefined = definitions?.Artifact;
    if (!definitions || !artifact) {
        throw new Error('this is not a Skaffold schema: it has no definitions.Artifact');
    }
    definitions.DownstreamSyncDownload = DOWNLOAD_DEFINITION;
    const variants: Json[] = Array.isArray(artifact.anyOf) ? artifact.anyOf : [artifact];
    for (const variant of variants) {
        variant.properties ??= {};
        variant.properties.download = { $ref: '#/definitions/DownstreamSyncDownload' };
        if (Array.isArray(variant.preferredOrder) && !variant.preferredOrder.includes('download')) {
            variant.preferredOrder.push('download');
        }
    }
    return patched;
}

/** The newest of Skaffold's config versions (`skaffold/v4beta14` > `skaffold/v4beta13` > `skaffold/v2beta29` > `skaffold/v1`). */
export function newestVersion(versions: string[]): string | undefined {
    const key = (v: string) => {
        const m = /v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v.trim());
        if (!m) {
            return [-1, 0, 0];
        }
        const stage = m[2] === 'alpha' ? 0 : m[2] === 'beta' ? 1 : 2;
        return [Number(m[1]), stage, Number(m[3] ?? 0)];
    };
    const sorted = versions
        .map((v) => v.trim())
        .filter((v) => v)
        .sort((a, b) => {
            const [x, y] = [key(a), key(b)];
            return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
        });
    return sorted[sorted.length - 1];
}
