// An order: the confirmation after checkout, and the page an order in the history opens.
import { useQuery } from "@apollo/client";
import { Link, useParams, useSearchParams } from "react-router-dom";

import { describeError } from "../errors";
import { graphql } from "../gql";
import { formatMoney } from "../money";

const OrderPage = graphql(`
  query OrderPage($id: ID!) {
    order(id: $id) {
      id
      number
      email
      status
      createdAt
      lineItems { sku title quantity total { amount currencyCode } }
      subtotal { amount currencyCode }
      totalDiscount { amount currencyCode }
      totalShipping { amount currencyCode }
      totalTax { amount currencyCode }
      total { amount currencyCode }
      shippingAddress { address1 city zip countryCode }
      payment { state }
    }
  }
`);

export function Order() {
  const { id = "" } = useParams();
  const [params] = useSearchParams();
  const { data, loading, error } = useQuery(OrderPage, { variables: { id } });
  if (error) return <p role="alert">{describeError(error)}</p>;
  if (loading || !data) return <p aria-busy="true">Loading…</p>;
  const order = data.order;
  if (!order) return <h1>No such order</h1>;
  return (
    <article className="order">
      {params.get("placed") && <h1>Thank you for your order!</h1>}
      <h2>
        Order <span data-testid="order-number">{order.number}</span>
      </h2>
      <p>
        Status: <strong data-testid="order-status">{order.status.replace(/_/g, " ").toLowerCase()}</strong> · placed{" "}
        {new Date(order.createdAt).toLocaleString()} · a receipt goes to {order.email}
      </p>
      <ul>
        {order.lineItems.map((l) => (
          <li key={l.sku}>
            {l.quantity} × {l.title} — {formatMoney(l.total)}
          </li>
        ))}
      </ul>
      <dl className="totals">
        <dt>Subtotal</dt>
        <dd>{formatMoney(order.subtotal)}</dd>
        <dt>Discounts</dt>
        <dd>−{formatMoney(order.totalDiscount)}</dd>
        <dt>Shipping</dt>
        <dd>{formatMoney(order.totalShipping)}</dd>
        <dt>Tax</dt>
        <dd>{formatMoney(order.totalTax)}</dd>
        <dt>Total</dt>
        <dd data-testid="order-total">{formatMoney(order.total)}</dd>
      </dl>
      <p>
        Ships to {order.shippingAddress.address1}, {order.shippingAddress.city} {order.shippingAddress.zip},{" "}
        {order.shippingAddress.countryCode}
      </p>
      <Link to="/">Continue shopping</Link>
    </article>
  );
}
