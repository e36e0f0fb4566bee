import { describe, expect, it } from "vitest";

import { formatMoney } from "./money";

describe("formatMoney", () => {
  it("formats the gateway's decimal strings in the shop's currency", () => {
    expect(formatMoney({ amount: "19.99", currencyCode: "USD" })).toBe("$19.99");
    expect(formatMoney({ amount: "1234.50", currencyCode: "EUR" }, "de-DE")).toBe("1.234,50\u00a0€");
  });

  it("renders nothing for a missing amount", () => {
    expect(formatMoney(null)).toBe("");
  });
});
