// The signed-in customer's account: their orders, newest first, and sign-out.
import { useQuery } from "@apollo/client";
import { Link, Navigate, useNavigate } from "react-router-dom";

import { useSession } from "../customer";
import { describeError } from "../errors";
import { graphql } from "../gql";
import { formatMoney } from "../money";
import { session } from "../session";

const AccountPage = graphql(`
  query AccountPage {
    customer {
      id
      displayName
      email
      orders(first: 20) { nodes { id number status createdAt total { amount currencyCode } } }
    }
  }
`);

export function Account() {
  const signedIn = session.tokens() !== null;
  const { data, loading, error } = useQuery(AccountPage, { skip: !signedIn, fetchPolicy: "cache-and-network" });
  const { signOut } = useSession();
  const navigate = useNavigate();
  if (!signedIn) return <Navigate to="/account/login" replace />;
  if (error) return <p role="alert">{describeError(error)}</p>;
  if (loading && !data) return <p aria-busy="true">Loading…</p>;
  const customer = data?.customer;
  if (!customer) return <Navigate to="/account/login" replace />;
  return (
    <section className="account">
      <h1>Hello, {customer.displayName}</h1>
      <p>{customer.email}</p>
      <h2>Your orders</h2>
      {customer.orders.nodes.length === 0 ? (
        <p>No orders yet.</p>
      ) : (
        <table>
          <tbody>
            {customer.orders.nodes.map((o) => (
              <tr key={o.id} data-testid="order-row">
                <td>
                  <Link to={`/orders/${encodeURIComponent(o.id)}`}>{o.number}</Link>
                </td>
                <td>{new Date(o.createdAt).toLocaleDateString()}</td>
                <td>{o.status.replace(/_/g, " ").toLowerCase()}</td>
                <td>{formatMoney(o.total)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <button
        type="button"
        onClick={async () => {
          await signOut();
          navigate("/");
        }}
      >
        Sign out
      </button>
    </section>
  );
}
