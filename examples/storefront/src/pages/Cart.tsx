// The cart: change quantities, remove lines, apply a discount code, go to checkout.
import { useMutation, useQuery } from "@apollo/client";
import { useState, type FormEvent } from "react";
import { Link } from "react-router-dom";

import { CartQuery, useCart } from "../cart";
import { describeError, userErrorText } from "../errors";
import { graphql } from "../gql";
import { formatMoney } from "../money";

const UpdateLines = graphql(`
  mutation CartLinesUpdate($cartId: ID!, $lines: [CartLineUpdateInput!]!) {
    cartLinesUpdate(cartId: $cartId, lines: $lines) {
      cart { ...CartFields }
      userErrors { field code message quantityAvailable }
    }
  }
`);

const RemoveLines = graphql(`
  mutation CartLinesRemove($cartId: ID!, $lineIds: [ID!]!) {
    cartLinesRemove(cartId: $cartId, lineIds: $lineIds) {
      cart { ...CartFields }
      userErrors { field code message }
    }
  }
`);

const DiscountCodes = graphql(`
  mutation CartDiscountCodesUpdate($cartId: ID!, $codes: [String!]!) {
    cartDiscountCodesUpdate(cartId: $cartId, discountCodes: $codes) {
      cart { ...CartFields }
      userErrors { field code message }
    }
  }
`);

export function Cart() {
  const { cartId } = useCart();
  const { data, loading, error } = useQuery(CartQuery, { variables: { id: cartId ?? "" }, skip: !cartId });
  const [update] = useMutation(UpdateLines);
  const [remove] = useMutation(RemoveLines);
  const [applyCodes] = useMutation(DiscountCodes);
  const [code, setCode] = useState("");
  const [problem, setProblem] = useState<string | null>(null);

  if (!cartId) return <EmptyCart />;
  if (error) return <p role="alert">{describeError(error)}</p>;
  if (loading || !data) return <p aria-busy="true">Loading…</p>;
  const cart = data.cart;
  if (!cart || cart.totalQuantity === 0) return <EmptyCart />;

  const setQuantity = async (lineId: string, quantity: number) => {
    const { data } = await update({ variables: { cartId, lines: [{ id: lineId, quantity }] } });
    setProblem(userErrorText(data?.cartLinesUpdate.userErrors));
  };
  const removeLine = async (lineId: string) => {
    const { data } = await remove({ variables: { cartId, lineIds: [lineId] } });
    setProblem(userErrorText(data?.cartLinesRemove.userErrors));
  };
  const apply = async (event: FormEvent) => {
    event.preventDefault();
    const codes = [...cart.discountCodes.map((d) => d.code), code.trim()].filter(Boolean);
    const { data } = await applyCodes({ variables: { cartId, codes } });
    setProblem(userErrorText(data?.cartDiscountCodesUpdate.userErrors));
    setCode("");
  };

  return (
    <section className="cart-page">
      <h1>Your cart</h1>
      <table>
        <thead>
          <tr>
            <th>Item</th>
            <th>Price</th>
            <th>Quantity</th>
            <th>Total</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {cart.lines.nodes.map((line) => (
            <tr key={line.id} data-testid="cart-line">
              <td>
                {line.merchandise?.product ? (
                  <Link to={`/products/${line.merchandise.product.handle}`}>{line.merchandise.product.title}</Link>
                ) : (
                  "No longer sold"
                )}{" "}
                <small>{line.merchandise?.title}</small>
              </td>
              <td>{formatMoney(line.cost.amountPerQuantity)}</td>
              <td>
                <input
                  type="number"
                  aria-label="Quantity"
                  min={0}
                  defaultValue={line.quantity}
                  onBlur={(e) => {
                    const quantity = Number(e.target.value);
                    if (Number.isInteger(quantity) && quantity !== line.quantity) setQuantity(line.id, quantity);
                  }}
                />
              </td>
              <td>{formatMoney(line.cost.totalAmount)}</td>
              <td>
                <button type="button" onClick={() => removeLine(line.id)}>
                  Remove
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {problem && <p role="alert">{problem}</p>}
      <form onSubmit={apply} className="discount">
        <input aria-label="Discount code" placeholder="Discount code" value={code} onChange={(e) => setCode(e.target.value)} />
        <button type="submit">Apply</button>
      </form>
      <ul className="discount-codes">
        {cart.discountCodes.map((d) => (
          <li key={d.code}>
            {d.code}: {d.applicable ? "applied" : (d.reason ?? "does not apply")}
          </li>
        ))}
      </ul>
      <dl className="totals">
        <dt>Subtotal</dt>
        <dd>{formatMoney(cart.cost.subtotalAmount)}</dd>
        <dt>Discounts</dt>
        <dd>−{formatMoney(cart.cost.totalDiscountAmount)}</dd>
        <dt>Tax</dt>
        <dd>{formatMoney(cart.cost.totalTaxAmount)}</dd>
        <dt>Total</dt>
        <dd data-testid="cart-total">{formatMoney(cart.cost.totalAmount)}</dd>
      </dl>
      {cart.checkoutBlockers.map((b) => (
        <p key={`${b.code}-${b.lineId}`} role="alert">
          {b.message}
        </p>
      ))}
      {cart.checkoutReady ? (
        <Link to="/checkout" className="button">
          Check out
        </Link>
      ) : (
        <p>Fix the cart before checking out.</p>
      )}
    </section>
  );
}

function EmptyCart() {
  return (
    <section>
      <h1>Your cart is empty</h1>
      <Link to="/">Continue shopping</Link>
    </section>
  );
}
