// Checkout: contact, address, shipping method and card, in one `checkoutComplete`. The
// idempotency key is kept until the gateway gives a definite answer, so a retry after a lost
// response never places a second order or charges twice.
import { useMutation, useQuery } from "@apollo/client";
import { useRef, useState, type FormEvent } from "react";
import { useNavigate } from "react-router-dom";

import { CartQuery, useCart } from "../cart";
import { useCustomer } from "../customer";
import { describeError } from "../errors";
import { graphql } from "../gql";
import { formatMoney } from "../money";

const CheckoutOptions = graphql(`
  query CheckoutOptions {
    shippingMethods { handle title price { amount currencyCode } freeOver { amount currencyCode } }
  }
`);

const CompleteCheckout = graphql(`
  mutation CheckoutComplete(
    $cartId: ID!
    $idempotencyKey: String!
    $email: String!
    $address: MailingAddressInput!
    $shippingMethod: String!
    $payment: PaymentInput!
  ) {
    checkoutComplete(
      cartId: $cartId
      idempotencyKey: $idempotencyKey
      email: $email
      shippingAddress: $address
      shippingMethod: $shippingMethod
      payment: $payment
    ) {
      order { id number status }
      userErrors { field code message }
    }
  }
`);

/** The embedded payment processor's test cards. */
const TEST_CARDS = [
  { token: "tok_visa", label: "Visa •••• 4242 (succeeds)" },
  { token: "tok_decline", label: "Card •••• 0002 (declined)" },
  { token: "tok_insufficient_funds", label: "Card •••• 9995 (insufficient funds)" },
];

export function Checkout() {
  const { cartId, setCartId } = useCart();
  const { customer } = useCustomer();
  const cart = useQuery(CartQuery, { variables: { id: cartId ?? "" }, skip: !cartId });
  const options = useQuery(CheckoutOptions);
  const [complete, completing] = useMutation(CompleteCheckout);
  const [problem, setProblem] = useState<string | null>(null);
  const key = useRef<string | null>(null);
  const navigate = useNavigate();

  if (!cartId) return <h1>Your cart is empty</h1>;
  if (cart.error || options.error) return <p role="alert">{describeError(cart.error ?? options.error)}</p>;
  if (!cart.data || !options.data) return <p aria-busy="true">Loading…</p>;
  const total = cart.data.cart?.cost.totalAmount;

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const field = (name: string) => String(form.get(name) ?? "").trim();
    setProblem(null);
    key.current ??= crypto.randomUUID();
    try {
      const { data } = await complete({
        variables: {
          cartId,
          idempotencyKey: key.current,
          email: field("email"),
          address: {
            firstName: field("firstName"),
            lastName: field("lastName"),
            address1: field("address1"),
            city: field("city"),
            province: field("province") || null,
            zip: field("zip"),
            countryCode: field("countryCode"),
          },
          shippingMethod: field("shippingMethod"),
          payment: { token: field("card") },
        },
      });
      // A definite answer: the next attempt is a new checkout.
      key.current = null;
      const payload = data?.checkoutComplete;
      if (payload?.order) {
        setCartId(null);
        navigate(`/orders/${encodeURIComponent(payload.order.id)}?placed=1`);
      } else {
        setProblem(payload?.userErrors.map((e) => e.message).join(" ") ?? "The order was not placed.");
      }
    } catch (error) {
      // No answer: the same key is sent again on the next try.
      setProblem(describeError(error as never) ?? "The order may not have been placed; try again.");
    }
  };

  return (
    <form className="checkout" onSubmit={submit} aria-label="Checkout">
      <h1>Checkout</h1>
      <fieldset>
        <legend>Contact</legend>
        <label>
          Email
          <input name="email" type="email" required defaultValue={customer?.email ?? ""} autoComplete="email" />
        </label>
      </fieldset>
      <fieldset>
        <legend>Shipping address</legend>
        <label>
          First name <input name="firstName" required autoComplete="given-name" defaultValue={customer?.firstName ?? ""} />
        </label>
        <label>
          Last name <input name="lastName" required autoComplete="family-name" />
        </label>
        <label>
          Address <input name="address1" required autoComplete="address-line1" />
        </label>
        <label>
          City <input name="city" required autoComplete="address-level2" />
        </label>
        <label>
          State / province <input name="province" autoComplete="address-level1" />
        </label>
        <label>
          ZIP / postal code <input name="zip" required autoComplete="postal-code" />
        </label>
        <label>
          Country
          <select name="countryCode" defaultValue="US" autoComplete="country">
            <option value="US">United States</option>
            <option value="CA">Canada</option>
            <option value="GB">United Kingdom</option>
            <option value="DE">Germany</option>
          </select>
        </label>
      </fieldset>
      <fieldset>
        <legend>Shipping</legend>
        {options.data.shippingMethods.map((m, i) => (
          <label key={m.handle}>
            <input type="radio" name="shippingMethod" value={m.handle} defaultChecked={i === 0} />
            {m.title} — {formatMoney(m.price)}
            {m.freeOver && ` (free over ${formatMoney(m.freeOver)})`}
          </label>
        ))}
      </fieldset>
      <fieldset>
        <legend>Payment (test cards)</legend>
        <select name="card" aria-label="Card" defaultValue="tok_visa">
          {TEST_CARDS.map((c) => (
            <option key={c.token} value={c.token}>
              {c.label}
            </option>
          ))}
        </select>
      </fieldset>
      {problem && <p role="alert">{problem}</p>}
      <button type="submit" disabled={completing.loading}>
        Pay {formatMoney(total)}
      </button>
    </form>
  );
}
