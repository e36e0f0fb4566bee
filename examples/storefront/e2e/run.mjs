// End-to-end tests of the storefront in a real browser (Debian's Chromium, driven by
// playwright-core) against real gateways on their embedded engines:
//
// 1. a gateway in `allow` mode: browse, predictive search and a search with a typo, facets, a
//    category with filters and pages, a product, add to cart, sign up (with the emailed code,
//    read from the gateway's log), a declined card, a paid order, the order history, the chat,
//    and GraphiQL;
// 2. a gateway in `persisted.mode = "require"` with the storefront's generated manifest: a
//    guest buys something, and every operation the app sent was served by its id.
//
// In both, the page may talk to its own origin and the gateway, and to nothing else.
// Screenshots of each step go to e2e/artifacts/ (or $E2E_ARTIFACTS).
//
//   GATEWAY_BIN=path/to/storefront-gateway node e2e/run.mjs
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:http";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync, existsSync } from "node:fs";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, extname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const app = resolve(here, "..");
const gatewayBin = process.env.GATEWAY_BIN;
if (!gatewayBin) throw new Error("set GATEWAY_BIN to the storefront-gateway binary");
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const artifacts = resolve(process.env.E2E_ARTIFACTS ?? join(here, "artifacts"));
mkdirSync(artifacts, { recursive: true });
const scratch = mkdtempSync(join(tmpdir(), "storefront-e2e-"));
const cleanups = [];

function freePort() {
  return new Promise((ok, fail) => {
    const server = createNetServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

/** Polls `condition` until it holds, failing with `what` after `millis`. */
async function until(what, condition, millis = 60_000) {
  const started = Date.now();
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() - started > millis) throw new Error(`timed out waiting for ${what}`);
    await new Promise((ok) => setTimeout(ok, 100));
  }
}

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

/** A gateway on a free port with a data dir of its own; its log is kept for reading codes. */
async function startGateway(name, { storefrontOrigin, manifestDir, mode }) {
  const port = await freePort();
  const dataDir = join(scratch, `${name}-data`);
  const config = join(scratch, `${name}.toml`);
  writeFileSync(
    config,
    [`[persisted]`, `manifest_dir = ${JSON.stringify(manifestDir)}`, `mode = "${mode}"`, ""].join("\n"),
  );
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("STOREFRONT_")));
  const child = spawn(
    gatewayBin,
    ["--config", config, "--listen", `127.0.0.1:${port}`, "--data-dir", dataDir, "--mode", "development"],
    {
      env: {
        ...env,
        STOREFRONT_CORS_ORIGINS: storefrontOrigin,
        // The demo catalog's images, asked of the storefront's own origin (which has none: the
        // page shows a tile), rather than of a host that does not exist.
        STOREFRONT_ASSET_BASE_URL: `${storefrontOrigin}/demo-assets`,
        RUST_LOG: "info",
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  writeFileSync(join(artifacts, `${name}-gateway.log`), "");
  cleanups.push(() => {
    child.kill("SIGTERM");
    writeFileSync(join(artifacts, `${name}-gateway.log`), log);
  });
  const url = `http://127.0.0.1:${port}`;
  await until(
    `the ${name} gateway to be ready`,
    async () => {
      if (child.exitCode !== null) throw new Error(`the ${name} gateway exited:\n${log}`);
      try {
        return (await fetch(`${url}/readyz`)).ok;
      } catch {
        return false;
      }
    },
    180_000,
  );
  return { url, log: () => log };
}

/** The built storefront, served from its own origin (every unknown path is the app). */
async function serveStorefront(dist, port) {
  const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".map": "application/json" };
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    if (path.startsWith("/demo-assets/")) {
      res.writeHead(404).end();
      return;
    }
    const file = join(dist, path);
    const found = file.startsWith(dist) && existsSync(file) && extname(file) ? file : join(dist, "index.html");
    res.writeHead(200, { "content-type": types[extname(found)] ?? "application/octet-stream" });
    res.end(readFileSync(found));
  });
  await new Promise((ok) => server.listen(port, "127.0.0.1", ok));
  cleanups.push(() => server.close());
}

/** Builds the storefront against `gatewayUrl` into its own folder. */
function build(gatewayUrl, outDir) {
  const vite = join(app, "node_modules", ".bin", "vite");
  const run = spawnSync(vite, ["build", "--outDir", outDir, "--emptyOutDir", "--logLevel", "warn"], {
    cwd: app,
    env: { ...process.env, VITE_GATEWAY_URL: `${gatewayUrl}/graphql` },
    stdio: "inherit",
  });
  check(run.status === 0, "the storefront builds");
}

/** A page that records every request it makes and every GraphQL error the gateway answers. */
async function openPage(browser, { storefrontOrigin, gatewayUrl }) {
  const context = await browser.newContext({
    geolocation: { latitude: 40.7128, longitude: -74.006 },
    permissions: ["geolocation"],
    viewport: { width: 1280, height: 900 },
  });
  const page = await context.newPage();
  current = page;
  const requests = [];
  const graphqlErrors = [];
  page.on("request", (request) => requests.push(request));
  page.on("response", async (response) => {
    if (!response.url().startsWith(`${gatewayUrl}/graphql`)) return;
    try {
      const body = await response.json();
      for (const error of body.errors ?? []) graphqlErrors.push(error.extensions?.code ?? error.message);
    } catch {
      // Not JSON (a preflight): nothing to read.
    }
  });
  page.on("pageerror", (error) => graphqlErrors.push(`page error: ${error.message}`));
  const allowed = [storefrontOrigin, new URL(gatewayUrl).origin];
  const outsiders = () =>
    requests.map((r) => r.url()).filter((u) => !u.startsWith("data:") && !allowed.includes(new URL(u).origin));
  return { context, page, requests, graphqlErrors, outsiders };
}

let step = 0;
/** The page under test, for a screenshot when a step fails. */
let current = null;
async function shot(page, name) {
  step += 1;
  await page.screenshot({ path: join(artifacts, `${String(step).padStart(2, "0")}-${name}.png`), fullPage: true });
}

/** The shopper's journey on a gateway in `allow` mode. */
async function shop(browser, gateway, storefrontOrigin) {
  const { context, page, graphqlErrors, outsiders } = await openPage(browser, {
    storefrontOrigin,
    gatewayUrl: gateway.url,
  });

  // Home: recommendations and departments.
  await page.goto(storefrontOrigin);
  await page.getByRole("heading", { name: /Recommended for you|Best sellers/ }).waitFor();
  await page.getByTestId("product-card").first().waitFor();
  check((await page.getByTestId("product-card").count()) > 0, "the home page shows products");
  await shot(page, "home");

  // Predictive search as the shopper types, then the full search with a typo.
  const box = page.getByRole("searchbox", { name: "Search products" });
  await box.fill("wool");
  await page.getByRole("listbox", { name: "Suggestions" }).locator(".suggested-product").first().waitFor();
  await shot(page, "predictive-search");
  await box.fill("wool jaket");
  await box.press("Enter");
  const results = page.getByRole("heading", { name: /results for “wool jaket”/ });
  await results.waitFor();
  const found = Number((await results.textContent()).match(/^(\d+)/)[1]);
  check(found > 0, `a search with a typo finds products (${found})`);
  await shot(page, "search-typo");

  // A facet narrows the results and goes into the URL.
  const facet = page.getByRole("complementary", { name: "Filters" }).getByRole("checkbox").first();
  // The checkbox follows the URL, so it is clicked rather than checked.
  await facet.click();
  await page.waitForURL(/[?&]f=/);
  await until("the filtered results", async () => {
    const text = await page.getByRole("heading", { name: /results for/ }).textContent();
    return Number(text.match(/^(\d+)/)[1]) <= found;
  });
  await shot(page, "search-facet");

  // A department, filtered to what is in stock, sorted by price, and its next page.
  await page.getByRole("navigation", { name: "Departments" }).getByRole("link").first().click();
  await page.getByRole("form", { name: "Filters" }).waitFor();
  await page.getByLabel("In stock only").click();
  await page.waitForURL(/available=1/);
  await page.getByLabel("Sort").selectOption("price-asc");
  await page.waitForURL(/sort=price-asc/);
  await page.getByTestId("product-card").first().waitFor();
  const firstPage = await page.getByTestId("product-card").first().textContent();
  const next = page.getByRole("button", { name: "Next" });
  if (await next.count()) {
    await next.click();
    await page.waitForURL(/after=/);
    await until("the next page", async () => (await page.getByTestId("product-card").first().textContent()) !== firstPage);
  }
  await shot(page, "category");

  // A product: price, stock, stores near the shopper, add to cart.
  await page.getByTestId("product-card").first().getByRole("link").click();
  await page.getByRole("button", { name: "Add to cart" }).waitFor();
  check(/\$\d/.test(await page.getByTestId("price").textContent()), "the product page shows a price");
  check(/in stock|left/.test(await page.getByTestId("stock").textContent()), "the product page shows stock");
  await page.getByRole("button", { name: "Find in a store near me" }).click();
  await page.getByRole("list", { name: "Stores" }).waitFor();
  await page.getByRole("button", { name: "Add to cart" }).click();
  await page.getByRole("status").filter({ hasText: "Added" }).waitFor();
  await page.getByRole("link", { name: "Cart, 1 items" }).waitFor();
  await shot(page, "product");

  // Sign up: the code the shop "emails" is in the gateway's log.
  const email = `e2e-${Date.now()}@example.com`;
  await page.goto(`${storefrontOrigin}/account/register`);
  await page.getByLabel("First name").fill("Ada");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("correct horse battery staple");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("heading", { name: "Check your email" }).waitFor();
  const code = await until("the confirmation code in the gateway's log", () => {
    const match = gateway.log().match(new RegExp(`confirmation code for ${email.replace(/[.+]/g, "\\$&")}: (\\d{6})`));
    return match?.[1];
  });
  await page.getByLabel("Code").fill(code);
  await page.getByRole("button", { name: "Confirm" }).click();
  await page.getByRole("heading", { name: "Hello, Ada" }).waitFor();
  await shot(page, "signed-up");

  // The guest cart came along; a discount code applies.
  await page.getByRole("link", { name: /^Cart, 1 items/ }).click();
  await page.getByTestId("cart-line").first().waitFor();
  await page.getByLabel("Discount code").fill("WELCOME10");
  await page.getByRole("button", { name: "Apply" }).click();
  await page.getByText("WELCOME10: applied").waitFor();
  await shot(page, "cart");

  // A declined card shows its error and places nothing; then a good card pays.
  await page.getByRole("link", { name: "Check out" }).click();
  await page.getByRole("form", { name: "Checkout" }).waitFor();
  await page.getByLabel("Last name").fill("Lovelace");
  await page.getByLabel("Address").fill("1 Main St");
  await page.getByLabel("City").fill("Springfield");
  await page.getByLabel("State / province").fill("CA");
  await page.getByLabel("ZIP / postal code").fill("90001");
  await page.getByLabel("Card").selectOption("tok_decline");
  await page.getByRole("button", { name: /^Pay/ }).click();
  await page.getByRole("alert").filter({ hasText: /declined/ }).waitFor();
  await shot(page, "card-declined");
  await page.getByLabel("Card").selectOption("tok_visa");
  await page.getByRole("button", { name: /^Pay/ }).click();
  await page.getByRole("heading", { name: "Thank you for your order!" }).waitFor();
  check((await page.getByTestId("order-status").textContent()) === "paid", "the order is paid");
  const number = await page.getByTestId("order-number").textContent();
  await shot(page, "order-confirmation");

  // The order is in the customer's history.
  await page.getByRole("link", { name: "Ada" }).click();
  await page.getByTestId("order-row").filter({ hasText: number }).waitFor();
  await shot(page, "order-history");

  // The chat answers with the customer's order.
  await page.getByRole("button", { name: "Chat with us" }).click();
  await page.getByLabel("Message").fill("where is my order?");
  await page.getByRole("button", { name: "Send" }).click();
  await page.locator(".chat-order").filter({ hasText: number }).waitFor();
  await shot(page, "chat");

  check(outsiders().length === 0, `no request left the shop: ${outsiders().join(", ")}`);
  const unexpected = graphqlErrors.filter((code) => code !== "PERSISTED_QUERY_NOT_FOUND");
  check(unexpected.length === 0, `no GraphQL errors: ${unexpected.join(", ")}`);
  await context.close();
}

/** GraphiQL on the gateway: loads with nothing from outside, shows the schema, runs a query. */
async function graphiql(browser, gateway) {
  const { context, page, outsiders } = await openPage(browser, {
    storefrontOrigin: gateway.url,
    gatewayUrl: gateway.url,
  });
  await page.goto(`${gateway.url}/graphiql`);
  const editor = page.locator(".graphiql-query-editor .CodeMirror").first();
  await editor.waitFor();
  await page.getByRole("button", { name: /Show Documentation Explorer/i }).click();
  await page.getByText("QueryRoot").first().waitFor();
  // Typed keys would meet the editor's bracket auto-closing: the query is set through it.
  await page.evaluate((query) => {
    document.querySelector(".graphiql-query-editor .CodeMirror").CodeMirror.setValue(query);
  }, "query E2E { shop { name } products(first: 2) { nodes { handle } } }");
  // GraphiQL takes the operation's name from the editor a moment later: its tab shows it.
  await page.locator(".graphiql-tab").filter({ hasText: "E2E" }).waitFor();
  await page.getByRole("button", { name: /Execute query/i }).click();
  await page.locator(".graphiql-response").getByText('"handle"').first().waitFor();
  await shot(page, "graphiql");
  check(outsiders().length === 0, `GraphiQL asked nothing of other hosts: ${outsiders().join(", ")}`);
  await context.close();
}

/** A guest's purchase on a gateway that serves manifest operations only. */
async function shopByIdOnly(browser, gateway, storefrontOrigin) {
  const { context, page, requests, graphqlErrors, outsiders } = await openPage(browser, {
    storefrontOrigin,
    gatewayUrl: gateway.url,
  });
  await page.goto(storefrontOrigin);
  await page.getByTestId("product-card").first().waitFor();
  await page.getByRole("searchbox", { name: "Search products" }).fill("wool");
  await page.getByRole("searchbox", { name: "Search products" }).press("Enter");
  await page.getByRole("heading", { name: /results for “wool”/ }).waitFor();
  await page.getByTestId("product-card").first().getByRole("link").click();
  await page.getByRole("button", { name: "Add to cart" }).click();
  await page.getByRole("status").filter({ hasText: "Added" }).waitFor();
  await page.goto(`${storefrontOrigin}/checkout`);
  await page.getByLabel("Email").fill("guest@example.com");
  await page.getByLabel("First name").fill("Grace");
  await page.getByLabel("Last name").fill("Hopper");
  await page.getByLabel("Address").fill("2 Side St");
  await page.getByLabel("City").fill("Springfield");
  await page.getByLabel("ZIP / postal code").fill("90001");
  await page.getByRole("button", { name: /^Pay/ }).click();
  await page.getByRole("heading", { name: "Thank you for your order!" }).waitFor();
  await shot(page, "require-mode-order");

  const sent = requests.filter((r) => r.url().startsWith(`${gateway.url}/graphql`) && r.method() !== "OPTIONS");
  check(sent.length > 5, `the app talked to the gateway (${sent.length} requests)`);
  for (const request of sent) {
    const body = request.postData();
    const document = request.method() === "GET" ? new URL(request.url()).searchParams.get("query") : JSON.parse(body).query;
    check(!document, `only ids are sent: ${request.method()} ${request.url()} ${body ?? ""}`);
  }
  check(graphqlErrors.length === 0, `every operation was served by id: ${graphqlErrors.join(", ")}`);
  check(outsiders().length === 0, `no request left the shop: ${outsiders().join(", ")}`);
  await context.close();
}

async function main() {
  const manifest = join(app, "persisted-query-manifest.json");
  check(existsSync(manifest), "npm run build made persisted-query-manifest.json");
  const validated = spawnSync(gatewayBin, ["validate-manifest", manifest], { stdio: "inherit" });
  check(validated.status === 0, "the gateway validates the generated manifest");

  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  cleanups.push(() => browser.close());

  // Allow mode: documents are registered by APQ as the app first sends them.
  const allowPort = await freePort();
  const allowOrigin = `http://127.0.0.1:${allowPort}`;
  const emptyManifests = join(scratch, "no-manifests");
  mkdirSync(emptyManifests);
  const allow = await startGateway("allow", { storefrontOrigin: allowOrigin, manifestDir: emptyManifests, mode: "allow" });
  build(allow.url, join(scratch, "dist-allow"));
  await serveStorefront(join(scratch, "dist-allow"), allowPort);
  await shop(browser, allow, allowOrigin);
  await graphiql(browser, allow);

  // Require mode: the generated manifest is all the gateway serves.
  const requirePort = await freePort();
  const requireOrigin = `http://127.0.0.1:${requirePort}`;
  const manifests = join(scratch, "manifests");
  mkdirSync(manifests);
  copyFileSync(manifest, join(manifests, "storefront-web.json"));
  const require = await startGateway("require", { storefrontOrigin: requireOrigin, manifestDir: manifests, mode: "require" });
  build(require.url, join(scratch, "dist-require"));
  await serveStorefront(join(scratch, "dist-require"), requirePort);
  await shopByIdOnly(browser, require, requireOrigin);
  console.log(`e2e: all journeys passed; screenshots in ${artifacts}`);
}

try {
  await main();
} catch (error) {
  if (current) await current.screenshot({ path: join(artifacts, "failed.png"), fullPage: true }).catch(() => {});
  throw error;
} finally {
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup();
    } catch {
      // Best effort: the next cleanup still runs.
    }
  }
  rmSync(scratch, { recursive: true, force: true });
}
