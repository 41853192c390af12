// Builds the extension into out/: the bundle (out/extension.js, vscode left external) and the
// shipped schema (out/skaffold.schema.json: Skaffold's newest published schema, with `download`).
import { build } from 'esbuild';
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'fs';
import { createRequire } from 'module';
import { dirname, join } from 'path';
import { fileURLToPath } from 'url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'out');
mkdirSync(out, { recursive: true });

await build({
    entryPoints: [join(here, 'src/extension.ts')],
    bundle: true,
    outfile: join(out, 'extension.js'),
    external: ['vscode'],
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    sourcemap: true,
    minify: process.argv.includes('--minify'),
    logLevel: 'warning',
});

await build({
    entryPoints: [join(here, 'src/schemaPatch.ts')],
    bundle: true,
    outfile: join(out, 'schemaPatch.cjs'),
    format: 'cjs',
    platform: 'node',
    logLevel: 'warning',
});
const { addDownload, newestVersion } = createRequire(import.meta.url)(join(out, 'schemaPatch.cjs'));
const corpus = process.env.SKAFFOLD_SCHEMAS ?? join(here, '..', '..', 'shared', 'corpus', 'skaffold-schemas');
const files = readdirSync(corpus).filter((f) => f.endsWith('.json'));
const newest = newestVersion(files.map((f) => f.replace(/\.json$/, '')));
const schema = addDownload(JSON.parse(readFileSync(join(corpus, `${newest}.json`), 'utf8')));
writeFileSync(join(out, 'skaffold.schema.json'), JSON.stringify(schema));
console.log(`esbuild: out/extension.js, out/skaffold.schema.json (from Skaffold's ${newest} schema)`);
