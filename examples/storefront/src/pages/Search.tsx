// Search results with facets: the gateway counts each facet's values and gives the filter
// that picks each one; a search that finds nothing offers the gateway's suggestions.
import { useQuery } from "@apollo/client";
import { Link, useSearchParams } from "react-router-dom";

import { ProductGrid } from "../components/ProductCard";
import { describeError } from "../errors";
import { filtersFromParams, toggleFilter } from "../facets";
import { graphql } from "../gql";

const SearchPage = graphql(`
  query SearchPage($query: String!, $after: String, $filters: [SearchProductFilter!]!) {
    search(query: $query, first: 12, after: $after, productFilters: $filters) {
      totalCount
      suggestions
      productFilters { id label type values { id label count input } }
      nodes { ...ProductCardFields }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

export function Search() {
  const [params, setParams] = useSearchParams();
  const query = params.get("q") ?? "";
  const filters = filtersFromParams(params);
  const selected = new Set(params.getAll("f"));
  const { data, loading, error } = useQuery(SearchPage, {
    variables: { query, after: params.get("after"), filters },
    skip: !query,
  });
  if (!query) return <h1>Search</h1>;
  if (error) return <p role="alert">{describeError(error)}</p>;
  if (loading || !data) return <p aria-busy="true">Searching…</p>;
  const result = data.search;
  return (
    <div className="search-page">
      <h1>
        {result.totalCount} results for “{query}”
      </h1>
      {result.totalCount === 0 && result.suggestions.length > 0 && (
        <p className="did-you-mean">
          Did you mean{" "}
          {result.suggestions.map((s) => (
            <Link key={s} to={`/search?q=${encodeURIComponent(s)}`}>
              {s}
            </Link>
          ))}
          ?
        </p>
      )}
      <aside className="facets" aria-label="Filters">
        {result.productFilters.map((facet) => (
          <fieldset key={facet.id}>
            <legend>{facet.label}</legend>
            {facet.values.map((value) => (
              <label key={value.id}>
                <input
                  type="checkbox"
                  checked={selected.has(value.input)}
                  onChange={() => setParams(toggleFilter(params, value.input))}
                />
                {value.label} ({value.count})
              </label>
            ))}
          </fieldset>
        ))}
      </aside>
      <section>
        <ProductGrid products={result.nodes} />
        {result.pageInfo.hasNextPage && result.pageInfo.endCursor && (
          <button
            type="button"
            onClick={() => {
              const next = new URLSearchParams(params);
              next.set("after", result.pageInfo.endCursor ?? "");
              setParams(next);
            }}
          >
            Next page
          </button>
        )}
      </section>
    </div>
  );
}
