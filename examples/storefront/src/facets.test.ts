import { describe, expect, it } from "vitest";

import { filtersFromParams, toggleFilter } from "./facets";

describe("search facets in the URL", () => {
  it("switches a facet value on, then off, and starts from the first page", () => {
    const vendor = JSON.stringify({ vendor: "Northwind" });
    const on = toggleFilter(new URLSearchParams("q=wool&after=abc"), vendor);
    expect(on.getAll("f")).toEqual([vendor]);
    expect(on.get("after")).toBeNull();
    expect(filtersFromParams(on)).toEqual([{ vendor: "Northwind" }]);
    const off = toggleFilter(on, vendor);
    expect(off.getAll("f")).toEqual([]);
    expect(off.get("q")).toBe("wool");
  });

  it("skips filters that are not JSON objects instead of failing", () => {
    const params = new URLSearchParams();
    for (const f of ["{not json", "[1,2]", "null", '{"available":true}']) params.append("f", f);
    expect(filtersFromParams(params)).toEqual([{ available: true }]);
  });
});
