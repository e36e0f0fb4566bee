// Create an account: email and password, then the confirmation code the shop emails (unless
// the gateway confirms accounts at once), then signed in.
import { useMutation } from "@apollo/client";
import { useState, type FormEvent } from "react";
import { useNavigate } from "react-router-dom";

import { useSession } from "../customer";
import { graphql } from "../gql";

const SignUpMutation = graphql(`
  mutation SignUp($input: CustomerSignUpInput!) {
    customerSignUp(input: $input) {
      confirmationRequired
      userErrors { field code message }
    }
  }
`);

const ConfirmSignUp = graphql(`
  mutation ConfirmSignUp($email: String!, $code: String!) {
    customerConfirmSignUp(email: $email, code: $code) {
      confirmed
      userErrors { field code message }
    }
  }
`);

export function SignUp() {
  const [signUp] = useMutation(SignUpMutation);
  const [confirm] = useMutation(ConfirmSignUp);
  const { signIn } = useSession();
  const navigate = useNavigate();
  const [pending, setPending] = useState<{ email: string; password: string } | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  const finish = async (email: string, password: string) => {
    const refused = await signIn(email, password);
    if (refused) setProblem(refused);
    else navigate("/account");
  };

  const register = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const email = String(form.get("email")).trim();
    const password = String(form.get("password"));
    setProblem(null);
    const { data } = await signUp({
      variables: {
        input: { email, password, firstName: String(form.get("firstName")).trim() || null },
      },
    });
    const payload = data?.customerSignUp;
    if (!payload || payload.userErrors.length > 0) {
      return setProblem(payload?.userErrors.map((e) => e.message).join(" ") ?? "Could not sign up.");
    }
    if (payload.confirmationRequired) setPending({ email, password });
    else await finish(email, password);
  };

  const enterCode = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (!pending) return;
    const code = String(new FormData(event.currentTarget).get("code")).trim();
    const { data } = await confirm({ variables: { email: pending.email, code } });
    const payload = data?.customerConfirmSignUp;
    if (!payload?.confirmed) {
      return setProblem(payload?.userErrors.map((e) => e.message).join(" ") ?? "That code did not work.");
    }
    await finish(pending.email, pending.password);
  };

  if (pending) {
    return (
      <form className="auth" onSubmit={enterCode} aria-label="Confirm your email">
        <h1>Check your email</h1>
        <p>We sent a 6-digit code to {pending.email}.</p>
        <label>
          Code <input name="code" inputMode="numeric" pattern="[0-9]{6}" required autoComplete="one-time-code" />
        </label>
        {problem && <p role="alert">{problem}</p>}
        <button type="submit">Confirm</button>
      </form>
    );
  }
  return (
    <form className="auth" onSubmit={register} aria-label="Create an account">
      <h1>Create an account</h1>
      <label>
        First name <input name="firstName" autoComplete="given-name" />
      </label>
      <label>
        Email <input name="email" type="email" required autoComplete="email" />
      </label>
      <label>
        Password <input name="password" type="password" required minLength={8} autoComplete="new-password" />
      </label>
      {problem && <p role="alert">{problem}</p>}
      <button type="submit">Create account</button>
    </form>
  );
}
