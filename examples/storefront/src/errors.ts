// The messages a shopper sees for what the gateway refused.
import type { ApolloError } from "@apollo/client";

export interface UserErrorLike {
  code?: string | null;
  message: string;
}

/** One line for a failed request: the gateway's message, or a generic one for the network. */
export function describeError(error: ApolloError | undefined | null): string | null {
  if (!error) return null;
  const first = error.graphQLErrors[0];
  if (first) {
    const code = first.extensions?.code;
    if (code === "RATE_LIMITED") return "Too many requests — please wait a moment.";
    if (code === "SERVICE_UNAVAILABLE") return "The shop is busy — please try again shortly.";
    return first.message;
  }
  return "The shop could not be reached. Check your connection and try again.";
}

/** The messages of a payload's `userErrors`. */
export function userErrorText(errors: readonly UserErrorLike[] | null | undefined): string | null {
  if (!errors || errors.length === 0) return null;
  return errors.map((e) => e.message).join(" ");
}
