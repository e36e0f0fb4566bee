// The Apollo Client the whole storefront uses.
//
// - Queries go as automatic persisted queries over GET: the first request carries only the
//   document's SHA-256, so a CDN can cache it; the gateway asks for the full document once if
//   it has never seen it. A gateway in `persisted.mode = "require"` knows every hash of this
//   app from its generated manifest (`npm run manifest`) and never needs the document.
// - A signed-in customer's access token goes in `Authorization`; a guest's cart is reached by
//   its id alone.
// - An access token about to expire is refreshed once, before the request, with the refresh
//   token.
import { ApolloClient, type ApolloLink, HttpLink, InMemoryCache, from } from "@apollo/client";
import { setContext } from "@apollo/client/link/context";
import { createPersistedQueryLink } from "@apollo/client/link/persisted-queries";

import { GATEWAY_URL } from "./config";
import { graphql } from "./gql";
import { session } from "./session";

export async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

const RefreshTokens = graphql(`
  mutation RefreshTokens($refreshToken: String!) {
    customerTokenRefresh(refreshToken: $refreshToken) {
      accessToken
      refreshToken
      expiresAt
      userErrors { code message }
    }
  }
`);

/** Refreshes the stored tokens (once for concurrent callers); forgets them if refused. */
let refreshing: Promise<void> | null = null;
async function refreshTokens(client: ApolloClient<unknown>): Promise<void> {
  const tokens = session.tokens();
  if (!tokens) return;
  refreshing ??= (async () => {
    try {
      const { data } = await client.mutate({
        mutation: RefreshTokens,
        variables: { refreshToken: tokens.refreshToken },
      });
      const renewed = data?.customerTokenRefresh;
      if (renewed?.accessToken && renewed.refreshToken && renewed.expiresAt) {
        session.setTokens({
          accessToken: renewed.accessToken,
          refreshToken: renewed.refreshToken,
          expiresAt: renewed.expiresAt,
        });
      } else {
        session.setTokens(null);
      }
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/** Adds the customer's access token, refreshed first when it is about to expire. */
function authLink(refresher: ApolloClient<unknown>): ApolloLink {
  return setContext(async (_, { headers }) => {
    let tokens = session.tokens();
    if (tokens && Date.parse(tokens.expiresAt) - Date.now() < 30_000) {
      await refreshTokens(refresher);
      tokens = session.tokens();
    }
    return tokens
      ? { headers: { ...headers, authorization: `Bearer ${tokens.accessToken}` } }
      : { headers };
  });
}

export function createClient(uri: string = GATEWAY_URL): ApolloClient<unknown> {
  const transport = (): ApolloLink =>
    from([
      createPersistedQueryLink({ sha256, useGETForHashedQueries: true }) as unknown as ApolloLink,
      new HttpLink({ uri }),
    ]);
  // The token refresh goes by id like every other operation, without a token of its own.
  const refresher = new ApolloClient({ link: transport(), cache: new InMemoryCache() });
  return new ApolloClient({
    link: from([authLink(refresher), transport()]),
    cache: new InMemoryCache({
      typePolicies: {
        Cart: { keyFields: ["id"] },
        Customer: { keyFields: ["id"] },
        // Locations come without a stable cache identity across queries of other shapes.
        StoreAvailability: { keyFields: false },
      },
    }),
  });
}
