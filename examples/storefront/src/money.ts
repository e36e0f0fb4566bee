// Money as the gateway gives it (`{ amount: "19.99", currencyCode: "USD" }`), for people.

export interface MoneyLike {
  amount: string;
  currencyCode: string;
}

/** `"19.99" USD` → `$19.99` (the amount is an exact decimal string: never summed as floats). */
export function formatMoney(money: MoneyLike | null | undefined, locale = "en-US"): string {
  if (!money) return "";
  return new Intl.NumberFormat(locale, { style: "currency", currency: money.currencyCode }).format(
    Number(money.amount),
  );
}
