// A product page: pick a variant, see its price and stock, add it to the cart, check which
// stores near you have it, and see related products. Each view is told to the recommender.
import { useLazyQuery, useMutation, useQuery } from "@apollo/client";
import { useEffect, useState } from "react";
import { useParams } from "react-router-dom";

import { useCart } from "../cart";
import { ProductGrid } from "../components/ProductCard";
import { ProductImage } from "../components/ProductImage";
import { describeError } from "../errors";
import { graphql } from "../gql";
import { formatMoney } from "../money";
import { session } from "../session";

const ProductPage = graphql(`
  query ProductPage($handle: String!) {
    product(handle: $handle) {
      id
      handle
      title
      description
      vendor
      featuredImage { url altText }
      variants(first: 30) {
        nodes {
          id
          sku
          title
          availableForSale
          quantityAvailable
          price { amount currencyCode }
          compareAtPrice { amount currencyCode }
        }
      }
      recommendations(intent: RELATED, first: 4) { ...ProductCardFields }
    }
  }
`);

const StoreAvailability = graphql(`
  query StoreAvailability($variant: ID!, $near: GeoPointInput!) {
    node(id: $variant) {
      id
      ... on ProductVariant {
        storeAvailability(near: $near, radiusKm: 100, first: 5) {
          quantity
          location { id name distanceKm openNow }
        }
      }
    }
  }
`);

const TrackView = graphql(`
  mutation TrackView($sessionId: String!, $productId: ID!) {
    trackEvents(sessionId: $sessionId, events: [{ type: VIEW, productId: $productId }]) { accepted }
  }
`);

function stockText(quantity: number): string {
  if (quantity <= 0) return "Sold out";
  if (quantity <= 5) return `Only ${quantity} left`;
  return `${quantity} in stock`;
}

export function Product() {
  const { handle = "" } = useParams();
  const { data, loading, error } = useQuery(ProductPage, { variables: { handle } });
  const [variantId, setVariantId] = useState<string | null>(null);
  const [quantity, setQuantity] = useState(1);
  const [message, setMessage] = useState<string | null>(null);
  const [adding, setAdding] = useState(false);
  const cart = useCart();
  const [trackView] = useMutation(TrackView);
  const [findStores, stores] = useLazyQuery(StoreAvailability);
  const [locating, setLocating] = useState<string | null>(null);

  const product = data?.product;
  useEffect(() => {
    if (product) {
      // Best effort: a view that is not recorded changes nothing for the shopper.
      trackView({ variables: { sessionId: session.visitorId(), productId: product.id } }).catch(() => {});
    }
  }, [product, trackView]);

  if (error) return <p role="alert">{describeError(error)}</p>;
  if (loading || !data) return <p aria-busy="true">Loading…</p>;
  if (!product) return <h1>No such product</h1>;
  const variants = product.variants.nodes;
  const variant = variants.find((v) => v.id === variantId) ?? variants.find((v) => v.availableForSale) ?? variants[0];
  if (!variant) return <h1>{product.title}</h1>;

  const add = async () => {
    setAdding(true);
    setMessage(null);
    try {
      const refused = await cart.add(variant.id, quantity);
      setMessage(refused ?? `Added ${quantity} × ${product.title} to your cart.`);
    } catch {
      setMessage("The cart could not be updated. Please try again.");
    } finally {
      setAdding(false);
    }
  };

  const nearMe = () => {
    setLocating("Finding your position…");
    navigator.geolocation.getCurrentPosition(
      (position) => {
        setLocating(null);
        findStores({
          variables: {
            variant: variant.id,
            near: { latitude: position.coords.latitude, longitude: position.coords.longitude },
          },
        });
      },
      () => setLocating("Your position is not available."),
    );
  };
  const availability = stores.data?.node?.__typename === "ProductVariant" ? stores.data.node.storeAvailability : null;

  return (
    <article className="product-page">
      <ProductImage url={product.featuredImage?.url} alt={product.featuredImage?.altText ?? product.title} />
      <div>
        <p className="vendor">{product.vendor}</p>
        <h1>{product.title}</h1>
        <p className="price">
          <span data-testid="price">{formatMoney(variant.price)}</span>{" "}
          {variant.compareAtPrice && <s>{formatMoney(variant.compareAtPrice)}</s>}
        </p>
        <label>
          Variant
          <select value={variant.id} onChange={(e) => setVariantId(e.target.value)}>
            {variants.map((v) => (
              <option key={v.id} value={v.id}>
                {v.title}
                {v.availableForSale ? "" : " — sold out"}
              </option>
            ))}
          </select>
        </label>
        <p className="stock" data-testid="stock">
          {stockText(variant.quantityAvailable)}
        </p>
        <label>
          Quantity
          <input
            type="number"
            min={1}
            max={Math.max(1, variant.quantityAvailable)}
            value={quantity}
            onChange={(e) => setQuantity(Math.max(1, Number(e.target.value) || 1))}
          />
        </label>
        <button type="button" onClick={add} disabled={adding || !variant.availableForSale}>
          Add to cart
        </button>
        {message && <p role="status">{message}</p>}
        <p>{product.description}</p>
        <section className="pickup">
          <button type="button" onClick={nearMe}>
            Find in a store near me
          </button>
          {locating && <p>{locating}</p>}
          {availability && (
            <ul aria-label="Stores">
              {availability.length === 0 && <li>No store nearby has it.</li>}
              {availability.map((a) => (
                <li key={a.location.id}>
                  {a.location.name}: {a.quantity} available
                  {a.location.distanceKm != null && `, ${a.location.distanceKm.toFixed(1)} km`}
                </li>
              ))}
            </ul>
          )}
        </section>
      </div>
      {product.recommendations.length > 0 && (
        <section className="related">
          <h2>You may also like</h2>
          <ProductGrid products={product.recommendations} />
        </section>
      )}
    </article>
  );
}
