// The frame of every page: the shop's name, the departments, search, the account and the
// cart; the chat widget in the corner.
import { useQuery } from "@apollo/client";
import type { ReactNode } from "react";
import { Link, NavLink } from "react-router-dom";

import { useCart } from "../cart";
import { useCustomer } from "../customer";
import { graphql } from "../gql";
import { ChatWidget } from "./ChatWidget";
import { PredictiveSearch } from "./PredictiveSearch";

const Header = graphql(`
  query Header {
    shop { name }
    categories(first: 50) { nodes { id handle title parent { id } } }
  }
`);

export function Layout({ children }: { children: ReactNode }) {
  const { data } = useQuery(Header);
  const { totalQuantity } = useCart();
  const { customer, signedIn } = useCustomer();
  const departments = data?.categories.nodes.filter((c) => !c.parent) ?? [];
  return (
    <>
      <header className="site-header">
        <Link to="/" className="shop-name">
          {data?.shop.name ?? "Storefront"}
        </Link>
        <nav aria-label="Departments">
          {departments.map((c) => (
            <NavLink key={c.id} to={`/collections/${c.handle}`}>
              {c.title}
            </NavLink>
          ))}
        </nav>
        <PredictiveSearch />
        <Link to={signedIn ? "/account" : "/account/login"} className="account-link">
          {customer ? customer.displayName : signedIn ? "Account" : "Sign in"}
        </Link>
        <Link to="/cart" className="cart-link" aria-label={`Cart, ${totalQuantity} items`}>
          Cart ({totalQuantity})
        </Link>
      </header>
      <main>{children}</main>
      <ChatWidget />
    </>
  );
}
