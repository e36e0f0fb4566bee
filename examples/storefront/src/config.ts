// Where the gateway is: `VITE_GATEWAY_URL` at build time, else the gateway's default address.
export const GATEWAY_URL: string =
  import.meta.env.VITE_GATEWAY_URL ?? "http://127.0.0.1:4000/graphql";
