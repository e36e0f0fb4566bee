// Search facets: each value the gateway offers carries `input`, the filter that picks it (a
// JSON `SearchProductFilter`). The selected filters live in the URL (`?f=<input>&f=…`), so a
// filtered search is a link like any other.
import type { SearchProductFilter } from "./gql/graphql";

/** The filters of a URL's `f` parameters; a malformed one is skipped, not fatal. */
export function filtersFromParams(params: URLSearchParams): SearchProductFilter[] {
  return params.getAll("f").flatMap((raw) => {
    try {
      const parsed = JSON.parse(raw);
      return parsed && typeof parsed === "object" && !Array.isArray(parsed)
        ? [parsed as SearchProductFilter]
        : [];
    } catch {
      return [];
    }
  });
}

/** The URL parameters with the facet value `input` switched on or off. */
export function toggleFilter(params: URLSearchParams, input: string): URLSearchParams {
  const next = new URLSearchParams(params);
  const selected = next.getAll("f");
  next.delete("f");
  const others = selected.filter((f) => f !== input);
  for (const f of others) next.append("f", f);
  if (others.length === selected.length) next.append("f", input);
  // A new filter starts from the first page.
  next.delete("after");
  return next;
}
