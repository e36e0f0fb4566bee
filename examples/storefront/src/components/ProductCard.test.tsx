import { cleanup, render, screen } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { afterEach, describe, expect, it } from "vitest";

import { ProductCard } from "./ProductCard";

afterEach(cleanup);

const product = {
  __typename: "Product" as const,
  id: "gid://Product/1",
  handle: "alpine-wool-t-shirt",
  title: "Alpine Wool T-Shirt",
  vendor: "Northwind",
  availableForSale: false,
  featuredImage: null,
  priceRange: { minVariantPrice: { amount: "39.00", currencyCode: "USD" as const } },
};

describe("ProductCard", () => {
  it("links to the product page and says when it is sold out", () => {
    render(
      <MemoryRouter>
        <ProductCard product={product} />
      </MemoryRouter>,
    );
    expect(screen.getByRole("link").getAttribute("href")).toBe("/products/alpine-wool-t-shirt");
    expect(screen.getByText("$39.00")).toBeTruthy();
    expect(screen.getByText("Sold out")).toBeTruthy();
    expect(screen.getByRole("img", { name: "Alpine Wool T-Shirt" }).textContent).toBe("AW");
  });
});
