// The shopper's cart: its id in the session, created on the first add. A guest's cart is
// reached by its id alone; at sign-in the gateway merges it into the customer's cart.
import { useMutation, useQuery } from "@apollo/client";
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";

import { graphql } from "./gql";
import { session } from "./session";

export const CartFields = graphql(`
  fragment CartFields on Cart {
    id
    totalQuantity
    checkoutReady
    checkoutBlockers { code message lineId }
    discountCodes { code applicable reason }
    cost {
      subtotalAmount { amount currencyCode }
      totalDiscountAmount { amount currencyCode }
      totalTaxAmount { amount currencyCode }
      totalAmount { amount currencyCode }
    }
    lines(first: 100) {
      nodes {
        id
        quantity
        cost { amountPerQuantity { amount currencyCode } totalAmount { amount currencyCode } }
        merchandise {
          id
          sku
          title
          quantityAvailable
          product { handle title featuredImage { url altText } }
        }
      }
    }
  }
`);

export const CartQuery = graphql(`
  query Cart($id: ID!) {
    cart(id: $id) { ...CartFields }
  }
`);

const CreateCart = graphql(`
  mutation CartCreate($input: CartInput!) {
    cartCreate(input: $input) {
      cart { ...CartFields }
      userErrors { field code message quantityAvailable }
    }
  }
`);

const AddLines = graphql(`
  mutation CartLinesAdd($cartId: ID!, $lines: [CartLineInput!]!) {
    cartLinesAdd(cartId: $cartId, lines: $lines) {
      cart { ...CartFields }
      userErrors { field code message quantityAvailable }
    }
  }
`);

interface CartState {
  cartId: string | null;
  totalQuantity: number;
  /** Adds `quantity` of a variant; answers the gateway's message when it refused. */
  add(variantId: string, quantity: number): Promise<string | null>;
  /** Adopts a cart (after sign-in, which merges) or forgets it (after checkout). */
  setCartId(id: string | null): void;
}

const CartContext = createContext<CartState | null>(null);

export function CartProvider({ children }: { children: ReactNode }) {
  const [cartId, setId] = useState<string | null>(session.cartId());
  const { data } = useQuery(CartQuery, { variables: { id: cartId ?? "" }, skip: !cartId });
  const [create] = useMutation(CreateCart);
  const [addLines] = useMutation(AddLines);

  const setCartId = useCallback((id: string | null) => {
    session.setCartId(id);
    setId(id);
  }, []);

  const add = useCallback(
    async (variantId: string, quantity: number) => {
      const lines = [{ merchandiseId: variantId, quantity }];
      if (cartId) {
        const { data } = await addLines({ variables: { cartId, lines } });
        const payload = data?.cartLinesAdd;
        if (payload?.cart) return payload.userErrors[0]?.message ?? null;
        // The cart expired or was checked out: start a new one.
        if (payload?.userErrors.some((e) => e.code !== "CART_NOT_FOUND")) {
          return payload.userErrors[0].message;
        }
      }
      const { data } = await create({ variables: { input: { lines } } });
      const payload = data?.cartCreate;
      if (payload?.cart) setCartId(payload.cart.id);
      return payload?.userErrors[0]?.message ?? null;
    },
    [cartId, addLines, create, setCartId],
  );

  const value = useMemo(
    () => ({ cartId, totalQuantity: data?.cart?.totalQuantity ?? 0, add, setCartId }),
    [cartId, data, add, setCartId],
  );
  return <CartContext.Provider value={value}>{children}</CartContext.Provider>;
}

export function useCart(): CartState {
  const cart = useContext(CartContext);
  if (!cart) throw new Error("useCart outside CartProvider");
  return cart;
}
