// Sign in with email and password; the guest cart comes along (the gateway merges it).
import { useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router-dom";

import { useSession } from "../customer";

export function SignIn() {
  const { signIn } = useSession();
  const navigate = useNavigate();
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    try {
      const refused = await signIn(String(form.get("email")), String(form.get("password")));
      if (refused) setProblem(refused);
      else navigate("/account");
    } catch {
      setProblem("Could not sign in right now. Please try again.");
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="auth" onSubmit={submit} aria-label="Sign in">
      <h1>Sign in</h1>
      <label>
        Email <input name="email" type="email" required autoComplete="email" />
      </label>
      <label>
        Password <input name="password" type="password" required autoComplete="current-password" />
      </label>
      {problem && <p role="alert">{problem}</p>}
      <button type="submit" disabled={busy}>
        Sign in
      </button>
      <p>
        New here? <Link to="/account/register">Create an account</Link>
      </p>
    </form>
  );
}
