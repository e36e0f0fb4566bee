// The routes of the storefront.
import { Route, Routes } from "react-router-dom";

import { Layout } from "./components/Layout";
import { Account } from "./pages/Account";
import { Cart } from "./pages/Cart";
import { Category } from "./pages/Category";
import { Checkout } from "./pages/Checkout";
import { Home } from "./pages/Home";
import { Order } from "./pages/Order";
import { Product } from "./pages/Product";
import { Search } from "./pages/Search";
import { SignIn } from "./pages/SignIn";
import { SignUp } from "./pages/SignUp";

export function App() {
  return (
    <Layout>
      <Routes>
        <Route path="/" element={<Home />} />
        <Route path="/collections/:handle" element={<Category />} />
        <Route path="/search" element={<Search />} />
        <Route path="/products/:handle" element={<Product />} />
        <Route path="/cart" element={<Cart />} />
        <Route path="/checkout" element={<Checkout />} />
        <Route path="/orders/:id" element={<Order />} />
        <Route path="/account" element={<Account />} />
        <Route path="/account/login" element={<SignIn />} />
        <Route path="/account/register" element={<SignUp />} />
        <Route path="*" element={<h1>Page not found</h1>} />
      </Routes>
    </Layout>
  );
}
