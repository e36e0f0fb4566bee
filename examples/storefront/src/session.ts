// What the browser keeps between visits: the customer's tokens, the cart id (a guest's only
// proof of owning the cart), the chat session and an anonymous id that groups a visitor's
// events for recommendations. All in localStorage under one prefix.

const PREFIX = "storefront.";

export interface CustomerTokens {
  accessToken: string;
  refreshToken: string;
  /** ISO time the access token expires. */
  expiresAt: string;
}

function read(key: string): string | null {
  return window.localStorage.getItem(PREFIX + key);
}

function write(key: string, value: string | null): void {
  if (value === null) window.localStorage.removeItem(PREFIX + key);
  else window.localStorage.setItem(PREFIX + key, value);
}

export const session = {
  tokens(): CustomerTokens | null {
    const raw = read("tokens");
    if (!raw) return null;
    try {
      return JSON.parse(raw) as CustomerTokens;
    } catch {
      return null;
    }
  },
  setTokens(tokens: CustomerTokens | null): void {
    write("tokens", tokens ? JSON.stringify(tokens) : null);
  },
  cartId(): string | null {
    return read("cartId");
  },
  setCartId(id: string | null): void {
    write("cartId", id);
  },
  chatId(): string | null {
    return read("chatId");
  },
  setChatId(id: string | null): void {
    write("chatId", id);
  },
  /** A random id for this browser, made on first use. */
  visitorId(): string {
    let id = read("visitor");
    if (!id) {
      id = crypto.randomUUID();
      write("visitor", id);
    }
    return id;
  },
};
