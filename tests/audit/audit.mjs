// Runs every graphql-http server audit against the gateway at the URL given as the first
// argument; prints one line per audit and exits non-zero unless all of them pass.
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs http://host:port/graphql');
  process.exit(2);
}

const results = [];
for (const audit of serverAudits({ url })) {
  results.push({ name: audit.name, result: await audit.fn() });
}
let failed = 0;
for (const { name, result } of results) {
  if (result.status !== 'ok') failed += 1;
  const reason = result.status === 'ok' ? '' : `: ${result.reason}`;
  console.log(`${result.status.padEnd(5)} ${name}${reason}`);
}
console.log(`${results.length - failed}/${results.length} audits ok`);
process.exit(failed === 0 ? 0 : 1);
