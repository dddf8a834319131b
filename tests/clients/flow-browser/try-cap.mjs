// Try the flow page by hand with a real, offline Cap captcha (the README's "Try it locally").
//
//   cd tests/clients/flow-browser && npm ci && node try-cap.mjs [port]
//
// Serves Cap's widget, its solver and a siteverify endpoint on 127.0.0.1 (port 3000 unless
// given) and prints the `js_url`, `api_url` and keys to give a captcha stage. Ctrl-C stops it.
import { startCapProvider } from "./cap-provider.mjs";

const port = Number(process.argv[2] ?? 3000);
const provider = await startCapProvider({
  siteKey: "local-cap",
  secret: "local-cap-secret",
  port,
  challengeDifficulty: 4,
});
console.log(`Cap is serving on ${provider.url}. A captcha stage for it:

  "public_key":  "${provider.siteKey}",
  "private_key": "${provider.secret}",
  "js_url":      "${provider.jsUrl}",
  "api_url":     "${provider.apiUrl}"

Every siteverify call is printed below. Ctrl-C stops the provider.`);

let seen = 0;
setInterval(() => {
  for (const request of provider.requests.slice(seen)) {
    console.log(`siteverify: ${JSON.stringify(request.response)}`);
  }
  seen = provider.requests.length;
}, 250);
process.on("SIGINT", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
