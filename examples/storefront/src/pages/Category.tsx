// A category page: its products, sorted and filtered (vendor, in stock), a page at a time.
// Everything the shopper picks is in the URL, so a filtered page is a link like any other.
import { useQuery } from "@apollo/client";
import { Link, useParams, useSearchParams } from "react-router-dom";

import { ProductGrid } from "../components/ProductCard";
import { describeError } from "../errors";
import { graphql } from "../gql";
import type { ProductSortKeys } from "../gql/graphql";

const PAGE_SIZE = 12;

const CategoryPage = graphql(`
  query CategoryPage(
    $handle: String!
    $first: Int
    $after: String
    $last: Int
    $before: String
    $sortKey: ProductSortKeys!
    $reverse: Boolean!
    $vendor: String
    $available: Boolean
  ) {
    category(handle: $handle) {
      id
      title
      description
      parent { handle title }
      children { id handle title }
      products(
        first: $first
        after: $after
        last: $last
        before: $before
        sortKey: $sortKey
        reverse: $reverse
        vendor: $vendor
        available: $available
      ) {
        nodes { ...ProductCardFields }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      }
    }
    vendors: products(first: 100, filter: { categoryHandle: $handle }) { nodes { id vendor } }
  }
`);

const SORTS: Record<string, { sortKey: ProductSortKeys; reverse: boolean; label: string }> = {
  featured: { sortKey: "BEST_SELLING", reverse: false, label: "Best selling" },
  "price-asc": { sortKey: "PRICE", reverse: false, label: "Price, low to high" },
  "price-desc": { sortKey: "PRICE", reverse: true, label: "Price, high to low" },
  newest: { sortKey: "CREATED_AT", reverse: true, label: "Newest" },
  title: { sortKey: "TITLE", reverse: false, label: "A–Z" },
};

export function Category() {
  const { handle = "" } = useParams();
  const [params, setParams] = useSearchParams();
  const sort = SORTS[params.get("sort") ?? "featured"] ?? SORTS.featured;
  const vendor = params.get("vendor");
  const inStock = params.get("available") === "1";
  const before = params.get("before");
  const after = params.get("after");
  const { data, loading, error } = useQuery(CategoryPage, {
    variables: {
      handle,
      ...(before ? { last: PAGE_SIZE, before } : { first: PAGE_SIZE, after }),
      sortKey: sort.sortKey,
      reverse: sort.reverse,
      vendor,
      available: inStock ? true : null,
    },
  });
  const set = (changes: Record<string, string | null>) => {
    const next = new URLSearchParams(params);
    for (const [key, value] of Object.entries(changes)) {
      if (value === null) next.delete(key);
      else next.set(key, value);
    }
    setParams(next);
  };

  if (error) return <p role="alert">{describeError(error)}</p>;
  if (loading || !data) return <p aria-busy="true">Loading…</p>;
  const category = data.category;
  if (!category) return <h1>No such category</h1>;
  const vendors = [...new Set(data.vendors.nodes.map((p) => p.vendor))].sort();
  const page = category.products;
  return (
    <>
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <Link to="/">Home</Link>
        {category.parent && <Link to={`/collections/${category.parent.handle}`}>{category.parent.title}</Link>}
      </nav>
      <h1>{category.title}</h1>
      <p>{category.description}</p>
      {category.children.length > 0 && (
        <ul className="subcategories">
          {category.children.map((c) => (
            <li key={c.id}>
              <Link to={`/collections/${c.handle}`}>{c.title}</Link>
            </li>
          ))}
        </ul>
      )}
      <form className="filters" aria-label="Filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Sort
          <select
            value={params.get("sort") ?? "featured"}
            onChange={(e) => set({ sort: e.target.value, after: null, before: null })}
          >
            {Object.entries(SORTS).map(([key, s]) => (
              <option key={key} value={key}>
                {s.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Brand
          <select value={vendor ?? ""} onChange={(e) => set({ vendor: e.target.value || null, after: null, before: null })}>
            <option value="">All brands</option>
            {vendors.map((v) => (
              <option key={v}>{v}</option>
            ))}
          </select>
        </label>
        <label>
          <input
            type="checkbox"
            checked={inStock}
            onChange={(e) => set({ available: e.target.checked ? "1" : null, after: null, before: null })}
          />
          In stock only
        </label>
      </form>
      <ProductGrid products={page.nodes} />
      <nav className="pagination" aria-label="Pages">
        {page.pageInfo.hasPreviousPage && page.pageInfo.startCursor && (
          <button type="button" onClick={() => set({ before: page.pageInfo.startCursor ?? null, after: null })}>
            Previous
          </button>
        )}
        {page.pageInfo.hasNextPage && page.pageInfo.endCursor && (
          <button type="button" onClick={() => set({ after: page.pageInfo.endCursor ?? null, before: null })}>
            Next
          </button>
        )}
      </nav>
    </>
  );
}
