// The signed-in customer, if any: their tokens in the session, their profile from the gateway.
import { useApolloClient, useMutation, useQuery } from "@apollo/client";
import { useCallback } from "react";

import { useCart } from "./cart";
import { graphql } from "./gql";
import { session } from "./session";

export const CurrentCustomer = graphql(`
  query CurrentCustomer {
    customer { id email firstName displayName }
  }
`);

const SignIn = graphql(`
  mutation SignIn($email: String!, $password: String!, $cartId: ID) {
    customerSignIn(email: $email, password: $password, cartId: $cartId) {
      accessToken
      refreshToken
      expiresAt
      cart { id }
      userErrors { field code message }
    }
  }
`);

const SignOut = graphql(`
  mutation SignOut {
    customerSignOut { signedOut userErrors { code message } }
  }
`);

export function useCustomer() {
  const signedIn = session.tokens() !== null;
  const { data, loading } = useQuery(CurrentCustomer, { skip: !signedIn });
  return { customer: signedIn ? (data?.customer ?? null) : null, loading, signedIn };
}

/** Sign in (merging the guest cart) and sign out; both reset what was cached for the other. */
export function useSession() {
  const client = useApolloClient();
  const cart = useCart();
  const [signInMutation] = useMutation(SignIn);
  const [signOutMutation] = useMutation(SignOut);

  const signIn = useCallback(
    async (email: string, password: string): Promise<string | null> => {
      const { data } = await signInMutation({
        variables: { email, password, cartId: cart.cartId },
      });
      const payload = data?.customerSignIn;
      if (!payload?.accessToken || !payload.refreshToken || !payload.expiresAt) {
        return payload?.userErrors[0]?.message ?? "Could not sign in.";
      }
      session.setTokens({
        accessToken: payload.accessToken,
        refreshToken: payload.refreshToken,
        expiresAt: payload.expiresAt,
      });
      cart.setCartId(payload.cart?.id ?? cart.cartId);
      await client.resetStore();
      return null;
    },
    [signInMutation, cart, client],
  );

  const signOut = useCallback(async () => {
    try {
      await signOutMutation();
    } finally {
      session.setTokens(null);
      // The cart was the customer's: a guest starts afresh.
      cart.setCartId(null);
      await client.clearStore();
    }
  }, [signOutMutation, cart, client]);

  return { signIn, signOut };
}
