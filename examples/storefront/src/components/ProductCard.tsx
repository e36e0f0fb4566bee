// A product in a grid: image, title, vendor, lowest price, and whether it is in stock.
import { Link } from "react-router-dom";

import { graphql } from "../gql";
import type { ProductCardFieldsFragment } from "../gql/graphql";
import { formatMoney } from "../money";
import { ProductImage } from "./ProductImage";

export const ProductCardFields = graphql(`
  fragment ProductCardFields on Product {
    id
    handle
    title
    vendor
    availableForSale
    featuredImage { url altText }
    priceRange { minVariantPrice { amount currencyCode } }
  }
`);

export function ProductCard({ product }: { product: ProductCardFieldsFragment }) {
  return (
    <li className="product-card" data-testid="product-card">
      <Link to={`/products/${product.handle}`}>
        <ProductImage url={product.featuredImage?.url} alt={product.featuredImage?.altText ?? product.title} />
        <span className="product-title">{product.title}</span>
      </Link>
      <span className="vendor">{product.vendor}</span>
      <span className="price">{formatMoney(product.priceRange.minVariantPrice)}</span>
      {!product.availableForSale && <span className="sold-out">Sold out</span>}
    </li>
  );
}

export function ProductGrid({ products }: { products: readonly ProductCardFieldsFragment[] }) {
  if (products.length === 0) return <p className="empty">No products here.</p>;
  return (
    <ul className="product-grid">
      {products.map((p) => (
        <ProductCard key={p.id} product={p} />
      ))}
    </ul>
  );
}
