// Parses every ```mermaid block of the Markdown files given with Mermaid's own parser (a DOM
// from jsdom, since Mermaid expects a browser). Exits 1 on the first that does not parse.
import fs from "node:fs";
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!DOCTYPE html><body></body>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");

let blocks = 0;
for (const file of process.argv.slice(2)) {
  const text = fs.readFileSync(file, "utf8");
  for (const [, graph] of text.matchAll(/```mermaid\n([\s\S]*?)```/g)) {
    blocks += 1;
    try {
      await mermaid.parse(graph);
    } catch (error) {
      console.error(`${file}: a Mermaid block does not parse:\n${error.message}`);
      process.exit(1);
    }
  }
}
if (blocks === 0) {
  console.error("no Mermaid block found");
  process.exit(1);
}
console.log(`mermaid: ${blocks} block(s) parse`);
